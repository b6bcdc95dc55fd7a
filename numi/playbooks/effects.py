"""Effects a playbook step can run, and the database-backed runner behind them.

Each effect declares its parameters and the names it adds to `slots` (so the
validator knows what later templates may use). Parameters that are strings may
be Jinja2 templates; they are rendered before the effect runs.
"""
from __future__ import annotations

import hashlib
import logging
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Dict, FrozenSet, Iterable, List, Mapping, Optional, Set

from sqlalchemy import select
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session

from numi import hours
from numi.clock import datetime_fr, to_local, utcnow
from numi.db import models as m
from numi.nlu.dates import month_range
from numi.playbooks.engine import EffectUnavailable
from numi.playbooks.model import Effect, Playbook, PlaybookError
from numi.text import words

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EffectSpec:
    name: str
    fn: Callable[..., Dict[str, Any]]
    params: FrozenSet[str] = frozenset()
    required: FrozenSet[str] = frozenset()
    outputs_fn: Callable[[Mapping[str, Any]], Iterable[str]] = lambda p: ()
    doc: str = ""

    def outputs(self, params: Mapping[str, Any]) -> List[str]:
        return list(self.outputs_fn(params))


REGISTRY: Dict[str, EffectSpec] = {}


def effect(name: str, params: Iterable[str] = (), required: Iterable[str] = (),
           outputs: Callable[[Mapping[str, Any]], Iterable[str]] | Iterable[str] = (), doc: str = ""):
    out_fn = outputs if callable(outputs) else (lambda p, _o=tuple(outputs): _o)

    def wrap(fn):
        REGISTRY[name] = EffectSpec(name, fn, frozenset(params) | frozenset(required),
                                    frozenset(required), out_fn, doc or (fn.__doc__ or "").strip())
        return fn

    return wrap


def check_params(e: Effect, where: str) -> None:
    spec = REGISTRY.get(e.name)
    if spec is None:
        raise PlaybookError(f"{where}: effet inconnu « {e.name} » (connus : {sorted(REGISTRY)})")
    unknown = sorted(set(e.params) - spec.params)
    if unknown:
        raise PlaybookError(f"{where}: paramètre(s) inconnu(s) {unknown} pour l'effet « {e.name} »")
    missing = sorted(spec.required - set(e.params))
    if missing:
        raise PlaybookError(f"{where}: paramètre(s) manquant(s) {missing} pour l'effet « {e.name} »")


# ---------------------------------------------------------------------------
# Views given to templates
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class CustomerView:
    id: Optional[str] = None
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    phone: str = ""
    segment: str = ""
    known: bool = False

    @property
    def display_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p)

    @classmethod
    def of(cls, c: Optional[m.Customer]) -> "CustomerView":
        if c is None or c.erased_at is not None:
            return cls()
        return cls(id=c.id, first_name=c.first_name or "", last_name=c.last_name or "",
                   email=c.email or "", phone=c.phone or "", segment=c.segment, known=True)


@dataclass(frozen=True)
class TicketView:
    id: str
    subject: str
    priority: Optional[str]
    status: str
    queue: Optional[str]
    waiting_for: str
    created_at: datetime

    @classmethod
    def of(cls, t: m.Ticket, tz: str) -> "TicketView":
        return cls(id=t.ref, subject=t.subject or "", priority=t.priority, status=t.status,
                   queue=t.queue, waiting_for=t.waiting_for or "",
                   created_at=to_local(t.created_at, tz).replace(tzinfo=None))


QUEUE_LABELS = {"level1": "un conseiller de la hotline", "level2": "un expert technique (niveau 2)",
                "supervisor": "un responsable", "cs": "votre Customer Success Manager"}


