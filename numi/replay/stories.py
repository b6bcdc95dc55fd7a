"""Stories a trainer replays step by step: listed from three sources, loaded as steps.

Sources:

* ``data``: the stories and rules of ``data/**/*.yml`` (Rasa training data);
* ``tests``: the test stories of ``tests/stories/*.yml``;
* ``recorded``: real conversations, read from Rasa's tracker store (table
  ``events`` as Rasa's SQLTrackerStore writes it), always anonymised.

What the bot showed in a YAML story is not invented: the story's user turns are
fed, one by one, to the real playbook walker (as ``actions/playbooks.py`` does in
production), in a throwaway SQLite database holding the demo data, and ``utter_*``
actions are rendered from ``domain/`` (first variant). Stories labelled
« (assistance hotliner) » are walked in agent mode: their steps show prompter cards.

Nothing here does I/O at import time.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple

import yaml
from sqlalchemy import select

from numi.clock import date_fr, to_local
from numi.db import make_engine, make_sessionmaker
from numi.db import models as m
from numi.db.migrate import upgrade
from numi.playbooks.effects import EffectEnv
from numi.playbooks.engine import Parsed, Walker, new_state
from numi.playbooks.library import Library, default_library
from numi.tickets import service as tickets
from numi.replay.anonymise import Anonymiser, customer_names
from numi.settings import DEFAULT_TIMEZONE, ROOT, Settings
from numi.text import fold

log = logging.getLogger(__name__)

SOURCES: Tuple[str, ...] = ("data", "tests", "recorded")
AGENT_LABEL = "(assistance hotliner)"
REPLAY_TEXTS = Path("config") / "quizzes" / "_replay.yml"
_ANNOTATION = re.compile(r"\[(?P<value>[^\]]+)\](?:\((?P<entity>[\w\-]+)(?::[^)]*)?\)|(?P<json>\{[^}]*\}))")


class StoryNotFound(LookupError):
    """No story has this id (or its source is not available)."""


# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------
def slug(text: str) -> str:
    """URL-safe, stable: « ticket_followup via reopen_ticket (client) » → ticket_followup-via-reopen_ticket-client."""
    return re.sub(r"[^a-z0-9_]+", "-", fold(text)).strip("-") or "story"


def recorded_id(sender_id: str, secret: Optional[str] = None) -> str:
    """The public id of a recorded conversation: a hash of its sender id, never the sender id."""
    if secret:
        digest = hmac.new(secret.encode(), sender_id.encode(), hashlib.sha256).hexdigest()
    else:
        digest = hashlib.sha256(("numi-replay:" + sender_id).encode()).hexdigest()
    return "recorded:" + digest[:20]


def default_tracker_url() -> str:
    """Rasa's tracker store, as numi.rasa_ext chooses it (without importing Rasa)."""
    return os.environ.get("NUMI_TRACKER_URL") or f"sqlite:///{ROOT / 'var' / 'tracker.db'}"


def _library(library: Optional[Library]) -> Library:
    return library if library is not None else default_library()


def replay_texts(root: Path = ROOT) -> Dict[str, Any]:
    return _replay_texts(str(Path(root) / REPLAY_TEXTS))


@lru_cache(maxsize=4)
def _replay_texts(path: str) -> Dict[str, Any]:
    return yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}


def _strip_annotations(text: str) -> Tuple[str, List[Dict[str, Any]]]:
    """Rasa's entity annotations « [TK-00456](ticket_id) » → plain text and entities."""
    entities: List[Dict[str, Any]] = []

    def repl(match: "re.Match[str]") -> str:
        name = match.group("entity")
        if name is None and match.group("json"):
            try:
                name = json.loads(match.group("json")).get("entity")
            except (ValueError, AttributeError):
                name = None
        if name:
            entities.append({"entity": name, "value": match.group("value")})
        return match.group("value")

    return _ANNOTATION.sub(repl, text), entities


# ---------------------------------------------------------------------------
# YAML stories (data/ and tests/stories/)
# ---------------------------------------------------------------------------
@dataclass
class _Turn:
    text: str
    intent: Optional[str]
    entities: List[Dict[str, Any]] = field(default_factory=list)
    actions: List[Tuple[str, str]] = field(default_factory=list)  # ("action", name) | ("bot", text)
    from_nlu: bool = False


@dataclass
class _YamlStory:
    id: str
    source: str
    title: str
    path: Path
    mode: str
    turns: List[_Turn]


