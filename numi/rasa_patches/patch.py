"""What a patch of Rasa is, and how one is applied.

A `Patch` names the Rasa attribute it replaces (`target`, "module:Class.attribute"), the
Rasa versions it was written for (`written_for`) and its implementation, a function of
(the owner of the attribute, Rasa's original) returning the replacement. `apply` checks
the installed Rasa's version first: a patch written for another version is skipped with a
warning, and Rasa's own behaviour stays (tests/test_rasa_ext.py fails on such a mismatch,
so that upgrading Rasa means reviewing every patch). Rasa's originals are kept in
`ORIGINALS`, by patch name, to compare the two (the tests do).

The targets are imported when a patch is applied, not when this module is imported: a Rasa
without one of them skips that patch instead of failing numi's import.
"""
from __future__ import annotations

import importlib
import inspect
import logging
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, Tuple

import rasa

log = logging.getLogger(__name__)

# The Rasa release every patch of numi was written and tested for (README, « Tests »).
WRITTEN_FOR: Tuple[str, ...] = ("3.6.21",)

# Rasa's own attribute each applied patch replaced, by patch name, as Rasa calls it.
ORIGINALS: Dict[str, Any] = {}
# The patches applied in this process, by name (each is applied once).
APPLIED: Dict[str, "Patch"] = {}


@dataclass(frozen=True)
class Patch:
    name: str
    target: str  # "rasa.engine.runner.dask:DaskGraphRunner.run"
    implementation: Callable[[Any, Any], Any]  # (owner, Rasa's original) -> the replacement
    written_for: Tuple[str, ...] = WRITTEN_FOR

    @property
    def why(self) -> str:
        return inspect.getdoc(self.implementation) or ""

    def locate(self) -> Tuple[Any, str]:
        """The object holding the target (a module or a class) and the attribute's name."""
        module_name, _, path = self.target.partition(":")
        owner: Any = importlib.import_module(module_name)
        *parents, attribute = path.split(".")
        for parent in parents:
            owner = getattr(owner, parent)
        getattr(owner, attribute)  # AttributeError when this Rasa has no such target
        return owner, attribute

    def applicable(self) -> bool:
        return rasa_version() in self.written_for

    def rasa_original(self) -> Any:
        """Rasa's own attribute, as Rasa calls it, whether this patch is applied or not."""
        if self.name in ORIGINALS:
            return ORIGINALS[self.name]
        owner, attribute = self.locate()
        return getattr(owner, attribute)


def rasa_version() -> str:
    return str(rasa.__version__)


def apply(patch: Patch) -> bool:
    """Apply `patch` once; False (and a warning) when it was not written for this Rasa."""
    if patch.name in APPLIED:
        return True
    version = rasa_version()
    if version not in patch.written_for:
        log.warning("Rasa %s: numi's patch %s (%s) was written for Rasa %s; skipped, Rasa's own is used",
                    version, patch.name, patch.target, ", ".join(patch.written_for))
        return False
    try:
        owner, attribute = patch.locate()
    except (ImportError, AttributeError) as exc:
        log.warning("numi's patch %s: %s not found (%s); skipped", patch.name, patch.target, exc)
        return False
    stored = inspect.getattr_static(owner, attribute)
    original = getattr(owner, attribute)
    replacement = patch.implementation(owner, original)
    if isinstance(stored, staticmethod):
        replacement = staticmethod(replacement)
    ORIGINALS[patch.name] = original
    setattr(owner, attribute, replacement)
    APPLIED[patch.name] = patch
    return True


def apply_all(patches: Iterable[Patch]) -> List[str]:
    """Apply each patch (once); the names of those in place afterwards."""
    return [patch.name for patch in patches if apply(patch)]
