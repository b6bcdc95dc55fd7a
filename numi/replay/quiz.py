"""Trainer quizzes, as data.

* Playbook quizzes live in the playbooks (``quiz:``); the first one listed is the
  quiz of seed 001 §10, in ``playbooks/pending_ticket_reminder.yml``. They are read
  through the playbook library, never copied.
* More quizzes live in ``config/quizzes/<id>.yml`` (files starting with « _ » are not
  quizzes): ``title``, ``scenario`` and a ``quiz:`` list of the same shape as in the
  playbooks: ``question``, ``choices``, ``answer`` (a letter), ``explanation``.
* ``quiz_from_story`` turns a replayed story into « Que doit faire le hotliner
  maintenant ? » questions (texts in ``config/quizzes/_replay.yml``).

A quiz is ``{"id", "title", "source", "scenario", "questions": [{"question",
"choices": [str], "answer": "B", "explanation"}]}``; choices are shown with the
letters A, B, C…
"""
from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

import yaml

from numi.playbooks.library import Library
from numi.replay.steps import library_or_default, replay_texts
from numi.replay.stories import load_story
from numi.settings import ROOT
from numi.text import fold

QUIZ_DIR = Path("config") / "quizzes"
FIRST_QUIZ = "pending_ticket_reminder"  # seed 001 §10
LETTERS = "ABCDEFGH"
_LETTER_PREFIX = re.compile(r"^\s*([A-Ha-h])\s*[).:\-]\s+")
_GIVEN = re.compile(r"^\s*([A-Za-z])(?:\s*$|\s*[).:\-\s])")
_ID = re.compile(r"^[a-z0-9][a-z0-9_\-]*$")


class QuizError(ValueError):
    """A quiz that does not load (names the file or playbook and the question)."""


class QuizNotFound(LookupError):
    """No quiz has this id."""


# ---------------------------------------------------------------------------
# Loading and validation
# ---------------------------------------------------------------------------
def _choice_text(raw: Any, position: int, where: str) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise QuizError(f"{where}: le choix {position + 1} doit être un texte")
    match = _LETTER_PREFIX.match(raw)
    if match and match.group(1).upper() == LETTERS[position]:
        return raw[match.end():].strip()  # « A) … » / « A. … »: the letter is shown by the page
    return raw.strip()


def _question(raw: Any, where: str) -> Dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise QuizError(f"{where}: une question est un dictionnaire (question, choices, answer, explanation)")
    unknown = sorted(set(raw) - {"question", "choices", "answer", "explanation"})
    if unknown:
        raise QuizError(f"{where}: clé(s) inconnue(s) {unknown}")
    question, choices, answer = raw.get("question"), raw.get("choices"), raw.get("answer")
    if not isinstance(question, str) or not question.strip():
        raise QuizError(f"{where}: « question » manquante")
    if not isinstance(choices, list) or not 2 <= len(choices) <= len(LETTERS):
        raise QuizError(f"{where}: « choices » est une liste de 2 à {len(LETTERS)} textes")
    texts = [_choice_text(c, i, where) for i, c in enumerate(choices)]
    if len({fold(t) for t in texts}) != len(texts):
        raise QuizError(f"{where}: deux choix identiques")
    if not isinstance(answer, str) or answer.strip().upper() not in LETTERS[:len(texts)] or len(answer.strip()) != 1:
        raise QuizError(f"{where}: « answer » doit être une lettre parmi {LETTERS[:len(texts)]}")
    explanation = raw.get("explanation")
    if explanation is not None and not isinstance(explanation, str):
        raise QuizError(f"{where}: « explanation » est un texte")
    return {"question": question.strip(), "choices": texts, "answer": answer.strip().upper(),
            "explanation": (explanation or "").strip()}


def _questions(raw: Any, where: str) -> List[Dict[str, Any]]:
    if not isinstance(raw, list) or not raw:
        raise QuizError(f"{where}: « quiz » est une liste non vide de questions")
    return [_question(q, f"{where}, question {i + 1}") for i, q in enumerate(raw)]


def _playbook_quiz(lib: Library, playbook_id: str) -> Dict[str, Any]:
    pb = lib[playbook_id]
    return {"id": pb.id, "title": pb.title, "source": "playbook", "scenario": pb.id,
            "questions": _questions(list(pb.quiz), pb.where())}


def _config_files(root: Path) -> List[Path]:
    directory = Path(root) / QUIZ_DIR
    return sorted(p for p in directory.glob("*.yml") if not p.name.startswith("_")) if directory.is_dir() else []