def _story_files(source: str, root: Path) -> List[Path]:
    if source == "data":
        return sorted(p for p in (root / "data").rglob("*.yml") if not p.name.startswith("_"))
    if source == "tests":
        return sorted((root / "tests" / "stories").glob("*.yml"))
    return []


def _read_yaml(path: Path) -> Dict[str, Any]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        log.warning("%s: illisible (%s)", path, exc)
        return {}
    return raw if isinstance(raw, dict) else {}


def _nlu_examples(root: Path) -> Dict[str, str]:
    """The first training example of each intent (the customer text of rules, which have none)."""
    examples: Dict[str, str] = {}
    for path in sorted((root / "data").rglob("*.yml")):
        for item in _read_yaml(path).get("nlu") or []:
            if not isinstance(item, dict) or "intent" not in item or item["intent"] in examples:
                continue
            for line in str(item.get("examples") or "").splitlines():
                line = line.strip()
                if line.startswith("- "):
                    examples[item["intent"]] = _strip_annotations(line[2:].strip())[0]
                    break
    return examples


def _parse_turns(steps: Any, examples: Mapping[str, str]) -> List[_Turn]:
    turns: List[_Turn] = []
    for step in steps if isinstance(steps, list) else []:
        if not isinstance(step, dict):
            continue
        user = step
        if "or" in step:  # a rule's alternatives: the first one that is a user turn
            user = next((a for a in step["or"] or [] if isinstance(a, dict) and ("intent" in a or "user" in a)), {})
        if "user" in user or "intent" in user:
            intent = user.get("intent")
            text, entities = _strip_annotations(str(user.get("user") or "").strip())
            from_nlu = False
            if not text and intent in examples:
                text, from_nlu = examples[intent], True
            for ent in user.get("entities") or []:
                if isinstance(ent, dict):
                    entities += [{"entity": k, "value": v} for k, v in ent.items()]
                elif isinstance(ent, str):
                    entities.append({"entity": ent, "value": None})
            turns.append(_Turn(text=text, intent=str(intent) if intent else None, entities=entities,
                               from_nlu=from_nlu))
        elif "action" in step and turns:
            turns[-1].actions.append(("action", str(step["action"])))
        elif "bot" in step and turns:
            turns[-1].actions.append(("bot", str(step["bot"])))
    return turns


def _yaml_stories(source: str, root: Path) -> List[_YamlStory]:
    examples = _nlu_examples(root) if source == "data" else {}
    stories: List[_YamlStory] = []
    seen: Dict[str, int] = {}
    for path in _story_files(source, root):
        raw = _read_yaml(path)
        for kind in ("stories", "rules"):
            for item in raw.get(kind) or []:
                if not isinstance(item, dict):
                    continue
                title = str(item.get("story") or item.get("rule") or path.stem)
                turns = _parse_turns(item.get("steps"), examples)
                if not turns:
                    continue  # nothing a customer says: nothing to replay
                base = f"{source}:{slug(title)}"
                seen[base] = seen.get(base, 0) + 1
                sid = base if seen[base] == 1 else f"{base}-{seen[base]}"
                mode = "agent" if AGENT_LABEL in title else "customer"
                stories.append(_YamlStory(id=sid, source=source, title=title, path=path, mode=mode, turns=turns))
    return stories


def _playbook_opened(lib: Library, intent: Optional[str]):
    pb = lib.playbook_for_intent(intent)
    if pb is not None:
        return pb, None
    pb = lib.entry_for_intent(intent)
    return (pb, intent) if pb is not None else (None, None)


def _static_scenario(story: _YamlStory, lib: Library) -> Optional[str]:
    for turn in story.turns:
        if ("action", "action_start_playbook") in turn.actions:
            pb, _ = _playbook_opened(lib, turn.intent)
            if pb is not None:
                return pb.id
    return None


# ---------------------------------------------------------------------------
# The offline walk: a throwaway database, the real walker
# ---------------------------------------------------------------------------
@contextmanager
def sandbox(settings: Optional[Settings] = None) -> Iterator[Tuple[Any, Settings]]:
    """A temporary SQLite database with the demo data: (sessionmaker, settings). Removed on exit.

    Mail goes to a temporary mailbox and the scheduler is off. Nothing process-wide is
    touched: the walk gets its library and database passed in, so several run at once.
    """
    directory = Path(tempfile.mkdtemp(prefix="numi-replay-"))
    base = settings or Settings.from_env(env={})
    box = replace(base, database_url=f"sqlite:///{directory / 'replay.db'}", mailbox_dir=directory / "mailbox",
                  smtp=None, scheduler_enabled=False, demo_data=True)
    engine = None
    try:
        engine = make_engine(box.database_url)
        upgrade(engine, box)
        yield make_sessionmaker(engine), box
    finally:
        if engine is not None:
            engine.dispose()
        shutil.rmtree(directory, ignore_errors=True)


