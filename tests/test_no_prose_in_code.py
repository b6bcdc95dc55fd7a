"""The style rule, enforced: every sentence the bot, the prompter or the console says lives in
YAML or a template, never in Python strings.

An `ast` scan of numi/ and actions/ (nothing is imported or run): every string literal but the
docstrings, f-strings read as one text (their constant parts, a placeholder for each value),
is checked for French prose. A literal is prose when it has at least two words and either an
accented letter or guillemets, a French elision (« d'appel », « l'équipe »), or a French word
from WORDS; regex-looking strings are skipped. Python carries identifiers (error codes, keys of
templates/web/texts.yml or playbooks/_system.yml), the sentences are looked up from YAML.

ALLOWED lists the few places where French in Python is data or speaks to the developer, each
with its reason; keep it narrow (a file and the kind of literal, never a directory)."""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Set, Tuple

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("numi", "actions")

ACCENTS = re.compile(r"[àâäçéèêëîïôöùûüÿœæÀÂÄÇÉÈÊËÎÏÔÖÙÛÜŸŒÆ«»]")
ELISION = re.compile(r"(?<![\w'’])(?:[dljmnstc]|qu|jusqu|lorsqu|puisqu)['’][a-zàâéèêëîïôûüh]", re.I)
# French words that are not English words (« on », « a », « client », « file » are both: left out)
WORDS = frozenset("""
le la les un une des du au aux ce cet cette ces mon ma mes ton ta tes son sa ses notre nos votre vos leur leurs
je tu il elle ils elles nous vous lui eux qui que quoi dont où et ou mais donc car ni ne pas plus jamais rien
aucun aucune est sont être été avoir avez avons ont sera seront fait faire doit doivent peut peuvent
pour avec sans sur sous dans chez vers après avant depuis pendant entre selon contre par parmi
déjà encore aussi très bien tout tous toute toutes autre autres même
inconnu inconnue inconnus inconnues invalide invalides interdit interdite manquant manquante manquants
manquantes introuvable obligatoire attendu attendue vide ligne lignes jeton jetons statut motif clôture
demande rappel rappels relance réponse conseiller appel fichier étape erreur heure heures ouverture indisponible
""".split())
REGEX_HINTS = re.compile(r"\\[bdswBDSW]|\(\?|\[\^|\\\.|\|\w+\||[\])][*+?]|[\])]\{\d")


def is_prose(text: str) -> bool:
    """A French sentence (or a piece of one): ≥ 2 words and a French mark; not a regex."""
    if REGEX_HINTS.search(text):
        return False
    words = re.findall(r"[^\W\d_]+(?:['’][^\W\d_]+)?", text)
    if len(words) + text.count("{}") < 2:  # an f-string's value counts as a word: f"déjà {status}"
        return False
    if ACCENTS.search(text) or ELISION.search(text):
        return True
    return any(w in WORDS for w in (w.lower() for w in words if not w.isupper() or len(w) == 1))


# --- the scan -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Literal:
    path: str  # relative, with /
    line: int
    text: str
    function: str  # enclosing def (dotted with its class), or "" at module level
    raises: str  # the exception class of the enclosing `raise X(...)`, or ""


def _docstrings(tree: ast.AST) -> Set[int]:
    found: Set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                    and isinstance(first.value.value, str):
                found.add(id(first.value))
    return found


def _fstring_text(node: ast.JoinedStr) -> str:
    return "".join(v.value if isinstance(v, ast.Constant) and isinstance(v.value, str) else "{}"
                   for v in node.values)


def literals(source: str, path: str = "<sample>") -> Iterator[Literal]:
    """Every string literal of `source` but its docstrings (an f-string as one text)."""
    tree = ast.parse(source)
    docstrings = _docstrings(tree)
    inside_fstrings: Set[int] = set()
    context: Dict[int, Tuple[str, str]] = {}

    def visit(node: ast.AST, function: str, raises: str) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            function = f"{function}.{node.name}" if function else node.name
        if isinstance(node, ast.Raise) and node.exc is not None:
            exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            raises = exc.attr if isinstance(exc, ast.Attribute) else getattr(exc, "id", "")
        context[id(node)] = (function, raises)
        for child in ast.iter_child_nodes(node):
            visit(child, function, raises)

    visit(tree, "", "")
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            inside_fstrings.update(id(v) for v in node.values)
            yield Literal(path, node.lineno, _fstring_text(node), *context[id(node)])
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings \
                and id(node) not in inside_fstrings:
            yield Literal(path, node.lineno, node.value, *context[id(node)])


def prose(source: str, path: str = "<sample>") -> List[Literal]:
    return [lit for lit in literals(source, path) if is_prose(lit.text)]


def sources() -> Iterator[Tuple[str, str]]:
    for package in PACKAGES:
        for file in sorted((ROOT / package).rglob("*.py")):
            yield file.relative_to(ROOT).as_posix(), file.read_text(encoding="utf-8")


# --- what may stay in Python, and why -------------------------------------------------------------
Rule = Callable[[Literal], bool]


def anywhere(lit: Literal) -> bool:
    return True


def raised(*exceptions: str) -> Rule:
    return lambda lit: lit.raises in exceptions


def in_functions(*names: str) -> Rule:
    return lambda lit: any(lit.function == n or lit.function.startswith(n + ".") for n in names)


def either(*rules: Rule) -> Rule:
    return lambda lit: any(rule(lit) for rule in rules)


@dataclass(frozen=True)
class Allowed:
    path: str
    rule: Rule
    why: str


