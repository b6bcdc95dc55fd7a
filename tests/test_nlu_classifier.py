"""numi.nlu.components.FrenchIntentClassifier: its one-message fast path gives exactly what
scikit-learn's pipeline gives, on the held-out set and on hostile input (the trained model)."""
from __future__ import annotations

import numpy as np
import pytest

from numi.nlu.components import FrenchIntentClassifier, classifier_text
from tests.conftest import components_of

HOSTILE = ["", " ", "{{7*7}}", "<script>alert(1)</script>", "/greet", "\x00\x07\u202e", "😀" * 50,
           "é" * 100_000, "TK-00456 CLT-00321", "J'AI UN PROBLEME AVEC L'IMPRIMANTE !!!"]


@pytest.fixture(scope="module")
def classifier(agent):
    found = components_of(agent, FrenchIntentClassifier)
    assert len(found) == 1, "config.yml runs FrenchIntentClassifier once"
    return found[0]


@pytest.mark.slow
def test_the_fast_path_is_scikit_learns_predict_proba(classifier):
    from numi.nlu.evaluate import load_examples

    texts = [t for t, _ in load_examples()] + HOSTILE
    folded = [classifier_text(t) for t in texts]
    expected = classifier.model.predict_proba(folded)
    for text, row in zip(folded, expected):
        assert np.allclose(classifier.linear.probabilities(text), row, atol=1e-9)


@pytest.mark.slow
def test_every_message_gets_a_ranked_intent(classifier):
    from rasa.shared.nlu.training_data.message import Message

    messages = [Message(data={"text": t}) for t in HOSTILE]
    classifier.process(messages)
    for m in messages:
        ranking = m.get("intent_ranking")
        assert m.get("intent")["name"] == ranking[0]["name"]
        assert [r["confidence"] for r in ranking] == sorted((r["confidence"] for r in ranking), reverse=True)
        assert 0.0 <= ranking[-1]["confidence"] <= ranking[0]["confidence"] <= 1.0


def _storage(tmp_path, obj=None):
    import skops.io as sio
    from rasa.engine.graph import ExecutionContext, GraphSchema
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.storage.resource import Resource

    storage, resource = LocalModelStorage(tmp_path), Resource("intents")
    if obj is not None:
        with storage.write_to(resource) as directory:
            sio.dump(obj, directory / "intents.skops")
    return storage, resource, ExecutionContext(GraphSchema({}), "test")


def test_a_model_with_unknown_types_is_refused_not_loaded(tmp_path):
    """A tampered model file (here, a pipeline step that would call os.system) is not run."""
    import os

    from sklearn.preprocessing import FunctionTransformer

    storage, resource, context = _storage(tmp_path, FunctionTransformer(func=os.system))
    with pytest.raises(TypeError, match="untrusted"):
        FrenchIntentClassifier.load(FrenchIntentClassifier.get_default_config(), storage, resource, context)


def test_an_untrained_classifier_leaves_messages_alone(tmp_path):
    from rasa.shared.nlu.training_data.message import Message

    storage, resource, context = _storage(tmp_path)
    untrained = FrenchIntentClassifier.load(FrenchIntentClassifier.get_default_config(), storage, resource, context)
    message = Message(data={"text": "bonjour"})
    untrained.process([message])
    assert message.get("intent") is None
