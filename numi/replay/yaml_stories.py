"""The YAML stories a trainer replays: Rasa's training stories and rules (``data/**/*.yml``)
and the test stories (``tests/stories/*.yml``), parsed into customer turns and the actions
that answer them. Nothing is walked here (numi/replay/offline.py does).

Nothing here does I/O at import time.
"""
from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

import yaml

from numi.playbooks import conversation
from numi.playbooks.library import Library
from numi.text import fold

log = logging.getLogger(__name__)

YAML_SOURCES: Tuple[str, ...] = ("data", "tests")
AGENT_LABEL = "(assistance hotliner)"
START_PLAYBOOK = ("action", "action_start_playbook")
_ANNOTATION = re.compile(r"\[(?P<value>[^\]]+)\](?:\((?P<entity>[\w\-]+)(?::[^)]*)?\)|(?P<json>\{[^}]*\}))")


@dataclass
class Turn:
    """A customer turn: what they say, how it is classified, and what answers it."""

    text: str
    intent: Optional[str]
    entities: List[Dict[str, Any]] = field(default_factory=list)
    actions: List[Tuple[str, str]] = field(default_factory=list)  # ("action", name) | ("bot", text)
    from_nlu: bool = False  # the story gives no text: a training example of the intent


@dataclass
class YamlStory:
    id: str
    source: str
    title: str
    path: Path
    mode: str  # "agent" for stories labelled « (assistance hotliner) »
    turns: List[Turn]


def slug(text: str) -> str:
    """URL-safe, stable: « ticket_followup via reopen_ticket (client) » → ticket_followup-via-reopen_ticket-client."""
    return re.sub(r"[^a-z0-9_]+", "-", fold(text)).strip("-") or "story"


def read_yaml(path: Path) -> Dict[str, Any]:
    """A YAML mapping, or {} (logged) when the file is unreadable or not a mapping."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        log.warning("%s: illisible (%s)", path, exc)
        return {}
    return raw if isinstance(raw, dict) else {}


def strip_annotations(text: str) -> Tuple[str, List[Dict[str, Any]]]:
    """Rasa's entity annotations « [TK-00456](ticket_id) » → plain text and entities."""
    entities: List[Dict[str, Any]] = []

    def repl(match: "re.Match[str]") -> str:
        name = match.group("entity")
        if name is None and match.group("json"):
            try:
                name = json.loads(match.group("json")).get("entity")
            except (ValueError, AttributeError):
                name = None
        if name:
            entities.append({"entity": name, "value": match.group("value")})
        return match.group("value")

    return _ANNOTATION.sub(repl, text), entities


def _story_files(source: str, root: Path) -> List[Path]:
    if source == "data":
        return sorted(p for p in (root / "data").rglob("*.yml") if not p.name.startswith("_"))
    if source == "tests":
        return sorted((root / "tests" / "stories").glob("*.yml"))
    return []


def _first_example(examples: str) -> Optional[str]:
    for line in examples.splitlines():
        line = line.strip()
        if line.startswith("- "):
            return strip_annotations(line[2:].strip())[0]
    return None


def nlu_examples(root: Path) -> Dict[str, str]:
    """The first training example of each intent (the customer text of rules, which have none)."""
    examples: Dict[str, str] = {}
    for path in sorted((root / "data").rglob("*.yml")):
        for item in read_yaml(path).get("nlu") or []:
            if not isinstance(item, dict) or "intent" not in item or item["intent"] in examples:
                continue
            first = _first_example(str(item.get("examples") or ""))
            if first is not None:
                examples[item["intent"]] = first
    return examples


def _user_turn(user: Mapping[str, Any], examples: Mapping[str, str]) -> Turn:
    intent = user.get("intent")
    text, entities = strip_annotations(str(user.get("user") or "").strip())
    from_nlu = False
    if not text and isinstance(intent, str) and intent in examples:
        text, from_nlu = examples[intent], True
    for ent in user.get("entities") or []:
        if isinstance(ent, dict):
            entities += [{"entity": k, "value": v} for k, v in ent.items()]
        elif isinstance(ent, str):
            entities.append({"entity": ent, "value": None})
    return Turn(text=text, intent=str(intent) if intent else None, entities=entities, from_nlu=from_nlu)


def parse_turns(steps: Any, examples: Mapping[str, str]) -> List[Turn]:
    """A story's (or rule's) steps as customer turns, each with the actions that follow it."""
    turns: List[Turn] = []
    for step in steps if isinstance(steps, list) else []:
        if not isinstance(step, dict):
            continue
        user = step
        if "or" in step:  # a rule's alternatives: the first one that is a user turn
            user = next((a for a in step["or"] or [] if isinstance(a, dict) and ("intent" in a or "user" in a)), {})
        if "user" in user or "intent" in user:
            turns.append(_user_turn(user, examples))
        elif "action" in step and turns:
            turns[-1].actions.append(("action", str(step["action"])))
        elif "bot" in step and turns:
            turns[-1].actions.append(("bot", str(step["bot"])))
    return turns


def yaml_stories(source: str, root: Path) -> List[YamlStory]:
    """Every story and rule of `source` (``data`` or ``tests``) that has a customer turn,
    with a stable id (``<source>:<slug of the title>``, numbered when titles repeat)."""
    examples = nlu_examples(root) if source == "data" else {}
    stories: List[YamlStory] = []
    seen: Dict[str, int] = {}
    for path in _story_files(source, root):
        raw = read_yaml(path)
        for kind in ("stories", "rules"):
            for item in raw.get(kind) or []:
                if not isinstance(item, dict):
                    continue
                title = str(item.get("story") or item.get("rule") or path.stem)
                turns = parse_turns(item.get("steps"), examples)
                if not turns:
                    continue  # nothing a customer says: nothing to replay
                base = f"{source}:{slug(title)}"
                seen[base] = seen.get(base, 0) + 1
                sid = base if seen[base] == 1 else f"{base}-{seen[base]}"
                mode = "agent" if AGENT_LABEL in title else "customer"
                stories.append(YamlStory(id=sid, source=source, title=title, path=path, mode=mode, turns=turns))
    return stories


def static_scenario(story: YamlStory, lib: Library) -> Optional[str]:
    """The playbook the story's first ``action_start_playbook`` opens, read without walking."""
    for turn in story.turns:
        if START_PLAYBOOK in turn.actions:
            pb, _ = conversation.playbook_for_intent(lib, turn.intent)
            if pb is not None:
                return pb.id
    return None
