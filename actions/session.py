"""Session start (keep what the customer said, offer to resume) and system events."""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Tracker
from rasa_sdk.events import ActionExecuted, ActiveLoop, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.base import NumiAction, conversation_env, emit, playbook_state, walker_for
from numi import runtime
from numi.playbooks import conversation

# Not the customer id: a proof of identity does not outlive its session (numi/conversations.py).
CARRIED = ("pb_state", "handoff")


class ActionSessionStart(NumiAction):
    def name(self) -> Text:
        return "action_session_start"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[Dict[Text, Any]]:
        events: List[Dict[Text, Any]] = [SessionStarted()]
        carried = {k: tracker.get_slot(k) for k in CARRIED if tracker.get_slot(k) is not None}
        events += [SlotSet(k, v) for k, v in carried.items()]
        state = carried.get("pb_state") or {}
        if state.get("stack"):
            env = conversation_env(tracker)
            outcome = walker_for(tracker, env).welcome_back(state)
            emit(dispatcher, outcome)
            events += [SlotSet("pb_state", outcome.state), ActiveLoop("playbook_form"),
                       SlotSet("requested_slot", "playbook_reply")]
        events.append(ActionExecuted("action_listen"))
        return events


def already_said(tracker: Tracker, key: str) -> bool:
    """Whether a bot message of this conversation was sent for the system event `key`."""
    return any(e.get("event") == "bot" and ((e.get("metadata") or {}).get("numi") or {}).get("key") == key
               for e in tracker.events)


class ActionSystemEvent(NumiAction):
    """Run what the numi service asked for in the slot `system_event`:

    * {"type": "start_playbook", "playbook": id, "ticket": ref?, "slots": {...}}
      (EXTERNAL_subscription_expiring, EXTERNAL_ticket_reminder_due, a hotliner's choice);
    * {"type": "agent_message", "text": ..., "author": ...} (a human's reply, shown live);
    * {"type": "handback"} / {"type": "handoff_timeout"}.
    """

    def name(self) -> Text:
        return "action_system_event"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[Dict[Text, Any]]:
        # Executed from outside (Rasa's /execute), so no prediction loop follows: end with
        # the action_listen a normal turn ends with, or forms would not validate the next message.
        return self._run(dispatcher, tracker) + [ActionExecuted("action_listen")]

    def _run(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> List[Dict[Text, Any]]:
        event = tracker.get_slot("system_event") or {}
        lib = runtime.get().library
        kind = event.get("type")
        events: List[Dict[Text, Any]] = [SlotSet("system_event", None)]
        key = event.get("key")
        if key and already_said(tracker, key):
            return events  # the same event sent again (a cut before the sender recorded it)
        if kind == "agent_message":
            # as text: Rasa 3.6's socket.io output cannot emit custom JSON
            dispatcher.utter_message(text=lib.system_text("agent_message", "customer", {
                "author": str(event.get("author", ""))[:80], "text": str(event.get("text", ""))[:4000]}),
                numi={"from": "agent", "author": str(event.get("author", ""))[:80], **({"key": key} if key else {})})
            return events
        if kind == "handoff_claimed":
            handoff = dict(tracker.get_slot("handoff") or {}, status="claimed")
            dispatcher.utter_message(text=lib.system_text("handoff_claimed", "customer",
                                                          {"author": str(event.get("author", ""))[:80]}),
                                     numi={"from": "system", "event": "handoff_claimed"})
            return events + [SlotSet("handoff", handoff)]
        if kind == "handoff_closed":
            dispatcher.utter_message(text=lib.system_text("handoff_closed", "customer", {}),
                                     numi={"from": "system", "event": "handoff_closed"})
            return events + [SlotSet("handoff", None), ActiveLoop(None), SlotSet("requested_slot", None)]
        if kind == "handback":
            dispatcher.utter_message(text=lib.system_text("handback", "customer", {}),
                                     numi={"from": "system", "event": "handback"})
            return events + [SlotSet("handoff", None), ActiveLoop(None), SlotSet("requested_slot", None)]
        if kind == "handoff_timeout":
            dispatcher.utter_message(text=lib.system_text("handoff_timeout", "customer", {}),
                                     numi={"from": "system", "event": "handoff_timeout", "key": key},
                                     buttons=[{"title": lib.system_text("callback_button", "customer", {}),
                                               "payload": "/request_callback"},
                                              {"title": lib.system_text("followup_button", "customer", {}),
                                               "payload": "/check_ticket_status"}])
            return events
        if kind == "start_playbook" and event.get("playbook") in lib:
            env = conversation_env(tracker)
            if event.get("customer_id"):
                env.customer_id = event["customer_id"]
            outcome = walker_for(tracker, env).start(playbook_state(tracker), event["playbook"],
                                                     frame_slots=event.get("slots") or {},
                                                     ticket=event.get("ticket"))
            emit(dispatcher, outcome, key=key)
            events += [SlotSet("pb_state", outcome.state)]
            events += [SlotSet(k, v) for k, v in conversation.signal_slots(outcome).items()]
            if event.get("customer_id"):
                events.append(SlotSet("customer_id", event["customer_id"]))
            if outcome.active:
                events += [ActiveLoop("playbook_form"), SlotSet("requested_slot", "playbook_reply")]
        return events
