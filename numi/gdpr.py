"""The GDPR erasure (RGPD art. 17): the only deletion numi ever does.

Personal data goes: the customer's identity and contact details, the content of
their tickets (subjects, collected answers, history details), handoff packets and
messages, callbacks, one-time codes, and their conversations in Rasa's tracker
store. What the law requires stays, in a restricted archive: invoices (10 years,
Code de commerce art. L123-22) and the bare ticket skeleton (numbers, dates,
statuses) for the audit trail.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Dict, List, Set

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from numi.db import models as m

REDACTED = "[effacé RGPD]"


def conversations_of(session: Session, customer_id: str) -> Set[str]:
    ids = set(session.scalars(select(m.Ticket.conversation_id).where(m.Ticket.customer_id == customer_id)))
    ids |= set(session.scalars(select(m.Handoff.conversation_id).where(m.Handoff.customer_id == customer_id)))
    ids |= set(session.scalars(select(m.Callback.conversation_id).where(m.Callback.customer_id == customer_id)))
    ids |= set(session.scalars(select(m.OtpChallenge.conversation_id).where(m.OtpChallenge.customer_id == customer_id)))
    return {i for i in ids if i}


def erase(session: Session, customer_id: str, now: datetime, tracker_engine=None, mailbox_dir=None) -> Dict[str, int]:
    """Anonymise everything personal about `customer_id`; keep invoices archived."""
    customer = session.get(m.Customer, customer_id)
    if customer is None:
        raise ValueError("client inconnu")
    conversations = conversations_of(session, customer_id)
    counts: Dict[str, int] = {}
    for field in ("first_name", "last_name", "email", "phone", "address"):
        setattr(customer, field, None)
    customer.crm_notes, customer.satisfaction, customer.recommendation = [], None, None
    customer.erased_at = now
    tickets = list(session.scalars(select(m.Ticket).where(m.Ticket.customer_id == customer_id)))
    numbers = [t.number for t in tickets]
    for t in tickets:
        t.subject, t.waiting_for, t.data = REDACTED, None, {"erased_at": now.isoformat()}
    counts["tickets"] = len(tickets)
    if numbers:
        session.execute(update(m.TicketEvent).where(m.TicketEvent.ticket_number.in_(numbers))
                        .values(reason=None, details={}))
        session.execute(update(m.OutboxMessage).where(m.OutboxMessage.ticket_number.in_(numbers))
                        .values(body=REDACTED, subject=REDACTED, recipient=None))
    handoffs = list(session.scalars(select(m.Handoff).where(m.Handoff.customer_id == customer_id)))
    for h in handoffs:
        h.packet = {"erased_at": now.isoformat()}
        session.execute(update(m.HandoffMessage).where(m.HandoffMessage.handoff_id == h.id).values(text=REDACTED))
    counts["handoffs"] = len(handoffs)
    session.execute(update(m.Callback).where(m.Callback.customer_id == customer_id)
                    .values(phone=None, subject=REDACTED, context={}))
    session.execute(update(m.OtpChallenge).where(m.OtpChallenge.customer_id == customer_id)
                    .values(email=REDACTED))
    counts["invoices_archived"] = session.execute(update(m.Invoice).where(m.Invoice.customer_id == customer_id)
                                                  .values(archived=True)).rowcount
    session.execute(update(m.Attendance).where(m.Attendance.customer_id == customer_id).values(status="erased"))
    for t in tickets:
        session.add(m.TicketEvent(ticket_number=t.number, at=now, actor="système:rgpd", event="gdpr_erased",
                                  details={}))
    counts["conversations"] = len(conversations)
    if tracker_engine is not None and conversations:
        with tracker_engine.begin() as conn:
            deleted = 0
            for conv in conversations:
                deleted += conn.execute(text("DELETE FROM events WHERE sender_id = :s"), {"s": conv}).rowcount
        counts["conversation_events_deleted"] = deleted
    return counts


def due_erasures(session: Session, today: date) -> List[str]:
    """Customers whose confirmed erasure request (account_deletion_gdpr) is due."""
    due = []
    for t in session.scalars(select(m.Ticket).where(m.Ticket.scenario == "account_deletion_gdpr",
                                                    m.Ticket.customer_id.isnot(None))):
        when = (t.data or {}).get("erasure_due")
        customer = session.get(m.Customer, t.customer_id)
        if when and customer is not None and customer.erased_at is None and date.fromisoformat(when) <= today:
            due.append(t.customer_id)
    return sorted(set(due))
