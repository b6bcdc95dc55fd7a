"""The trainer replay logic (numi/replay/): stories from data/, tests/stories/ and Rasa's
tracker store, replayed step by step with the real walker; anonymisation; quizzes."""
from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings as hsettings, strategies as st

from numi.playbooks.library import default_library
from numi.playbooks.render import render_text
from numi.replay import (StoryNotFound, anonymise_text, anonymise_value, list_quizzes, list_stories,
                         load_quiz, load_story, quiz_from_story, recorded_id, score)
from numi.replay.anonymise import CODE, CUSTOMER, EMAIL, NAME, NUMBER, PHONE, TICKET, Anonymiser
from numi.settings import ROOT

URL_SAFE = re.compile(r"^(data|tests|recorded):[a-z0-9_\-]+$")
DELETION_CLIENT = "tests:account_deletion_gdpr-via-request_account_deletion-client"
DELETION_AGENT = "tests:account_deletion_gdpr-via-request_account_deletion-assistance-hotliner"
PAUL_CHAT = "webchat-5f1c2a-paul"
SOPHIE_CALL = "hotline-call-0042"


@pytest.fixture(scope="module")
def lib():
    return default_library()


# ---------------------------------------------------------------------------
# A real tracker store, written by Rasa's own SQLTrackerStore
# ---------------------------------------------------------------------------
def _pb_state(mode: str, scenario: str, step: str, trail):
    return {"mode": mode, "stack": [{"id": scenario, "step": step, "slots": {}, "misses": 0, "ticket": "TK-00892",
                                     "visited": [s for _, s in trail]}],
            "queue": [], "pending": None, "trail": [list(t) for t in trail]}


async def _write_tracker_store(path: Path) -> None:
    from rasa.core.tracker_store import SQLTrackerStore
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, SlotSet, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Rasa warns about slot mappings whatever they are
        domain = Domain.from_dict({"slots": {"pb_state": {"type": "any", "influence_conversation": False,
                                                          "mappings": [{"type": "custom"}]}}})
    store = SQLTrackerStore(domain=domain, dialect="sqlite", db=str(path))
    gdpr = "account_deletion_gdpr"
    customer = {"numi": {"mode": "customer"}}
    paul = [
        ActionExecuted("action_session_start"), SessionStarted(), ActionExecuted("action_listen"),
        UserUttered("Bonjour, ici Paul Martin, je voudrais supprimer mon compte et toutes mes données",
                    intent={"name": "request_account_deletion", "confidence": 0.97}, metadata=customer),
        ActionExecuted("action_start_playbook"),
        BotUttered("Je comprends : vous souhaitez supprimer votre compte numi.support et vos données personnelles."),
        BotUttered("Quelle est l'adresse e-mail de votre compte numi ? Je vais y envoyer un code de vérification."),
        SlotSet("pb_state", _pb_state("customer", gdpr, "demander_email",
                                      [(gdpr, "accueil"), (gdpr, "demander_email")])),
        ActionExecuted("playbook_form"), ActionExecuted("action_listen"),
        UserUttered("paul.martin@example.fr (sinon appelez-moi au 06 12 34 56 78)",
                    intent={"name": "inform", "confidence": 0.91}, metadata=customer),
        BotUttered("Si cette adresse correspond à un compte numi, un code à 6 chiffres vient d'y être envoyé."),
        SlotSet("pb_state", _pb_state("customer", gdpr, "envoyer_code", [(gdpr, "accueil"), (gdpr, "demander_email"),
                                                                         (gdpr, "envoyer_code")])),
        ActionExecuted("playbook_form"), ActionExecuted("action_listen"),
        UserUttered("551564", intent={"name": "inform", "confidence": 0.88}, metadata=customer),
        BotUttered("Merci Paul, votre identité est vérifiée. Confirmez-vous vouloir supprimer votre compte ?",
                   data={"buttons": [{"title": "Oui, je confirme la suppression",
                                      "payload": "Oui, je confirme la suppression"},
                                     {"title": "Non, je garde mon compte", "payload": "Non, je garde mon compte"}]}),
        SlotSet("pb_state", _pb_state("customer", gdpr, "rappel_cadre",
                                      [(gdpr, "accueil"), (gdpr, "demander_email"), (gdpr, "envoyer_code"),
                                       (gdpr, "verifier_code"), (gdpr, "rappel_cadre")])),
        ActionExecuted("playbook_form"), ActionExecuted("action_listen"),
    ]
    card = {"type": "prompter", "scenario": "refund_request", "step": "motif", "step_title": "Accueil et motif",
            "script": "Je comprends tout à fait, Madame Blanc, et je vais m'occuper de transmettre votre demande.",
            "warnings": ["Pas de montant ni de date à ce stade, même approximatifs."],
            "slots": {"email": "sophie.blanc@example.fr", "phone": "+33 6 22 33 44 55"}, "ticket": "TK-00891"}
    sophie = [
        ActionExecuted("action_session_start"), SessionStarted(), ActionExecuted("action_listen"),
        UserUttered("Sophie Blanc (CLT-00322) veut être remboursée, ticket TK-00891, "
                    "IBAN FR76 3000 6000 0112 3456 7890 189",
                    intent={"name": "request_refund", "confidence": 0.95}, metadata={"numi": {"mode": "agent"}}),
        ActionExecuted("action_start_playbook"),
        BotUttered(data={"custom": card}),
        SlotSet("pb_state", _pb_state("agent", "refund_request", "motif", [("refund_request", "motif")])),
        ActionExecuted("playbook_form"), ActionExecuted("action_listen"),
    ]
    for sender, events in ((PAUL_CHAT, paul), (SOPHIE_CALL, sophie)):
        tracker = DialogueStateTracker.from_events(sender, events, slots=domain.slots)
        await store.save(tracker)
    store.engine.dispose()


