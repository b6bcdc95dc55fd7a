"""The numi data model (SQLAlchemy 1.4, declarative).

Tickets carry their whole audit trail (`TicketEvent`); nothing is deleted except
by the GDPR erasure, which anonymises personal fields in place.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any, Dict, List, Optional

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import declarative_base, relationship

from numi.vocab import REMINDER_KINDS

Base: Any = declarative_base()  # SQLAlchemy 1.4 has no typed declarative base


def ticket_ref(number: int) -> str:
    return f"TK-{number:05d}"


def parse_ticket_ref(ref: str) -> Optional[int]:
    ref = (ref or "").strip().upper()
    digits = ref[3:]
    if not ref.startswith("TK-") or not (digits.isascii() and digits.isdigit()) or len(digits) > 9:
        return None  # (« ² » is a digit to str.isdigit, not to int; a number the database cannot hold)
    return int(digits)


def full_name(first: Optional[str], last: Optional[str]) -> Optional[str]:
    """« Prénom Nom », with what is known of them; None when neither is."""
    return " ".join(p for p in (first, last) if p) or None


class Customer(Base):
    __tablename__ = "customers"
    id = Column(String(16), primary_key=True)  # CLT-00321
    first_name = Column(String(80), nullable=True)
    last_name = Column(String(80), nullable=True)
    email = Column(String(254), nullable=True, index=True)
    phone = Column(String(32), nullable=True)
    address = Column(Text, nullable=True)
    segment = Column(String(20), nullable=False, default="standard")  # vip|standard|starter
    perimeter = Column(String(40), nullable=False, default="particuliers")
    satisfaction = Column(Integer, nullable=True)  # 1..5
    recommendation = Column(Integer, nullable=True)  # NPS 0..10
    churned = Column(Boolean, nullable=False, default=False)
    churn_risk = Column(Float, nullable=True)
    # A bounce marked the e-mail address as failing: reminders fall back to SMS or a call.
    email_failing_at = Column(DateTime, nullable=True)
    crm_notes = Column(JSON, nullable=False, default=list)  # the "CRM émotionnel"
    erased_at = Column(DateTime, nullable=True)
    created_at = Column(DateTime, nullable=False, default=datetime.utcnow)

    subscriptions = relationship("Subscription", back_populates="customer")

    @property
    def display_name(self) -> str:
        return full_name(self.first_name, self.last_name) or self.id


class Subscription(Base):
    __tablename__ = "subscriptions"
    id = Column(Integer, primary_key=True, autoincrement=True)
    customer_id = Column(String(16), ForeignKey("customers.id"), nullable=False, index=True)
    plan = Column(String(40), nullable=False)  # essentiel|premium|entreprise
    started_on = Column(Date, nullable=False)
    expires_on = Column(Date, nullable=False, index=True)
    quote_signed_on = Column(Date, nullable=True)
    status = Column(String(20), nullable=False, default="active")  # active|suspended|cancelled|expired
    renewal_outcome = Column(String(20), nullable=True)  # renewed|declined|undecided
    renewal_started_at = Column(DateTime, nullable=True)
    customer = relationship("Customer", back_populates="subscriptions")


class Invoice(Base):
    __tablename__ = "invoices"
    id = Column(String(24), primary_key=True)  # FAC-2025-00123
    customer_id = Column(String(16), ForeignKey("customers.id"), nullable=False, index=True)
    issued_on = Column(Date, nullable=False)
    period = Column(String(7), nullable=False)  # YYYY-MM
    amount_eur = Column(Numeric(10, 2), nullable=False)
    label = Column(String(120), nullable=False)
    archived = Column(Boolean, nullable=False, default=False)  # GDPR restricted archive


class Workshop(Base):
    __tablename__ = "workshops"
    id = Column(String(24), primary_key=True)  # AT-2025-12-22
    title = Column(String(160), nullable=False)
    topic = Column(String(60), nullable=False)
    level = Column(String(20), nullable=False, default="débutant")
    starts_at = Column(DateTime, nullable=False)
    seats = Column(Integer, nullable=False, default=12)
    keywords = Column(JSON, nullable=False, default=list)


class Attendance(Base):
    __tablename__ = "attendance"
    id = Column(Integer, primary_key=True, autoincrement=True)
    workshop_id = Column(String(24), ForeignKey("workshops.id"), nullable=False)
    customer_id = Column(String(16), ForeignKey("customers.id"), nullable=False, index=True)
    status = Column(String(20), nullable=False, default="registered")  # registered|interested|attended|absent
    certificate_sent_at = Column(DateTime, nullable=True)
    __table_args__ = (UniqueConstraint("workshop_id", "customer_id"),)


class Ticket(Base):
    __tablename__ = "tickets"
    number = Column(Integer, primary_key=True, autoincrement=True)
    customer_id = Column(String(16), ForeignKey("customers.id"), nullable=True, index=True)
    conversation_id = Column(String(128), nullable=True, index=True)
    scenario = Column(String(60), nullable=False)
    subject = Column(String(200), nullable=False, default="")
    priority = Column(String(10), nullable=True)  # urgent|high|normal|None
    status = Column(String(20), nullable=False, default="new")
    queue = Column(String(12), nullable=True)
    assignee = Column(String(80), nullable=True)
    waiting_reason = Column(String(40), nullable=True)
    waiting_for = Column(Text, nullable=True)  # what numi waits for, in French
    waiting_since = Column(DateTime, nullable=True)
    next_reminder_due = Column(Date, nullable=True)
    close_reason = Column(String(20), nullable=True)
    closed_at = Column(DateTime, nullable=True)
    reopen_count = Column(Integer, nullable=False, default=0)
    # "<conversation>:<message id>:<playbook>": a retried or replayed action finds its ticket
    idempotency_key = Column(String(200), nullable=True, unique=True)
    data = Column(JSON, nullable=False, default=dict)  # collected slots, verbatims
    created_at = Column(DateTime, nullable=False, default=datetime.utcnow)
    updated_at = Column(DateTime, nullable=False, default=datetime.utcnow)

    history = relationship(
        "TicketEvent", order_by="TicketEvent.id", back_populates="ticket", lazy="selectin"
    )
    reminders = relationship(
        "OutboxMessage",
        primaryjoin="and_(Ticket.number==OutboxMessage.ticket_number, OutboxMessage.kind!='alert')",
        order_by="OutboxMessage.id",
        viewonly=True,
        lazy="selectin",
    )

    __table_args__ = (
        Index("ix_tickets_status_due", "status", "next_reminder_due"),
        Index("ix_tickets_scenario", "scenario"),
    )

    @property
    def ref(self) -> str:
        return ticket_ref(self.number)


class TicketEvent(Base):
    __tablename__ = "ticket_events"
    id = Column(Integer, primary_key=True, autoincrement=True)
    ticket_number = Column(Integer, ForeignKey("tickets.number"), nullable=False, index=True)
    at = Column(DateTime, nullable=False, default=datetime.utcnow)
    actor = Column(String(80), nullable=False)
    event = Column(String(40), nullable=False)
    from_status = Column(String(20), nullable=True)
    to_status = Column(String(20), nullable=True)
    reason = Column(Text, nullable=True)
    details = Column(JSON, nullable=False, default=dict)
    ticket = relationship("Ticket", back_populates="history")


class OutboxMessage(Base):
    """Every outgoing message (reminder e-mail, SMS, call task, alert) passes here.

    `key` is the idempotency key: one row per (ticket, step) or (alert, recipient).
    """

    __tablename__ = "outbox"
    id = Column(Integer, primary_key=True, autoincrement=True)
    key = Column(String(200), nullable=False, unique=True)
    ticket_number = Column(Integer, ForeignKey("tickets.number"), nullable=True, index=True)
    kind = Column(String(20), nullable=False)  # gentle|followup|firm|call|close|alert|otp|...
    channel = Column(String(10), nullable=False)  # email|sms|call|webhook|note
    recipient = Column(String(254), nullable=True)
    subject = Column(String(300), nullable=True)
    body = Column(Text, nullable=False, default="")
    due_on = Column(Date, nullable=True)
    not_before = Column(DateTime, nullable=True)
    status = Column(String(12), nullable=False, default="pending")  # pending|committed|sent|failed|done
    attempts = Column(Integer, nullable=False, default=0)
    last_error = Column(Text, nullable=True)
    message_id = Column(String(200), nullable=True)
    headers = Column(JSON, nullable=True)  # In-Reply-To, References, Reply-To of a mail in a thread
    claimed_by = Column(String(120), nullable=True)  # host:pid of the process sending it
    claimed_at = Column(DateTime, nullable=True)
    created_at = Column(DateTime, nullable=False, default=datetime.utcnow)
    sent_at = Column(DateTime, nullable=True)
    __table_args__ = (Index("ix_outbox_status", "status", "not_before"),)


class CallTask(Base):
    __tablename__ = "call_tasks"
    id = Column(Integer, primary_key=True, autoincrement=True)
    key = Column(String(200), nullable=False, unique=True)
    ticket_number = Column(Integer, ForeignKey("tickets.number"), nullable=True)
    customer_id = Column(String(16), ForeignKey("customers.id"), nullable=True)
    reason = Column(String(40), nullable=False)  # reminder|attrition|callback
    urgent = Column(Boolean, nullable=False, default=False)
    script = Column(Text, nullable=False, default="")
    due_on = Column(Date, nullable=False)
    done_at = Column(DateTime, nullable=True)
    outcome = Column(Text, nullable=True)


class Callback(Base):
    __tablename__ = "callbacks"
    id = Column(Integer, primary_key=True, autoincrement=True)
    customer_id = Column(String(16), ForeignKey("customers.id"), nullable=True)
    conversation_id = Column(String(128), nullable=True)
    ticket_number = Column(Integer, ForeignKey("tickets.number"), nullable=True)
    phone = Column(String(32), nullable=True)
    slot_start = Column(DateTime, nullable=False, index=True)
    subject = Column(Text, nullable=False)
    context = Column(JSON, nullable=False, default=dict)
    status = Column(String(12), nullable=False, default="scheduled")  # scheduled|done|missed|cancelled
    created_at = Column(DateTime, nullable=False, default=datetime.utcnow)


class Handoff(Base):
    __tablename__ = "handoffs"
    id = Column(Integer, primary_key=True, autoincrement=True)
    conversation_id = Column(String(128), nullable=False, index=True)
    queue = Column(String(12), nullable=False)
    priority = Column(String(10), nullable=True)
    status = Column(String(12), nullable=False, default="waiting")  # waiting|claimed|returned|closed|expired
    ticket_number = Column(Integer, ForeignKey("tickets.number"), nullable=True)
    customer_id = Column(String(16), nullable=True)
    packet = Column(JSON, nullable=False, default=dict)
    claimed_by = Column(String(80), nullable=True)
    created_at = Column(DateTime, nullable=False, default=datetime.utcnow)
    claimed_at = Column(DateTime, nullable=True)
    ended_at = Column(DateTime, nullable=True)
    __table_args__ = (Index("ix_handoffs_queue_status", "queue", "status"),)


class HandoffMessage(Base):
    __tablename__ = "handoff_messages"
    id = Column(Integer, primary_key=True, autoincrement=True)
    handoff_id = Column(Integer, ForeignKey("handoffs.id"), nullable=False, index=True)
    sender = Column(String(12), nullable=False)  # customer|agent
    author = Column(String(80), nullable=True)
    text = Column(Text, nullable=False)
    at = Column(DateTime, nullable=False, default=datetime.utcnow)


class StaffToken(Base):
    __tablename__ = "staff_tokens"
    id = Column(Integer, primary_key=True, autoincrement=True)
    name = Column(String(80), nullable=False)
    role = Column(String(12), nullable=False)
    token_hash = Column(String(64), nullable=False, unique=True)
    created_at = Column(DateTime, nullable=False, default=datetime.utcnow)
    revoked_at = Column(DateTime, nullable=True)


class OtpChallenge(Base):
    __tablename__ = "otp_challenges"
    id = Column(Integer, primary_key=True, autoincrement=True)
    conversation_id = Column(String(128), nullable=False, index=True)
    email = Column(String(254), nullable=False)
    customer_id = Column(String(16), nullable=True)
    code_hash = Column(String(64), nullable=False)
    expires_at = Column(DateTime, nullable=False)
    attempts = Column(Integer, nullable=False, default=0)
    verified_at = Column(DateTime, nullable=True)


class Alert(Base):
    __tablename__ = "alerts"
    id = Column(Integer, primary_key=True, autoincrement=True)
    rule = Column(String(60), nullable=False, index=True)
    conversation_id = Column(String(128), nullable=True)
    customer_id = Column(String(16), nullable=True, index=True)
    message = Column(Text, nullable=False)
    signals = Column(JSON, nullable=False, default=dict)
    recipients = Column(JSON, nullable=False, default=list)
    created_at = Column(DateTime, nullable=False, default=datetime.utcnow)


class MessageSignal(Base):
    """The signals of one customer message (seed 002): what the alert rules and the
    churn score read. `event_key` makes ingestion idempotent (tracker event id)."""

    __tablename__ = "message_signals"
    id = Column(Integer, primary_key=True, autoincrement=True)
    event_key = Column(String(80), nullable=True, unique=True)
    conversation_id = Column(String(128), nullable=True, index=True)
    customer_id = Column(String(16), nullable=True, index=True)
    at = Column(DateTime, nullable=False, default=datetime.utcnow, index=True)
    mode = Column(String(10), nullable=False, default="customer")
    text = Column(Text, nullable=False, default="")
    intent = Column(String(60), nullable=True)
    scenario = Column(String(60), nullable=True)
    emotion = Column(String(20), nullable=False)
    polarity = Column(String(10), nullable=False)
    intensity = Column(Integer, nullable=False, default=0)
    themes = Column(JSON, nullable=False, default=list)
    keywords = Column(JSON, nullable=False, default=list)


class AuditEvent(Base):
    """Who did or tried what, when, from where: every refusal and every sensitive read or
    action (customer record, erasure, export, tokens). Never the personal data itself."""

    __tablename__ = "audit_events"
    id = Column(Integer, primary_key=True, autoincrement=True)
    at = Column(DateTime, nullable=False, index=True)
    actor = Column(String(100), nullable=True)  # "level2:Marc", or None when unauthenticated
    role = Column(String(12), nullable=True)
    action = Column(String(80), nullable=False)  # "GET /api/customers/<id>/crm", "erase_customer", ...
    target = Column(String(128), nullable=True)  # the customer or ticket concerned
    outcome = Column(String(12), nullable=False)  # "denied" | "unauthenticated" | "allowed"
    address = Column(String(64), nullable=True)
    details = Column(JSON, nullable=False, default=dict)


class Lease(Base):
    """A named job's holder until `expires_at` (one scheduler across numi processes)."""

    __tablename__ = "leases"
    name = Column(String(60), primary_key=True)
    holder = Column(String(100), nullable=False)
    expires_at = Column(DateTime, nullable=False)