def _config_quiz(path: Path, lib: Library) -> Dict[str, Any]:
    where = f"{QUIZ_DIR / path.name}"
    quiz_id = path.stem
    if not _ID.match(quiz_id):
        raise QuizError(f"{where}: nom de fichier invalide (minuscules, chiffres, « - » et « _ »)")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise QuizError(f"{where}: YAML invalide ({exc})") from exc
    if not isinstance(raw, Mapping):
        raise QuizError(f"{where}: un dictionnaire est attendu (title, scenario, quiz)")
    unknown = sorted(set(raw) - {"title", "scenario", "quiz"})
    if unknown:
        raise QuizError(f"{where}: clé(s) inconnue(s) {unknown}")
    if not isinstance(raw.get("title"), str) or not raw["title"].strip():
        raise QuizError(f"{where}: « title » manquant")
    scenario = raw.get("scenario")
    if scenario is not None and scenario not in lib:
        raise QuizError(f"{where}: scénario inconnu « {scenario} »")
    return {"id": quiz_id, "title": raw["title"].strip(), "source": "config", "scenario": scenario,
            "questions": _questions(raw.get("quiz"), where)}


def _all_quizzes(lib: Library, root: Path) -> List[Dict[str, Any]]:
    playbook_ids = [pid for pid in lib if lib[pid].quiz]
    ordered = ([FIRST_QUIZ] if FIRST_QUIZ in playbook_ids else [])
    quizzes = [_playbook_quiz(lib, pid) for pid in ordered]
    seen = set(ordered)
    for path in _config_files(root):
        quiz = _config_quiz(path, lib)
        if quiz["id"] in lib or quiz["id"] in seen:
            raise QuizError(f"{QUIZ_DIR / path.name}: l'identifiant « {quiz['id']} » est déjà pris")
        quizzes.append(quiz)
        seen.add(quiz["id"])
    quizzes += [_playbook_quiz(lib, pid) for pid in sorted(playbook_ids) if pid not in seen]
    return quizzes


def list_quizzes(*, library: Optional[Library] = None, root: Path = ROOT) -> List[Dict[str, Any]]:
    """Summaries ``{"id", "title", "source", "scenario", "questions": count}``; 001 §10 first."""
    return [{"id": q["id"], "title": q["title"], "source": q["source"], "scenario": q["scenario"],
             "questions": len(q["questions"])} for q in _all_quizzes(library_or_default(library), Path(root))]


def load_quiz(quiz_id: str, *, library: Optional[Library] = None, root: Path = ROOT) -> Dict[str, Any]:
    """One quiz (see the module docstring). Raises QuizNotFound."""
    lib = library_or_default(library)
    if not isinstance(quiz_id, str) or not _ID.match(quiz_id):
        raise QuizNotFound(quiz_id)
    if quiz_id in lib and lib[quiz_id].quiz:
        return _playbook_quiz(lib, quiz_id)
    path = Path(root) / QUIZ_DIR / f"{quiz_id}.yml"
    if path.is_file() and not path.name.startswith("_"):
        return _config_quiz(path, lib)
    raise QuizNotFound(quiz_id)


# ---------------------------------------------------------------------------
# A quiz from a replayed story
# ---------------------------------------------------------------------------
def _step_pool(lib: Library, exclude: str) -> List[str]:
    """Titles of the steps of the other playbooks (the distractors), sorted for determinism."""
    titles = {title.strip() for pid, pb in lib.items() if pid != exclude
              for title in (step.title for step in pb.steps.values()) if title and len(title.split()) >= 2}
    return sorted(titles)


def _script_of(step: Mapping[str, Any], step_id: str) -> str:
    """What the step says: the prompter card's script, else the bot's text (the last message of that step)."""
    for message in reversed(step.get("bot") or []):
        card = message.get("custom") if isinstance(message, Mapping) else None
        if isinstance(card, Mapping) and card.get("step") == step_id and (card.get("script") or card.get("say")):
            return str(card.get("script") or card.get("say"))
    for message in reversed(step.get("bot") or []):
        if isinstance(message, Mapping) and message.get("text"):
            return str(message["text"])
    return ""