ALLOWED: Tuple[Allowed, ...] = (
    # NLU language data: the words customers write, matched by the parsers (not said by numi)
    Allowed("numi/nlu/dates.py", anywhere, "NLU data: French date and time words and their regexes"),
    Allowed("numi/playbooks/values.py", anywhere, "NLU data: the answers a value parser recognises"),
    Allowed("numi/clock.py", anywhere, "language data: French month and day names (date_fr)"),
    Allowed("numi/signals/emotion.py", raised("ValueError"), "the emotion examples file's load errors"),
    Allowed("numi/signals/themes.py", raised("ValueError"), "the theme examples file's load errors"),
    # demo data: the demonstration database's rows (customers, tickets, workshops)
    Allowed("numi/db/demo.py", anywhere, "demo data loaded by `make run`"),
    # developer-facing configuration errors: the author of a YAML file reads them (make lint-playbooks,
    # make test, the config loaders at start-up), naming the file, the step and the key
    Allowed("numi/playbooks/validate.py", anywhere, "playbook lint errors (make lint-playbooks) and "
            "its table of forbidden phrasings, named in those errors"),
    Allowed("numi/playbooks/model.py", either(raised("PlaybookError"), in_functions("Playbook.where", "load_playbook")),
            "playbook YAML load errors, and where they point (« <file>, étape « x » »)"),
    Allowed("numi/playbooks/library.py", raised("PlaybookError", "KeyError"),
            "playbook library load errors (a trigger opened twice, a missing _system.yml text)"),
    Allowed("numi/playbooks/effects/registry.py", in_functions("check_params"),
            "a playbook's effect parameters checked at load time"),
    Allowed("numi/playbooks/cli.py", anywhere, "the playbook author's CLI (make lint-playbooks, show)"),
    Allowed("numi/alerts/rules.py", either(raised("RuleError"), in_functions("parse")),
            "config/alerts/rules.yml validation errors, and where they point (« <file>: règle 3 »)"),
    Allowed("numi/replay/quiz.py", raised("QuizError"), "config/quizzes/*.yml validation errors"),
    Allowed("numi/reminders/policy.py", raised("PolicyError"), "config/reminder_policy.yml validation errors"),
)


# Files other engineers are writing while this test lands (2026-12-02): their owners move the
# sentences to YAML (or add an ALLOWED entry with its reason), then delete the line here.
PENDING: Dict[str, str] = {}  # files still being cleaned (none today)


def allowed(lit: Literal) -> Optional[Allowed]:
    return next((a for a in ALLOWED if a.path == lit.path and a.rule(lit)), None)


def found() -> List[Literal]:
    return [lit for path, source in sources() for lit in prose(source, path)]


# --- the tests ----------------------------------------------------------------------------------
def test_no_french_sentence_in_python_but_the_allowed_ones():
    left = [f"{lit.path}:{lit.line}: {lit.text[:70]!r}" for lit in found()
            if allowed(lit) is None and lit.path not in PENDING]
    assert left == [], ("French prose in Python: move it to templates/web/texts.yml, playbooks/_system.yml "
                        "or a template (or, for language data, add an ALLOWED entry with its reason):\n"
                        + "\n".join(left))


def test_every_allowed_entry_is_still_needed():
    """An entry nothing needs any more is removed: the allow-list only shrinks."""
    used = {a for lit in found() for a in [allowed(lit)] if a is not None}
    unused = [f"{a.path}: {a.why}" for a in ALLOWED if a not in used]
    assert unused == []


def test_pending_files_are_still_pending():
    """A pending file without prose any more leaves PENDING: the exception only shrinks."""
    dirty = {lit.path for lit in found() if allowed(lit) is None}
    done = [path for path in PENDING if (ROOT / path).is_file() and path not in dirty]
    assert done == [], "remove these from PENDING"


def test_every_allowed_entry_says_why_and_names_a_file():
    for entry in ALLOWED:
        assert entry.why.strip() and (ROOT / entry.path).is_file(), entry


SAMPLE = '''
"""Un docstring en français n'est pas une phrase affichée."""
import re

DATE = re.compile(r"\\b(le|la) (\\d+) mai\\b")  # a regex: NLU data, not prose
KEY = "ticket_closed"
LOG = "outage mail to the on-call recipient failed (%s)"
SQL = "PRAGMA foreign_keys=ON"


class ClosedError(ValueError):
    pass


def close(ticket, n):
    """Clôture le ticket."""
    if n < 2:
        raise ClosedError(f"une clôture exige {n} rappels")
    note = "Clôture suite à " + str(n) + " rappels sans réponse."
    return f"transfert vers {ticket} : inconnu", "file inconnue", "jeton d'appel invalide", note
'''


def test_the_scanner_finds_french_sentences_and_only_them():
    """The scan above can fail: a sample's sentences are found, its docstrings, regexes,
    identifiers, English log lines and SQL are not."""
    texts = sorted(lit.text for lit in prose(SAMPLE))
    assert texts == sorted(["une clôture exige {} rappels", "Clôture suite à ", " rappels sans réponse.",
                            "transfert vers {} : inconnu", "file inconnue", "jeton d'appel invalide"]), texts
    raised_in = {lit.text: (lit.function, lit.raises) for lit in prose(SAMPLE)}
    assert raised_in["une clôture exige {} rappels"] == ("close", "ClosedError")
    assert raised_in["file inconnue"] == ("close", "")


def test_the_allow_list_is_narrow():
    """An allowed file's other literals are still found: an allowed exception's message is, a
    sentence the same file returns is not."""
    source = "def f():\n    raise PolicyError('une étape est un dictionnaire')\n\n" \
             "def g():\n    return 'la relance est partie'\n"
    left = [lit.text for lit in prose(source, "numi/reminders/policy.py") if allowed(lit) is None]
    assert left == ["la relance est partie"]
