"""Low-confidence messages: « did you mean » with the two best guesses, then a human."""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.base import NumiAction, conversation_mode, parsed
from numi import runtime

NOT_GUESSES = {"nlu_fallback", "out_of_scope", "inform", "affirm", "deny"}


class ActionSuggestIntents(NumiAction):
    def name(self) -> Text:
        return "action_suggest_intents"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[Dict[Text, Any]]:
        lib = runtime.get().library
        mode = conversation_mode(tracker)
        misses = int(tracker.get_slot("fallback_count") or 0) + 1
        if misses >= 2:
            dispatcher.utter_message(text=lib.system_text("fallback_human", mode, {}),
                                     buttons=[{"title": lib.system_text("human_yes", "customer", {}),
                                               "payload": "/request_human"}])
            return [SlotSet("fallback_count", 0)]
        guesses = [name for name, _ in parsed(tracker).ranking if name not in NOT_GUESSES][:2]
        buttons = [{"title": lib.system_text(f"intent_{g}", "customer", {}), "payload": f"/{g}"}
                   for g in guesses if f"intent_{g}" in lib.system_keys]
        buttons.append({"title": lib.system_text("fallback_none", "customer", {}), "payload": "/deny"})
        dispatcher.utter_message(text=lib.system_text("did_you_mean", mode, {}), buttons=buttons)
        return [SlotSet("fallback_count", misses)]
