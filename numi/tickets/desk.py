"""The staff desk's work on tickets (the console's ticket pages): the filtered list with its
counts, what the ticket page shows besides the ticket, internal notes, and the agent's replies
to the customer (an e-mail in the ticket's thread, or a message in its chat). Plain functions
over a session; the caller checked the role, and every query is limited to the staff member's
scope (numi/access.py `ticket_scope`)."""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, List, Mapping, Optional, Tuple

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session, lazyload
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import ColumnElement

from numi import access, conversations
from numi.db import models as m
from numi.inbox import outgoing
from numi.inbox.process import REPLY_PREFIXES
from numi.settings import Settings
from numi.tickets import lifecycle, service
from numi.vocab import PRIORITIES

NONE = "none"  # the `queue` / `priority` filter's value for a ticket without one
OPEN = "open"  # the `status` filter's value for every status but closed
ESCAPE = "!"
NOTE = "internal_note"
AGENT_MESSAGE = "agent_message"
REPLY_KIND = "agent_reply"  # the outbox kind and the e-mail template of an agent's reply


@dataclass(frozen=True)
class TicketFilter:
    """What `GET /api/tickets` asks for; None is « any »."""

    conversation_id: Optional[str] = None
    customer_id: Optional[str] = None
    status: Optional[str] = None  # a status, or OPEN
    scenario: Optional[str] = None
    queue: Optional[str] = None  # a queue, or NONE
    priority: Optional[str] = None  # a priority, or NONE
    q: Optional[str] = None
    waiting_days_min: Optional[int] = None
    sort: str = "recent"
    limit: int = 500
    offset: int = 0


def _pattern(text: str) -> str:
    escaped = text.replace(ESCAPE, ESCAPE * 2).replace("%", ESCAPE + "%").replace("_", ESCAPE + "_")
    return f"%{escaped}%"


def _search(q: str) -> ColumnElement:
    """Subject, ticket number, customer (number, name, e-mail); `%`, `_` and `!` are plain text."""
    plain = _pattern(q)
    full_name = func.coalesce(m.Customer.first_name, "") + " " + func.coalesce(m.Customer.last_name, "")
    clauses = [m.Ticket.subject.ilike(plain, escape=ESCAPE), m.Ticket.customer_id.ilike(plain, escape=ESCAPE),
               full_name.ilike(plain, escape=ESCAPE), m.Customer.email.ilike(plain, escape=ESCAPE)]
    digits = q.isascii() and q.isdigit() and len(q) < 10
    number = m.parse_ticket_ref(q) if q.upper().startswith("TK-") else (int(q) if digits else None)
    if number is not None:
        clauses.append(m.Ticket.number == number)
    return or_(*clauses)


def _conditions(f: TicketFilter, now: datetime, without: str = "") -> List[ColumnElement]:
    """The WHERE clauses of `f`, but the one named `without` (a count per status or queue)."""
    found: List[ColumnElement] = []
    for name in ("conversation_id", "customer_id", "scenario"):
        value = getattr(f, name)
        if value:
            found.append(getattr(m.Ticket, name) == value[:128])
    if f.status and without != "status":
        found.append(m.Ticket.status != "closed" if f.status == OPEN else m.Ticket.status == f.status[:128])
    if f.queue and without != "queue":
        found.append(m.Ticket.queue.is_(None) if f.queue == NONE else m.Ticket.queue == f.queue)
    if f.priority:
        found.append(m.Ticket.priority.is_(None) if f.priority == NONE else m.Ticket.priority == f.priority)
    if f.waiting_days_min is not None:
        found.append(m.Ticket.waiting_since <= now - timedelta(days=f.waiting_days_min))
    if f.q:
        found.append(_search(f.q))
    return found


def _scoped(query: Select, staff: Mapping[str, str], where: List[ColumnElement]) -> Select:
    query = query.select_from(m.Ticket).outerjoin(m.Customer, m.Customer.id == m.Ticket.customer_id)
    scope = access.ticket_scope(staff)
    clauses = where + ([scope] if scope is not None else [])
    return query.where(and_(*clauses)) if clauses else query


def _order(sort: str) -> Tuple[Any, ...]:
    if sort == "waiting":
        return (m.Ticket.waiting_since.is_(None), m.Ticket.waiting_since.asc(), m.Ticket.number.asc())
    if sort == "priority":
        rank = case({p: i for i, p in enumerate(PRIORITIES)}, value=m.Ticket.priority, else_=len(PRIORITIES))
        return (rank, m.Ticket.waiting_since.is_(None), m.Ticket.waiting_since.asc(), m.Ticket.number.asc())
    if sort == "updated":
        return (m.Ticket.updated_at.desc(), m.Ticket.number.desc())
    return (m.Ticket.number.desc(),)


