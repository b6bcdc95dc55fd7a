"""Cross-channel continuity (seed 003: no customer repeats themselves). When a hotliner
takes a call or a level-2 agent claims a handoff, the console shows the customer's open
tickets and their last interactions, whatever channel they came by:

* chat: the last messages of their latest conversation, read from Rasa's tracker store
  (user and bot events; a human agent's replies are bot events marked `from: agent`), or,
  without a tracker store, the customer's messages that the alerts worker recorded;
* e-mail: an entry of a ticket's history with `details.channel == "email"`
  (`details.direction` "in" or "out", `details.text`);
* phone: the call summary saved on a ticket (`call_summary`: situation, actions,
  resolution), or the caller's words of a prompter call without a summary.

Plain functions over a session and, when there is one, an engine on the tracker store; the
caller checked the staff member's right to see the customer and audits the read."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Collection, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import sqlalchemy as sa
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from numi import customer_file, gdpr
from numi.db import models as m
from numi.transcript import EVENTS, event_data, event_time, numi_meta

CHANNELS = ("chat", "email", "phone")
SPEAKERS = ("customer", "bot", "agent")
SUMMARY_FIELDS = ("situation", "actions", "resolution")
TURNS = 6  # the last messages of a conversation that are shown
EVENTS_READ = 60  # tracker events read back from the end of a conversation to find them
MAX_TEXT = 600  # characters of one message or e-mail
RECENT = 5  # interactions listed, the latest first


@dataclass(frozen=True)
class Turn:
    """One message of a conversation: who said it (SPEAKERS) and what."""

    speaker: str
    text: str


@dataclass(frozen=True)
class Interaction:
    """One contact with the customer, on one channel (CHANNELS)."""

    channel: str
    at: datetime  # naive UTC, as numi stores times
    ticket: Optional[str] = None  # TK-…
    scenario: Optional[str] = None
    subject: Optional[str] = None
    turns: Tuple[Turn, ...] = ()  # chat, or a call without summary: the last messages
    direction: Optional[str] = None  # e-mail: "in" (from the customer) or "out"
    text: Optional[str] = None  # e-mail: its text
    summary: Mapping[str, str] = field(default_factory=dict)  # phone: SUMMARY_FIELDS
    author: Optional[str] = None  # the staff member who wrote or called ("role:name")

    def as_json(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"channel": self.channel, "at": m.as_iso(self.at), "ticket_id": self.ticket,
                               "scenario": self.scenario, "subject": self.subject, "author": self.author}
        if self.turns:
            out["messages"] = [{"from": t.speaker, "text": t.text} for t in self.turns]
        if self.channel == "email":
            out.update(direction=self.direction, text=self.text)
        if self.summary:
            out["summary"] = dict(self.summary)
        return out


def _clip(text: Any) -> str:
    return str(text or "").strip()[:MAX_TEXT]


# --- tickets: e-mails and call summaries ---------------------------------------------------
def ticket_interactions(tickets: Iterable[m.Ticket]) -> List[Interaction]:
    """The e-mails and the call summaries recorded in the tickets' history."""
    found: List[Interaction] = []
    for t in tickets:
        for e in t.history:
            details = e.details if isinstance(e.details, dict) else {}
            common = {"at": e.at, "ticket": t.ref, "scenario": t.scenario, "subject": t.subject}
            if details.get("channel") == "email" and details.get("direction") in ("in", "out"):
                subject = details.get("subject")
                found.append(Interaction("email", **{**common, "subject": _clip(subject) if subject else t.subject},
                                         direction=details["direction"], text=_clip(details.get("text")),
                                         author=e.actor if details["direction"] == "out" else None))
            elif e.event == "call_summary":
                summary = {k: _clip(details.get(k)) for k in SUMMARY_FIELDS if details.get(k)}
                found.append(Interaction("phone", **common, summary=summary, author=e.actor))
    return found


# --- conversations: the tracker store ------------------------------------------------------
def has_events(tracker: Optional[Engine]) -> bool:
    try:
        return tracker is not None and sa.inspect(tracker).has_table("events")
    except SQLAlchemyError:
        return False


def _last_moments(tracker: Engine, conversations: Sequence[str]) -> Dict[str, datetime]:
    """When each conversation last had a message (user or bot event)."""
    moments: Dict[str, datetime] = {}
    with tracker.connect() as conn:
        for start in range(0, len(conversations), 500):
            chunk = conversations[start:start + 500]
            rows = conn.execute(select(EVENTS.c.sender_id, sa.func.max(EVENTS.c.timestamp))
                                .where(EVENTS.c.sender_id.in_(chunk), EVENTS.c.type_name.in_(("user", "bot")))
                                .group_by(EVENTS.c.sender_id))
            for sender, latest in rows:
                at = event_time(latest)
                if at is not None:
                    moments[sender] = at
    return moments


