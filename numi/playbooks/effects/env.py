"""The concrete effect runner (`EffectEnv`, the walker's effect protocol over a database
session) and the views that templates see: customer, ticket, office."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Mapping, Optional, Set

from sqlalchemy import select
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session

from numi import hours
from numi.clock import datetime_fr, to_local, utcnow
from numi.db import models as m
from numi.playbooks.effects.registry import REGISTRY
from numi.playbooks.model import Playbook
from numi.playbooks.protocol import EffectUnavailable
from numi.tickets import service as tickets

if TYPE_CHECKING:  # the library loads and validates playbooks against this very registry
    from numi.playbooks.library import Library


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
        return m.full_name(self.first_name, self.last_name) or ""

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
    # The playbooks and their system texts (queue names, announcements): passed in, never global.
    library: Optional[Library] = None

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
            "agent": {"first_name": self.agent_name or self.texts().system_text("agent_default_name", "customer", {})},
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
    def texts(self) -> Library:
        if self.library is None:
            raise RuntimeError("EffectEnv built without its playbook library (EffectEnv(library=…))")
        return self.library

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
            found: Optional[m.Subscription] = self.session.get(m.Subscription, int(sid))
            return found
        if not self.customer_id:
            return None
        latest: Optional[m.Subscription] = self.session.scalars(
            select(m.Subscription).where(m.Subscription.customer_id == self.customer_id)
            .order_by(m.Subscription.expires_on.desc())).first()
        return latest

    def require_ticket(self, frame: Dict[str, Any], playbook: Playbook) -> m.Ticket:
        ticket = self.ticket(frame)
        if ticket is None:
            ticket = self.open_ticket(frame, playbook, {})
        return ticket

    def open_ticket(self, frame: Dict[str, Any], pb: Playbook, params: Mapping[str, Any]) -> m.Ticket:
        """A ticket for this scenario (or the one a lost turn already opened), now in the frame."""
        orphan = tickets.orphan_ticket(self.session, self.conversation_id, pb.id, self.known_refs(), self.now)
        if orphan is not None:  # opened by a turn whose events were lost (the action answered too late)
            frame["ticket"] = orphan.ref
            return orphan
        slots = frame["slots"]
        ticket = tickets.open_ticket(
            self.session, scenario=pb.id, actor=self.actor, customer_id=self.customer_id,
            conversation_id=self.conversation_id, priority=params.get("priority", pb.priority),
            subject=params.get("subject") or pb.title, queue=params.get("queue"),
            data={k: v for k, v in slots.items() if isinstance(v, (str, int, float, bool))}, now=self.now,
            idempotency_key=self.idempotency_key(f"ticket:{pb.id}"),
        )
        frame["ticket"] = ticket.ref
        return ticket
