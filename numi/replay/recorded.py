"""Recorded conversations, read from Rasa's tracker store (table ``events``, as Rasa's
SQLTrackerStore writes it) and always anonymised before they leave this module. A
conversation's public id is a hash of its sender id, never the sender id.

Nothing here does I/O at import time.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from numi.clock import date_fr, to_local
from numi.playbooks.library import Library
from numi.replay.anonymise import Anonymiser
from numi.replay.steps import StoryNotFound, bot_message, playbook_after, replay_texts
from numi.settings import ROOT
from numi.transcript import event_data

log = logging.getLogger(__name__)

SOURCE = "recorded"
Message = Dict[str, Any]
SILENT_ACTIONS = ("action_listen", "action_session_start")  # not shown as what the bot did


def recorded_id(sender_id: str, secret: Optional[str] = None) -> str:
    """The public id of a recorded conversation: a hash of its sender id, never the sender id."""
    if secret:
        digest = hmac.new(secret.encode(), sender_id.encode(), hashlib.sha256).hexdigest()
    else:
        digest = hashlib.sha256(("numi-replay:" + sender_id).encode()).hexdigest()
    return SOURCE + ":" + digest[:20]


def default_tracker_url() -> str:
    """Rasa's tracker store, as numi.rasa_ext chooses it (without importing Rasa)."""
    return os.environ.get("NUMI_TRACKER_URL") or f"sqlite:///{ROOT / 'var' / 'tracker.db'}"


# ---------------------------------------------------------------------------
# Reading the store
# ---------------------------------------------------------------------------
@contextmanager
def tracker_engine(url: Optional[str]) -> Iterator[Optional[Any]]:
    """An engine on the tracker store, or None when there is none (a missing SQLite file is not created)."""
    url = url or default_tracker_url()
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if not parsed.database or parsed.database == ":memory:" or not Path(parsed.database).exists():
            yield None
            return
    engine = sa.create_engine(url, future=True, poolclass=sa.pool.NullPool, hide_parameters=True)
    try:
        yield engine
    finally:
        engine.dispose()


def _rows(engine: Any, sql: str, **params: Any) -> List[Any]:
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.text(sql), params))
    except SQLAlchemyError as exc:  # no events table (yet), or an unreadable store
        log.warning("tracker store illisible : %s", exc.__class__.__name__)
        return []


def _dict(value: Any) -> Dict[str, Any]:
    return value if isinstance(value, dict) else {}


# ---------------------------------------------------------------------------
# Titles and summaries
# ---------------------------------------------------------------------------
def _local_date(timestamp: Optional[float], tz_name: str) -> str:
    if timestamp is None:
        return ""
    try:
        moment = datetime.fromtimestamp(float(timestamp), tz=timezone.utc)
    except (TypeError, ValueError, OverflowError, OSError):
        return ""
    return str(date_fr(to_local(moment, tz_name).date()))


def _title(lib: Library, scenario: Optional[str], first_ts: Optional[float], tz_name: str, root: Path) -> str:
    texts = replay_texts(root).get("recorded") or {}
    pb = lib.get(scenario) if scenario else None
    label = pb.title if pb is not None else texts.get("no_scenario", "")
    return str(texts.get("title", "{date} {scenario}")).format(date=_local_date(first_ts, tz_name), scenario=label)


def _first_scenario(states: Iterable[Any]) -> Optional[str]:
    for value in states:
        state = _dict(value)
        for frame in state.get("stack") or []:
            if isinstance(frame, dict) and frame.get("id"):
                return str(frame["id"])
        for entry in state.get("trail") or []:
            if isinstance(entry, (list, tuple)) and entry:
                return str(entry[0])
    return None


def recorded_summaries(lib: Library, url: Optional[str], secret: Optional[str], tz_name: str,
                       root: Path) -> List[Dict[str, Any]]:
    """``{"id", "source", "title", "scenario", "turns", "mode"}`` of every recorded conversation."""
    with tracker_engine(url) as engine:
        if engine is None:
            return []
        users = _rows(engine, "SELECT sender_id, MIN(timestamp) AS first, COUNT(*) AS n FROM events "
                              "WHERE type_name = 'user' GROUP BY sender_id")
        slots = _rows(engine, "SELECT sender_id, data FROM events WHERE type_name = 'slot' "
                              "AND action_name = 'pb_state' ORDER BY id")
    states: Dict[str, List[Any]] = {}
    for sender, data in slots:
        states.setdefault(sender, []).append(event_data(data).get("value"))
    out = []
    for sender, first, count in sorted(users, key=lambda r: (r[1] or 0, r[0])):
        scenario = _first_scenario(states.get(sender, []))
        agent = any(isinstance(v, dict) and v.get("mode") == "agent" for v in states.get(sender, []))
        out.append({"id": recorded_id(sender, secret), "source": SOURCE,
                    "title": _title(lib, scenario, first, tz_name, root),
                    "scenario": scenario, "turns": int(count), "mode": "agent" if agent else "customer"})
    return out


