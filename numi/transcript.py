"""A conversation's transcript, as staff read it: the customer's, the bot's and the human
agents' messages in time order, and whether the conversation is a prompter call (the hotliner's
side of a phone call: its user events are marked `metadata.numi.mode == "agent"`) or a chat.

Read from Rasa's tracker store (user and bot events; a human agent's replies are bot events
marked `metadata.numi.from == "agent"`, the prompter's cards show their script); without a
tracker store, or before Rasa wrote the conversation, from the messages relayed during its
handoffs (`handoff_messages`). The caller checked the staff member's right to read it.
`EVENTS`, `event_data`, `event_time` and `numi_meta` are how numi reads Rasa's events (numi/continuity.py too)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Dict, List, Mapping, Optional

import sqlalchemy as sa
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from numi.db import models as m

EVENTS = sa.table("events", sa.column("id"), sa.column("sender_id"), sa.column("type_name"),
                  sa.column("timestamp"), sa.column("data"))
MAX_MESSAGES = 500  # the latest messages of a conversation that are read
MAX_TEXT = 4000
SOURCES = ("tracker", "handoffs", "none")


def event_data(data: Any) -> Dict[str, Any]:
    """A tracker row's `data` column as the event's dict ({} when it is not one)."""
    if isinstance(data, dict):
        return data
    try:
        value = json.loads(data) if data else {}
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def event_time(timestamp: Any) -> Optional[datetime]:
    """A tracker event's `timestamp` (seconds) as naive UTC, or None when it is not one."""
    try:
        return datetime.fromtimestamp(float(timestamp), tz=timezone.utc).replace(tzinfo=None)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _at(timestamp: Any) -> Optional[str]:
    moment = event_time(timestamp)
    return moment.isoformat() if moment is not None else None


def numi_meta(event: Mapping[str, Any]) -> Mapping[str, Any]:
    """What numi's channels wrote in an event's metadata (`metadata.numi`), or {}."""
    meta = event.get("metadata")
    numi = meta.get("numi") if isinstance(meta, dict) else None
    return numi if isinstance(numi, dict) else {}


def _bot_text(event: Mapping[str, Any]) -> str:
    text = event.get("text")
    if text:
        return str(text)
    custom = (event.get("data") or {}).get("custom") if isinstance(event.get("data"), dict) else None
    if isinstance(custom, dict):  # a prompter card: what the hotliner was told to say
        return str(custom.get("say") or custom.get("script") or "")
    return ""


@dataclass(frozen=True)
class Read:
    """What the tracker store holds of a conversation: its messages, and whether it is a call."""

    messages: List[Dict[str, Any]] = field(default_factory=list)
    call: bool = False


def from_tracker(tracker: Optional[Engine], conversation_id: str, limit: int = MAX_MESSAGES) -> Read:
    """`[{"from": "customer"|"bot"|"agent", "text", "at", "author"?}]` of the tracker store, oldest first."""
    if tracker is None:
        return Read()
    try:
        with tracker.connect() as conn:
            rows = list(conn.execute(select(EVENTS.c.type_name, EVENTS.c.timestamp, EVENTS.c.data)
                                     .where(EVENTS.c.sender_id == conversation_id,
                                            EVENTS.c.type_name.in_(("user", "bot")))
                                     .order_by(EVENTS.c.id.desc()).limit(limit)))
    except SQLAlchemyError:  # no events table (yet), or an unreadable store
        return Read()
    messages: List[Dict[str, Any]] = []
    call = False
    for type_name, timestamp, data in reversed(rows):
        event = event_data(data)
        numi = numi_meta(event)
        if type_name == "user":
            call = call or numi.get("mode") == "agent"
            speaker, text = "customer", str(event.get("text") or "")
            if text.startswith("/"):  # a button's payload is not something anybody said
                continue
        else:
            speaker, text = ("agent" if numi.get("from") == "agent" else "bot"), _bot_text(event)
        if not text.strip():
            continue
        message: Dict[str, Any] = {"from": speaker, "text": text[:MAX_TEXT], "at": _at(timestamp)}
        if speaker == "agent" and numi.get("author"):
            message["author"] = str(numi["author"])[:80]
        messages.append(message)
    return Read(messages, call)


def is_call(tracker: Optional[Engine], conversation_id: str, limit: int = 20) -> bool:
    """Whether the conversation is a prompter call (its first user events are in agent mode)."""
    if tracker is None:
        return False
    try:
        with tracker.connect() as conn:
            rows = list(conn.execute(select(EVENTS.c.data).where(EVENTS.c.sender_id == conversation_id,
                                                                 EVENTS.c.type_name == "user")
                                     .order_by(EVENTS.c.id).limit(limit)))
    except SQLAlchemyError:
        return False
    return any(numi_meta(event_data(data)).get("mode") == "agent" for (data,) in rows)


def from_handoffs(session: Session, conversation_id: str, limit: int = MAX_MESSAGES) -> List[Dict[str, Any]]:
    """The messages relayed while humans held the conversation, oldest first."""
    rows = session.scalars(select(m.HandoffMessage).join(m.Handoff, m.Handoff.id == m.HandoffMessage.handoff_id)
                           .where(m.Handoff.conversation_id == conversation_id)
                           .order_by(m.HandoffMessage.id.desc()).limit(limit))
    found = [{"from": "agent" if r.sender == "agent" else "customer", "text": r.text, "at": m.as_iso(r.at),
              **({"author": r.author} if r.author else {})} for r in rows]
    return list(reversed(found))


def transcript(session: Session, tracker: Optional[Engine], conversation_id: str) -> Dict[str, Any]:
    """`{"conversation_id", "source": SOURCES, "kind": "chat"|"call", "messages": [...]}`."""
    read = from_tracker(tracker, conversation_id)
    messages, source = read.messages, "tracker"
    if not messages:
        messages = from_handoffs(session, conversation_id)
        source = "handoffs" if messages else "none"
    return {"conversation_id": conversation_id, "source": source, "kind": "call" if read.call else "chat",
            "messages": messages}
