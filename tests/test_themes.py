"""The learned theme classifier (numi/signals/themes.py) and the alert-rule evaluation."""
import pytest

from numi import signals
from numi.alerts import evaluate as rule_eval
from numi.signals import themes as T


def test_words_under_a_negation_are_marked_up_to_the_end_of_the_clause():
    assert T.tokens("Je ne compte pas résilier, mais le prix monte") == \
        ["je", "ne", "non_compte", "pas", "non_resilier", "le", "prix", "monte"]
    assert T.tokens("") == []


@pytest.fixture(scope="module")
def model():
    return signals.theme_model()


@pytest.mark.parametrize("text, theme", [
    ("J'en ai assez, je résilie mon abonnement numi à la fin du mois.", "attrition_threat"),
    ("Votre formule est bien trop chère pour ma petite retraite.", "price"),
    ("Encore un interlocuteur différent, je dois tout réexpliquer depuis le début.", "team_rotation"),
    ("Nous déménageons à Nantes en avril avec les enfants.", "life_moment"),
])
def test_the_trained_model_finds_the_theme_with_the_words_that_weigh(model, text, theme):
    found = model.predict(text)
    assert theme in found
    assert found[theme] and all(w in T.tokens(text) or w in " ".join(T.tokens(text)) for w in found[theme])


@pytest.mark.parametrize("text", [
    "Bonjour, mon imprimante affiche une erreur de papier.",
    "Je ne compte absolument pas résilier, je voulais juste ma facture.",
    "",
    "{{7*7}} <script>alert(1)</script>",
])
def test_no_theme_where_there_is_none(model, text):
    assert "attrition_threat" not in model.predict(text)


def test_a_theme_named_in_the_config_without_examples_is_simply_never_found(tmp_path):
    corpus = tmp_path / "t.yml"
    corpus.write_text("version: 1\nexamples:\n"
                      + "".join(f'  - {{text: "trop cher {i}", themes: [price]}}\n' for i in range(5))
                      + "".join(f'  - {{text: "imprimante {i}", themes: []}}\n' for i in range(5)), encoding="utf-8")
    model = T.ThemeModel.train(T.load_corpus(corpus), ["price", "praise"])
    assert set(model.classifiers) == {"price"}
    assert "price" in model.predict("c'est trop cher") and model.predict("mon imprimante") == {}


def test_a_malformed_corpus_is_refused(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("examples:\n  - {text: 3, themes: x}\n", encoding="utf-8")
    with pytest.raises(ValueError):
        T.load_examples(bad)


def test_every_corpus_theme_is_named_in_the_config():
    assert T.unknown_themes(T.load_corpus(), list(signals.load_themes())) == []


def test_rule_scores_count_false_alarms_and_misses():
    examples = [{"text": "a", "rules": ["price_sensitivity"]}, {"text": "b", "rules": []},
                {"text": "c", "rules": ["price_sensitivity"]}]
    got = [["price_sensitivity"], ["price_sensitivity"], []]
    per = rule_eval.score(examples, got, scope=("price_sensitivity",))["per_rule"]["price_sensitivity"]
    assert (per["precision"], per["recall"], per["false_alarms"], per["support"]) == (0.5, 0.5, 1, 2)
