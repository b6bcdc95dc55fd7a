"""Faults Rasa 3.6 hides, made visible and survivable (README, « Reliability »). The patches
are `Patch`es applied by `numi.rasa_patches.startup.install()` with the rest:

* a custom action that fails, or answers later than NUMI_ACTION_TIMEOUT seconds (10),
  gives the customer a short French reply instead of silence; its events are dropped, so
  the playbook step is simply retried with the next message (Rasa waited 300 s, then
  dropped the events and said nothing);
* an action call is never re-sent automatically (numi/rasa_patches/speedups.py keeps
  connections without retrying a closed one); effects carry idempotency keys anyway
  (numi/playbooks/effects.py);
* the conversation lock lives at least as long as a turn may take (NUMI_LOCK_LIFETIME,
  raised to the action timeout and a margin; `lock_lifetime`, used by the lock store), so a
  slow action does not let the next message of the same conversation run beside it;
* a tracker store that cannot be read is not taken for an empty conversation:
  FailSafeTrackerStore would start the conversation again from nothing. numi's store
  serves the conversation it holds in memory, or raises `TrackerStoreUnavailable`, which
  goes through to the channel (the customer is told « réessayez »).

Rasa's names an implementation needs are imported when its patch is applied
(numi/rasa_patches/patch.py): a Rasa without them skips the patch instead of failing here.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from numi.rasa_patches.patch import Patch
from numi.settings import Settings

log = logging.getLogger(__name__)
COUNTS: Dict[str, int] = {}  # what went wrong since the process started, by kind (logged)


class TrackerStoreUnavailable(RuntimeError):
    """The tracker store is unreachable and this conversation is not held in memory."""


def count(kind: str) -> int:
    COUNTS[kind] = COUNTS.get(kind, 0) + 1
    return COUNTS[kind]


def action_timeout(settings: Optional[Settings] = None) -> float:
    return (settings or Settings.from_env()).action_timeout


def lock_lifetime(settings: Optional[Settings] = None) -> float:
    """At least the longest a turn may wait on actions: three calls at the timeout, plus a margin."""
    settings = settings or Settings.from_env()
    return max(settings.lock_lifetime, 3 * settings.action_timeout + 10)


def bound_action_calls(_action_module: Any, _original: float) -> float:
    """Rasa waits 300 s for a custom action (`DEFAULT_REQUEST_TIMEOUT`, read by
    `RemoteAction.run` at each call): wait NUMI_ACTION_TIMEOUT seconds instead."""
    return action_timeout()


def answer_failed_actions(technical_text: Callable[[Any], str]) -> Callable[[Any, Any], Any]:
    """`technical_text(tracker)`: the French sentence the customer gets when an action fails."""

    def implementation(_remote_action: Any, original: Any) -> Any:
        """A custom action that fails or times out: Rasa dropped its events and said nothing.
        Say `technical_text` and end the turn (the step runs again with the next message);
        a failed session start lets the conversation begin, and the same message's next
        action answers at once instead of waiting again."""
        from rasa.core.actions.action import ActionExecutionRejection
        from rasa.shared.core.events import ActionExecuted, BotUttered, FollowupAction, SessionStarted
        from rasa.shared.exceptions import RasaException

        def said(tracker: Any) -> List[Any]:
            return [BotUttered(technical_text(tracker), metadata={"numi": {"event": "technical_error"}}),
                    FollowupAction("action_listen")]
        # conversations whose session start has just failed: the same message does not wait again
        session_start_failed: Dict[str, float] = {}

        async def run(self: Any, output_channel: Any, nlg: Any, tracker: Any, domain: Any) -> Any:
            failed_at = session_start_failed.pop(tracker.sender_id, None)
            if failed_at is not None and time.monotonic() - failed_at < 2:
                return said(tracker)  # the action server just failed this message's session start
            try:
                return await original(self, output_channel, nlg, tracker, domain)
            except ActionExecutionRejection:
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

        return run

    return implementation


def unreachable_store_said(_fail_safe: Any, original: Any) -> Any:
    """FailSafeTrackerStore answers None (a new, empty conversation) when its store fails:
    let `TrackerStoreUnavailable` through to the channel instead; any other error is
    handled as Rasa does."""
    name = original.__name__

    async def passthrough(self: Any, sender_id: str) -> Any:
        try:
            return await getattr(self._tracker_store, name)(sender_id)
        except TrackerStoreUnavailable:
            raise  # said to the customer by the channel, never taken for a new conversation
        except Exception as exc:  # what Rasa 3.6.21's FailSafeTrackerStore does
            self.on_tracker_store_retrieve_error(exc)
            return None

    passthrough.__name__ = name
    return passthrough


def fault_patches(technical_text: Callable[[Any], str]) -> Tuple[Patch, ...]:
    return (
        Patch("action.DEFAULT_REQUEST_TIMEOUT", "rasa.core.actions.action:DEFAULT_REQUEST_TIMEOUT",
              bound_action_calls),
        Patch("RemoteAction.run", "rasa.core.actions.action:RemoteAction.run", answer_failed_actions(technical_text)),
        Patch("FailSafeTrackerStore.retrieve", "rasa.core.tracker_store:FailSafeTrackerStore.retrieve",
              unreachable_store_said),
        Patch("FailSafeTrackerStore.retrieve_full_tracker",
              "rasa.core.tracker_store:FailSafeTrackerStore.retrieve_full_tracker", unreachable_store_said),
    )
