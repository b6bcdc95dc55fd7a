"""While a human holds the conversation: customer messages are relayed, the bot is silent."""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction
from rasa_sdk.types import DomainDict

from numi import runtime
from numi.clock import utcnow
from numi.handoff import service


class ValidateLiveChatForm(FormValidationAction):
    def name(self) -> Text:
        return "validate_live_chat_form"

    async def required_slots(self, domain_slots: List[Text], dispatcher: CollectingDispatcher,
                             tracker: Tracker, domain: DomainDict) -> List[Text]:
        handoff = tracker.get_slot("handoff") or {}
        return ["live_message"] if handoff.get("status") in ("waiting", "claimed") else []

    def validate_live_message(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                              domain: DomainDict) -> Dict[Text, Any]:
        handoff = tracker.get_slot("handoff") or {}
        if handoff.get("id") and isinstance(value, str):
            service.record_message(runtime.session(), handoff["id"], "customer", value, None, utcnow())
        return {"live_message": None}
