"""Human handoff: the packet, the queues, claim / reply / hand back / close."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Dict, List, Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from numi import access, wording
from numi.db import models as m
from numi.tickets import service as tickets
from numi.vocab import PRIORITIES, SEES_ALL
from numi.tickets.lifecycle import Transition, allowed


def request(session: Session, ticket: m.Ticket, packet: Dict[str, Any], queue: str, conversation_id: str,
            customer_id: Optional[str], actor: str, now: datetime, reason: str) -> m.Handoff:
    """Queue the conversation for a human, with everything they need to know (the packet).
    A retried or replayed request finds the customer already queued and changes nothing."""
    earlier = session.scalars(select(m.Handoff).where(
        m.Handoff.ticket_number == ticket.number, m.Handoff.queue == queue,
        m.Handoff.status.in_(["waiting", "claimed"]))).first()
    if earlier is not None:
        return earlier
    handoff = m.Handoff(conversation_id=conversation_id, queue=queue, priority=ticket.priority,
                        ticket_number=ticket.number, customer_id=customer_id, packet=packet,
                        status="waiting", created_at=now)
    session.add(handoff)
    if ticket.status != "escalated" and "escalated" in allowed(ticket.status):
        why = wording.text("ticket_history.handoff_requested", queue=queue, reason=reason)
        tickets.transition(session, ticket, Transition("escalated", reason=why), actor=actor, now=now)
    ticket.queue = queue
    session.flush()
    return handoff


def waiting(session: Session, queue: Optional[str] = None) -> List[m.Handoff]:
    query = select(m.Handoff).where(m.Handoff.status.in_(["waiting", "claimed"]))
    if queue:
        query = query.where(m.Handoff.queue == queue)
    order = {p: i for i, p in enumerate(PRIORITIES)}
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


def record_message(session: Session, handoff_id: int, sender: str, text: str, author: Optional[str],
                   now: datetime) -> None:
    session.add(m.HandoffMessage(handoff_id=handoff_id, sender=sender, author=author, text=text[:4000], at=now))


class HandoffError(wording.Refusal):
    """A claim or an end the handoff's state refuses: a code of texts.yml's api_errors."""

    default_status = 409


def can_take(staff: dict, queue: str) -> bool:
    return access.queue_allowed(staff, queue)


def claim(session: Session, handoff: m.Handoff, staff: dict, now: datetime) -> m.Handoff:
    if not can_take(staff, handoff.queue):
        raise HandoffError("handoff_not_your_queue", 403)
    if handoff.status != "waiting":
        raise HandoffError("handoff_already", state=handoff.status)
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
        raise HandoffError("handoff_already", state=handoff.status)
    if handoff.status == "claimed" and handoff.claimed_by != staff["name"] and staff["role"] not in SEES_ALL:
        raise HandoffError("handoff_held_by_other", 403)
    ticket = session.get(m.Ticket, handoff.ticket_number) if handoff.ticket_number else None
    actor = f"{staff['role']}:{staff['name']}"
    if close_reason is not None:
        if ticket is not None and ticket.status != "closed":
            why = wording.text("ticket_history.closed_by_agent")
            tickets.transition(session, ticket, Transition("closed", reason=why, close_reason=close_reason, note=note),
                               actor=actor, now=now)
        handoff.status = "closed"
    else:
        if ticket is not None and ticket.status == "escalated":
            why = wording.text("ticket_history.handed_back")
            tickets.transition(session, ticket, Transition("in_progress", reason=why), actor=actor, now=now)
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
