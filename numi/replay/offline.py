"""The offline walk of a YAML story: its customer turns go, one by one, through the very
conversation path the Rasa actions take (numi/playbooks/conversation.py), in a throwaway
SQLite database holding the demo data.

Of a turn's actions, ``action_start_playbook`` opens the playbook of the turn's intent and
``playbook_form`` (on a later turn) gives the walker the customer's answer, as the form's
validation does; ``utter_*`` responses are rendered from ``domain/`` (first variant), as
Rasa sends them. Other actions show nothing the replay can know offline.

Nothing here does I/O at import time.
"""
from __future__ import annotations

import hashlib
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from numi.db import make_engine, make_sessionmaker
from numi.db import models as m
from numi.db.migrate import upgrade
from numi.playbooks import conversation
from numi.playbooks.effects import EffectEnv
from numi.playbooks.engine import Outcome, Parsed, new_state
from numi.playbooks.library import Library
from numi.replay.steps import bot_message, playbook_after, shown_text
from numi.replay.yaml_stories import START_PLAYBOOK, Turn, YamlStory, read_yaml
from numi.settings import Settings

# The Rasa actions the replay runs through the conversation path (actions/playbooks.py)
START = START_PLAYBOOK[1]  # ActionStartPlaybook → conversation.open_for_intent
FORM = "playbook_form"  # the form, validated by ValidatePlaybookForm → conversation.answer

Message = Dict[str, Any]


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


def domain_responses(root: Path) -> Dict[str, Any]:
    """The ``responses`` of ``domain/**/*.yml`` (and ``domain.yml``), by name."""
    responses: Dict[str, Any] = {}
    files = sorted((root / "domain").rglob("*.yml")) if (root / "domain").is_dir() else []
    files += [p for p in (root / "domain.yml",) if p.exists()]
    for path in files:
        responses.update(read_yaml(path).get("responses") or {})
    return responses


def render_response(responses: Mapping[str, Any], name: str) -> Optional[Message]:
    """The first variant of the response `name` as Rasa sends it (None: no such response)."""
    variants = responses.get(name)
    if not isinstance(variants, list) or not variants or not isinstance(variants[0], dict):
        return None
    first = variants[0]
    return bot_message(first.get("text"), first.get("buttons"), first.get("custom"))


def parsed(turn: Turn) -> Parsed:
    """A story's turn as the NLU would have parsed it: its intent, for sure."""
    return Parsed(text=turn.text, intent=turn.intent, confidence=1.0 if turn.intent else 0.0,
                  ranking=[(turn.intent, 1.0)] if turn.intent else [], entities=turn.entities)


def _about_a_ticket(story: YamlStory, lib: Library) -> bool:
    return any(START_PLAYBOOK in t.actions and conversation.needs_ticket(lib, t.intent) for t in story.turns)


def _waiting_customer(session: Session) -> Optional[str]:
    """The demo customer whose ticket waits for them (the first one)."""
    waiting = session.scalars(select(m.Ticket).where(m.Ticket.status == conversation.WAITING)
                              .order_by(m.Ticket.number)).first()
    return waiting.customer_id if waiting is not None else None


@dataclass
class _Replay:
    """One story being walked in the sandbox: the conversation so far."""

    lib: Library
    session: Session
    settings: Settings
    conversation_id: str
    mode: str
    agent_name: str
    customer_id: Optional[str]
    responses: Mapping[str, Any]
    state: Dict[str, Any]
    history: List[Dict[str, Any]] = field(default_factory=list)
    context: Dict[str, Any] = field(default_factory=dict)

    def env(self) -> EffectEnv:
        """The effects of one action, as actions/base.py's conversation_env (no mood: never shown here)."""
        return EffectEnv(
            session=self.session, settings=self.settings, conversation_id=self.conversation_id,
            customer_id=self.customer_id, mode=self.mode,
            actor=("hotliner:" + self.agent_name) if self.mode == "agent" else "bot",
            agent_name=self.agent_name, transcript=lambda: list(self.history), library=self.lib)

    def _took(self, env: EffectEnv, outcome: Outcome) -> List[Message]:
        self.state = outcome.state
        conversation.apply_signals(env, outcome)
        self.customer_id = env.customer_id
        return [o.as_dict() for o in outcome.outputs]

    def start(self, msg: Parsed) -> List[Message]:
        """action_start_playbook."""
        env = self.env()
        opened = conversation.open_for_intent(self.lib, env, self.state, msg)
        if opened is None:
            return []
        if not opened.started:
            return [o.as_dict() for o in opened.outcome.outputs]
        if opened.ticket is not None:
            self.context["ticket"] = opened.ticket
        return self._took(env, opened.outcome)

    def answer(self, msg: Parsed) -> List[Message]:
        """The form's validation of the customer's answer, while a playbook waits for one."""
        if not self.state.get("stack"):
            return []
        env = self.env()
        return self._took(env, conversation.answer(self.lib, env, self.state, msg))

    def turn(self, index: int, turn: Turn) -> Dict[str, Any]:
        """One customer turn and its actions, as a replay step."""
        msg = parsed(turn)
        self.history.append({"from": "customer", "text": turn.text, "at": None})
        before = self.state
        bot: List[Message] = []
        actions: List[str] = []
        started = False
        for kind, name in turn.actions:
            if kind == "bot":
                bot.append({"text": name})
                continue
            actions.append(name)
            if name.startswith("utter_"):
                rendered = render_response(self.responses, name)
                bot += [rendered] if rendered is not None else []
            elif name == START:
                started = True
                bot += self.start(msg)
            elif name == FORM and not started:  # activated this turn: it validates the next one
                bot += self.answer(msg)
        self.session.flush()
        self.history += [{"from": "bot", "text": shown_text(message), "at": None} for message in bot]
        return {"index": index, "customer": turn.text, "intent": turn.intent, "bot": bot,
                "playbook": playbook_after(self.lib, before, self.state), "mode": self.mode,
                "actions": actions, "customer_from_nlu": turn.from_nlu}


def walk(story: YamlStory, lib: Library, root: Path, settings: Optional[Settings], customer_id: Optional[str],
         agent_name: str) -> Tuple[List[Dict[str, Any]], Dict[str, Any]]:
    """(steps, context) of a YAML story walked in a sandbox: `customer_id` replays as that
    demo customer; a story about a waiting ticket defaults to the demo customer who has one."""
    responses = domain_responses(root)
    with sandbox(settings) as (sessions, box):
        session = sessions()
        try:
            if customer_id is None and _about_a_ticket(story, lib):
                customer_id = _waiting_customer(session)
            replay = _Replay(lib=lib, session=session, settings=box, mode=story.mode, agent_name=agent_name,
                             conversation_id="replay-" + hashlib.sha256(story.id.encode()).hexdigest()[:12],
                             customer_id=customer_id, responses=responses, state=new_state(story.mode),
                             context={"customer_id": customer_id, "ticket": None})
            steps = [replay.turn(index, turn) for index, turn in enumerate(story.turns)]
        finally:
            session.rollback()
            session.close()
    return steps, replay.context
