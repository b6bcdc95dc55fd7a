"""Renewal reminders (seed 000): subscriptions expiring in 7–30 days start the
`renewal_reminder` playbook once (EXTERNAL_subscription_expiring), by chat and e-mail."""
from __future__ import annotations

import logging
from datetime import date, datetime, timedelta, timezone
from typing import Dict, List

from sqlalchemy import select, update

from numi import conversations
from numi.db import models as m
from numi.reminders import outbox

log = logging.getLogger(__name__)
WINDOW = (7, 30)  # days before expiry


def due(session, today: date) -> List[m.Subscription]:
    return list(session.scalars(select(m.Subscription).where(
        m.Subscription.status == "active", m.Subscription.renewal_started_at.is_(None),
        m.Subscription.expires_on >= today + timedelta(days=WINDOW[0]),
        m.Subscription.expires_on <= today + timedelta(days=WINDOW[1])).order_by(m.Subscription.expires_on)))


CONVERSATION_TTL = 31 * 86400  # the renewal chat stays open until the subscription has expired


def conversation_id(sub: m.Subscription, secret: str, now: datetime) -> str:
    """A conversation signed by numi, owned by the customer (numi/conversations.py)."""
    return conversations.issue(secret, now.replace(tzinfo=timezone.utc), CONVERSATION_TTL, channel="rest",
                               owner=sub.customer_id).id


async def run(services, today: date, now: datetime, client) -> List[Dict]:
    """Start each due renewal once: claim it, e-mail the customer, open the chat playbook."""
    started = []
    with services.sessions() as s:
        ids = [sub.id for sub in due(s, today)]
    for sub_id in ids:
        with services.sessions() as s, s.begin():
            claimed = s.execute(update(m.Subscription).where(m.Subscription.id == sub_id,
                                                             m.Subscription.renewal_started_at.is_(None))
                                .values(renewal_started_at=now)).rowcount
            if not claimed:
                continue  # another run started it
            sub = s.get(m.Subscription, sub_id)
            customer = s.get(m.Customer, sub.customer_id)
            conv = conversation_id(sub, services.settings.secret, now)
            if customer is not None and customer.email:
                outbox.enqueue_template(s, key=f"renewal:{sub.id}:{sub.expires_on}", kind="renewal",
                                        channel="email", recipient=customer.email, template="renewal",
                                        context={"customer": customer, "subscription": sub,
                                                 "days": (sub.expires_on - today).days}, now=now)
            started.append({"subscription_id": sub.id, "customer_id": sub.customer_id, "conversation_id": conv,
                            "expires_on": sub.expires_on.isoformat()})
        try:  # keyed: sent again after a cut, it starts nothing twice
            await client.system_event(conv, {"type": "start_playbook", "playbook": "renewal_reminder",
                                             "customer_id": started[-1]["customer_id"],
                                             "slots": {"subscription_id": sub_id}, "key": f"renewal:{sub_id}"})
        except Exception as exc:  # Rasa unreachable: give the claim back, the next tick tries again
            log.warning("renewal %s: the chat could not start (%s)", sub_id, type(exc).__name__)
            with services.sessions() as s, s.begin():
                s.execute(update(m.Subscription).where(m.Subscription.id == sub_id).values(renewal_started_at=None))
            started.pop()
    return started