@pytest.fixture(scope="module")
def tracker_url(tmp_path_factory):
    path = tmp_path_factory.mktemp("tracker") / "tracker.db"
    asyncio.run(_write_tracker_store(path))
    return f"sqlite:///{path}"


# ---------------------------------------------------------------------------
# Listing
# ---------------------------------------------------------------------------
def test_list_stories_from_all_three_sources(tracker_url, lib):
    stories = list_stories(tracker_url=tracker_url, library=lib)
    by_source = {s: [x for x in stories if x["source"] == s] for s in ("data", "tests", "recorded")}
    assert all(by_source.values()), {k: len(v) for k, v in by_source.items()}
    ids = [s["id"] for s in stories]
    assert len(ids) == len(set(ids)), "ids must be unique"
    assert all(URL_SAFE.match(i) for i in ids), [i for i in ids if not URL_SAFE.match(i)]
    assert all(set(s) >= {"id", "source", "title", "scenario", "turns"} for s in stories)
    assert [s["id"] for s in list_stories(tracker_url=tracker_url, library=lib)] == ids  # stable

    # every story of tests/stories/ is listed, with its playbook
    raw = [st_["story"] for f in sorted((ROOT / "tests" / "stories").glob("*.yml"))
           for st_ in yaml.safe_load(f.read_text(encoding="utf-8"))["stories"]]
    assert len(by_source["tests"]) == len(raw)
    deletion = next(s for s in stories if s["id"] == DELETION_CLIENT)
    assert deletion["scenario"] == "account_deletion_gdpr" and deletion["turns"] == 2
    assert deletion["mode"] == "customer"
    assert next(s for s in stories if s["id"] == DELETION_AGENT)["mode"] == "agent"
    assert any(s["id"] == "data:greet" for s in by_source["data"])

    recorded = {s["id"]: s for s in by_source["recorded"]}
    assert set(recorded) == {recorded_id(PAUL_CHAT), recorded_id(SOPHIE_CALL)}
    paul = recorded[recorded_id(PAUL_CHAT)]
    assert paul["turns"] == 3 and paul["scenario"] == "account_deletion_gdpr" and paul["mode"] == "customer"
    assert recorded[recorded_id(SOPHIE_CALL)]["mode"] == "agent"
    assert lib["account_deletion_gdpr"].title in paul["title"]
    text = json.dumps(by_source["recorded"], ensure_ascii=False)
    for secret in (PAUL_CHAT, SOPHIE_CALL, "Paul", "Sophie"):
        assert secret not in text


def test_a_missing_tracker_store_lists_nothing_and_is_not_created(tmp_path, lib):
    path = tmp_path / "absent.db"
    assert list_stories(["recorded"], tracker_url=f"sqlite:///{path}", library=lib) == []
    assert not path.exists()
    with pytest.raises(StoryNotFound):
        load_story(recorded_id(PAUL_CHAT), tracker_url=f"sqlite:///{path}", library=lib)
    with pytest.raises(StoryNotFound):
        load_story("tests:no-such-story", library=lib)
    with pytest.raises(StoryNotFound):
        load_story("../../etc/passwd", library=lib)