def _transcript(tracker: Engine, conversation: str) -> Tuple[Tuple[Turn, ...], bool]:
    """(the last messages of a conversation, whether it is a prompter call: agent mode)."""
    with tracker.connect() as conn:
        rows = list(conn.execute(select(EVENTS.c.type_name, EVENTS.c.data)
                                 .where(EVENTS.c.sender_id == conversation, EVENTS.c.type_name.in_(("user", "bot")))
                                 .order_by(EVENTS.c.id.desc()).limit(EVENTS_READ)))
    turns: List[Turn] = []
    call = False
    for type_name, data in reversed(rows):
        event = event_data(data)
        numi = numi_meta(event)
        if type_name == "user":
            call = call or numi.get("mode") == "agent"
            speaker = "customer"
        else:
            speaker = "agent" if numi.get("from") == "agent" else "bot"
        text = _clip(event.get("text"))
        if text and not text.startswith("/"):  # a button's payload is not something anybody said
            turns.append(Turn(speaker, text))
    return tuple(turns[-TURNS:]), call


Transcript = Tuple[datetime, Tuple[Turn, ...], bool]  # when it last spoke, its last messages, a call?


def _signal_transcripts(session: Session, conversations: Collection[str]) -> Dict[str, Transcript]:
    """Without the tracker store: the customer's own messages, as the alerts worker recorded them."""
    found: Dict[str, Transcript] = {}
    if not conversations:
        return found
    rows = session.scalars(select(m.MessageSignal).where(m.MessageSignal.conversation_id.in_(list(conversations)))
                           .order_by(m.MessageSignal.at, m.MessageSignal.id))
    for r in rows:
        at, turns, call = found.get(r.conversation_id, (r.at, (), False))
        turns = (turns + (Turn("customer", _clip(r.text)),))[-TURNS:]
        found[r.conversation_id] = (max(at, r.at), turns, call or r.mode == "agent")
    return found


def conversation_interactions(session: Session, customer_id: str, tracker: Optional[Engine],
                              tickets: Sequence[m.Ticket], exclude: Collection[str] = ()) -> List[Interaction]:
    """The customer's latest conversations (chat, and prompter calls without a summary), the
    conversations in `exclude` left out (the one on screen already)."""
    with_events = has_events(tracker)
    conversations = sorted(gdpr.conversations_of(session, customer_id,
                                                 tracker_engine=tracker if with_events else None) - set(exclude))
    if not conversations:
        return []
    by_conversation = {t.conversation_id: t for t in reversed(tickets) if t.conversation_id}
    summarised = {t.conversation_id for t in tickets if any(e.event == "call_summary" for e in t.history)}
    candidates: Dict[str, Transcript] = {}
    if tracker is not None and with_events:
        moments = _last_moments(tracker, conversations)
        for conv in sorted(moments, key=lambda c: moments[c], reverse=True)[:RECENT]:
            turns, call = _transcript(tracker, conv)
            candidates[conv] = (moments[conv], turns, call)
    missing = [c for c in conversations if c not in candidates]
    candidates.update(_signal_transcripts(session, missing))
    found = []
    for conv, (at, turns, call) in candidates.items():
        if not turns or conv in summarised:  # a summarised call is told by its summary
            continue
        ticket = by_conversation.get(conv)
        found.append(Interaction("phone" if call else "chat", at, ticket=ticket.ref if ticket else None,
                                 scenario=ticket.scenario if ticket else None,
                                 subject=ticket.subject if ticket else None, turns=turns))
    return found


# --- together ------------------------------------------------------------------------------
def interactions(session: Session, customer_id: str, tracker: Optional[Engine] = None,
                 exclude: Collection[str] = ()) -> List[Interaction]:
    """Every channel's latest interactions with the customer, the latest first (RECENT of them)."""
    tickets = list(session.scalars(select(m.Ticket).where(m.Ticket.customer_id == customer_id)
                                   .order_by(m.Ticket.number)))
    found = ticket_interactions(tickets) + conversation_interactions(session, customer_id, tracker, tickets, exclude)
    return sorted(found, key=lambda i: i.at, reverse=True)[:RECENT]


def last_interaction(session: Session, customer_id: str, tracker: Optional[Engine] = None,
                     exclude: Collection[str] = ()) -> Optional[Interaction]:
    latest = interactions(session, customer_id, tracker, exclude)
    return latest[0] if latest else None


def continuity(session: Session, customer: m.Customer, staff: Mapping[str, str], tracker: Optional[Engine] = None,
               exclude: Collection[str] = ()) -> Dict[str, Any]:
    """What the console shows when the customer is on the line: their open tickets, their
    last interaction (`last`) and the few before it (`recent`, the latest first)."""
    scoped = customer_file.tickets_in_scope(session, staff, customer.id)
    recent = interactions(session, customer.id, tracker, exclude)
    return {
        "customer_id": customer.id, "name": customer.display_name,
        "open_tickets": [customer_file.ticket_summary(t, t.number in scoped)
                         for t in customer_file.customer_tickets(session, customer.id, open_only=True)],
        "last": recent[0].as_json() if recent else None,
        "recent": [i.as_json() for i in recent],
    }
