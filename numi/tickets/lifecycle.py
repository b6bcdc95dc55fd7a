"""The ticket lifecycle: one explicit state machine.

    new ──▶ in_progress ──▶ waiting_customer ──▶ in_progress (customer replied)
     │          │  ▲               │
     │          ▼  │               ▼
     └──────▶ escalated ───────▶ closed ──▶ in_progress (reopened)

A transition that is not in `TRANSITIONS` is refused and changes nothing.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, FrozenSet, Optional

from numi.vocab import PRIORITIES, QUEUES
from numi.wording import Refusal

__all__ = ["PRIORITIES", "QUEUES"]  # re-exported: the vocabulary of tickets, defined in numi.vocab

STATUSES = ("new", "in_progress", "waiting_customer", "escalated", "closed")
CLOSE_REASONS = ("resolution", "inactivity", "out_of_scope", "other")
WAITING_REASONS = (
    "feedback",  # « Vous testez et vous me dites »
    "test_email",  # 5.1: numi sent a test e-mail, waiting for confirmation
    "internal_check",  # 5.2: numi checks on its side (long diagnosis)
    "validation",  # 5.3: the customer tests the agreed configuration
    "third_party",  # 5.4: the customer asks a third party
    "information",  # missing information from the customer
    "technical_diagnosis",  # long technical diagnosis (J+10/J+15/J+20)
    "confirmation",  # e.g. workshop arrangement to confirm
)

TRANSITIONS: Dict[str, FrozenSet[str]] = {
    "new": frozenset({"in_progress", "waiting_customer", "escalated", "closed"}),
    "in_progress": frozenset({"waiting_customer", "escalated", "closed"}),
    "waiting_customer": frozenset({"in_progress", "escalated", "closed"}),
    "escalated": frozenset({"in_progress", "waiting_customer", "closed"}),
    "closed": frozenset({"in_progress"}),
}


class TransitionError(Refusal):
    """A transition the lifecycle forbids, or one missing what it requires: a code of
    templates/web/texts.yml's api_errors (the API answers 409 with its words)."""

    default_status = 409


@dataclass(frozen=True)
class Transition:
    to_status: str
    reason: Optional[str] = None
    waiting_reason: Optional[str] = None
    close_reason: Optional[str] = None
    note: Optional[str] = None


def check(from_status: str, t: Transition) -> None:
    """Raise TransitionError unless `t` is allowed from `from_status`."""
    if t.to_status not in STATUSES:
        raise TransitionError("unknown_status", to_status=t.to_status)
    if t.to_status not in TRANSITIONS.get(from_status, frozenset()):
        raise TransitionError("forbidden_transition", from_status=from_status, to_status=t.to_status)
    if t.to_status == "waiting_customer" and t.waiting_reason not in WAITING_REASONS:
        raise TransitionError("waiting_reason_required", reasons=", ".join(WAITING_REASONS))
    if t.to_status == "closed":
        if t.close_reason not in CLOSE_REASONS:
            raise TransitionError("close_reason_required", reasons=", ".join(CLOSE_REASONS))
        if not (t.note or "").strip():
            raise TransitionError("close_note_required")


def allowed(from_status: str) -> FrozenSet[str]:
    return TRANSITIONS.get(from_status, frozenset())
