"""The playbook library: every playbook of playbooks/, loaded and validated once."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, Mapping, Optional, Set

import yaml

from numi.playbooks.model import Playbook, PlaybookError, load_playbook
from numi.playbooks.render import render_text
from numi.playbooks.validate import validate_against_contract, validate_playbook
from numi.settings import ROOT

DEFAULT_DIR = ROOT / "playbooks"
SYSTEM_FILE = "_system.yml"


class Library(Mapping[str, Playbook]):
    def __init__(self, playbooks: Dict[str, Playbook], system: Dict[str, Dict[str, str]]) -> None:
        self._playbooks = playbooks
        self._system = system
        self._by_intent: Dict[str, Playbook] = {}
        for pb in playbooks.values():
            for trig in pb.triggers:
                if trig in self._by_intent:
                    raise PlaybookError(
                        f"{pb.where()}: le déclencheur « {trig} » ouvre déjà {self._by_intent[trig].where()}"
                    )
                self._by_intent[trig] = pb

    def __getitem__(self, key: str) -> Playbook:
        return self._playbooks[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._playbooks)

    def __len__(self) -> int:
        return len(self._playbooks)

    def playbook_for_intent(self, intent: Optional[str]) -> Optional[Playbook]:
        return self._by_intent.get(intent or "")

    def entry_for_intent(self, intent: Optional[str]) -> Optional[Playbook]:
        """A playbook that declares `intent` as an entry point (not a trigger)."""
        for pb in self._playbooks.values():
            if intent in pb.entry:
                return pb
        return None

    @property
    def triggers(self) -> Dict[str, Playbook]:
        return dict(self._by_intent)

    def system_text(self, key: str, mode: str, params: Mapping[str, Any]) -> str:
        entry = self._system.get(key)
        if entry is None:
            raise KeyError(f"{SYSTEM_FILE}: texte système « {key} » manquant")
        source = entry.get("script" if mode == "agent" else "say") or entry.get("say") or ""
        return render_text(source, dict(params))

    @property
    def system_keys(self) -> Iterable[str]:
        return self._system.keys()


def load_library(directory: Path = DEFAULT_DIR, intents: Optional[Iterable[str]] = None,
                 contract_dir: Optional[Path] = None) -> Library:
    """Load and validate every playbook; raise PlaybookError naming file and step."""
    playbooks: Dict[str, Playbook] = {}
    for path in sorted(Path(directory).glob("*.yml")):
        if path.name.startswith("_"):
            continue
        pb = load_playbook(path)
        validate_playbook(pb, intents)
        playbooks[pb.id] = pb
    system_path = Path(directory) / SYSTEM_FILE
    system = yaml.safe_load(system_path.read_text(encoding="utf-8")) if system_path.exists() else {}
    library = Library(playbooks, system or {})
    if contract_dir is not None:
        validate_against_contract(library, contract_dir)
    return library


@lru_cache(maxsize=1)
def default_library() -> Library:
    """The repository's playbooks, loaded once per process (at start-up, not per message)."""
    return load_library(DEFAULT_DIR, intents=domain_intents())


def domain_intents(domain_dir: Path = ROOT / "domain") -> Set[str]:
    """The intents the assistant knows: those declared in domain/ (the contract's, which
    tests/test_domain.py checks are all there, plus numi's own). A playbook may trigger on
    no other: Rasa could never predict it."""
    found: Set[str] = set()
    for path in sorted(domain_dir.rglob("*.yml")):
        for item in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("intents") or []:
            found.add(next(iter(item)) if isinstance(item, dict) else str(item))
    return found
