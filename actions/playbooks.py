"""The generic playbook walker as Rasa actions and one form (playbook_form)."""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Tracker
from rasa_sdk.events import ActiveLoop, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction
from rasa_sdk.types import DomainDict

from actions.base import NumiAction, conversation_env, emit, parsed, playbook_state
from numi import runtime
from numi.playbooks import conversation


class ActionStartPlaybook(NumiAction):
    """An intent (or a system event) opens its playbook; the walker runs to the first question."""

    def name(self) -> Text:
        return "action_start_playbook"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[Dict[Text, Any]]:
        env = conversation_env(tracker)
        opened = conversation.open_for_intent(runtime.get().library, env, playbook_state(tracker), parsed(tracker))
        if opened is None:
            return []
        emit(dispatcher, opened.outcome)
        if not opened.started:  # no ticket in context: said so, nothing to keep
            return []
        slots = conversation.apply_signals(env, opened.outcome)
        return [SlotSet("pb_state", opened.outcome.state)] + [SlotSet(k, v) for k, v in slots.items()]


class ValidatePlaybookForm(FormValidationAction):
    """The walker: each answer advances the playbook; the form ends with it."""

    def name(self) -> Text:
        return "validate_playbook_form"

    async def required_slots(self, domain_slots: List[Text], dispatcher: CollectingDispatcher,
                             tracker: Tracker, domain: DomainDict) -> List[Text]:
        state = tracker.get_slot("pb_state") or {}
        return ["playbook_reply"] if state.get("stack") else []

    def validate_playbook_reply(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                domain: DomainDict) -> Dict[Text, Any]:
        env = conversation_env(tracker)
        outcome = conversation.answer(runtime.get().library, env, playbook_state(tracker), parsed(tracker))
        emit(dispatcher, outcome)
        return {"playbook_reply": None, "pb_state": outcome.state, **conversation.apply_signals(env, outcome)}


class ActionFinishPlaybook(NumiAction):
    """A playbook (or a live chat) ended. If a human was requested, keep the bot silent for them."""

    def name(self) -> Text:
        return "action_finish_playbook"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[Dict[Text, Any]]:
        handoff = tracker.get_slot("handoff") or {}
        if handoff.get("status") in ("waiting", "claimed") and tracker.active_loop_name != "live_chat_form":
            return [ActiveLoop("live_chat_form"), SlotSet("requested_slot", "live_message")]
        return []