# ---------------------------------------------------------------------------
# The runner
# ---------------------------------------------------------------------------
class OfficeView:
    """`office` in templates: open now? The reopening and its first free call-back slot are
    looked up only when a template reads them (after hours), not on every turn."""

    def __init__(self, env: "EffectEnv") -> None:
        self._env = env
        self.open = hours.is_open(env.settings.opening_hours, env.local_now())
        self.phone = env.settings.hotline_phone or ""
        self._later: Optional[Dict[str, str]] = None

    def __getattr__(self, name: str) -> str:  # reopen, first_slot, first_slot_fr
        if name.startswith("_"):
            raise AttributeError(name)
        if self._later is None:
            self._later = self._reopening()
        if name not in self._later:
            raise AttributeError(name)
        return self._later[name]

    def _reopening(self) -> Dict[str, str]:
        env = self._env
        table, now = env.settings.opening_hours, env.local_now()
        reopen = hours.next_open(table, now)
        taken = [to_local(t, env.settings.timezone).replace(tzinfo=None) for t in env.session.scalars(
            select(m.Callback.slot_start).where(m.Callback.status == "scheduled", m.Callback.slot_start >= env.now))]
        first = hours.free_slots(table, reopen - timedelta(minutes=1), taken, count=1)
        return {"reopen": datetime_fr(reopen), "first_slot": first[0].isoformat(timespec="minutes") if first else "",
                "first_slot_fr": datetime_fr(first[0]) if first else ""}


@dataclass
class EffectEnv:
    """The concrete effect runner: a database session and the conversation."""

    session: Session
    settings: Any
    conversation_id: str
    customer_id: Optional[str] = None
    mode: str = "customer"
    actor: str = "bot"
    agent_name: str = ""
    now: datetime = field(default_factory=utcnow)  # naive UTC
    transcript: Callable[[], List[Dict[str, Any]]] = lambda: []
    mood: Callable[[], Dict[str, Any]] = lambda: {}
    mailer: Any = None
    # The message that triggered this turn ("<conversation>:<message id>"): effects derive their
    # idempotency keys from it, so that a retried or replayed action does nothing twice.
    event_key: Optional[str] = None
    # The ticket numbers this conversation's recorded events mention: a ticket of this
    # conversation they do not mention was opened by a turn whose events were lost.
    known_refs: Callable[[], Set[str]] = lambda: set()

    def idempotency_key(self, what: str) -> Optional[str]:
        return f"{self.event_key}:{what}"[:200] if self.event_key else None

    # -- EffectRunner protocol --
    def run(self, name: str, params: Mapping[str, Any], frame: Dict[str, Any], playbook: Playbook,
            scope: Mapping[str, Any]) -> Dict[str, Any]:
        try:
            return REGISTRY[name].fn(self, dict(params), frame, playbook)
        except (OperationalError, InterfaceError) as exc:  # the database is down, not the effect wrong
            raise EffectUnavailable(name) from exc

    def scope(self, frame: Dict[str, Any], playbook: Playbook) -> Dict[str, Any]:
        tz = self.settings.timezone
        scope: Dict[str, Any] = {
            "customer": CustomerView.of(self.customer()),
            "agent": {"first_name": self.agent_name or "l'équipe numi"},
            "now": self.local_now(),
            "office": self.office(),
        }
        ticket = self.ticket(frame)
        if ticket is not None:
            scope["ticket"] = TicketView.of(ticket, tz)
        sub = self.subscription(frame)
        if sub is not None:
            scope["subscription"] = {"plan": sub.plan, "expires_on": sub.expires_on, "id": sub.id,
                                     "quote_signed_on": sub.quote_signed_on}
        return scope

    # -- helpers --
    def office(self) -> "OfficeView":
        return OfficeView(self)

    def local_now(self) -> datetime:
        return to_local(self.now, self.settings.timezone).replace(tzinfo=None)

    def customer(self) -> Optional[m.Customer]:
        return self.session.get(m.Customer, self.customer_id) if self.customer_id else None

    def ticket(self, frame: Mapping[str, Any]) -> Optional[m.Ticket]:
        ref = frame.get("ticket")
        number = m.parse_ticket_ref(ref) if ref else None
        return self.session.get(m.Ticket, number) if number else None

    def subscription(self, frame: Mapping[str, Any]) -> Optional[m.Subscription]:
        sid = frame.get("slots", {}).get("subscription_id")
        if sid:
            return self.session.get(m.Subscription, int(sid))
        if not self.customer_id:
            return None
        return self.session.scalars(
            select(m.Subscription).where(m.Subscription.customer_id == self.customer_id)
            .order_by(m.Subscription.expires_on.desc())).first()

    def require_ticket(self, frame: Dict[str, Any], playbook: Playbook) -> m.Ticket:
        ticket = self.ticket(frame)
        if ticket is None:
            ticket = _open(self, frame, playbook, {})
        return ticket


