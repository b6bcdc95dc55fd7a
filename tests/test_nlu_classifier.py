"""numi.nlu.components.FrenchIntentClassifier: its one-message fast path gives exactly what
scikit-learn's pipeline gives, on the held-out set and on hostile input (the trained model)."""
from __future__ import annotations

import numpy as np
import pytest

from numi.nlu.components import FrenchIntentClassifier, classifier_text

pytestmark = pytest.mark.slow

HOSTILE = ["", " ", "{{7*7}}", "<script>alert(1)</script>", "/greet", "\x00\x07\u202e", "😀" * 50,
           "é" * 100_000, "TK-00456 CLT-00321", "J'AI UN PROBLEME AVEC L'IMPRIMANTE !!!"]


@pytest.fixture(scope="module")
def classifier():
    from rasa.core.agent import Agent

    from numi.devstack import model_path

    agent = Agent.load(model_path())
    found = [node._component for node in agent.processor.graph_runner._instantiated_nodes.values()
             if isinstance(getattr(node, "_component", None), FrenchIntentClassifier)]
    assert len(found) == 1, "config.yml runs FrenchIntentClassifier once"
    return found[0]


def test_the_fast_path_is_scikit_learns_predict_proba(classifier):
    from numi.nlu.evaluate import load_examples

    texts = [t for t, _ in load_examples()] + HOSTILE
    folded = [classifier_text(t) for t in texts]
    expected = classifier.model.predict_proba(folded)
    for text, row in zip(folded, expected):
        assert np.allclose(classifier.probabilities(text), row, atol=1e-9)


def test_every_message_gets_a_ranked_intent(classifier):
    from rasa.shared.nlu.training_data.message import Message

    messages = [Message(data={"text": t}) for t in HOSTILE]
    classifier.process(messages)
    for m in messages:
        ranking = m.get("intent_ranking")
        assert m.get("intent")["name"] == ranking[0]["name"]
        assert [r["confidence"] for r in ranking] == sorted((r["confidence"] for r in ranking), reverse=True)
        assert 0.0 <= ranking[-1]["confidence"] <= ranking[0]["confidence"] <= 1.0
