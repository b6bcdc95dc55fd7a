"""The effect protocol: what the walker (numi.playbooks.engine) needs from the outside world,
and the one error by which the outside says it is down. The walker knows nothing else of
the database, the mail or the humans; numi.playbooks.effects implements this protocol."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Dict, Mapping, Protocol

from numi.playbooks.model import Playbook


class EffectUnavailable(RuntimeError):
    """An effect could not run because what it needs is down (the database): the whole turn
    fails, unsaid and unrecorded, so that Rasa answers « réessayez » and the step runs again,
    rather than going on as if the effect had happened."""


class EffectRunner(Protocol):
    """What the engine needs from the outside world (database, mail, handoff).
    numi.playbooks.effects.EffectEnv is the one implementation."""

    def run(self, name: str, params: Mapping[str, Any], frame: Dict[str, Any],
            playbook: Playbook, scope: Mapping[str, Any]) -> Dict[str, Any]:
        """Run the named effect; the names it adds to `slots`."""

    def scope(self, frame: Dict[str, Any], playbook: Playbook) -> Dict[str, Any]:
        """Template variables other than `slots`: customer, ticket, agent, now."""

    def local_now(self) -> datetime:
        """Now, naive, in the local time zone (Settings.timezone): what « demain » is read against."""
