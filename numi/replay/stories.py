"""Stories a trainer replays step by step: listed from three sources, loaded as steps.

Sources:

* ``data``: the stories and rules of ``data/**/*.yml`` (Rasa training data);
* ``tests``: the test stories of ``tests/stories/*.yml``;
* ``recorded``: real conversations, read from Rasa's tracker store (table
  ``events`` as Rasa's SQLTrackerStore writes it), always anonymised.

What the bot showed in a YAML story is not invented: the story's user turns go, one by
one, through the conversation path the Rasa actions take (numi/playbooks/conversation.py),
in a throwaway SQLite database holding the demo data, and ``utter_*`` actions are
rendered from ``domain/`` (first variant). Stories labelled « (assistance hotliner) »
are walked in agent mode: their steps show prompter cards.

This module is the public face; the work is done by:

* numi/replay/yaml_stories.py: the YAML stories parsed into turns;
* numi/replay/offline.py: the sandboxed walk of a YAML story;
* numi/replay/recorded.py: the recorded conversations of the tracker store;
* numi/replay/steps.py: what a step shows (bot messages, playbook position).

Nothing here does I/O at import time.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from numi.playbooks.library import Library
from numi.replay.anonymise import Anonymiser, customer_names
from numi.replay.offline import sandbox, walk
from numi.replay.recorded import default_tracker_url, load_recorded, recorded_id, recorded_summaries
from numi.replay.steps import REPLAY_TEXTS, StoryNotFound, library_or_default, replay_texts
from numi.replay.yaml_stories import AGENT_LABEL, YAML_SOURCES, slug, static_scenario, yaml_stories
from numi.settings import DEFAULT_TIMEZONE, ROOT, Settings

__all__ = [
    "SOURCES", "AGENT_LABEL", "REPLAY_TEXTS", "StoryNotFound", "list_stories", "load_story", "recorded_id",
    "default_tracker_url", "replay_texts", "sandbox", "slug",
]

SOURCES: Tuple[str, ...] = YAML_SOURCES + ("recorded",)



def _tz_name(settings: Optional[Settings]) -> str:
    return settings.timezone if settings is not None else DEFAULT_TIMEZONE


def list_stories(sources: Iterable[str] = SOURCES, *, root: Path = ROOT, tracker_url: Optional[str] = None,
                 library: Optional[Library] = None, settings: Optional[Settings] = None,
                 secret: Optional[str] = None) -> List[Dict[str, Any]]:
    """Summaries ``{"id", "source", "title", "scenario", "turns", "mode"}`` of every replayable story.

    `sources`: any of ``data``, ``tests``, ``recorded``. `tracker_url`: a SQLAlchemy URL of
    Rasa's tracker store (default NUMI_TRACKER_URL, else sqlite:///var/tracker.db); a missing
    store lists no recorded conversation. `secret`: keys the hash of recorded ids (optional).
    """
    lib = library_or_default(library)
    root = Path(root)
    out: List[Dict[str, Any]] = []
    for source in dict.fromkeys(sources):
        if source in YAML_SOURCES:
            out += [{"id": story.id, "source": source, "title": story.title,
                     "scenario": static_scenario(story, lib), "turns": len(story.turns), "mode": story.mode}
                    for story in yaml_stories(source, root)]
        elif source == "recorded":
            out += recorded_summaries(lib, tracker_url, secret, _tz_name(settings), root)
        else:
            raise ValueError(f"unknown story source {source!r} (known: {', '.join(SOURCES)})")
    return out


def load_story(story_id: str, *, root: Path = ROOT, tracker_url: Optional[str] = None,
               library: Optional[Library] = None, settings: Optional[Settings] = None,
               session: Any = None, names: Iterable[Sequence[str]] = (), customer_id: Optional[str] = None,
               agent_name: str = "", secret: Optional[str] = None) -> Dict[str, Any]:
    """One story as replay steps.

    Returns ``{"id", "source", "title", "scenario", "turns", "mode", "opening", "context", "steps"}``;
    each step is ``{"index", "customer", "intent", "bot", "playbook", "mode", "actions",
    "customer_from_nlu"?}``, ``bot`` being the messages as Rasa sends them
    (``{"text", "buttons"?}`` or ``{"custom": card}``) and ``playbook``
    ``{"scenario", "step", "step_title"}`` or None.

    YAML stories are walked through the conversation path in a throwaway database
    (`settings` gives timezone and opening hours; `customer_id` replays as that demo
    customer; a playbook about a waiting ticket defaults to the demo customer who has one).
    Recorded ones are anonymised: e-mails, phones, numbers, codes, and the names in
    `names` plus, when `session` (numi database) is given, every customer's name.
    Raises StoryNotFound.
    """
    if not isinstance(story_id, str) or ":" not in story_id:
        raise StoryNotFound(story_id)
    lib = library_or_default(library)
    root = Path(root)
    source = story_id.split(":", 1)[0]
    if source == "recorded":
        known: List[Any] = [tuple(n) for n in names or ()]  # (first, last) names
        if session is not None:
            known += customer_names(session)
        return load_recorded(story_id, lib, tracker_url, secret, Anonymiser(tuple(known)), _tz_name(settings), root)
    if source not in YAML_SOURCES:
        raise StoryNotFound(story_id)
    story = next((s for s in yaml_stories(source, root) if s.id == story_id), None)
    if story is None:
        raise StoryNotFound(story_id)
    steps, context = walk(story, lib, root, settings, customer_id, agent_name)
    scenario = static_scenario(story, lib) or next((s["playbook"]["scenario"] for s in steps if s["playbook"]), None)
    return {"id": story.id, "source": source, "title": story.title, "scenario": scenario,
            "turns": len(steps), "mode": story.mode, "opening": [], "context": context, "steps": steps}