def list_tickets(session: Session, staff: Mapping[str, str], f: TicketFilter,
                 now: datetime) -> Tuple[List[Dict[str, Any]], Dict[str, Any]]:
    """(the page of tickets as JSON, with their customer's name; the counts of the filter):
    `{"total": n, "status": {status: n}, "queue": {queue or "none": n}}`. The status counts
    leave the status filter out, the queue counts the queue filter (what choosing another
    would give); the total is the filter's."""
    rows = session.execute(  # one query, the customer joined; the history is not read for a list
        _scoped(select(m.Ticket, m.Customer.first_name, m.Customer.last_name), staff, _conditions(f, now))
        .options(lazyload(m.Ticket.history)).order_by(*_order(f.sort)).limit(f.limit).offset(f.offset))
    items = []
    for ticket, first, last in rows:
        item = m.ticket_json(ticket, with_history=False)
        item["customer_name"] = m.full_name(first, last)
        item["waiting_for"] = ticket.waiting_for
        items.append(item)
    total = session.scalar(_scoped(select(func.count(m.Ticket.number)), staff, _conditions(f, now))) or 0
    by_status = session.execute(_scoped(select(m.Ticket.status, func.count(m.Ticket.number)), staff,
                                        _conditions(f, now, without="status")).group_by(m.Ticket.status))
    by_queue = session.execute(_scoped(select(m.Ticket.queue, func.count(m.Ticket.number)), staff,
                                       _conditions(f, now, without="queue")).group_by(m.Ticket.queue))
    counts = {"total": int(total),
              "status": {s: 0 for s in lifecycle.STATUSES} | {str(s): int(n) for s, n in by_status},
              "queue": {q: 0 for q in lifecycle.QUEUES} | {NONE: 0} | {(q or NONE): int(n) for q, n in by_queue}}
    return items, counts


# --- the ticket page --------------------------------------------------------------------------
def allowed_statuses(ticket: m.Ticket) -> List[str]:
    """The statuses the lifecycle lets this ticket go to, in the lifecycle's order."""
    targets = lifecycle.allowed(ticket.status)
    return [s for s in lifecycle.STATUSES if s in targets]


def chat_open(ticket: m.Ticket, secret: str, now: datetime, is_call: bool) -> bool:
    """Whether the agent may write in the ticket's conversation: one numi signed for a chat,
    still valid (numi/conversations.py), and not a prompter call (`is_call`, numi/transcript.py)."""
    if not ticket.conversation_id or is_call:
        return False
    aware = now.replace(tzinfo=timezone.utc) if now.tzinfo is None else now
    return conversations.check(ticket.conversation_id, secret, aware) is not None


def page_json(session: Session, ticket: m.Ticket, chat: bool) -> Dict[str, Any]:
    """What the ticket page shows besides the ticket: the customer, the allowed statuses, the
    handoffs, and the channels an agent can answer on (`chat` from `chat_open`)."""
    customer = service.customer(session, ticket.customer_id)
    if customer is not None and customer.erased_at is not None:
        customer = None
    handoffs = session.scalars(select(m.Handoff).where(m.Handoff.ticket_number == ticket.number)
                               .order_by(m.Handoff.id))
    return {
        "customer": None if customer is None else {
            "id": customer.id, "name": m.full_name(customer.first_name, customer.last_name),
            "email": customer.email, "phone": customer.phone, "segment": customer.segment,
            "email_failing": customer.email_failing_at is not None},
        "waiting_for": ticket.waiting_for,
        "allowed_statuses": allowed_statuses(ticket),
        "channels": {"email": bool(customer is not None and customer.email), "chat": chat},
        "handoffs": [{"id": h.id, "queue": h.queue, "status": h.status, "claimed_by": h.claimed_by,
                      "created_at": m.as_iso(h.created_at), "claimed_at": m.as_iso(h.claimed_at),
                      "ended_at": m.as_iso(h.ended_at)} for h in handoffs],
    }


# --- notes and the agent's replies --------------------------------------------------------------
def _earlier(ticket: m.Ticket, event: str, actor: str, client_id: Optional[str]) -> Optional[m.TicketEvent]:
    """The entry a retried request (the same staff member, the same `client_id`) already recorded."""
    if not client_id:
        return None
    return next((e for e in ticket.history if e.event == event and e.actor == actor
                 and (e.details or {}).get("client_id") == client_id), None)