def _responses(root: Path) -> Dict[str, Any]:
    responses: Dict[str, Any] = {}
    files = sorted((root / "domain").rglob("*.yml")) if (root / "domain").is_dir() else []
    files += [p for p in (root / "domain.yml",) if p.exists()]
    for path in files:
        responses.update(_read_yaml(path).get("responses") or {})
    return responses


def _render_response(responses: Mapping[str, Any], name: str) -> Optional[Dict[str, Any]]:
    variants = responses.get(name)
    if not isinstance(variants, list) or not variants or not isinstance(variants[0], dict):
        return None
    first = variants[0]
    if first.get("custom") is not None:
        return {"custom": first["custom"]}
    message: Dict[str, Any] = {"text": str(first.get("text") or "")}
    if first.get("buttons"):
        message["buttons"] = [{"title": b.get("title", ""), "payload": b.get("payload", "")}
                              for b in first["buttons"] if isinstance(b, dict)]
    return message


def _step_info(lib: Library, scenario: Optional[str], step_id: Optional[str]) -> Optional[Dict[str, Any]]:
    if not scenario or not step_id:
        return None
    title = step_id
    pb = lib.get(scenario)
    if pb is not None and step_id in pb.steps:
        title = pb.steps[step_id].title or step_id
    return {"scenario": scenario, "step": step_id, "step_title": title}


def _playbook_after(lib: Library, before: Mapping[str, Any], after: Mapping[str, Any]) -> Optional[Dict[str, Any]]:
    """The playbook step the conversation is at after a turn (or the last one walked, if it ended)."""
    stack = after.get("stack") or []
    if stack:
        return _step_info(lib, stack[-1].get("id"), stack[-1].get("step"))
    trail = after.get("trail") or []
    if trail and trail != (before.get("trail") or []):
        last = trail[-1]
        if isinstance(last, (list, tuple)) and len(last) == 2:
            return _step_info(lib, last[0], last[1])
    return None


def _ticket_in_context(session: Any, ref: Any, customer_id: Optional[str]) -> Optional[str]:
    """As action_start_playbook does: the ticket named in the message, else the customer's waiting one."""

    if ref:
        own = tickets.find_own_ticket(session, str(ref), customer_id)
        return own.ref if own is not None else None
    if customer_id:
        waiting = tickets.tickets_of(session, customer_id, ["waiting_customer"])
        return waiting[0].ref if waiting else None
    return None