class InboundMail(Base):
    """Every mail numi received (SMTP listener or IMAP), kept as it arrived.

    `digest` (SHA-256 of the raw bytes, or of the Message-ID) is unique: the same mail fetched
    twice, or by two processes at once, is handled once. `kind` says what numi made of it."""

    __tablename__ = "inbound_mails"
    id = Column(Integer, primary_key=True, autoincrement=True)
    digest = Column(String(64), nullable=False, unique=True)
    message_id = Column(String(300), nullable=True, index=True)
    source = Column(String(8), nullable=False)  # smtp|imap
    received_at = Column(DateTime, nullable=False, default=datetime.utcnow)
    sender = Column(String(254), nullable=True, index=True)
    subject = Column(String(300), nullable=True)
    kind = Column(String(20), nullable=False)  # reply|new|auto_reply|bounce|list|loop|too_large|unreadable
    threaded_by = Column(String(12), nullable=True)  # headers|address|subject|sender
    ticket_number = Column(Integer, ForeignKey("tickets.number"), nullable=True, index=True)
    size = Column(Integer, nullable=False, default=0)
    raw = Column(LargeBinary, nullable=True)  # the original mail (None when refused as too large)
    notes = Column(JSON, nullable=False, default=dict)  # what was refused (forged reference, attachments)