def _details(client_id: Optional[str], **values: Any) -> Dict[str, Any]:
    return {**values, **({"client_id": client_id} if client_id else {})}


def add_note(session: Session, ticket: m.Ticket, *, actor: str, text: str, client_id: Optional[str] = None,
             now: Optional[datetime] = None) -> Tuple[m.TicketEvent, bool]:
    """(the internal note, whether it is new): staff only, never shown to the customer."""
    earlier = _earlier(ticket, NOTE, actor, client_id)
    if earlier is not None:
        return earlier, False
    entry = service.record(session, ticket, actor=actor, event=NOTE, at=now, details=_details(client_id, text=text))
    return entry, True


def reply_key(ticket: m.Ticket, actor: str, client_id: Optional[str]) -> str:
    """The idempotency key of an agent's reply (the outbox's, the chat event's): a retry with
    the same `client_id` reuses it, a reply without one is always new."""
    return f"{REPLY_KIND}:{ticket.ref}:{actor[:100]}:{client_id or secrets.token_hex(12)}"


@dataclass(frozen=True)
class Reply:
    """An agent's reply as recorded in the history, and whether this request recorded it."""

    event: m.TicketEvent
    new: bool
    message_id: Optional[str] = None  # an e-mail's signed Message-ID
    subject: Optional[str] = None  # an e-mail's subject, with its [TK-…]

    def as_json(self) -> Dict[str, Any]:
        body: Dict[str, Any] = {"entry": event_json(self.event), "new": self.new}
        if self.message_id is not None:
            body.update(message_id=self.message_id, subject=self.subject)
        return body


def first_name(staff: Mapping[str, str]) -> str:
    """How an agent signs: their first name (the first word of their staff name)."""
    name = str(staff.get("name") or "").strip()
    return name.split()[0] if name else ""


def mail_context(session: Session, ticket: m.Ticket, staff: Mapping[str, str], text: str) -> Dict[str, Any]:
    """What templates/mail/agent_reply.txt.j2 is rendered over."""
    customer = service.customer(session, ticket.customer_id)
    last_in = next((e for e in reversed(ticket.history) if e.event == "email_in"), None)
    their_subject = str((last_in.details or {}).get("subject") or "") if last_in is not None else ""
    return {"ref": ticket.ref, "subject": ticket.subject, "their_subject": REPLY_PREFIXES.sub("", their_subject),
            "first_name": customer.first_name if customer is not None else None, "text": text,
            "agent": first_name(staff)}


def email_reply(session: Session, settings: Settings, ticket: m.Ticket, staff: Mapping[str, str], text: str,
                client_id: Optional[str] = None, now: Optional[datetime] = None) -> Optional[Reply]:
    """The agent's e-mail to the customer, in the ticket's thread, through the outbox (the caller
    delivers it after the commit); None when the customer has no address to write to."""
    actor = access.actor(staff)
    key = reply_key(ticket, actor, client_id)
    if client_id:
        sent = session.scalars(select(m.OutboxMessage).where(m.OutboxMessage.key == key)).first()
        if sent is not None:
            earlier = next((e for e in ticket.history if e.event == "email_out"
                            and (e.details or {}).get("message_id") == sent.message_id), None)
            if earlier is not None:
                return Reply(earlier, False, sent.message_id, sent.subject)
    row = outgoing.send_on_ticket(session, settings, ticket, key=key, kind=REPLY_KIND, actor=actor,
                                  template=REPLY_KIND, context=mail_context(session, ticket, staff, text), now=now)
    if row is None:
        return None
    entry = ticket.history[-1]  # the email_out entry send_on_ticket recorded
    return Reply(entry, True, row.message_id, row.subject)


def chat_reply_sent(ticket: m.Ticket, actor: str, client_id: Optional[str]) -> Optional[Reply]:
    """The chat reply a retried request (the same `client_id`) already sent."""
    earlier = _earlier(ticket, AGENT_MESSAGE, actor, client_id)
    return Reply(earlier, False) if earlier is not None else None


def record_chat_reply(session: Session, ticket: m.Ticket, *, actor: str, text: str,
                      client_id: Optional[str] = None, now: Optional[datetime] = None) -> Reply:
    """The agent's chat message to the customer, once it reached the conversation."""
    entry = service.record(session, ticket, actor=actor, event=AGENT_MESSAGE, at=now,
                           details=_details(client_id, channel="chat", direction="out", text=text))
    return Reply(entry, True)


def event_json(e: m.TicketEvent) -> Dict[str, Any]:
    return m.history_json([e])[0]
