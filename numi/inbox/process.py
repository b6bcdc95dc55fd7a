"""What a received mail does: recorded, threaded onto its ticket, understood, answered in thread.

``receive(deps, raw, source)`` is the one entry point (the SMTP listener and the IMAP fetcher
both call it). In order:

1. A mail over the size limit is refused politely: recorded (headers only) and answered once.
2. Every other mail is kept whole (``inbound_mails``); its digest is unique, so a mail fetched
   twice, or by two processes at once, is handled once.
3. Threading (numi.inbox.signing): the signed Message-IDs of In-Reply-To / References, then the
   signed reply-to address, then ``[TK-00456]`` in the subject *from the ticket's own customer*,
   then, for a « Re: » from a known customer, their ticket updated recently. A forged reference
   is refused and noted, never followed.
4. Robots are recorded, never answered: an out-of-office or a mailing list changes nothing; a
   bounce marks the address as failing (the next reminder goes by SMS or a call).
5. A person's reply on a ticket: it lands in the history; on a waiting ticket it is understood
   by the NLU and walks the reminder playbook (resolved → closed; still broken → in progress;
   not yet tested → a new date and the clock again); the bot's answer goes back in the thread.
6. A new mail outside any thread opens a triaged ticket (scenario and priority from the NLU,
   customer from the sender) and is acknowledged with its number; a security incident is
   urgent and goes to level 2 at once.

Automatic answers are capped per address and hour (``InboundSettings.auto_replies_per_hour``).
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Dict, List, Optional, Sequence

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from numi import wording
from numi.clock import utcnow
from numi.db import models as m
from numi.handoff import service as handoff_service
from numi.inbox import parse as mailparse
from numi.inbox import signing
from numi.inbox.outgoing import send_on_ticket, send_to_address
from numi.playbooks import conversation
from numi.playbooks.effects import EffectEnv
from numi.playbooks.engine import Outcome, Parsed, new_state
from numi.playbooks.library import Library
from numi.settings import Settings
from numi.tickets import service as tickets
from numi.tickets.lifecycle import Transition

log = logging.getLogger(__name__)

Understand = Callable[[str], Parsed]  # the NLU: Rasa's /model/parse in the service, passed in
WALK = "email_walk"  # ticket.data key: the reminder playbook's state in this ticket's e-mail thread
REPLY_SUBJECT = re.compile(r"^\s*(re|r[ée]f|aw|sv|tr|fwd?)\s*:", re.IGNORECASE)
REPLY_PREFIXES = re.compile(r"^(\s*(re|r[ée]f|aw|sv|tr|fwd?)\s*:\s*)+", re.IGNORECASE)
TRIAGE_MIN_CONFIDENCE = 0.5
SECURITY = "security_incident"
FALLBACK_SCENARIO = "out_of_scope"


@dataclass
class Deps:
    """What receiving a mail needs, passed in."""

    sessions: sessionmaker
    settings: Settings
    library: Library
    understand: Understand
    now: Callable[[], datetime] = utcnow
    deliver: Callable[[], Any] = lambda: None  # after a mail is handled: send what it enqueued (outbox.flush)


@dataclass
class Result:
    kind: str  # reply | new | auto_reply | bounce | list | loop | too_large | duplicate
    mail_id: Optional[int] = None
    ticket: Optional[str] = None
    threaded_by: Optional[str] = None
    answered: bool = False
    notes: Dict[str, Any] = field(default_factory=dict)


def actor() -> str:
    return wording.text("ticket_history.actors.inbox")


def receive(deps: Deps, raw: bytes, source: str) -> Result:
    """Handle one received mail, in one transaction, then send the answers it enqueued.
    Never raises for a malformed mail."""
    result = _receive(deps, raw, source)
    if result.answered:
        deps.deliver()
    return result


def _receive(deps: Deps, raw: bytes, source: str) -> Result:
    if len(raw) > deps.settings.inbound.max_bytes:
        return _too_large(deps, raw, source)
    mail = mailparse.parse(raw, deps.settings.inbound, deps.settings.mail_domain)
    now = deps.now()
    with deps.sessions() as s:
        try:
            with s.begin():
                return _handle(deps, s, mail, raw, source, now)
        except IntegrityError:  # the same mail, already handled (fetched twice, or by another process)
            return Result(kind="duplicate")


def _too_large(deps: Deps, raw: bytes, source: str) -> Result:
    sender, mid, subject, _ = mailparse.headers_only(raw, deps.settings.mail_domain)
    with deps.sessions() as s:
        try:
            with s.begin():
                row = m.InboundMail(digest=mailparse.digest_of(raw), message_id=mid, source=source,
                                    received_at=deps.now(), sender=sender or None, subject=subject, kind="too_large",
                                    size=len(raw), raw=None, notes={})
                s.add(row)
                s.flush()
                answered = bool(sender) and not sender.endswith("@" + deps.settings.mail_domain) and \
                    send_to_address(s, deps.settings, sender, template="mail_too_large", key=f"mail:{row.id}:too_large",
                                    context={"subject": subject, "limit_mb": deps.settings.inbound.max_bytes // 2**20},
                                    in_reply_to=mid, now=deps.now()) is not None
                return Result(kind="too_large", mail_id=row.id, answered=answered)
        except IntegrityError:
            return Result(kind="duplicate")


def _handle(deps: Deps, s: Session, mail: mailparse.Parsed, raw: bytes, source: str, now: datetime) -> Result:
    notes: Dict[str, Any] = {}
    ticket, threaded_by = find_ticket(s, deps.settings, mail, notes, now)
    row = m.InboundMail(digest=mail.digest, message_id=mail.message_id, source=source, received_at=now,
                        sender=mail.sender or None, subject=mail.subject, kind=mail.robot or "reply",
                        threaded_by=threaded_by, ticket_number=ticket.number if ticket else None, size=mail.size,
                        raw=raw, notes=notes)
    s.add(row)
    s.flush()  # the unique digest: a second copy stops here
    refused = [a.as_json() for a in mail.attachments if a.refused]
    for att in mail.attachments:
        if att.refused is None:
            s.add(m.MailAttachment(mail_id=row.id, filename=att.filename, content_type=att.content_type,
                                   size=att.size, content=att.data))
    if refused:
        notes["attachments_refused"] = refused
        row.notes = dict(notes)
    result = Result(kind=row.kind, mail_id=row.id, threaded_by=threaded_by, notes=notes)
    if mail.robot == "bounce":
        _bounced(s, deps.settings, mail, ticket, row, now)
    if mail.robot is not None:  # recorded, never answered
        if ticket is not None:
            _record_in(s, ticket, mail, row, now)
        result.ticket = ticket.ref if ticket else None
        return result
    _address_works(s, mail.sender, row)
    if ticket is None:
        ticket = _triage(deps, s, mail, row, now)
        row.kind, row.ticket_number = "new", ticket.number
        result.kind, result.ticket = "new", ticket.ref
        result.answered = _acknowledge(s, deps.settings, ticket, mail, row, now)
        return result
    _record_in(s, ticket, mail, row, now)
    result.ticket = ticket.ref
    result.answered = _on_reply(deps, s, ticket, mail, row, now)
    return result


# -- threading ---------------------------------------------------------------------------------

def find_ticket(s: Session, settings: Settings, mail: mailparse.Parsed, notes: Dict[str, Any],
                now: datetime) -> tuple:
    """(the ticket the mail answers, how it was found) or (None, None). Forged references are noted."""
    for how, ref in (("headers", signing.from_message_ids(settings.secret, mail.thread_ids)),
                     ("address", signing.from_addresses(settings.secret, mail.recipients))):
        if ref is None:
            continue
        if not ref.valid:
            notes.setdefault("forged", []).append(how)
            log.warning("inbound mail: forged %s reference refused", how)
            continue
        ticket = s.get(m.Ticket, ref.ticket_number)
        if ticket is not None:
            return ticket, how
    number = signing.from_subject(mail.subject)
    if number is not None:
        ticket = s.get(m.Ticket, number)
        if ticket is not None and _owned_by(s, ticket, mail.sender):
            return ticket, "subject"
        notes["subject_reference_refused"] = m.ticket_ref(number)  # not the ticket's customer
    if mail.sender and REPLY_SUBJECT.match(mail.subject) and not notes.get("forged"):
        since = now - timedelta(days=settings.inbound.sender_match_days)
        ticket = s.scalars(select(m.Ticket).join(m.Customer, m.Ticket.customer_id == m.Customer.id).where(
            func.lower(m.Customer.email) == mail.sender, m.Customer.erased_at.is_(None),
            m.Ticket.status != "closed", m.Ticket.updated_at >= since)
            .order_by((m.Ticket.status == "waiting_customer").desc(), m.Ticket.updated_at.desc())).first()
        if ticket is not None:
            return ticket, "sender"
    return None, None


def _owned_by(s: Session, ticket: m.Ticket, sender: str) -> bool:
    customer = s.get(m.Customer, ticket.customer_id) if ticket.customer_id else None
    return bool(customer and customer.email and sender and customer.email.lower() == sender)


def customer_of(s: Session, sender: str) -> Optional[m.Customer]:
    """The customer whose address sent the mail, when exactly one has it."""
    if not sender:
        return None
    found = list(s.scalars(select(m.Customer).where(func.lower(m.Customer.email) == sender,
                                                    m.Customer.erased_at.is_(None)).limit(2)))
    return found[0] if len(found) == 1 else None


# -- what lands in the history -----------------------------------------------------------------

def _record_in(s: Session, ticket: m.Ticket, mail: mailparse.Parsed, row: m.InboundMail, now: datetime) -> None:
    tickets.record(s, ticket, actor=actor(), event="email_in", at=now, details={
        "channel": "email", "direction": "in", "kind": row.kind, "mail_id": row.id, "from": mail.sender,
        "subject": mail.subject, "text": mail.reply, "threaded_by": row.threaded_by,
        "attachments": [a.as_json() for a in mail.attachments]})


def _bounced(s: Session, settings: Settings, mail: mailparse.Parsed, ticket: Optional[m.Ticket],
             row: m.InboundMail, now: datetime) -> None:
    """The failing addresses: those the report names, else the recipient of the returned mail."""
    failing = list(mail.bounced)
    if not failing and mail.returned_ids:
        sent = s.scalars(select(m.OutboxMessage).where(m.OutboxMessage.message_id.in_(list(mail.returned_ids)))).first()
        if sent is not None and sent.recipient:
            failing.append(sent.recipient.lower())
    for address in failing:
        for customer in s.scalars(select(m.Customer).where(func.lower(m.Customer.email) == address)):
            if customer.email_failing_at is None:
                customer.email_failing_at = now
        if ticket is not None:
            tickets.record(s, ticket, actor=actor(), event="email_failing", at=now,
                           reason=wording.text("ticket_history.email_bounced", address=address),
                           details={"channel": "email", "address": address, "mail_id": row.id})
    row.notes = dict(row.notes or {}, failing=failing)


def _address_works(s: Session, sender: str, row: m.InboundMail) -> None:
    """A person writing from an address that bounced: it works again, e-mail reminders resume."""
    if not sender:
        return
    for customer in s.scalars(select(m.Customer).where(func.lower(m.Customer.email) == sender,
                                                       m.Customer.email_failing_at.is_not(None))):
        customer.email_failing_at = None
        row.notes = dict(row.notes or {}, address_works_again=customer.id)


# -- a person's reply on a ticket --------------------------------------------------------------

def _env(deps: Deps, s: Session, ticket: m.Ticket, row: m.InboundMail, now: datetime) -> EffectEnv:
    return EffectEnv(session=s, settings=deps.settings, conversation_id=f"email:{ticket.ref}",
                     customer_id=ticket.customer_id, mode="customer", actor="bot", now=now,
                     event_key=f"mail:{row.digest[:24]}", library=deps.library)


def _on_reply(deps: Deps, s: Session, ticket: m.Ticket, mail: mailparse.Parsed, row: m.InboundMail,
              now: datetime) -> bool:
    """Walk the reminder playbook when the ticket waits for this answer; else wake the humans up."""
    walk = (ticket.data or {}).get(WALK)
    outcome: Optional[Outcome] = None
    env = _env(deps, s, ticket, row, now)
    if walk and walk.get("stack"):
        msg = _understood(deps, mail, ticket)
        if _collects_text(deps.library, walk):  # a description asked for is data, not a new request
            msg = Parsed(text=msg.text, entities=msg.entities)
        outcome = conversation.answer(deps.library, env, walk, msg)
    elif ticket.status == conversation.WAITING:
        msg = _understood(deps, mail, ticket)
        pb, entry = conversation.playbook_for_intent(deps.library, msg.intent)
        if pb is not None and entry is not None and "ticket" in pb.context:
            opened = conversation.open_for_intent(deps.library, env, new_state("customer"), msg)
            outcome = opened.outcome if opened is not None and opened.started else None
    if outcome is None:
        was = ticket.status
        tickets.customer_replied(s, ticket, actor="client", text=mail.reply, now=now)
        if was in (conversation.WAITING, "closed"):
            return _answer(s, deps.settings, ticket, mail, row, now, template="mail_received",
                           context={"reopened": was == "closed"})
        return False  # a human is on it: the history and the desk show the mail
    data = dict(ticket.data or {})
    if outcome.state.get("stack"):
        data[WALK] = outcome.state
    else:
        data.pop(WALK, None)
    ticket.data = data
    texts = [o.text for o in outcome.outputs if o.text]
    choices = [b.get("title", "") for o in outcome.outputs for b in o.buttons if b.get("title")]
    if not texts:
        return False
    return _answer(s, deps.settings, ticket, mail, row, now, template="thread_reply",
                   context={"texts": texts, "choices": choices})


def _collects_text(lib: Library, walk: Dict[str, Any]) -> bool:
    frame = walk["stack"][-1]
    step = lib[frame["id"]].steps.get(frame["step"]) if frame.get("id") in lib else None
    return bool(step is not None and step.collect is not None and step.collect.type == "text")


def _understood(deps: Deps, mail: mailparse.Parsed, ticket: m.Ticket) -> Parsed:
    """The NLU's reading of the customer's own words, about this ticket."""
    text = (mail.reply or mail.subject)[:deps.settings.max_message_chars]
    try:
        msg = deps.understand(text)
    except Exception:  # NLU unreachable: the mail still lands on the ticket, for a human
        log.warning("inbound mail: the NLU did not answer; the reply goes to the desk")
        msg = Parsed(text=text)
    entities = [e for e in msg.entities if e.get("entity") != "ticket_id"] + [{"entity": "ticket_id",
                                                                               "value": ticket.ref}]
    return Parsed(text=text, intent=msg.intent, confidence=msg.confidence, ranking=msg.ranking, entities=entities)


# -- a new mail --------------------------------------------------------------------------------

def _triage(deps: Deps, s: Session, mail: mailparse.Parsed, row: m.InboundMail, now: datetime) -> m.Ticket:
    """A ticket for a mail outside any thread: scenario and priority from the NLU, customer by address."""
    text = "\n".join(filter(None, [mail.subject, mail.reply]))[:deps.settings.max_message_chars]
    try:
        msg = deps.understand(text)
    except Exception:
        log.warning("inbound mail: the NLU did not answer; the new mail is triaged by default")
        msg = Parsed(text=text)
    pb, _ = conversation.playbook_for_intent(deps.library, msg.intent) if msg.confidence >= TRIAGE_MIN_CONFIDENCE \
        else (None, None)
    scenario = pb.id if pb is not None else FALLBACK_SCENARIO
    customer = customer_of(s, mail.sender)
    security = scenario == SECURITY
    queue = "level2" if security else (pb.handoff if pb is not None and pb.handoff else "level1")
    ticket = tickets.open_ticket(s, scenario=scenario, actor=actor(), customer_id=customer.id if customer else None,
                                 conversation_id=f"email:{mail.message_id or row.digest[:24]}"[:128],
                                 priority="urgent" if security else (pb.priority if pb is not None else None),
                                 subject=mail.subject or mail.reply[:80], queue=queue, now=now,
                                 idempotency_key=f"mail:{row.digest}"[:200],
                                 data={"channel": "email", "intent": msg.intent, "confidence": round(msg.confidence, 3),
                                       "sender": mail.sender})
    row.ticket_number = ticket.number
    _record_in(s, ticket, mail, row, now)
    tickets.record(s, ticket, actor=actor(), event="triaged", at=now,
                   reason=wording.text("ticket_history.email_triaged", sender=mail.sender or "?"),
                   details={"scenario": scenario, "intent": msg.intent, "confidence": round(msg.confidence, 3),
                            "customer_id": customer.id if customer else None})
    if security:  # urgent, and to level 2 at once
        tickets.transition(s, ticket, Transition("escalated", reason=wording.text("ticket_history.email_triaged",
                                                                                  sender=mail.sender or "?")),
                           actor=actor(), now=now)
        handoff_service.request(s, ticket, {"channel": "email", "subject": mail.subject, "text": mail.reply[:2000],
                                            "sender": mail.sender, "scenario": scenario},
                                "level2", conversation_id=ticket.conversation_id or "", customer_id=ticket.customer_id,
                                actor=actor(), now=now, reason=scenario)
    return ticket


def _acknowledge(s: Session, settings: Settings, ticket: m.Ticket, mail: mailparse.Parsed, row: m.InboundMail,
                 now: datetime) -> bool:
    return _answer(s, settings, ticket, mail, row, now, template="mail_acknowledged",
                   context={"urgent": ticket.priority == "urgent", "scenario": ticket.scenario})


# -- answers in the thread ---------------------------------------------------------------------

def auto_replies_in_last_hour(s: Session, address: str, now: datetime) -> int:
    return int(s.scalar(select(func.count(m.OutboxMessage.id)).where(
        m.OutboxMessage.kind == "mail_auto", func.lower(m.OutboxMessage.recipient) == address.lower(),
        m.OutboxMessage.created_at >= now - timedelta(hours=1))) or 0)


def _answer(s: Session, settings: Settings, ticket: m.Ticket, mail: mailparse.Parsed, row: m.InboundMail,
            now: datetime, template: str, context: Dict[str, Any]) -> bool:
    """The bot's answer in the thread (to the sender), unless the hourly cap for that address is reached."""
    if not mail.sender:
        return False
    if auto_replies_in_last_hour(s, mail.sender, now) >= settings.inbound.auto_replies_per_hour:
        row.notes = dict(row.notes or {}, auto_reply_capped=True)
        log.warning("inbound mail: automatic answers capped for this address")
        return False
    sent = send_on_ticket(s, settings, ticket, key=f"mail:{row.id}:{template}", kind="mail_auto", template=template,
                          context={"ticket": ticket, "ref": ticket.ref, "subject": ticket.subject,
                                   "their_subject": REPLY_PREFIXES.sub("", mail.subject), **context},
                          actor="bot", now=now, to=mail.sender, in_reply_to=mail.message_id,
                          references=_references(mail))
    return sent is not None


def _references(mail: mailparse.Parsed) -> Sequence[str]:
    refs: List[str] = list(mail.references)
    return refs[-9:]
