"""Human handoff: the packet, the queues, claim / reply / hand back / close."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Dict, List, Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from numi import access, hours
from numi.clock import datetime_fr
from numi.db import models as m
from numi.playbooks.effects import QUEUE_LABELS
from numi.tickets import service as tickets
from numi.tickets.lifecycle import Transition, allowed


def request(env, ticket: m.Ticket, frame: Dict[str, Any], pb, queue: str, reason: str) -> Dict[str, Any]:
    """Queue the conversation for a human, with everything they need to know."""
    local_now = env.local_now()
    is_open = hours.is_open(env.settings.opening_hours, local_now)
    packet = {
        "situation": reason,
        "scenario": pb.id,
        "scenario_title": pb.title,
        "step_reached": frame.get("step"),
        "tried": list(dict.fromkeys(frame.get("visited", []))),
        "collected": {k: v for k, v in frame.get("slots", {}).items() if not k.startswith("_")},
        "mood": env.mood(),
        "transcript": env.transcript()[-50:],
        "ticket": ticket.ref,
        "customer_id": env.customer_id,
        "mode": env.mode,
    }
    earlier = env.session.scalars(select(m.Handoff).where(
        m.Handoff.ticket_number == ticket.number, m.Handoff.queue == queue,
        m.Handoff.status.in_(["waiting", "claimed"]))).first()
    if earlier is not None:  # a retried or replayed action: the customer is already queued
        return _announce(env, earlier, pb, queue, is_open)
    handoff = m.Handoff(conversation_id=env.conversation_id, queue=queue, priority=ticket.priority,
                        ticket_number=ticket.number, customer_id=env.customer_id, packet=packet,
                        status="waiting", created_at=env.now)
    env.session.add(handoff)
    if ticket.status != "escalated" and "escalated" in allowed(ticket.status):
        tickets.transition(env.session, ticket, Transition("escalated", reason=f"transfert vers {queue} : {reason}"),
                           actor=env.actor, now=env.now)
    ticket.queue = queue
    env.session.flush()
    return _announce(env, handoff, pb, queue, is_open)


def _announce(env, handoff: m.Handoff, pb, queue: str, is_open: bool) -> Dict[str, Any]:
    """What the playbook tells the customer about their place in the queue."""
    from numi import runtime

    lib = runtime.get().library
    ref = m.ticket_ref(handoff.ticket_number) if handoff.ticket_number else None
    who = QUEUE_LABELS[queue]
    if is_open:
        when = lib.system_text("handoff_when_open", "customer", {"minutes": env.settings.handoff_pickup_minutes})
        message = lib.system_text("handoff_announce_open", "customer", {"who": who, "when": when})
    else:
        reopen = datetime_fr(hours.next_open(env.settings.opening_hours, env.local_now()))
        when = lib.system_text("handoff_when_closed", "customer", {"reopen": reopen, "ticket": ref})
        message = lib.system_text("handoff_announce_closed", "customer", {"who": who, "reopen": reopen, "ticket": ref})
    return {"handoff_open": is_open, "handoff_who": who, "handoff_when": when, "handoff_message": message,
            "ticket_id": ref, "_signal": {"handoff": {"id": handoff.id, "queue": queue, "open": is_open}}}


def waiting(session: Session, queue: Optional[str] = None) -> List[m.Handoff]:
    query = select(m.Handoff).where(m.Handoff.status.in_(["waiting", "claimed"]))
    if queue:
        query = query.where(m.Handoff.queue == queue)
    order = {"urgent": 0, "high": 1, "normal": 2}
    items = list(session.scalars(query))
    return sorted(items, key=lambda h: (h.status != "waiting", order.get(h.priority or "", 3), h.created_at))


def handoff_json(h: m.Handoff, now: datetime) -> Dict[str, Any]:
    return {
        "id": h.id, "conversation_id": h.conversation_id, "queue": h.queue, "priority": h.priority,
        "status": h.status, "ticket_id": m.ticket_ref(h.ticket_number) if h.ticket_number else None,
        "customer_id": h.customer_id, "claimed_by": h.claimed_by,
        "waiting_seconds": int((now - h.created_at).total_seconds()),
        "created_at": m.as_iso(h.created_at), "packet": h.packet,
    }


def record_message(session: Session, handoff_id: int, sender: str, text: str, author: Optional[str], now: datetime) -> None:
    session.add(m.HandoffMessage(handoff_id=handoff_id, sender=sender, author=author, text=text[:4000], at=now))


class HandoffError(ValueError):
    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.status = status


def can_take(staff: dict, queue: str) -> bool:
    return access.queue_allowed(staff, queue)


def claim(session: Session, handoff: m.Handoff, staff: dict, now: datetime) -> m.Handoff:
    if not can_take(staff, handoff.queue):
        raise HandoffError("cette file n'est pas la vôtre", 403)
    if handoff.status != "waiting":
        raise HandoffError(f"déjà {handoff.status}")
    handoff.status, handoff.claimed_by, handoff.claimed_at = "claimed", staff["name"], now
    ticket = session.get(m.Ticket, handoff.ticket_number) if handoff.ticket_number else None
    if ticket is not None:
        ticket.assignee = f"{staff['role']}:{staff['name']}"
        tickets.record(session, ticket, actor=ticket.assignee, event="handoff_claimed", at=now,
                       details={"queue": handoff.queue})
    return handoff


def end(session: Session, handoff: m.Handoff, staff: dict, now: datetime, close_reason: Optional[str] = None,
        note: Optional[str] = None) -> m.Handoff:
    """Hand the conversation back to the bot, or close it (and its ticket)."""
    if handoff.status not in ("waiting", "claimed"):
        raise HandoffError(f"déjà {handoff.status}")
    if handoff.status == "claimed" and handoff.claimed_by != staff["name"] and staff["role"] not in ("supervisor", "admin"):
        raise HandoffError("conversation tenue par un autre conseiller", 403)
    ticket = session.get(m.Ticket, handoff.ticket_number) if handoff.ticket_number else None
    actor = f"{staff['role']}:{staff['name']}"
    if close_reason is not None:
        if ticket is not None and ticket.status != "closed":
            tickets.transition(session, ticket, Transition("closed", reason="clôturé par le conseiller",
                                                            close_reason=close_reason, note=note), actor=actor, now=now)
        handoff.status = "closed"
    else:
        if ticket is not None and ticket.status == "escalated":
            tickets.transition(session, ticket, Transition("in_progress", reason="conversation rendue au bot"),
                               actor=actor, now=now)
        handoff.status = "returned"
    handoff.ended_at = now
    return handoff


def messages(session: Session, handoff_id: int, after: int = 0) -> List[Dict[str, Any]]:
    rows = session.scalars(select(m.HandoffMessage).where(m.HandoffMessage.handoff_id == handoff_id,
                                                          m.HandoffMessage.id > after).order_by(m.HandoffMessage.id))
    return [{"id": r.id, "from": r.sender, "author": r.author, "text": r.text, "at": m.as_iso(r.at)} for r in rows]


def overdue(session: Session, now: datetime, minutes: int) -> List[m.Handoff]:
    """Waiting handoffs nobody picked up in time, not yet offered an alternative."""
    limit = now - timedelta(minutes=minutes)
    rows = session.scalars(select(m.Handoff).where(m.Handoff.status == "waiting", m.Handoff.created_at <= limit))
    return [h for h in rows if not (h.packet or {}).get("timeout_offered")]
