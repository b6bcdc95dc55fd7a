"""Custom Rasa 3.6 NLU components for French.

* FrenchTokenizer: whitespace tokens, elisions split (« j'ai » → « j' » « ai »),
  token texts lowercased and accent-folded (« problème » == « probleme »).
  Offsets still point into the original text, so entity extractors are exact.
* FrenchDateExtractor: French dates/times → an entity `time` whose value is an
  ISO datetime (python-dateutil; no Duckling server).
"""
from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from typing import Any, Dict, List, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from numi.nlu import dates

ELISION = re.compile(r"^((?:qu|[jlmntsdc]))['’]([^\W\d_].*)$", re.IGNORECASE | re.UNICODE)


def fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in text if not unicodedata.combining(c)).replace("’", "'")


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False)
class FrenchTokenizer(WhitespaceTokenizer):
    def tokenize(self, message: Message, attribute: Text) -> List[Token]:
        tokens = super().tokenize(message, attribute)
        out: List[Token] = []
        for tok in tokens:
            m = ELISION.match(tok.text)
            if m:
                head = m.group(1) + "'"
                out.append(Token(fold(head), tok.start, tok.start + len(head)))
                rest_start = tok.start + len(m.group(1)) + 1
                out.append(Token(fold(m.group(2)), rest_start, tok.end))
            else:
                out.append(Token(fold(tok.text), tok.start, tok.end))
        return out


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=False)
class FrenchDateExtractor(GraphComponent, EntityExtractorMixin):
    """Adds an entity `time` (ISO local datetime) for the first French date/time."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"timezone": "Europe/Paris"}

    def __init__(self, config: Dict[Text, Any]) -> None:
        self.config = config

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "FrenchDateExtractor":
        return cls(config)

    def train(self, training_data: TrainingData) -> Resource:  # pragma: no cover - not trainable
        raise NotImplementedError

    def _now(self) -> datetime:
        from numi.clock import to_local, utcnow

        return to_local(utcnow(), self.config["timezone"]).replace(tzinfo=None)

    def process(self, messages: List[Message]) -> List[Message]:
        now = self._now()
        for message in messages:
            text = message.get(TEXT) or ""
            found = dates.find(text, now) if text else None
            if found is None:
                continue
            entity = {
                "entity": "time",
                "start": found.start,
                "end": found.end,
                "value": found.value.isoformat(timespec="minutes"),
                "confidence": 1.0,
                "extractor": self.__class__.__name__,
                "additional_info": {"has_time": found.has_time, "text": found.text},
            }
            message.set(ENTITIES, message.get(ENTITIES, []) + [entity], add_to_output=True)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data