# ---------------------------------------------------------------------------
# YAML stories, walked with the real walker
# ---------------------------------------------------------------------------
def test_tests_story_in_customer_mode_shows_the_playbooks_real_texts(lib):
    story = load_story(DELETION_CLIENT, library=lib)
    pb = lib["account_deletion_gdpr"]
    steps = story["steps"]
    assert [s["index"] for s in steps] == list(range(len(steps))) == [0, 1]
    first = steps[0]
    assert first["customer"] == "je veux que vous effaciez mon compte et mes données"
    assert first["intent"] == "request_account_deletion" and first["mode"] == "customer"
    texts = [m["text"] for m in first["bot"]]
    # the first step's text, exactly as the playbook renders it, then the step that waits
    assert texts == [render_text(pb.steps["accueil"].say, {}), render_text(pb.steps["demander_email"].say, {})]
    assert first["playbook"] == {"scenario": "account_deletion_gdpr", "step": "demander_email",
                                 "step_title": pb.steps["demander_email"].title}
    # « d'accord » is no e-mail address: the walker's own retry text, then the question again
    second = steps[1]
    assert second["customer"] == "d'accord"
    assert second["bot"][0]["text"] == pb.steps["demander_email"].collect.retry
    assert all("custom" not in m for s in steps for m in s["bot"])


def test_tests_story_in_agent_mode_shows_prompter_cards(lib):
    story = load_story(DELETION_AGENT, library=lib)
    pb = lib["account_deletion_gdpr"]
    assert story["mode"] == "agent"
    first = story["steps"][0]
    assert first["mode"] == "agent"
    cards = [m["custom"] for m in first["bot"]]
    assert len(cards) == len(first["bot"]) == 2, "agent mode: every message is a prompter card"
    assert cards[0]["type"] == "prompter" and cards[0]["step"] == "accueil"
    assert cards[0]["script"] == render_text(pb.steps["accueil"].prompt.script, {})
    assert cards[0]["warnings"] == list(pb.steps["accueil"].prompt.warnings)
    assert cards[0]["checklist"][0]["text"] == pb.steps["accueil"].checklist[0]
    assert cards[0]["detected"]["intent"] == "request_account_deletion"
    assert cards[1]["step"] == "demander_email" and cards[1]["awaiting"] is True
    assert cards[1]["collect"] == {"slot": "email", "type": "email"}
    # the other mode of the same scenario tells the customer, not the hotliner
    customer = load_story(DELETION_CLIENT, library=lib)["steps"][0]["bot"]
    assert customer[0]["text"] != cards[0]["script"]


def test_steps_follow_the_story_in_order_with_the_domain_responses(lib):
    story = load_story("tests:greet-capabilities-thanks-goodbye", library=lib)
    raw = yaml.safe_load((ROOT / "tests" / "stories" / "basics.yml").read_text(encoding="utf-8"))["stories"][0]
    users = [s["user"].strip() for s in raw["steps"] if "user" in s]
    actions = [s["action"] for s in raw["steps"] if "action" in s]
    responses = yaml.safe_load((ROOT / "domain" / "responses.yml").read_text(encoding="utf-8"))["responses"]
    assert [s["customer"] for s in story["steps"]] == users
    assert [s["index"] for s in story["steps"]] == [0, 1, 2, 3]
    assert [s["bot"] for s in story["steps"]] == [[{"text": responses[a][0]["text"]}] for a in actions]
    assert all(s["playbook"] is None for s in story["steps"])


def test_a_reminder_answer_is_replayed_on_the_waiting_ticket(lib):
    story = load_story("tests:pending_ticket_reminder-via-confirm_resolved-client", library=lib)
    assert story["context"]["ticket"] == "TK-00456"
    first = story["steps"][0]
    assert first["playbook"]["scenario"] == "pending_ticket_reminder"
    assert any("TK-00456" in m.get("text", "") for m in first["bot"])


def test_data_rules_are_replayed_with_a_training_example(lib):
    story = load_story("data:greet", library=lib)
    step = story["steps"][0]
    assert step["intent"] == "greet" and step["customer"] and step["customer_from_nlu"] is True
    responses = yaml.safe_load((ROOT / "domain" / "responses.yml").read_text(encoding="utf-8"))["responses"]
    assert step["bot"] == [{"text": responses["utter_greet"][0]["text"]}]


