"""Shared, abstract bases (rasa-sdk does not register abstract classes)."""
from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from typing import Any, Dict, List, Optional

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from numi import runtime
from numi.conversations import proved_identity
from numi.playbooks import conversation
from numi.playbooks.effects import EffectEnv
from numi.playbooks.engine import Outcome, Parsed, Walker, new_state
from numi.signals import mood_of


TICKET_REF = re.compile(r"TK-\d{5,}")


def numi_metadata(tracker: Tracker) -> Dict[str, Any]:
    """What the channel verified about the latest message (never client claims)."""
    meta = (tracker.latest_message or {}).get("metadata") or {}
    numi = meta.get("numi") if isinstance(meta, dict) else None
    return numi if isinstance(numi, dict) else {}


def parsed(tracker: Tracker) -> Parsed:
    msg = tracker.latest_message or {}
    intent = msg.get("intent") or {}
    ranking = [(r.get("name"), float(r.get("confidence") or 0.0)) for r in msg.get("intent_ranking") or []]
    return Parsed(text=msg.get("text") or "", intent=intent.get("name"),
                  confidence=float(intent.get("confidence") or 0.0), ranking=ranking,
                  entities=msg.get("entities") or [])


def transcript(tracker: Tracker) -> List[Dict[str, Any]]:
    out = []
    for e in tracker.events:
        if e.get("event") == "user" and e.get("text"):
            out.append({"from": "customer", "text": e["text"], "at": e.get("timestamp")})
        elif e.get("event") == "bot" and (e.get("text") or (e.get("data") or {}).get("custom")):
            out.append({"from": "bot", "text": e.get("text") or "", "at": e.get("timestamp")})
    return out


def conversation_mode(tracker: Tracker) -> str:
    state = tracker.get_slot("pb_state") or {}
    if numi_metadata(tracker).get("mode") == "agent" or state.get("mode") == "agent":
        return "agent"
    return "customer"


def customer_of(tracker: Tracker, idle_seconds: float) -> Optional[str]:
    """The customer this conversation speaks for: what the channel verified for the latest
    message, else a proof made in this conversation that has not gone idle
    (numi/conversations.py). Never a field that the caller could write."""
    return numi_metadata(tracker).get("customer_id") or proved_identity(tracker.events, idle_seconds)


def event_key(tracker: Tracker) -> Optional[str]:
    """The message this turn answers: "<conversation>:<Rasa's message id>"."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            message_id = event.get("message_id") or (event.get("parse_data") or {}).get("message_id")
            return f"{tracker.sender_id}:{message_id}" if message_id else None
    return None


def conversation_env(tracker: Tracker) -> EffectEnv:
    """The effect runner for this conversation: request DB session, customer, mode."""
    services = runtime.get()
    meta = numi_metadata(tracker)
    mode = conversation_mode(tracker)
    return EffectEnv(
        session=runtime.session(), settings=services.settings, conversation_id=tracker.sender_id,
        customer_id=customer_of(tracker, services.settings.identity_idle_minutes * 60), mode=mode,
        actor=("hotliner:" + meta.get("agent_name", "")) if mode == "agent" else "bot",
        agent_name=meta.get("agent_name", ""), transcript=lambda: transcript(tracker),
        mood=lambda: mood_of([t["text"] for t in transcript(tracker) if t["from"] == "customer"][-5:]),
        event_key=event_key(tracker),
        known_refs=lambda: set(TICKET_REF.findall(json.dumps(tracker.events, default=str))),
        library=services.library,
    )


def walker_for(tracker: Tracker, env: EffectEnv) -> Walker:
    return conversation.walker(runtime.get().library, env, parsed(tracker))


def playbook_state(tracker: Tracker) -> Dict[str, Any]:
    return tracker.get_slot("pb_state") or new_state(conversation_mode(tracker))


def emit(dispatcher: CollectingDispatcher, outcome: Outcome, key: Optional[str] = None) -> None:
    """The walker's outputs as bot messages; `key` marks those of a system event (replays say nothing)."""
    extra = {"numi": {"from": "bot", "key": key}} if key else {}
    for out in outcome.outputs:
        if out.card is not None:
            dispatcher.utter_message(json_message=out.card, **extra)
        else:
            dispatcher.utter_message(text=out.text, buttons=out.buttons or None, **extra)


class NumiAction(Action, ABC):
    """Abstract base of numi's actions (abstract, so rasa-sdk does not register it)."""

    @abstractmethod
    def name(self) -> str:  # pragma: no cover - abstract
        ...
