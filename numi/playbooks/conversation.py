"""The conversation path: what a customer's message does to the playbooks, as plain functions.

One path, two callers: the Rasa actions (``actions/playbooks.py``: tracker in, events out)
and the trainer's offline replay (``numi/replay/offline.py``: a story's turns in a
throwaway database). Everything is passed in (the library, the effect runner, the parsed
message, the playbook state); nothing here knows Rasa.

* ``playbook_for_intent``: which playbook an intent opens, and as which entry point;
* ``ticket_in_context``: the ticket a message is about (named, else the customer's waiting one);
* ``open_for_intent``: start that playbook (``action_start_playbook``), or say that no
  ticket is in context when the playbook needs one;
* ``answer``: the walker takes the customer's answer (``validate_playbook_form``);
* ``apply_signals``: what the effects signalled (identified customer, handoff), as slots.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

from sqlalchemy.orm import Session

from numi.playbooks.effects import EffectEnv
from numi.playbooks.engine import Outcome, Output, Parsed, Walker
from numi.playbooks.library import Library
from numi.playbooks.model import Playbook
from numi.tickets import service as tickets

NO_TICKET = "no_ticket_context"  # the system text (playbooks/_system.yml) when no ticket is in context
WAITING = "waiting_customer"  # the status of a ticket that waits for the customer's answer


@dataclass(frozen=True)
class Opened:
    """What an intent opened.

    `started`: the walker ran and `outcome` is its outcome (the new state to keep).
    Otherwise `outcome` holds the unchanged state and the « no ticket » text only: the
    playbook needs a ticket and none is in context, nothing is to be kept.
    """

    playbook: Playbook
    outcome: Outcome
    started: bool
    ticket: Optional[str] = None


def playbook_for_intent(lib: Library, intent: Optional[str]) -> Tuple[Optional[Playbook], Optional[str]]:
    """(the playbook `intent` opens, the entry intent to start it at): a trigger opens its
    playbook at the start (entry None), an entry point at that entry; (None, None) if none."""
    pb = lib.playbook_for_intent(intent)
    if pb is not None:
        return pb, None
    pb = lib.entry_for_intent(intent)
    return (pb, intent) if pb is not None else (None, None)


def needs_ticket(lib: Library, intent: Optional[str]) -> bool:
    """Whether the playbook `intent` opens is about a ticket in context (a reminder's answer)."""
    pb, _ = playbook_for_intent(lib, intent)
    return pb is not None and "ticket" in pb.context


def ticket_in_context(session: Session, ref: Any, customer_id: Optional[str]) -> Optional[str]:
    """The ticket a reminder answer is about: the one named in the message if it is the
    customer's, else (nothing named) the customer's ticket waiting for them; None otherwise."""
    if ref:
        own = tickets.find_own_ticket(session, str(ref), customer_id)
        return own.ref if own is not None else None
    if customer_id:
        waiting = tickets.tickets_of(session, customer_id, [WAITING])
        return str(waiting[0].ref) if waiting else None
    return None


def walker(lib: Library, env: EffectEnv, msg: Parsed) -> Walker:
    """The walker of this turn, in the conversation's mode, knowing what was detected."""
    return Walker(lib, env, mode=env.mode, detected=msg)


def open_for_intent(lib: Library, env: EffectEnv, state: Dict[str, Any], msg: Parsed) -> Optional[Opened]:
    """Start the playbook the message's intent opens (None: it opens none).

    A playbook about a ticket starts on the ticket in context; without one, it does not
    start and the customer is told so (system text ``no_ticket_context``)."""
    pb, entry = playbook_for_intent(lib, msg.intent)
    if pb is None:
        return None
    ticket = None
    if "ticket" in pb.context:
        ticket = ticket_in_context(env.session, msg.entity("ticket_id"), env.customer_id)
        if ticket is None:
            refusal = Output(text=lib.system_text(NO_TICKET, env.mode, {}))
            return Opened(playbook=pb, outcome=Outcome(state=state, outputs=[refusal]), started=False)
    outcome = walker(lib, env, msg).start(state, pb.id, entry_intent=entry, frame_slots={}, ticket=ticket,
                                          opening=msg)
    return Opened(playbook=pb, outcome=outcome, started=True, ticket=ticket)


def answer(lib: Library, env: EffectEnv, state: Dict[str, Any], msg: Parsed) -> Outcome:
    """The customer's answer to the step the playbook waits at (the form's validation)."""
    return walker(lib, env, msg).handle(state, msg)


def signal_slots(outcome: Outcome) -> Dict[str, Any]:
    """The slots to set from what the effects signalled: ``customer_id`` (identified),
    ``handoff`` (a human was requested: waiting)."""
    slots: Dict[str, Any] = {}
    for sig in outcome.signals:
        if "identified" in sig:
            slots["customer_id"] = sig["identified"]
        if "handoff" in sig:
            slots["handoff"] = dict(sig["handoff"], status="waiting")
    return slots


def apply_signals(env: EffectEnv, outcome: Outcome) -> Dict[str, Any]:
    """What the effects signalled, applied to the conversation: an identified customer is
    the one the rest of it speaks for (`env.customer_id`). Returns the slots to set."""
    slots = signal_slots(outcome)
    if "customer_id" in slots:
        env.customer_id = slots["customer_id"]
    return slots