class MailAttachment(Base):
    __tablename__ = "mail_attachments"
    id = Column(Integer, primary_key=True, autoincrement=True)
    mail_id = Column(Integer, ForeignKey("inbound_mails.id"), nullable=False, index=True)
    filename = Column(String(200), nullable=False)
    content_type = Column(String(100), nullable=False)
    size = Column(Integer, nullable=False)
    content = Column(LargeBinary, nullable=False)


class Meta(Base):
    """Small key/value table (demo-data marker, scheduler bookkeeping)."""

    __tablename__ = "numi_meta"
    key = Column(String(60), primary_key=True)
    value = Column(Text, nullable=False)


def as_iso(value: Optional[datetime | date]) -> Optional[str]:
    return value.isoformat() if value is not None else None


def ticket_json(ticket: Ticket, with_history: bool = True) -> Dict[str, Any]:
    body: Dict[str, Any] = {
        "id": ticket.ref,
        "customer_id": ticket.customer_id,
        "conversation_id": ticket.conversation_id,
        "scenario": ticket.scenario,
        "subject": ticket.subject,
        "priority": ticket.priority,
        "status": ticket.status,
        "queue": ticket.queue,
        "assignee": ticket.assignee,
        "waiting_reason": ticket.waiting_reason,
        "waiting_since": as_iso(ticket.waiting_since),
        "close_reason": ticket.close_reason,
        "created_at": as_iso(ticket.created_at),
        "updated_at": as_iso(ticket.updated_at),
        "reminders": [
            {"kind": m.kind, "channel": m.channel, "sent_at": as_iso(m.sent_at), "status": m.status}
            for m in ticket.reminders
            if m.kind in REMINDER_KINDS
        ],
    }
    if with_history:
        body["history"] = history_json(ticket.history)
    return body


HISTORY_TOP_LEVEL = ("channel", "direction")  # the contract: an e-mail entry says "channel" and "direction"


def history_json(events: List[TicketEvent]) -> List[Dict[str, Any]]:
    return [
        {
            "at": as_iso(e.at),
            "actor": e.actor,
            "event": e.event,
            "from": e.from_status,
            "to": e.to_status,
            "reason": e.reason,
            **{k: e.details[k] for k in HISTORY_TOP_LEVEL if e.details and k in e.details},
            **({"details": e.details} if e.details else {}),
        }
        for e in events
    ]
