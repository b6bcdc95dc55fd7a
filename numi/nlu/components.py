"""Custom Rasa 3.6 NLU components for French.

* FrenchTokenizer: whitespace tokens, elisions split (« j'ai » → « j' » « ai »),
  token texts lowercased and accent-folded (« problème » == « probleme »).
  Offsets still point into the original text, so entity extractors are exact.
* FrenchIntentClassifier: TF-IDF of character and word n-grams of the folded text,
  then a class-balanced multinomial logistic regression (scikit-learn). Chosen over
  DIET on the held-out set: more accurate, trains in seconds (README, « NLU »).
* FrenchDateExtractor: French dates/times → an entity `time` whose value is an
  ISO datetime (python-dateutil; no Duckling server).
"""
from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from typing import Any, Dict, List, NamedTuple, Text, Tuple

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.constants import ENTITIES, INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from numi.clock import to_local, utcnow
from numi.nlu import dates
from numi.settings import DEFAULT_TIMEZONE

DIGIT = re.compile(r"\d")
ELISION = re.compile(r"^((?:qu|[jlmntsdc]))['’]([^\W\d_].*)$", re.IGNORECASE | re.UNICODE)


def fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in text if not unicodedata.combining(c)).replace("’", "'")


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False)
class FrenchTokenizer(WhitespaceTokenizer):  # type: ignore[misc]  # Rasa ships no type information
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


def classifier_text(text: str) -> str:
    """What the intent classifier reads: folded, every digit a 0 (« TK-00456 » ~ « TK-01234 »)."""
    return DIGIT.sub("0", fold(text))


class LinearModel(NamedTuple):
    """The fitted pipeline as plain arrays, for one message at a time: scikit-learn's
    predict_proba spends most of a call copying the (features × intents) weights."""

    blocks: List[Tuple[Any, Dict[str, int], Any, int]]  # per vectorizer: (analyzer, vocabulary, idf, column offset)
    weights: Any  # features × intents, contiguous
    bias: Any
    labels: List[str]

    @classmethod
    def of(cls, pipeline: Any) -> "LinearModel":
        import numpy as np

        union, classifier = pipeline.steps[0][1], pipeline.steps[-1][1]
        blocks, offset = [], 0
        for _, vectorizer in union.transformer_list:
            blocks.append((vectorizer.build_analyzer(), vectorizer.vocabulary_, np.array(vectorizer.idf_), offset))
            offset += len(vectorizer.vocabulary_)
        return cls(blocks, np.ascontiguousarray(classifier.coef_.T), np.array(classifier.intercept_),
                   [str(c) for c in classifier.classes_])

    def probabilities(self, text: str) -> Any:
        """Exactly predict_proba of the pipeline: sublinear TF-IDF per vectorizer, L2-normalised,
        side by side, then the multinomial softmax."""
        import numpy as np

        scores = self.bias.copy()
        for analyze, vocabulary, idf, offset in self.blocks:
            counts: Dict[int, int] = {}
            for gram in analyze(text):
                j = vocabulary.get(gram)
                if j is not None:
                    counts[j] = counts.get(j, 0) + 1
            if not counts:
                continue
            index = np.fromiter(counts.keys(), dtype=np.intp, count=len(counts))
            values = (1.0 + np.log(np.fromiter(counts.values(), dtype=float, count=len(counts)))) * idf[index]
            values /= np.sqrt(values @ values)
            scores += values @ self.weights[index + offset]
        scores = np.exp(scores - scores.max())
        return scores / scores.sum()


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class FrenchIntentClassifier(GraphComponent, IntentClassifier):  # type: ignore[misc]  # Rasa: untyped
    """Intent and ranking from the message text alone (no featurizer needed before it)."""

    # the only non-scikit-learn type in the saved model (the IDF diagonal); anything else is refused
    TRUSTED = ["scipy.sparse._csr.csr_matrix"]

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"char_ngrams": [2, 5], "word_ngrams": [1, 2], "C": 100, "max_iter": 3000,
                "ranking_length": 10}

    def __init__(self, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
                 model: Any = None) -> None:
        self.config = config
        self._storage, self._resource = model_storage, resource
        self.model = model
        self.linear = LinearModel.of(model) if model is not None else None

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "FrenchIntentClassifier":
        return cls(config, model_storage, resource)

    def _pipeline(self) -> Any:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline, make_union

        c = self.config
        return make_pipeline(
            make_union(
                TfidfVectorizer(analyzer="char_wb", ngram_range=tuple(c["char_ngrams"]), sublinear_tf=True),
                TfidfVectorizer(analyzer="word", ngram_range=tuple(c["word_ngrams"]), sublinear_tf=True,
                                token_pattern=r"(?u)\b\w+\b")),
            LogisticRegression(C=c["C"], max_iter=c["max_iter"], class_weight="balanced", random_state=42))

    def train(self, training_data: TrainingData) -> Resource:
        import skops.io as sio

        examples = [e for e in training_data.intent_examples if e.get(INTENT) and e.get(TEXT)]
        if len({e.get(INTENT) for e in examples}) < 2:
            return self._resource  # nothing to tell apart
        self.model = self._pipeline().fit([classifier_text(e.get(TEXT)) for e in examples],
                                          [e.get(INTENT) for e in examples])
        self.linear = LinearModel.of(self.model)
        with self._storage.write_to(self._resource) as directory:
            sio.dump(self.model, directory / "intents.skops")
        return self._resource

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> "FrenchIntentClassifier":
        import skops.io as sio

        try:
            with model_storage.read_from(resource) as directory:
                path = directory / "intents.skops"
                untrusted = [t for t in sio.get_untrusted_types(file=path) if t not in cls.TRUSTED]
                if untrusted:  # a tampered model: refuse to load it rather than run its code
                    raise TypeError(f"untrusted types in the intent model: {untrusted}")
                model = sio.load(path, trusted=cls.TRUSTED)
        except ValueError:  # Rasa's "resource not found": trained on no intents
            return cls(config, model_storage, resource)
        return cls(config, model_storage, resource, model)

    def process(self, messages: List[Message]) -> List[Message]:
        if self.linear is None:
            return messages
        for message in messages:
            row = self.linear.probabilities(classifier_text(message.get(TEXT) or ""))
            ranking: List[Dict[str, Any]] = sorted(
                ({"name": name, "confidence": float(p)} for name, p in zip(self.linear.labels, row)),
                key=lambda r: -r["confidence"])
            message.set(INTENT, ranking[0], add_to_output=True)
            message.set("intent_ranking", ranking[: self.config["ranking_length"]], add_to_output=True)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=False)
class FrenchDateExtractor(GraphComponent, EntityExtractorMixin):  # type: ignore[misc]  # Rasa: untyped
    """Adds an entity `time` (ISO local datetime) for the first French date/time."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"timezone": DEFAULT_TIMEZONE}

    def __init__(self, config: Dict[Text, Any]) -> None:
        self.config = config

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "FrenchDateExtractor":
        return cls(config)

    def train(self, training_data: TrainingData) -> Resource:  # pragma: no cover - not trainable
        raise NotImplementedError

    def _now(self) -> datetime:
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
