"""`install()`: every patch numi makes to Rasa, applied once, by the Rasa process's entry
point (`python -m numi.rasa_main`), before Rasa reads its endpoints and loads the model.

A patch written for another Rasa version is skipped with a warning (Rasa's own behaviour
stays) and tests/test_rasa_ext.py fails until it is reviewed.
"""
from __future__ import annotations

import logging
from typing import Iterable, List, Optional, Tuple

from numi.channels import failure_text
from numi.rasa_patches.faults import fault_patches
from numi.rasa_patches.patch import Patch, apply_all
from numi.rasa_patches.speedups import SPEED_UPS

log = logging.getLogger(__name__)


def all_patches() -> Tuple[Patch, ...]:
    """The speed-ups, then the fault handling (its sentences from numi.channels)."""
    return SPEED_UPS + fault_patches(failure_text)


def install(patches: Optional[Iterable[Patch]] = None) -> List[str]:
    """Apply `patches` (all of numi's by default), each once; the names of those in place."""
    chosen = tuple(all_patches() if patches is None else patches)
    applied = apply_all(chosen)
    log.info("numi's Rasa patches: %d of %d in place", len(applied), len(chosen))
    return applied