# ---------------------------------------------------------------------------
# Tickets
# ---------------------------------------------------------------------------
def _open(env: EffectEnv, frame, pb: Playbook, params) -> m.Ticket:
    from numi.tickets import service

    orphan = service.orphan_ticket(env.session, env.conversation_id, pb.id, env.known_refs(), env.now)
    if orphan is not None:  # opened by a turn whose events were lost (the action answered too late)
        frame["ticket"] = orphan.ref
        return orphan
    slots = frame["slots"]
    ticket = service.open_ticket(
        env.session, scenario=pb.id, actor=env.actor, customer_id=env.customer_id,
        conversation_id=env.conversation_id, priority=params.get("priority", pb.priority),
        subject=params.get("subject") or pb.title, queue=params.get("queue"),
        data={k: v for k, v in slots.items() if isinstance(v, (str, int, float, bool))}, now=env.now,
        idempotency_key=env.idempotency_key(f"ticket:{pb.id}"),
    )
    frame["ticket"] = ticket.ref
    return ticket


@effect("open_ticket", params=("subject", "priority", "queue"), outputs=("@ticket", "ticket_id"))
def open_ticket(env: EffectEnv, params, frame, pb) -> Dict[str, Any]:
    """Open a ticket for this scenario (priority from the playbook unless given)."""
    existing = env.ticket(frame)
    if existing is not None and existing.scenario == pb.id:
        return {"ticket_id": existing.ref}
    ticket = _open(env, frame, pb, params)
    return {"ticket_id": ticket.ref}


@effect("update_ticket", params=("status", "waiting_reason", "waiting_for", "note", "close_reason",
                                 "priority", "queue"), outputs=("@ticket", "ticket_id"))
def update_ticket(env: EffectEnv, params, frame, pb) -> Dict[str, Any]:
    """Change status (lifecycle-checked), priority or queue; note what happened."""
    from numi.tickets import service
    from numi.tickets.lifecycle import Transition

    ticket = env.require_ticket(frame, pb)
    if params.get("priority") and params["priority"] != ticket.priority:
        ticket.priority = params["priority"]
        service.record(env.session, ticket, actor=env.actor, event="priority_changed", at=env.now,
                       details={"priority": params["priority"]})
    if params.get("queue"):
        ticket.queue = params["queue"]
    status = params.get("status")
    if status and status != ticket.status:
        service.transition(env.session, ticket, Transition(
            status, reason=params.get("note"), waiting_reason=params.get("waiting_reason"),
            close_reason=params.get("close_reason"), note=params.get("note")),
            actor=env.actor, now=env.now, waiting_for=params.get("waiting_for"))
    elif params.get("note"):
        service.record(env.session, ticket, actor=env.actor, event="note", at=env.now, reason=params["note"])
    return {"ticket_id": ticket.ref}


@effect("record", params=("field", "value"), required=("field", "value"), outputs=("@ticket", "ticket_id"))
def record_on_ticket(env: EffectEnv, params, frame, pb) -> Dict[str, Any]:
    """Store a value on the ticket (e.g. the customer's words, verbatim)."""
    from numi.tickets import service

    ticket = env.require_ticket(frame, pb)
    data = dict(ticket.data or {})
    data[params["field"]] = params["value"]
    ticket.data = data
    service.record(env.session, ticket, actor=env.actor, event="recorded", at=env.now,
                   details={"field": params["field"], "value": str(params["value"])[:2000]})
    return {"ticket_id": ticket.ref}