# ---------------------------------------------------------------------------
# Recorded conversations: steps from the events, anonymised
# ---------------------------------------------------------------------------
def test_recorded_story_is_anonymised_with_names_from_the_database(tracker_url, lib, db):
    story = load_story(recorded_id(PAUL_CHAT), tracker_url=tracker_url, library=lib, session=db)
    dump = json.dumps(story, ensure_ascii=False)
    for personal in ("paul.martin@example.fr", "paul.martin", "06 12 34 56 78", "551564", "Paul", "Martin",
                     PAUL_CHAT):
        assert personal not in dump, personal
    steps = story["steps"]
    assert [s["index"] for s in steps] == [0, 1, 2]
    assert steps[0]["customer"] == f"Bonjour, ici {NAME}, je voudrais supprimer mon compte et toutes mes données"
    assert steps[1]["customer"] == f"{EMAIL} (sinon appelez-moi au {PHONE})"
    assert steps[2]["customer"] == CODE
    assert steps[2]["bot"][0]["text"].startswith(f"Merci {NAME}, votre identité est vérifiée.")
    assert [b["title"] for b in steps[2]["bot"][0]["buttons"]] == ["Oui, je confirme la suppression",
                                                                 "Non, je garde mon compte"]
    assert [len(s["bot"]) for s in steps] == [2, 1, 1]
    assert [s["intent"] for s in steps] == ["request_account_deletion", "inform", "inform"]
    assert [s["playbook"]["step"] for s in steps] == ["demander_email", "envoyer_code", "rappel_cadre"]
    assert steps[0]["playbook"]["step_title"] == lib["account_deletion_gdpr"].steps["demander_email"].title
    assert story["scenario"] == "account_deletion_gdpr" and story["mode"] == "customer"


def test_recorded_agent_call_masks_the_prompter_card_too(tracker_url, lib):
    story = load_story(recorded_id(SOPHIE_CALL), tracker_url=tracker_url, library=lib, names=[("Sophie", "Blanc")])
    step = story["steps"][0]
    assert step["mode"] == "agent"
    assert step["customer"] == f"{NAME} ({CUSTOMER}) veut être remboursée, ticket {TICKET}, IBAN {NUMBER}"
    card = step["bot"][0]["custom"]
    assert card["slots"] == {"email": EMAIL, "phone": PHONE} and card["ticket"] == TICKET
    assert card["script"] == (f"Je comprends tout à fait, Madame {NAME}, "
                              "et je vais m'occuper de transmettre votre demande.")
    assert card["warnings"] == ["Pas de montant ni de date à ce stade, même approximatifs."]
    assert step["playbook"] == {"scenario": "refund_request", "step": "motif",
                                "step_title": lib["refund_request"].steps["motif"].title}


def test_without_known_names_a_recorded_story_still_loses_contacts_and_codes(tracker_url, lib):
    story = load_story(recorded_id(PAUL_CHAT), tracker_url=tracker_url, library=lib)
    dump = json.dumps(story, ensure_ascii=False)
    assert "paul.martin@example.fr" not in dump and "06 12 34 56 78" not in dump and "551564" not in dump


# ---------------------------------------------------------------------------
# Anonymisation (pure functions)
# ---------------------------------------------------------------------------
NAMES = [("Paul", "Martin"), ("Marie", "Lefèvre"), ("Jean-Pierre", "Dupont")]


@pytest.mark.parametrize("text, expected", [
    ("écrivez à paul.martin@example.fr !", f"écrivez à {EMAIL} !"),
    ("06 12 34 56 78 / 06.12.34.56.78 / 0612345678", f"{PHONE} / {PHONE} / {PHONE}"),
    ("+33 6 12 34 56 78 ou +33 (0)1 45 67 89 10 ou 0033612345678", f"{PHONE} ou {PHONE} ou {PHONE}"),
    ("client CLT-00321, ticket TK-00456 et tk 00891", f"client {CUSTOMER}, ticket {TICKET} et {TICKET}"),
    ("carte 4970 1012 3456 7890, IBAN FR76 3000 6000 0112 3456 7890 189", f"carte {NUMBER}, IBAN {NUMBER}"),
    ("le code est 551564.", f"le code est {CODE}."),
    ("MARIE LEFEVRE, Mme Lefèvre, jean pierre dupont", f"{NAME}, Mme {NAME}, {NAME}"),
    ("Merci Paul !", f"Merci {NAME} !"),
    ("le 23 décembre 2026 à 10h30, opposition au 0 892 705 705",
     "le 23 décembre 2026 à 10h30, opposition au 0 892 705 705"),
])
def test_anonymise_plain_cases(text, expected):
    assert anonymise_text(text, NAMES) == expected


