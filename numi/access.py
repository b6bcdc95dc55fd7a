"""Who may see what: the roles and their scope, in one place.

* hotliner: level-1 tickets (no queue, or `level1`) and the tickets they handled;
* level2, cs: their queue's tickets and the tickets they handled;
* supervisor, admin: everything;
* trainer: the training pages only (anonymised stories, quizzes);
* website: mints customer tokens for the website's logged-in customers, nothing else.

"Handled" means assigned to them, or an entry of the ticket's history is theirs. A customer's
record is seen by whoever sees one of their tickets or handoffs (`customer_visible`).
"""
from __future__ import annotations

from typing import Mapping, Optional, Tuple

from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from numi.db import models as m
from numi.vocab import SEES_ALL

# The queues a role works; a role absent here (supervisor, admin) sees every queue.
ROLE_QUEUES: Mapping[str, Tuple[Optional[str], ...]] = {
    "hotliner": (None, "level1"),
    "level2": ("level2",),
    "cs": ("cs",),
}


def actor(staff: Mapping[str, str]) -> str:
    return f"{staff['role']}:{staff['name']}"


def sees_all(staff: Mapping[str, str]) -> bool:
    return staff["role"] in SEES_ALL


def queue_allowed(staff: Mapping[str, str], queue: Optional[str]) -> bool:
    return sees_all(staff) or queue in ROLE_QUEUES.get(staff["role"], ())


def ticket_scope(staff: Mapping[str, str]) -> Optional[ColumnElement]:
    """A WHERE clause on tickets for this staff member, or None when they see them all."""
    if sees_all(staff):
        return None
    queues = ROLE_QUEUES.get(staff["role"], ())
    named = [q for q in queues if q is not None]
    clauses = [m.Ticket.queue.in_(named)] if named else []
    if None in queues:
        clauses.append(m.Ticket.queue.is_(None))
    handled = select(m.TicketEvent.ticket_number).where(m.TicketEvent.actor == actor(staff))
    clauses += [m.Ticket.assignee == staff["name"], m.Ticket.number.in_(handled)]
    return or_(*clauses)


def ticket_visible(session: Session, staff: Mapping[str, str], ticket: m.Ticket) -> bool:
    scope = ticket_scope(staff)
    if scope is None:
        return True
    return session.scalar(select(m.Ticket.number).where(m.Ticket.number == ticket.number, scope)) is not None


def customer_visible(session: Session, staff: Mapping[str, str], customer_id: str) -> bool:
    """A customer's record (contact, tickets summary, last interactions): seen by whoever sees
    one of their tickets or works the queue of one of their handoffs. (A hotliner on a call with
    the customer also sees it: the call token says so, numi/prompter/calls.py.)"""
    if sees_all(staff):
        return True
    tickets = select(m.Ticket.number).where(m.Ticket.customer_id == customer_id, ticket_scope(staff))
    if session.scalar(tickets.limit(1)) is not None:
        return True
    queues = session.scalars(select(m.Handoff.queue).where(m.Handoff.customer_id == customer_id).distinct())
    return any(queue_allowed(staff, q) for q in queues)


def conversation_visible(session: Session, staff: Mapping[str, str], conversation_id: str) -> bool:
    """A conversation's messages: seen by whoever sees one of its tickets or its handoffs' queue."""
    if sees_all(staff):
        return True
    tickets = select(m.Ticket.number).where(m.Ticket.conversation_id == conversation_id, ticket_scope(staff))
    if session.scalar(tickets.limit(1)) is not None:
        return True
    queues = session.scalars(select(m.Handoff.queue).where(m.Handoff.conversation_id == conversation_id))
    return any(queue_allowed(staff, q) for q in queues)