@effect("customer_replied", params=("outcome",), outputs=("@ticket", "ticket_id", "reply_outcome"))
def customer_replied(env: EffectEnv, params, frame, pb) -> Dict[str, Any]:
    """The customer answered a reminder: stop the clock (or reopen), note the outcome."""
    from numi.tickets import service

    ticket = env.require_ticket(frame, pb)
    service.customer_replied(env.session, ticket, actor="client", now=env.now)
    if params.get("outcome"):
        service.record(env.session, ticket, actor="client", event="reminder_answer", at=env.now,
                       details={"outcome": params["outcome"]})
    return {"ticket_id": ticket.ref, "reply_outcome": params.get("outcome", "")}


@effect("find_ticket", params=("ref",), required=("ref",), outputs=("ticket_found", "@ticket", "ticket_id"))
def find_ticket(env: EffectEnv, params, frame, pb) -> Dict[str, Any]:
    """Look up the customer's own ticket; someone else's looks exactly like a missing one."""
    from numi.tickets import service

    ticket = service.find_own_ticket(env.session, params["ref"], env.customer_id)
    if ticket is None:
        return {"ticket_found": False, "ticket_id": ""}
    frame["ticket"] = ticket.ref
    return {"ticket_found": True, "ticket_id": ticket.ref}


@effect("list_tickets", outputs=("tickets", "tickets_count"))
def list_tickets(env: EffectEnv, params, frame, pb) -> Dict[str, Any]:
    """The identified customer's open (or recently closed) tickets."""
    from numi.tickets import service

    if not env.customer_id:
        return {"tickets": [], "tickets_count": 0}
    items = service.tickets_of(env.session, env.customer_id)[:5]
    listing = [{"id": t.ref, "subject": t.subject, "status": t.status} for t in items]
    return {"tickets": listing, "tickets_count": len(listing)}


# ---------------------------------------------------------------------------
# Identity (anonymous customers prove who they are by a code sent by e-mail)
# ---------------------------------------------------------------------------
def _hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


@effect("check_identity", outputs=("identity_verified",))
def check_identity(env: EffectEnv, params, frame, pb) -> Dict[str, Any]:
    """Whether this conversation's customer is already identified (signed token or code)."""
    return {"identity_verified": bool(env.customer_id)}


OTP_PER_WINDOW, OTP_WINDOW_MINUTES = 3, 15  # codes sent per conversation


@effect("send_otp", params=("email",), required=("email",), outputs=("otp_sent",))
def send_otp(env: EffectEnv, params, frame, pb) -> Dict[str, Any]:
    """Send a one-time code to the address if it belongs to a customer (never says whether)."""
    from numi.reminders import outbox

    email = str(params["email"]).strip().lower()
    recent = env.session.scalars(select(m.OtpChallenge.id).where(  # codes still valid: sent in the window
        m.OtpChallenge.conversation_id == env.conversation_id, m.OtpChallenge.expires_at > env.now)).all()
    if len(recent) >= OTP_PER_WINDOW:  # « renvoyer le code » has a limit, whatever the address
        return {"otp_sent": False}
    customer = env.session.scalars(select(m.Customer).where(m.Customer.email == email,
                                                            m.Customer.erased_at.is_(None))).first()
    code = f"{secrets.randbelow(10**6):06d}"
    challenge = m.OtpChallenge(conversation_id=env.conversation_id, email=email,
                               customer_id=customer.id if customer else None, code_hash=_hash(code),
                               expires_at=env.now + timedelta(minutes=OTP_WINDOW_MINUTES))
    env.session.add(challenge)
    env.session.flush()
    if customer is not None:
        outbox.enqueue_template(env.session, key=f"otp:{challenge.id}", kind="otp", channel="email",
                                recipient=email, template="otp", context={"code": code, "customer": customer},
                                now=env.now)
    return {"otp_sent": True}


@effect("check_otp", params=("code",), required=("code",), outputs=("identity_verified",))
def check_otp(env: EffectEnv, params, frame, pb) -> Dict[str, Any]:
    """Check the code; on success the conversation is bound to the customer."""
    challenge = env.session.scalars(
        select(m.OtpChallenge).where(m.OtpChallenge.conversation_id == env.conversation_id,
                                     m.OtpChallenge.verified_at.is_(None))
        .order_by(m.OtpChallenge.id.desc())).first()
    if challenge is None or challenge.expires_at < env.now or challenge.attempts >= 5:
        return {"identity_verified": False}
    challenge.attempts += 1
    if challenge.customer_id and secrets.compare_digest(challenge.code_hash, _hash(str(params["code"]))):
        challenge.verified_at = env.now
        env.customer_id = challenge.customer_id
        return {"identity_verified": True, "_signal": {"identified": challenge.customer_id}}
    return {"identity_verified": False}


