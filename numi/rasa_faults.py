"""Faults Rasa 3.6 hides, made visible and survivable (installed by `survive_faults()`, once,
when numi's tracker store starts in the Rasa process):

* a custom action that fails, or answers later than NUMI_ACTION_TIMEOUT seconds (10),
  gives the customer a short French reply instead of silence; its events are dropped, so
  the playbook step is simply retried with the next message (Rasa waited 300 s, then
  dropped the events and said nothing);
* an action call is never re-sent automatically (numi/rasa_ext.py no longer retries a
  closed connection); effects carry idempotency keys anyway (numi/playbooks/effects.py);
* the conversation lock lives at least as long as a turn may take (NUMI_LOCK_LIFETIME,
  raised to the action timeout and a margin), so a slow action does not let the next
  message of the same conversation run beside it;
* a tracker store that cannot be read is not taken for an empty conversation:
  FailSafeTrackerStore would start the conversation again from nothing. numi's store
  serves the conversation it holds in memory, or refuses the message with a clear answer
  (numi/rasa_ext.py, `TrackerStoreUnavailable`; the channels reply « réessayez »).
"""
from __future__ import annotations

import logging
import os
import time
from typing import Any, Dict

log = logging.getLogger(__name__)
COUNTS: Dict[str, int] = {}  # what went wrong since the process started, by kind (logged)
_INSTALLED = False


class TrackerStoreUnavailable(RuntimeError):
    """The tracker store is unreachable and this conversation is not held in memory."""


def count(kind: str) -> int:
    COUNTS[kind] = COUNTS.get(kind, 0) + 1
    return COUNTS[kind]


def action_timeout() -> float:
    return float(os.environ.get("NUMI_ACTION_TIMEOUT", "10"))


def lock_lifetime() -> float:
    """At least the longest a turn may wait on actions: three calls at the timeout, plus a margin."""
    configured = float(os.environ.get("NUMI_LOCK_LIFETIME", "60"))
    return max(configured, 3 * action_timeout() + 10)


def survive_faults(technical_text: Any) -> None:
    """`technical_text(tracker)`: the French sentence the customer gets when an action fails."""
    global _INSTALLED
    if _INSTALLED:
        return
    _bound_and_answer_failed_actions(technical_text)
    _let_an_unreachable_store_be_said()
    _INSTALLED = True


def _bound_and_answer_failed_actions(technical_text: Any) -> None:
    import rasa.core.actions.action as action_module
    from rasa.core.actions.action import RemoteAction
    import asyncio

    from rasa.shared.core.events import ActionExecuted, BotUttered, FollowupAction, SessionStarted
    from rasa.shared.exceptions import RasaException

    action_module.DEFAULT_REQUEST_TIMEOUT = action_timeout()  # read by RemoteAction.run at each call
    original = RemoteAction.run

    def said(tracker: Any) -> list:
        return [BotUttered(technical_text(tracker), metadata={"numi": {"event": "technical_error"}}),
                FollowupAction("action_listen")]
    # conversations whose session start has just failed: the same message does not wait again
    session_start_failed: Dict[str, float] = {}

    async def run(self: RemoteAction, output_channel: Any, nlg: Any, tracker: Any, domain: Any) -> Any:
        failed_at = session_start_failed.pop(tracker.sender_id, None)
        if failed_at is not None and time.monotonic() - failed_at < 2:
            return said(tracker)  # the action server just failed this message's session start
        try:
            return await original(self, output_channel, nlg, tracker, domain)
        except action_module.ActionExecutionRejection:
            raise  # a form's validation said no: Rasa's own path
        except (RasaException, OSError, TimeoutError, asyncio.TimeoutError) as exc:
            n = count("action_failed")
            log.error("action %s failed (%s; %d since start): the customer is asked to try again",
                      self.name(), type(exc).__name__, n)
            if self.name() == "action_session_start":  # Rasa's own session start; the turn's next
                session_start_failed[tracker.sender_id] = time.monotonic()  # action answers at once
                return [SessionStarted(), ActionExecuted("action_listen")]
            # one reply (Rasa sends it to the channel), then the turn ends: no loop of failing actions
            return said(tracker)

    run.numi_original = original  # type: ignore[attr-defined]
    RemoteAction.run = run


def _let_an_unreachable_store_be_said() -> None:
    from rasa.core.tracker_store import FailSafeTrackerStore

    for name in ("retrieve", "retrieve_full_tracker"):
        async def passthrough(self: Any, sender_id: str, _name: str = name) -> Any:
            try:
                return await getattr(self._tracker_store, _name)(sender_id)
            except TrackerStoreUnavailable:
                raise  # said to the customer by the channel, never taken for a new conversation
            except Exception as exc:  # what FailSafeTrackerStore does
                self.on_tracker_store_error(exc)
                return None

        setattr(FailSafeTrackerStore, name, passthrough)
