"""Call-back requests (seed 003): a date and a slot within opening hours, a subject,
the conversation's context for the specialist who calls."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Dict, Optional

from sqlalchemy import select

from numi import hours
from numi.clock import datetime_fr, to_local, to_utc_naive
from numi.db import models as m


def book(env, frame: Dict[str, Any], pb, when: str, subject: str, phone: Optional[str]) -> Dict[str, Any]:
    tz = env.settings.timezone
    table = env.settings.opening_hours
    local_now = env.local_now()
    try:
        start = datetime.fromisoformat(str(when))
    except ValueError:
        start = None
    taken = [to_local(t, tz).replace(tzinfo=None) for t in env.session.scalars(
        select(m.Callback.slot_start).where(m.Callback.status == "scheduled",
                                            m.Callback.slot_start >= env.now))]
    if start is not None:
        start = start.replace(minute=(start.minute // hours.SLOT_MINUTES) * hours.SLOT_MINUTES, second=0,
                              microsecond=0)
    if start is None or start <= local_now or not hours.slot_ok(table, start) or taken.count(start) >= 2:
        alternatives = hours.free_slots(table, max(local_now, start or local_now), taken)
        return {"callback_ok": False, "callback_when": "",
                "callback_alternatives": [datetime_fr(a) for a in alternatives]}
    customer = env.customer()
    callback = m.Callback(customer_id=env.customer_id, conversation_id=env.conversation_id,
                          ticket_number=m.parse_ticket_ref(frame.get("ticket") or ""),
                          phone=phone or (customer.phone if customer else None),
                          slot_start=to_utc_naive(start, tz), subject=subject[:2000],
                          context={"scenario": pb.id, "collected": {k: v for k, v in frame["slots"].items()
                                                                    if not k.startswith("_")},
                                   "transcript": env.transcript()[-30:]},
                          created_at=env.now)
    env.session.add(callback)
    env.session.flush()
    return {"callback_ok": True, "callback_when": datetime_fr(start), "callback_alternatives": []}