# ---------------------------------------------------------------------------
# Humans: handoff, callbacks, alerts, tasks
# ---------------------------------------------------------------------------
@effect("handoff", params=("queue", "reason"), required=("queue",),
        outputs=("handoff_open", "handoff_who", "handoff_when", "handoff_message", "@ticket", "ticket_id"))
def handoff(env: EffectEnv, params, frame, pb) -> Dict[str, Any]:
    """Hand the conversation to a human queue with a full packet; say who and when."""
    from numi.handoff import service as handoff_service

    ticket = env.require_ticket(frame, pb)
    result = handoff_service.request(env, ticket, frame, pb, queue=params["queue"],
                                     reason=params.get("reason") or pb.title)
    return result


@effect("schedule_callback", params=("when", "subject", "phone"), required=("when", "subject"),
        outputs=("callback_ok", "callback_when", "callback_alternatives", "callback_phone"))
def schedule_callback(env: EffectEnv, params, frame, pb) -> Dict[str, Any]:
    """Book a call-back slot within opening hours, or propose the next free slots."""
    from numi.reminders import callbacks

    booked = callbacks.book(env, frame, pb, when=params["when"], subject=params["subject"],
                            phone=params.get("phone"))
    return {**booked, "callback_phone": params.get("phone") or ""}


@effect("alert", params=("rule", "note"), required=("rule",))
def raise_alert(env: EffectEnv, params, frame, pb) -> Dict[str, Any]:
    """Raise a named alert (rules of seed 002) with the conversation's context."""
    from numi.alerts import service as alerts

    alerts.raise_from_playbook(env, frame, pb, rule=params["rule"], note=params.get("note", ""))
    return {}


@effect("risk_task", params=("analysis", "quotes", "plan"), required=("analysis",), outputs=("@ticket", "ticket_id"))
def risk_task(env: EffectEnv, params, frame, pb) -> Dict[str, Any]:
    """Open the « CSM - Risque » task of 004 with quotes, analysis and action plan."""
    from numi.tickets import service

    ticket = env.require_ticket(frame, pb)
    data = dict(ticket.data or {})
    data["risque_client"] = {"quotes": params.get("quotes", ""), "analysis": params["analysis"],
                             "plan": params.get("plan", ""), "assigned": ["strategist", "sales", "expert"]}
    ticket.data = data
    ticket.queue = "cs"
    service.record(env.session, ticket, actor=env.actor, event="risk_task", at=env.now,
                   details=data["risque_client"])
    return {"ticket_id": ticket.ref}


# ---------------------------------------------------------------------------
# Customer data: invoices, workshops, certificates, personal data, renewal
# ---------------------------------------------------------------------------
MAX_INVOICES = 12  # a year of monthly invoices in one answer


@effect("find_invoices", params=("period",), outputs=("invoices", "invoice_found"))
def find_invoices(env: EffectEnv, params, frame, pb) -> Dict[str, Any]:
    """The identified customer's invoices, for the period named if any (« mars », « de janvier
    à mars », « l'année 2024 », « toutes »: numi.nlu.dates.month_range), the latest first."""
    if not env.customer_id:
        return {"invoices": [], "invoice_found": False}
    query = select(m.Invoice).where(m.Invoice.customer_id == env.customer_id).order_by(m.Invoice.issued_on.desc())
    items = list(env.session.scalars(query))
    months = month_range(str(params.get("period") or ""), env.local_now())
    if months:
        items = [i for i in items if months[0] <= i.period <= months[1]]
    listing = [{"id": i.id, "period": i.period, "label": i.label, "amount": f"{i.amount_eur:.2f}"}
               for i in items[:MAX_INVOICES]]
    return {"invoices": listing, "invoice_found": bool(listing)}


