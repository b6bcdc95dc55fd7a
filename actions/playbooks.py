"""The generic playbook walker as Rasa actions and one form (playbook_form)."""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Tracker
from rasa_sdk.events import ActiveLoop, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction
from rasa_sdk.types import DomainDict

from actions.base import (NumiAction, conversation_env, emit, parsed, playbook_state, signal_slots,
                          walker_for)
from numi import runtime
from numi.tickets import service


class ActionStartPlaybook(NumiAction):
    """An intent (or a system event) opens its playbook; the walker runs to the first question."""

    def name(self) -> Text:
        return "action_start_playbook"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[Dict[Text, Any]]:
        lib = runtime.get().library
        msg = parsed(tracker)
        pb = lib.playbook_for_intent(msg.intent)
        entry = None
        if pb is None:
            pb = lib.entry_for_intent(msg.intent)
            entry = msg.intent
        if pb is None:
            return []
        env = conversation_env(tracker)
        walker = walker_for(tracker, env)
        frame_slots: Dict[str, Any] = {}
        ticket = None
        if "ticket" in pb.context:
            ticket = self._ticket_in_context(tracker, env)
            if ticket is None:
                dispatcher.utter_message(text=lib.system_text("no_ticket_context", env.mode, {}))
                return []
        outcome = walker.start(playbook_state(tracker), pb.id, entry_intent=entry, frame_slots=frame_slots,
                               ticket=ticket, opening=msg)
        emit(dispatcher, outcome)
        return [SlotSet("pb_state", outcome.state)] + [SlotSet(k, v) for k, v in signal_slots(outcome).items()]

    def _ticket_in_context(self, tracker: Tracker, env) -> Any:
        """The ticket a reminder answer is about: named in the message, else the customer's waiting one."""
        msg = parsed(tracker)
        ref = msg.entity("ticket_id")
        if ref:
            own = service.find_own_ticket(env.session, str(ref), env.customer_id)
            return own.ref if own else None
        if env.customer_id:
            waiting = service.tickets_of(env.session, env.customer_id, ["waiting_customer"])
            if waiting:
                return waiting[0].ref
        return None


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
        outcome = walker_for(tracker, env).handle(playbook_state(tracker), parsed(tracker))
        emit(dispatcher, outcome)
        return {"playbook_reply": None, "pb_state": outcome.state, **signal_slots(outcome)}


class ActionFinishPlaybook(NumiAction):
    """A playbook (or a live chat) ended. If a human was requested, keep the bot silent for them."""

    def name(self) -> Text:
        return "action_finish_playbook"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[Dict[Text, Any]]:
        handoff = tracker.get_slot("handoff") or {}
        if handoff.get("status") in ("waiting", "claimed") and tracker.active_loop_name != "live_chat_form":
            return [ActiveLoop("live_chat_form"), SlotSet("requested_slot", "live_message")]
        return []
