"""What a replay step shows, whatever the story's source: the bot's messages as Rasa sends
them and the playbook step the conversation is at. Shared by the offline walk
(numi/replay/offline.py) and the recorded conversations (numi/replay/recorded.py).

Nothing here does I/O at import time.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

import yaml

from numi.playbooks.engine import Output
from numi.playbooks.library import Library, default_library
from numi.settings import ROOT

REPLAY_TEXTS = Path("config") / "quizzes" / "_replay.yml"


class StoryNotFound(LookupError):
    """No story has this id (or its source is not available)."""


def library_or_default(library: Optional[Library]) -> Library:
    return library if library is not None else default_library()


def replay_texts(root: Path = ROOT) -> Dict[str, Any]:
    """The replay's own texts (config/quizzes/_replay.yml), read once per file."""
    return _replay_texts(str(Path(root) / REPLAY_TEXTS))


@lru_cache(maxsize=4)
def _replay_texts(path: str) -> Dict[str, Any]:
    texts = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    return texts if isinstance(texts, dict) else {}


def _buttons(buttons: Any) -> List[Dict[str, str]]:
    if not isinstance(buttons, list):
        return []
    return [{"title": b.get("title", ""), "payload": b.get("payload", "")} for b in buttons if isinstance(b, dict)]


def bot_message(text: Any, buttons: Any = None, custom: Any = None) -> Dict[str, Any]:
    """A bot message as Rasa sends it and the walker shows it (engine.Output):
    ``{"custom": card}``, else ``{"text", "buttons"?}``."""
    return Output(text=str(text or ""), buttons=_buttons(buttons), card=custom).as_dict()


def shown_text(message: Mapping[str, Any]) -> str:
    """What a message says, for the transcript: its text, else its card's script."""
    custom = message.get("custom")
    script = custom.get("script") if isinstance(custom, dict) else None
    return str(message.get("text") or script or "")


def step_info(lib: Library, scenario: Optional[str], step_id: Optional[str]) -> Optional[Dict[str, Any]]:
    """``{"scenario", "step", "step_title"}`` of a playbook step (its id if it has no title)."""
    if not scenario or not step_id:
        return None
    title = step_id
    pb = lib.get(scenario)
    if pb is not None and step_id in pb.steps:
        title = pb.steps[step_id].title or step_id
    return {"scenario": scenario, "step": step_id, "step_title": title}


def playbook_after(lib: Library, before: Mapping[str, Any], after: Mapping[str, Any]) -> Optional[Dict[str, Any]]:
    """The playbook step the conversation is at after a turn (or the last one walked, if it ended)."""
    stack = after.get("stack") or []
    if stack:
        return step_info(lib, stack[-1].get("id"), stack[-1].get("step"))
    trail = after.get("trail") or []
    if trail and trail != (before.get("trail") or []):
        last = trail[-1]
        if isinstance(last, (list, tuple)) and len(last) == 2:
            return step_info(lib, last[0], last[1])
    return None