def quiz_from_story(story: Any, *, seed: int = 0, choices: int = 4, library: Optional[Library] = None,
                    root: Path = ROOT, **load_options: Any) -> Dict[str, Any]:
    """« Que doit faire le hotliner maintenant ? » at each step of `story` that reached a playbook step.

    `story` is a loaded story (``load_story``) or its id. The right answer is the title of
    the step reached; the distractors are titles of steps of other playbooks, drawn with
    `seed` (same story and seed → same quiz). Each question also has ``step_index``.
    """
    lib = library_or_default(library)
    if isinstance(story, str):
        story = load_story(story, library=lib, root=root, **load_options)
    if not isinstance(story, Mapping):
        raise TypeError("story: a loaded story (dict) or a story id")
    texts = replay_texts(Path(root)).get("story_quiz") or {}
    count = max(2, min(int(choices), len(LETTERS)))
    questions: List[Dict[str, Any]] = []
    for step in story.get("steps") or []:
        info = step.get("playbook") if isinstance(step, Mapping) else None
        if not isinstance(info, Mapping) or info.get("scenario") not in lib:
            continue
        pb = lib[info["scenario"]]
        pb_step = pb.steps.get(info.get("step") or "")
        if pb_step is None or not pb_step.title:
            continue  # no title, no fair question
        right = pb_step.title.strip()
        pool = [t for t in _step_pool(lib, pb.id) if fold(t) != fold(right)]
        rng = random.Random(f"{seed}|{story.get('id')}|{step.get('index')}")
        picked = rng.sample(pool, min(count - 1, len(pool)))
        position = rng.randrange(len(picked) + 1)
        options = picked[:position] + [right] + picked[position:]
        number = int(step.get("index", len(questions))) + 1
        customer = step.get("customer")
        key = "question_agent" if step.get("mode") == "agent" else "question"
        question = (texts.get(key, "{customer}").format(number=number, customer=customer) if customer
                    else texts.get("question_without_text", "").format(number=number))
        script = _script_of(step, pb_step.id)
        explanation = (texts.get("explanation_script", "") if script else texts.get("explanation", "")).format(
            playbook=pb.title, step_title=right, script=script)
        questions.append({"question": question, "choices": options, "answer": LETTERS[position],
                          "explanation": explanation, "step_index": step.get("index")})
    title = str(texts.get("title", "{title}")).format(title=story.get("title", ""))
    return {"id": f"story:{story.get('id')}:{seed}", "title": title, "source": "story",
            "scenario": story.get("scenario"), "questions": questions}


# ---------------------------------------------------------------------------
# Scoring
# ---------------------------------------------------------------------------
def _letter(value: Any, count: int) -> Optional[str]:
    """« b », « B », « B) », « B. texte » → "B" when it is one of the `count` choices; else None."""
    if not isinstance(value, str):
        return None
    match = _GIVEN.match(value)
    if not match:
        return None
    letter = match.group(1).upper()
    return letter if letter in LETTERS[:count] else None


def _given(answers: Any, total: int) -> List[Any]:
    """Answers by question index: a list (in order) or a mapping {0: "B"} / {"0": "B"} / {"q0": "B"}."""
    out: List[Any] = [None] * total
    if isinstance(answers, (list, tuple)):
        for i, value in enumerate(list(answers)[:total]):
            out[i] = value
    elif isinstance(answers, Mapping):
        for key, value in answers.items():
            index: Optional[int] = None
            if isinstance(key, int) and not isinstance(key, bool):
                index = key
            elif isinstance(key, str):
                match = re.fullmatch(r"\s*q?(\d{1,4})\s*", key)
                index = int(match.group(1)) if match else None
            if index is not None and 0 <= index < total:
                out[index] = value
    return out


def score(quiz: Any, answers: Any) -> Dict[str, Any]:
    """``{"correct", "total", "details": [{"index", "given", "answer", "correct", "explanation"}]}``.

    `quiz`: a quiz (``load_quiz``, ``quiz_from_story``) or a quiz id. `answers`: letters,
    as a list in question order or a mapping by question index. Never raises: a missing,
    malformed or out-of-range answer counts as wrong (``given`` None); an unknown quiz
    or a malformed question scores nothing.
    """
    if isinstance(quiz, str):
        try:
            quiz = load_quiz(quiz)
        except (QuizNotFound, QuizError, OSError):
            quiz = {}
    questions = quiz.get("questions") if isinstance(quiz, Mapping) else None
    if not isinstance(questions, (list, tuple)):
        questions = []
    given = _given(answers, len(questions))
    details: List[Dict[str, Any]] = []
    correct = 0
    for index, question in enumerate(questions):
        q = question if isinstance(question, Mapping) else {}
        raw_options = q.get("choices")
        options: Sequence[Any] = raw_options if isinstance(raw_options, (list, tuple)) else []
        expected = _letter(q.get("answer"), len(options))
        letter = _letter(given[index], len(options))
        ok = expected is not None and letter == expected
        correct += ok
        explanation = q.get("explanation")
        details.append({"index": index, "given": letter, "answer": expected, "correct": ok,
                        "explanation": explanation if isinstance(explanation, str) else ""})
    return {"correct": correct, "total": len(questions), "details": details}


__all__ = ["list_quizzes", "load_quiz", "quiz_from_story", "score", "QuizError", "QuizNotFound",
           "FIRST_QUIZ", "LETTERS"]