def test_anonymise_value_walks_json_and_keeps_other_types():
    value = {"text": "paul.martin@example.fr", "n": 3, "ok": True, "none": None,
             "buttons": [{"title": "Paul Martin", "payload": "/inform"}]}
    assert anonymise_value(value, NAMES) == {"text": EMAIL, "n": 3, "ok": True, "none": None,
                                             "buttons": [{"title": NAME, "payload": "/inform"}]}


_FILLER = st.text(alphabet=st.sampled_from(list("abcdefghijklmnopqrstuvwxyzéèàç ,!?'")), max_size=25)
_EMAILS = st.builds(lambda u, d: f"{u}@{d}.fr", st.from_regex(r"[a-z][a-z0-9._]{0,12}", fullmatch=True),
                    st.from_regex(r"[a-z]{2,10}", fullmatch=True))
_PHONES = st.builds(lambda lead, pairs, sep: f"{lead}{pairs[0]:01d}" + "".join(f"{sep}{p:02d}" for p in pairs[1:]),
                    st.sampled_from(["0", "+33 ", "+33", "0033"]),
                    st.tuples(st.integers(1, 9), *[st.integers(0, 99)] * 4), st.sampled_from(["", " ", ".", "-"]))
_CODES = st.integers(0, 999_999).map(lambda n: f"{n:06d}")
_REFS = st.builds(lambda p, n: f"{p}-{n:05d}", st.sampled_from(["CLT", "TK"]), st.integers(0, 99_999))
_NAMES = st.builds(lambda n, full, case: (f"{n[0]} {n[1]}" if full else n[1]).upper() if case else
                   (f"{n[0]} {n[1]}" if full else n[1]), st.sampled_from(NAMES), st.booleans(), st.booleans())


@hsettings(max_examples=150, deadline=None)
@given(before=_FILLER, after=_FILLER, secret=st.one_of(_EMAILS, _PHONES, _CODES, _REFS, _NAMES))
def test_anonymise_removes_personal_data_wherever_it_is(before, after, secret):
    out = anonymise_text(f"{before} {secret} {after}", NAMES)
    assert secret not in out
    assert not re.search(r"\d{6}", re.sub(r"\D", "", out)), out  # no code or phone left, even split up


@hsettings(max_examples=150, deadline=None)
@given(text=st.text(max_size=80))
def test_anonymise_never_crashes_and_is_idempotent(text):
    anonymiser = Anonymiser(tuple(NAMES))
    once = anonymiser.text(text)
    assert anonymiser.text(once) == once


# ---------------------------------------------------------------------------
# Quizzes
# ---------------------------------------------------------------------------
def test_the_first_quiz_is_001_section_10_read_from_the_playbook(lib):
    quizzes = list_quizzes(library=lib)
    assert quizzes[0]["id"] == "pending_ticket_reminder" and quizzes[0]["questions"] == 5
    quiz = load_quiz("pending_ticket_reminder", library=lib)
    raw = yaml.safe_load((ROOT / "playbooks" / "pending_ticket_reminder.yml").read_text(encoding="utf-8"))["quiz"]
    assert [q["question"] for q in quiz["questions"]] == [q["question"] for q in raw]
    assert [q["answer"] for q in quiz["questions"]] == ["B", "B", "C", "B", "A"] == [q["answer"] for q in raw]
    assert quiz["questions"][4]["choices"][0] == "Envoyer un e-mail de clôture"
    result = score(quiz, ["B", "B", "C", "B", "A"])
    assert (result["correct"], result["total"]) == (5, 5)
    result = score(quiz, {"0": "b", 1: "A", "q2": "C) Doux, clair", "4": " a "})
    assert (result["correct"], result["total"]) == (3, 5)
    assert [d["correct"] for d in result["details"]] == [True, False, True, False, True]
    assert result["details"][3] == {"index": 3, "given": None, "answer": "B", "correct": False,
                                    "explanation": raw[3]["explanation"]}


