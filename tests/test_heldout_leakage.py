"""The held-out sets stay unseen: no training text copies one of them, or nearly."""
from numi.nlu import leakage


def test_no_training_text_is_a_near_copy_of_a_held_out_one():
    pairs = leakage.near_copies()
    assert not pairs, "\n".join(f"{s:.2f} {t!r} ~ {h!r}" for s, t, h in pairs[:20])


def test_the_guard_finds_a_copy_with_other_accents_and_punctuation(tmp_path):
    (tmp_path / "data" / "nlu").mkdir(parents=True)
    (tmp_path / "tests" / "nlu").mkdir(parents=True)
    (tmp_path / "data" / "nlu" / "a.yml").write_text(
        'version: "3.1"\nnlu:\n- intent: complain\n  examples: |\n    - votre service n est pas terrible du tout\n'
        "    - bonjour\n", encoding="utf-8")
    (tmp_path / "tests" / "nlu" / "heldout.yml").write_text(
        "examples:\n  - {intent: complain, text: \"Votre service n'est pas terrible, du tout !\"}\n"
        "  - {intent: greet, text: \"Bonjour\"}\n", encoding="utf-8")
    pairs = leakage.near_copies(tmp_path)
    assert [(t, h) for _, t, h in pairs] == [("votre service n est pas terrible du tout",
                                              "Votre service n'est pas terrible, du tout !")]
    assert leakage.drop(tmp_path / "data" / "nlu" / "a.yml", {pairs[0][1]}) == 1
    assert leakage.near_copies(tmp_path) == []
    assert "bonjour" in (tmp_path / "data" / "nlu" / "a.yml").read_text(encoding="utf-8")