def _walk(story: _YamlStory, lib: Library, root: Path, settings: Optional[Settings],
          customer_id: Optional[str], agent_name: str) -> Tuple[List[Dict[str, Any]], Dict[str, Any]]:


    responses = _responses(root)
    mode = story.mode
    needs_ticket = any(
        ("action", "action_start_playbook") in t.actions
        and "ticket" in getattr(_playbook_opened(lib, t.intent)[0], "context", ()) for t in story.turns)
    steps: List[Dict[str, Any]] = []
    history: List[Dict[str, Any]] = []
    context: Dict[str, Any] = {"customer_id": customer_id, "ticket": None}
    with sandbox(settings) as (sessions, box):
        session = sessions()
        try:
            if needs_ticket and customer_id is None:
                # a reminder answer is about the customer's waiting ticket: replay as the demo customer who has one
                waiting = session.scalars(select(m.Ticket).where(m.Ticket.status == "waiting_customer")
                                          .order_by(m.Ticket.number)).first()
                customer_id = waiting.customer_id if waiting is not None else None
                context["customer_id"] = customer_id
            state: Dict[str, Any] = new_state(mode)
            conversation = "replay-" + hashlib.sha256(story.id.encode()).hexdigest()[:12]
            for index, turn in enumerate(story.turns):
                msg = Parsed(text=turn.text, intent=turn.intent, confidence=1.0 if turn.intent else 0.0,
                             ranking=[(turn.intent, 1.0)] if turn.intent else [], entities=turn.entities)
                history.append({"from": "customer", "text": turn.text, "at": None})
                bot: List[Dict[str, Any]] = []
                actions: List[str] = []
                before = state
                started = False
                for kind, name in turn.actions:
                    if kind == "bot":
                        bot.append({"text": name})
                        continue
                    actions.append(name)
                    if name.startswith("utter_"):
                        rendered = _render_response(responses, name)
                        if rendered is not None:
                            bot.append(rendered)
                        continue
                    if name not in ("action_start_playbook", "playbook_form"):
                        continue  # other actions show nothing the replay can know offline
                    env = EffectEnv(
                        session=session, settings=box, conversation_id=conversation, customer_id=customer_id,
                        mode=mode, actor=("hotliner:" + agent_name) if mode == "agent" else "bot",
                        agent_name=agent_name, transcript=lambda: list(history),  # no mood: never shown here
                        library=lib)
                    walker = Walker(lib, env, mode=mode, detected=msg)
                    outcome = None
                    if name == "action_start_playbook":
                        started = True
                        pb, entry = _playbook_opened(lib, turn.intent)
                        if pb is None:
                            continue
                        ticket = None
                        if "ticket" in pb.context:
                            ticket = _ticket_in_context(session, msg.entity("ticket_id"), customer_id)
                            if ticket is None:
                                bot.append({"text": lib.system_text("no_ticket_context", mode, {})})
                                continue
                            context["ticket"] = ticket
                        outcome = walker.start(state, pb.id, entry_intent=entry, frame_slots={}, ticket=ticket)
                    elif not started and state.get("stack"):
                        outcome = walker.handle(state, msg)  # the form validates the answer
                    if outcome is None:
                        continue
                    state = outcome.state
                    for signal in outcome.signals:
                        if "identified" in signal:
                            customer_id = signal["identified"]
                    bot += [o.as_dict() for o in outcome.outputs]
                session.flush()
                for message in bot:
                    text = message.get("text") or (message.get("custom") or {}).get("script") or ""
                    history.append({"from": "bot", "text": text, "at": None})
                steps.append({
                    "index": index,
                    "customer": turn.text,
                    "intent": turn.intent,
                    "bot": bot,
                    "playbook": _playbook_after(lib, before, state),
                    "mode": mode,
                    "actions": actions,
                    "customer_from_nlu": turn.from_nlu,
                })
        finally:
            session.rollback()
            session.close()
    return steps, context


# ---------------------------------------------------------------------------
# Recorded conversations (Rasa's tracker store)
# ---------------------------------------------------------------------------
@contextmanager
def _tracker_engine(url: Optional[str]) -> Iterator[Optional[Any]]:
    """An engine on the tracker store, or None when there is none (a missing SQLite file is not created)."""
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

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
    import sqlalchemy as sa
    from sqlalchemy.exc import SQLAlchemyError

    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.text(sql), params))
    except SQLAlchemyError as exc:  # no events table (yet), or an unreadable store
        log.warning("tracker store illisible : %s", exc.__class__.__name__)
        return []


def _json(data: Any) -> Dict[str, Any]:
    if isinstance(data, dict):
        return data
    try:
        value = json.loads(data) if data else {}
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _local_date(timestamp: Optional[float], tz_name: str) -> str:

    if timestamp is None:
        return ""
    try:
        moment = datetime.fromtimestamp(float(timestamp), tz=timezone.utc)
    except (TypeError, ValueError, OverflowError, OSError):
        return ""
    return date_fr(to_local(moment, tz_name).date())


def _recorded_title(lib: Library, scenario: Optional[str], first_ts: Optional[float], tz_name: str,
                    root: Path) -> str:
    texts = replay_texts(root).get("recorded") or {}
    pb = lib.get(scenario) if scenario else None
    label = pb.title if pb is not None else texts.get("no_scenario", "")
    return str(texts.get("title", "{date} {scenario}")).format(date=_local_date(first_ts, tz_name), scenario=label)


def _first_scenario(states: Iterable[Any]) -> Optional[str]:
    for value in states:
        state = value if isinstance(value, dict) else {}
        for frame in state.get("stack") or []:
            if isinstance(frame, dict) and frame.get("id"):
                return str(frame["id"])
        for entry in state.get("trail") or []:
            if isinstance(entry, (list, tuple)) and entry:
                return str(entry[0])
    return None