def test_config_quizzes_are_grounded_in_the_playbooks(lib):
    quizzes = {q["id"]: q for q in list_quizzes(library=lib)}
    config = [q for q in quizzes.values() if q["source"] == "config"]
    assert len(config) >= 2
    assert len(quizzes) == len(list_quizzes(library=lib))  # unique ids
    right = {}
    for summary in config:
        quiz = load_quiz(summary["id"], library=lib)
        assert quiz["scenario"] in lib and quiz["questions"]
        right[quiz["scenario"]] = " ".join(q["choices"]["ABCDEFGH".index(q["answer"])] for q in quiz["questions"])
        # a perfect score is possible, and the letters shown match the choices
        assert score(quiz, [q["answer"] for q in quiz["questions"]])["correct"] == len(quiz["questions"])
    gdpr = lib["account_deletion_gdpr"]
    assert "10 ans" in right["account_deletion_gdpr"] and "10 ans" in gdpr.steps["rappel_cadre"].say
    assert "un mois" in right["account_deletion_gdpr"] and "un mois" in gdpr.summary
    assert "jamais de mot de passe" in right["security_incident"].replace("ne demande jamais de mot de passe",
                                                                         "jamais de mot de passe")


BAD_ANSWERS = [None, "B", 42, 3.5, True, object(), [None] * 5, ["Z", "", " ", 3, {"a": 1}], {"0": ["B"]},
               {True: "B", None: "A", (1,): "B"}, ["B"] * 50, {"q99": "A", "-1": "B"}, "ABCDE", b"BBCBA",
               [["B"], "B)", "b.", "E", "é"]]


@pytest.mark.parametrize("answers", BAD_ANSWERS, ids=lambda a: type(a).__name__)
def test_bad_quiz_answers_never_crash(answers, lib):
    quiz = load_quiz("pending_ticket_reminder", library=lib)
    result = score(quiz, answers)
    assert result["total"] == 5 and 0 <= result["correct"] <= 5 and len(result["details"]) == 5
    assert all(d["given"] in (None, "A", "B", "C", "D") for d in result["details"])


@pytest.mark.parametrize("quiz", [None, 3, "no-such-quiz", "../etc", {}, {"questions": "x"},
                                  {"questions": [None, {"choices": "AB", "answer": 1}, {"answer": "A"}]}])
def test_bad_quizzes_score_nothing_without_crashing(quiz):
    result = score(quiz, ["A", "B"])
    assert result["correct"] == 0 and result["total"] == len(result["details"])


@hsettings(max_examples=60, deadline=None)
@given(answers=st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5)),
                            lambda inner: st.one_of(st.lists(inner, max_size=6),
                                                    st.dictionaries(st.one_of(st.text(max_size=3), st.integers()),
                                                                    inner, max_size=6)), max_leaves=12))
def test_score_never_crashes_on_any_json_like_answers(answers):
    quiz = {"questions": [{"question": "?", "choices": ["a", "b", "c"], "answer": "B", "explanation": ""}] * 3}
    result = score(quiz, answers)
    assert result["total"] == 3 and 0 <= result["correct"] <= 3


def test_quiz_from_story_asks_what_the_hotliner_does_now(lib):
    story = load_story(DELETION_AGENT, library=lib)
    quiz = quiz_from_story(story, seed=7, library=lib)
    assert quiz_from_story(story, seed=7, library=lib) == quiz  # deterministic for a seed
    assert len(quiz["questions"]) == 2
    own_titles = {s.title for s in lib["account_deletion_gdpr"].steps.values()}
    for question in quiz["questions"]:
        assert "Que doit faire le hotliner maintenant ?" in question["question"]
        step = story["steps"][question["step_index"]]
        right = question["choices"]["ABCD".index(question["answer"])]
        assert right == step["playbook"]["step_title"]
        distractors = [c for c in question["choices"] if c != right]
        assert len(distractors) == 3 and not own_titles & set(distractors)
    assert score(quiz, [q["answer"] for q in quiz["questions"]])["correct"] == 2
    others = [quiz_from_story(story, seed=s, library=lib)["questions"][0]["choices"] for s in range(6)]
    assert len({tuple(o) for o in others}) > 1, "the seed changes the distractors"


# ---------------------------------------------------------------------------
# No I/O at import time
# ---------------------------------------------------------------------------
def test_importing_numi_replay_reads_no_file():
    code = r"""
import sys
import yaml, sqlalchemy, jinja2, numi.settings, numi.text, numi.playbooks.library, numi.playbooks.engine
opened = []
def hook(event, args):
    if event == "open" and args and isinstance(args[0], str) and not args[0].endswith((".py", ".pyc", ".so")):
        opened.append(args[0])
sys.addaudithook(hook)
import numi.replay, numi.replay.stories, numi.replay.quiz, numi.replay.anonymise
print(opened)
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", out.stdout
