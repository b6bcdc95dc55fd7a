"""Ticket operations. Plain functions over a SQLAlchemy session; no Rasa here."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Dict, Iterable, Optional, Set

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from numi import wording
from numi.clock import utcnow
from numi.db.models import Customer, Ticket, TicketEvent, parse_ticket_ref
from numi.reminders import policy
from numi.tickets import lifecycle
from numi.tickets.lifecycle import Transition, TransitionError

__all__ = [
    "TransitionError",
    "open_ticket",
    "transition",
    "record",
    "find_own_ticket",
    "customer_replied",
    "get_by_ref",
]


def record(
    session: Session,
    ticket: Ticket,
    *,
    actor: str,
    event: str,
    at: Optional[datetime] = None,
    from_status: Optional[str] = None,
    to_status: Optional[str] = None,
    reason: Optional[str] = None,
    details: Optional[Dict[str, Any]] = None,
) -> TicketEvent:
    """Append one entry to the ticket's audit trail."""
    entry = TicketEvent(
        ticket_number=ticket.number,
        at=at or utcnow(),
        actor=actor,
        event=event,
        from_status=from_status,
        to_status=to_status,
        reason=reason,
        details=details or {},
    )
    session.add(entry)
    ticket.history.append(entry)
    ticket.updated_at = entry.at
    return entry


def open_ticket(
    session: Session,
    *,
    scenario: str,
    actor: str,
    customer_id: Optional[str] = None,
    conversation_id: Optional[str] = None,
    priority: Optional[str] = None,
    subject: str = "",
    queue: Optional[str] = None,
    data: Optional[Dict[str, Any]] = None,
    now: Optional[datetime] = None,
    number: Optional[int] = None,
    idempotency_key: Optional[str] = None,
) -> Ticket:
    """A new ticket; with an `idempotency_key` already used, the ticket it opened (a retried
    or replayed action opens nothing twice)."""
    if idempotency_key is not None:
        earlier = session.scalars(select(Ticket).where(Ticket.idempotency_key == idempotency_key)).first()
        if earlier is not None:
            return earlier
    if priority is not None and priority not in lifecycle.PRIORITIES:
        raise TransitionError("unknown_priority", priority=priority)
    if queue is not None and queue not in lifecycle.QUEUES:
        raise TransitionError("unknown_queue_named", queue=queue)
    now = now or utcnow()
    ticket = Ticket(
        scenario=scenario,
        customer_id=customer_id,
        conversation_id=conversation_id,
        priority=priority,
        subject=subject[:200],
        queue=queue,
        status="new",
        data=dict(data or {}),
        created_at=now,
        updated_at=now,
        idempotency_key=idempotency_key,
    )
    session.add(ticket)
    if number is not None:  # imported from another helpdesk: it keeps its number
        ticket.number = number
    session.flush()  # the database assigns the number: unique under concurrency
    if number is not None and session.get_bind().dialect.name == "postgresql":
        # numbers the sequence hands out later must not collide with an imported one
        session.execute(text("SELECT setval(pg_get_serial_sequence('tickets', 'number'), "
                             "(SELECT max(number) FROM tickets))"))
    record(session, ticket, actor=actor, event="created", at=now, to_status="new",
           details={"scenario": scenario, "priority": priority})
    return ticket


ORPHAN_MINUTES = 30


def orphan_ticket(session: Session, conversation_id: Optional[str], scenario: str, known_refs: Set[str],
                  now: datetime) -> Optional[Ticket]:
    """An open ticket of this conversation and scenario, opened in the last minutes, that the
    conversation's recorded events never mention: its turn was lost (the action answered after
    Rasa gave up), so the retried step adopts it instead of opening a second one."""
    if not conversation_id:
        return None
    rows = session.scalars(select(Ticket).where(
        Ticket.conversation_id == conversation_id, Ticket.scenario == scenario, Ticket.status != "closed",
        Ticket.created_at >= now - timedelta(minutes=ORPHAN_MINUTES)).order_by(Ticket.number.desc()))
    return next((t for t in rows if t.ref not in known_refs), None)


def transition(
    session: Session,
    ticket: Ticket,
    t: Transition,
    *,
    actor: str,
    now: Optional[datetime] = None,
    waiting_for: Optional[str] = None,
    tz: Optional[str] = None,
) -> Ticket:
    """Apply `t` or raise TransitionError without changing anything. A ticket that goes waiting
    gets its first reminder date in the local calendar of `tz` (Settings.timezone), required then."""
    lifecycle.check(ticket.status, t)
    if t.to_status == "waiting_customer" and tz is None:
        raise ValueError("transition to waiting_customer needs the time zone (Settings.timezone)")

    now = now or utcnow()
    before = ticket.status
    event = "reopened" if before == "closed" else "status_changed"
    ticket.status = t.to_status
    if t.to_status == "waiting_customer":
        ticket.waiting_reason = t.waiting_reason
        ticket.waiting_since = now
        if waiting_for:
            ticket.waiting_for = waiting_for
        ticket.next_reminder_due = policy.load_default().first_due(ticket, tz or "")  # tz checked above
    else:
        ticket.waiting_since = None
        ticket.next_reminder_due = None
        if t.to_status != "closed":
            ticket.waiting_reason = None
    if t.to_status == "closed":
        ticket.close_reason = t.close_reason
        ticket.closed_at = now
    elif before == "closed":
        ticket.reopen_count += 1
        ticket.close_reason = None
        ticket.closed_at = None
    details: Dict[str, Any] = {}
    if t.waiting_reason:
        details["waiting_reason"] = t.waiting_reason
    if t.close_reason:
        details["close_reason"] = t.close_reason
    if t.note:
        details["internal_note"] = t.note
    record(session, ticket, actor=actor, event=event, at=now, from_status=before,
           to_status=t.to_status, reason=t.reason, details=details)
    return ticket


def customer_replied(
    session: Session, ticket: Ticket, *, actor: str, text: str = "", now: Optional[datetime] = None
) -> Ticket:
    """A customer's reply stops the clock; after closure it reopens the same ticket."""
    if ticket.status in ("waiting_customer", "closed"):
        why = "customer_replied" if ticket.status == "waiting_customer" else "customer_replied_after_close"
        return transition(session, ticket, Transition("in_progress", reason=wording.text(f"ticket_history.{why}")),
                          actor=actor, now=now)
    record(session, ticket, actor=actor, event="customer_message", at=now,
           details={"text": text[:500]} if text else None)
    return ticket


def get_by_ref(session: Session, ref: str) -> Optional[Ticket]:
    number = parse_ticket_ref(ref)
    return session.get(Ticket, number) if number is not None else None


def find_own_ticket(session: Session, ref: str, customer_id: Optional[str]) -> Optional[Ticket]:
    """The ticket `ref` if it belongs to `customer_id`; otherwise None.

    A ticket that does not exist and a ticket of someone else give the same answer.
    """
    if not customer_id:
        return None
    ticket = get_by_ref(session, ref)
    if ticket is None or ticket.customer_id != customer_id:
        return None
    return ticket


def tickets_of(session: Session, customer_id: str, statuses: Optional[Iterable[str]] = None) -> list:
    query = select(Ticket).where(Ticket.customer_id == customer_id)
    if statuses:
        query = query.where(Ticket.status.in_(list(statuses)))
    return list(session.scalars(query.order_by(Ticket.updated_at.desc())))


def customer(session: Session, customer_id: Optional[str]) -> Optional[Customer]:
    return session.get(Customer, customer_id) if customer_id else None