def _recorded_summaries(lib: Library, url: Optional[str], secret: Optional[str], tz_name: str,
                        root: Path) -> List[Dict[str, Any]]:
    with _tracker_engine(url) as engine:
        if engine is None:
            return []
        users = _rows(engine, "SELECT sender_id, MIN(timestamp) AS first, COUNT(*) AS n FROM events "
                              "WHERE type_name = 'user' GROUP BY sender_id")
        slots = _rows(engine, "SELECT sender_id, data FROM events WHERE type_name = 'slot' "
                              "AND action_name = 'pb_state' ORDER BY id")
    states: Dict[str, List[Any]] = {}
    for sender, data in slots:
        states.setdefault(sender, []).append(_json(data).get("value"))
    out = []
    for sender, first, count in sorted(users, key=lambda r: (r[1] or 0, r[0])):
        scenario = _first_scenario(states.get(sender, []))
        agent = any(isinstance(v, dict) and v.get("mode") == "agent" for v in states.get(sender, []))
        out.append({"id": recorded_id(sender, secret), "source": "recorded",
                    "title": _recorded_title(lib, scenario, first, tz_name, root),
                    "scenario": scenario, "turns": int(count), "mode": "agent" if agent else "customer"})
    return out


def _bot_message(data: Mapping[str, Any]) -> Optional[Dict[str, Any]]:
    extra = data.get("data") if isinstance(data.get("data"), dict) else {}
    if extra.get("custom") is not None:
        return {"custom": extra["custom"]}
    text = data.get("text")
    if not text and not extra.get("buttons"):
        return None
    message: Dict[str, Any] = {"text": text or ""}
    if extra.get("buttons"):
        message["buttons"] = [{"title": b.get("title", ""), "payload": b.get("payload", "")}
                              for b in extra["buttons"] if isinstance(b, dict)]
    return message


def _recorded_steps(lib: Library, rows: Sequence[Any]) -> Tuple[List[Dict[str, Any]], List[Dict[str, Any]]]:
    """(opening bot messages, steps) from a conversation's events, in order."""
    opening: List[Dict[str, Any]] = []
    steps: List[Dict[str, Any]] = []
    state: Dict[str, Any] = {}
    before: Dict[str, Any] = {}
    for type_name, data in rows:
        event = _json(data)
        if type_name == "user":
            if steps:
                steps[-1]["playbook"] = _playbook_after(lib, before, state)
            before = state
            parse = event.get("parse_data") if isinstance(event.get("parse_data"), dict) else {}
            intent = (parse.get("intent") or {}).get("name") if isinstance(parse.get("intent"), dict) else None
            meta = event.get("metadata") if isinstance(event.get("metadata"), dict) else {}
            numi = meta.get("numi") if isinstance(meta.get("numi"), dict) else {}
            steps.append({"index": len(steps), "customer": event.get("text") or "", "intent": intent, "bot": [],
                          "playbook": None, "actions": [],
                          "mode": "agent" if numi.get("mode") == "agent" or state.get("mode") == "agent"
                          else "customer"})
        elif type_name == "bot":
            message = _bot_message(event)
            if message is None:
                continue
            (steps[-1]["bot"] if steps else opening).append(message)
            if steps and "custom" in message and isinstance(message["custom"], dict) \
                    and str(message["custom"].get("type", "")).startswith("prompter"):
                steps[-1]["mode"] = "agent"
        elif type_name == "slot" and event.get("name") == "pb_state":
            state = event.get("value") if isinstance(event.get("value"), dict) else {}
            if steps and state.get("mode") == "agent":
                steps[-1]["mode"] = "agent"
        elif type_name == "action" and steps:
            name = event.get("name")
            if name and name not in ("action_listen", "action_session_start"):
                steps[-1]["actions"].append(name)
    if steps:
        steps[-1]["playbook"] = _playbook_after(lib, before, state)
    return opening, steps


def _load_recorded(story_id: str, lib: Library, url: Optional[str], secret: Optional[str],
                   anonymiser: Anonymiser, tz_name: str, root: Path) -> Dict[str, Any]:
    with _tracker_engine(url) as engine:
        if engine is None:
            raise StoryNotFound(story_id)
        senders = [r[0] for r in _rows(engine, "SELECT DISTINCT sender_id FROM events")]
        sender = next((s for s in senders if recorded_id(s, secret) == story_id), None)
        if sender is None:
            raise StoryNotFound(story_id)
        rows = _rows(engine, "SELECT type_name, data FROM events WHERE sender_id = :s ORDER BY id", s=sender)
        first = next(iter(_rows(engine, "SELECT MIN(timestamp) FROM events WHERE sender_id = :s "
                                        "AND type_name = 'user'", s=sender)), (None,))[0]
    opening, steps = _recorded_steps(lib, [(r[0], r[1]) for r in rows])
    scenario = next((s["playbook"]["scenario"] for s in steps if s["playbook"]), None)
    for step in steps:  # nothing personal leaves this module
        step["customer"] = anonymiser.text(step["customer"])
        step["bot"] = anonymiser.value(step["bot"])
    return {
        "id": story_id, "source": "recorded", "title": _recorded_title(lib, scenario, first, tz_name, root),
        "scenario": scenario, "turns": len(steps),
        "mode": "agent" if any(s["mode"] == "agent" for s in steps) else "customer",
        "opening": anonymiser.value(opening), "context": {}, "steps": steps,
    }


# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------
def list_stories(sources: Iterable[str] = SOURCES, *, root: Path = ROOT, tracker_url: Optional[str] = None,
                 library: Optional[Library] = None, settings: Optional[Settings] = None,
                 secret: Optional[str] = None) -> List[Dict[str, Any]]:
    """Summaries ``{"id", "source", "title", "scenario", "turns", "mode"}`` of every replayable story.

    `sources`: any of ``data``, ``tests``, ``recorded``. `tracker_url`: a SQLAlchemy URL of
    Rasa's tracker store (default NUMI_TRACKER_URL, else sqlite:///var/tracker.db); a missing
    store lists no recorded conversation. `secret`: keys the hash of recorded ids (optional).
    """
    lib = _library(library)
    root = Path(root)
    tz_name = settings.timezone if settings is not None else DEFAULT_TIMEZONE
    out: List[Dict[str, Any]] = []
    for source in dict.fromkeys(sources):
        if source in ("data", "tests"):
            for story in _yaml_stories(source, root):
                out.append({"id": story.id, "source": source, "title": story.title,
                            "scenario": _static_scenario(story, lib), "turns": len(story.turns),
                            "mode": story.mode})
        elif source == "recorded":
            out += _recorded_summaries(lib, tracker_url, secret, tz_name, root)
        else:
            raise ValueError(f"unknown story source {source!r} (known: {', '.join(SOURCES)})")
    return out


def load_story(story_id: str, *, root: Path = ROOT, tracker_url: Optional[str] = None,
               library: Optional[Library] = None, settings: Optional[Settings] = None,
               session: Any = None, names: Iterable[Sequence[str]] = (), customer_id: Optional[str] = None,
               agent_name: str = "", secret: Optional[str] = None) -> Dict[str, Any]:
    """One story as replay steps.

    Returns ``{"id", "source", "title", "scenario", "turns", "mode", "opening", "context", "steps"}``;
    each step is ``{"index", "customer", "intent", "bot", "playbook", "mode", "actions",
    "customer_from_nlu"?}``, ``bot`` being the messages as Rasa sends them
    (``{"text", "buttons"?}`` or ``{"custom": card}``) and ``playbook``
    ``{"scenario", "step", "step_title"}`` or None.

    YAML stories are walked with the real walker in a throwaway database (`settings`
    gives timezone and opening hours; `customer_id` replays as that demo customer; a
    playbook about a waiting ticket defaults to the demo customer who has one).
    Recorded ones are anonymised: e-mails, phones, numbers, codes, and the names in
    `names` plus, when `session` (numi database) is given, every customer's name.
    Raises StoryNotFound.
    """
    if not isinstance(story_id, str) or ":" not in story_id:
        raise StoryNotFound(story_id)
    lib = _library(library)
    root = Path(root)
    source = story_id.split(":", 1)[0]
    tz_name = settings.timezone if settings is not None else DEFAULT_TIMEZONE
    if source == "recorded":
        known = [tuple(n) for n in names or ()]
        if session is not None:
            known += customer_names(session)
        return _load_recorded(story_id, lib, tracker_url, secret, Anonymiser(tuple(known)), tz_name, root)
    if source not in ("data", "tests"):
        raise StoryNotFound(story_id)
    story = next((s for s in _yaml_stories(source, root) if s.id == story_id), None)
    if story is None:
        raise StoryNotFound(story_id)
    steps, context = _walk(story, lib, root, settings, customer_id, agent_name)
    return {"id": story.id, "source": source, "title": story.title,
            "scenario": _static_scenario(story, lib) or next((s["playbook"]["scenario"] for s in steps
                                                               if s["playbook"]), None),
            "turns": len(steps), "mode": story.mode, "opening": [], "context": context, "steps": steps}