@effect("send_invoices", outputs=("invoice_sent",))
def send_invoices(env: EffectEnv, params, frame, pb) -> Dict[str, Any]:
    """Send the invoices found to the address on file, and only there."""
    from numi.reminders import outbox

    customer = env.customer()
    invoices = frame["slots"].get("invoices") or []
    if customer is None or not customer.email or not invoices:
        return {"invoice_sent": False}
    key = "invoice:" + env.conversation_id + ":" + ",".join(i["id"] for i in invoices)
    outbox.enqueue_template(env.session, key=key[:200], kind="invoice", channel="email", recipient=customer.email,
                            template="invoice", context={"customer": customer, "invoices": invoices}, now=env.now)
    return {"invoice_sent": True}


@effect("match_workshops", params=("need",), outputs=("workshops", "workshop_found"))
def match_workshops(env: EffectEnv, params, frame, pb) -> Dict[str, Any]:
    """Upcoming workshops matching the customer's need (keywords, topic, title)."""
    need = set(words(str(params.get("need") or "")))
    upcoming = list(env.session.scalars(select(m.Workshop).where(m.Workshop.starts_at >= env.now)
                                        .order_by(m.Workshop.starts_at)))
    scored = []
    for w in upcoming:
        score = len(need & set(words(" ".join([w.title, w.topic, *(w.keywords or [])]))))
        scored.append((score, w))
    best = [w for s, w in sorted(scored, key=lambda x: (-x[0], x[1].starts_at)) if s > 0][:3] or [w for _, w in scored[:3]]
    tz = env.settings.timezone
    listing = [{"id": w.id, "title": w.title, "when": datetime_fr(to_local(w.starts_at, tz).replace(tzinfo=None)),
                "level": w.level} for w in best]
    return {"workshops": listing, "workshop_found": bool(listing)}


@effect("register_workshop", params=("choice",), required=("choice",), outputs=("workshop_registered", "workshop_title"))
def register_workshop(env: EffectEnv, params, frame, pb) -> Dict[str, Any]:
    """Register the customer's interest in the chosen workshop (by number or title)."""
    listing = frame["slots"].get("workshops") or []
    choice = str(params["choice"]).strip()
    chosen = None
    number = re.search(r"\b(\d{1,2})\b", choice)
    if number and 1 <= int(number.group(1)) <= len(listing):
        chosen = listing[int(number.group(1)) - 1]
    elif len(choice) >= 4:
        for w in listing:
            if choice.lower() in w["title"].lower() or w["title"].lower() in choice.lower():
                chosen = w
    if chosen is None:  # never guess: the playbook asks again or offers something else
        return {"workshop_registered": False, "workshop_title": ""}
    if env.customer_id:
        exists = env.session.scalars(select(m.Attendance).where(
            m.Attendance.workshop_id == chosen["id"], m.Attendance.customer_id == env.customer_id)).first()
        if exists is None:
            env.session.add(m.Attendance(workshop_id=chosen["id"], customer_id=env.customer_id, status="interested"))
    return {"workshop_registered": True, "workshop_title": chosen["title"]}


@effect("check_attendance", params=("workshop",), required=("workshop",),
        outputs=("attended", "attended_title"))
def check_attendance(env: EffectEnv, params, frame, pb) -> Dict[str, Any]:
    """Did the identified customer attend the named workshop?"""
    if not env.customer_id:
        return {"attended": False, "attended_title": ""}
    named = set(words(str(params["workshop"]))) - {"l", "le", "la", "de", "du", "atelier", "d"}
    rows = env.session.execute(select(m.Attendance, m.Workshop).join(m.Workshop, m.Workshop.id == m.Attendance.workshop_id)
                               .where(m.Attendance.customer_id == env.customer_id)).all()
    for att, w in rows:
        text = set(words(" ".join([w.title, w.topic, *(w.keywords or [])])))
        if att.status == "attended" and (named & text):
            frame["slots"]["_attendance_id"] = att.id
            return {"attended": True, "attended_title": w.title}
    return {"attended": False, "attended_title": ""}