# ---------------------------------------------------------------------------
# A conversation's events as replay steps
# ---------------------------------------------------------------------------
def _bot_message(event: Mapping[str, Any]) -> Optional[Message]:
    """A bot event as the message Rasa sent (None: it showed nothing)."""
    extra = _dict(event.get("data"))
    if extra.get("custom") is None and not event.get("text") and not extra.get("buttons"):
        return None
    return bot_message(event.get("text"), extra.get("buttons"), extra.get("custom"))


def _is_prompter(message: Message) -> bool:
    custom = message.get("custom")
    return isinstance(custom, dict) and str(custom.get("type", "")).startswith("prompter")


@dataclass
class _Reading:
    """A conversation's events, read in order into its opening messages and its steps."""

    lib: Library
    opening: List[Message] = field(default_factory=list)
    steps: List[Dict[str, Any]] = field(default_factory=list)
    state: Dict[str, Any] = field(default_factory=dict)  # pb_state as last set
    before: Dict[str, Any] = field(default_factory=dict)  # pb_state when the current step began

    def _end_step(self) -> None:
        if self.steps:
            self.steps[-1]["playbook"] = playbook_after(self.lib, self.before, self.state)

    def user(self, event: Mapping[str, Any]) -> None:
        self._end_step()
        self.before = self.state
        intent = _dict(_dict(event.get("parse_data")).get("intent")).get("name")
        numi = _dict(_dict(event.get("metadata")).get("numi"))
        agent = numi.get("mode") == "agent" or self.state.get("mode") == "agent"
        self.steps.append({"index": len(self.steps), "customer": event.get("text") or "", "intent": intent,
                           "bot": [], "playbook": None, "actions": [], "mode": "agent" if agent else "customer"})

    def bot(self, event: Mapping[str, Any]) -> None:
        message = _bot_message(event)
        if message is None:
            return
        (self.steps[-1]["bot"] if self.steps else self.opening).append(message)
        if self.steps and _is_prompter(message):
            self.steps[-1]["mode"] = "agent"

    def slot(self, event: Mapping[str, Any]) -> None:
        if event.get("name") != "pb_state":
            return
        self.state = _dict(event.get("value"))
        if self.steps and self.state.get("mode") == "agent":
            self.steps[-1]["mode"] = "agent"

    def action(self, event: Mapping[str, Any]) -> None:
        name = event.get("name")
        if self.steps and name and name not in SILENT_ACTIONS:
            self.steps[-1]["actions"].append(name)

    def read(self, rows: Sequence[Any]) -> "_Reading":
        handlers = {"user": self.user, "bot": self.bot, "slot": self.slot, "action": self.action}
        for type_name, data in rows:
            handler = handlers.get(type_name)
            if handler is not None:
                handler(event_data(data))
        self._end_step()
        return self


def recorded_steps(lib: Library, rows: Sequence[Any]) -> Tuple[List[Message], List[Dict[str, Any]]]:
    """(opening bot messages, steps) from a conversation's events ``(type_name, data)``, in order."""
    reading = _Reading(lib).read(rows)
    return reading.opening, reading.steps


def load_recorded(story_id: str, lib: Library, url: Optional[str], secret: Optional[str],
                  anonymiser: Anonymiser, tz_name: str, root: Path) -> Dict[str, Any]:
    """One recorded conversation as replay steps, anonymised. Raises StoryNotFound."""
    with tracker_engine(url) as engine:
        if engine is None:
            raise StoryNotFound(story_id)
        senders = [r[0] for r in _rows(engine, "SELECT DISTINCT sender_id FROM events")]
        sender = next((s for s in senders if recorded_id(s, secret) == story_id), None)
        if sender is None:
            raise StoryNotFound(story_id)
        rows = _rows(engine, "SELECT type_name, data FROM events WHERE sender_id = :s ORDER BY id", s=sender)
        first = next(iter(_rows(engine, "SELECT MIN(timestamp) FROM events WHERE sender_id = :s "
                                        "AND type_name = 'user'", s=sender)), (None,))[0]
    opening, steps = recorded_steps(lib, [(r[0], r[1]) for r in rows])
    scenario = next((s["playbook"]["scenario"] for s in steps if s["playbook"]), None)
    for step in steps:  # nothing personal leaves this module
        step["customer"] = anonymiser.text(step["customer"])
        step["bot"] = anonymiser.value(step["bot"])
    return {
        "id": story_id, "source": SOURCE, "title": _title(lib, scenario, first, tz_name, root),
        "scenario": scenario, "turns": len(steps),
        "mode": "agent" if any(s["mode"] == "agent" for s in steps) else "customer",
        "opening": anonymiser.value(opening), "context": {}, "steps": steps,
    }
