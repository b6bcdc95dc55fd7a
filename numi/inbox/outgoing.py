"""Mail about a ticket, out: through the outbox, signed, in its thread, and in the ticket's history.

Every such mail carries ``[TK-00456]`` in its subject, a Message-ID numi signed, a reply-to
address that names the ticket (signed), and, when it answers a mail, In-Reply-To/References:
the customer's mail client keeps the thread, and numi finds the ticket when they answer.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping, Optional, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from numi.clock import utcnow
from numi.db import models as m
from numi.inbox import signing
from numi.reminders import outbox
from numi.settings import Settings
from numi.tickets import service as tickets


def last_message_id(s: Session, ticket: m.Ticket) -> Optional[str]:
    """The Message-ID of the customer's latest mail on this ticket (what an answer replies to)."""
    return s.scalars(select(m.InboundMail.message_id).where(
        m.InboundMail.ticket_number == ticket.number, m.InboundMail.kind.in_(["reply", "new"]),
        m.InboundMail.message_id.isnot(None)).order_by(m.InboundMail.id.desc())).first()


def send_on_ticket(session: Session, settings: Settings, ticket: m.Ticket, *, key: str, kind: str, actor: str,
                   subject: Optional[str] = None, body: Optional[str] = None, template: Optional[str] = None,
                   context: Optional[Mapping[str, Any]] = None, now: Optional[datetime] = None,
                   to: Optional[str] = None, in_reply_to: Optional[str] = None,
                   references: Sequence[str] = ()) -> Optional[m.OutboxMessage]:
    """Enqueue one mail about `ticket` (text given, or rendered from templates/mail/<template>) and
    record it as an ``email_out`` history entry. None when there is no address, or the key was used."""
    now = now or utcnow()
    if to is None:
        customer = session.get(m.Customer, ticket.customer_id) if ticket.customer_id else None
        to = customer.email if customer is not None and customer.erased_at is None else None
    if not to:
        return None
    if template is not None:
        subject, body = outbox.render_mail(template, dict(context or {}))
    if in_reply_to is None:
        in_reply_to = last_message_id(session, ticket)
    thread = signing.thread_fields(settings, ticket.number, key, in_reply_to=in_reply_to, references=references,
                                   human=not actor.startswith(("bot", "système")))
    row = outbox.enqueue(session, key=key, kind=kind, channel="email", recipient=to, subject=subject or "",
                         body=body or "", ticket_number=ticket.number, now=now, **thread)
    if row is None:
        return None
    tickets.record(session, ticket, actor=actor, event="email_out", at=now, details={
        "channel": "email", "direction": "out", "kind": kind, "to": to, "subject": row.subject,
        "text": row.body, "message_id": row.message_id, "in_reply_to": in_reply_to})
    return row


def send_to_address(session: Session, settings: Settings, to: str, *, template: str, key: str,
                    context: Mapping[str, Any], in_reply_to: Optional[str] = None,
                    now: Optional[datetime] = None) -> Optional[m.OutboxMessage]:
    """A mail about no ticket (a refused mail's answer), in reply to the sender's mail."""
    subject, body = outbox.render_mail(template, dict(context))
    headers = {"In-Reply-To": in_reply_to, "References": in_reply_to} if in_reply_to else None
    return outbox.enqueue(session, key=key, kind="mail_auto", channel="email", recipient=to, subject=subject,
                          body=body, now=now, headers=headers)