@effect("issue_certificate", outputs=("certificate_sent",))
def issue_certificate(env: EffectEnv, params, frame, pb) -> Dict[str, Any]:
    """Send the attendance certificate (only after check_attendance succeeded)."""
    from numi.reminders import outbox

    att_id = frame["slots"].get("_attendance_id")
    customer = env.customer()
    if not att_id or customer is None or not customer.email:
        return {"certificate_sent": False}
    att = env.session.get(m.Attendance, att_id)
    workshop = env.session.get(m.Workshop, att.workshop_id)
    att.certificate_sent_at = env.now
    outbox.enqueue_template(env.session, key=f"certificate:{att.id}", kind="certificate", channel="email",
                            recipient=customer.email, template="certificate",
                            context={"customer": customer, "workshop": workshop}, now=env.now)
    return {"certificate_sent": True}


@effect("update_contact", params=("field", "value"), required=("field", "value"), outputs=("contact_updated",))
def update_contact(env: EffectEnv, params, frame, pb) -> Dict[str, Any]:
    """Change e-mail, phone or address; confirm on the old and the new contact."""
    from numi.reminders import outbox

    customer = env.customer()
    field_name = {"email": "email", "phone": "phone", "telephone": "phone", "address": "address",
                  "adresse": "address"}.get(str(params["field"]).lower())
    if customer is None or field_name is None:
        return {"contact_updated": False}
    if field_name == "email":
        taken = env.session.scalars(select(m.Customer.id).where(m.Customer.email == str(params["value"]).lower(),
                                                                m.Customer.id != customer.id)).first()
        if taken is not None:  # never move an address that belongs to another account
            return {"contact_updated": False}
    old = getattr(customer, field_name)
    setattr(customer, field_name, str(params["value"]))
    for target in {x for x in (customer.email, old if field_name == "email" else None) if x}:
        outbox.enqueue_template(env.session, key=f"contact:{customer.id}:{field_name}:{env.now.isoformat()}:{target}",
                                kind="contact_change", channel="email", recipient=target, template="contact_change",
                                context={"customer": customer, "field": field_name,
                                         "hotline": env.settings.hotline_phone}, now=env.now)
    return {"contact_updated": True}


@effect("schedule_erasure", outputs=("erasure_date",))
def schedule_erasure(env: EffectEnv, params, frame, pb) -> Dict[str, Any]:
    """Schedule the GDPR erasure (done within one month, RGPD art. 12)."""
    from numi.tickets import service

    ticket = env.require_ticket(frame, pb)
    due = (env.local_now() + timedelta(days=30)).date()
    data = dict(ticket.data or {})
    data["erasure_due"] = due.isoformat()
    ticket.data = data
    service.record(env.session, ticket, actor=env.actor, event="erasure_scheduled", at=env.now,
                   details={"due": due.isoformat()})
    return {"erasure_date": due.isoformat()}


@effect("renewal_outcome", params=("outcome",), required=("outcome",))
def renewal_outcome(env: EffectEnv, params, frame, pb) -> Dict[str, Any]:
    """Record the renewal outcome: renewed, declined or undecided."""
    sub = env.subscription(frame)
    if sub is not None and params["outcome"] in ("renewed", "declined", "undecided"):
        sub.renewal_outcome = params["outcome"]
    return {}


@effect("customer_profile", outputs=("is_regular", "is_satisfied", "segment"))
def customer_profile(env: EffectEnv, params, frame, pb) -> Dict[str, Any]:
    """Whether the customer is a satisfied regular (upsell only for them)."""
    c = env.customer()
    if c is None:
        return {"is_regular": False, "is_satisfied": False, "segment": ""}
    open_complaints = env.session.scalars(select(m.Ticket).where(
        m.Ticket.customer_id == c.id, m.Ticket.scenario.in_(["negative_feedback", "frustrated_customer"]),
        m.Ticket.status != "closed")).first()
    tickets = env.session.scalars(select(m.Ticket.number).where(m.Ticket.customer_id == c.id)).all()
    return {"is_regular": len(tickets) >= 2 or c.segment == "vip",
            "is_satisfied": (c.satisfaction or 0) >= 4 and open_complaints is None,
            "segment": c.segment}
