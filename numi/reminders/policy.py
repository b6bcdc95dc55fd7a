"""The reminder policy: timelines per priority, read from YAML, and the plan.

`plan_next` decides, for one waiting ticket and the steps already done, which
step is next and when it is due. The invariants of 001 live here, in code, so
no configuration can break them:

* never close with fewer than `min_reminders_before_close` (>= 2) reminders:
  a missing reminder is inserted as a firm reminder before the closure;
* at most one step per ticket per day, and after downtime the remaining steps
  keep their spacing from the step actually done (no burst of reminders);
* a step is never due before its day counted from `waiting_since`.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import yaml

from numi.clock import local_date
from numi.settings import ROOT
from numi.vocab import REMINDER_KINDS

KINDS = REMINDER_KINDS
CHANNELS = ("email", "sms", "call")
DEFAULT_PATH = ROOT / "config" / "reminder_policy.yml"


class PolicyError(ValueError):
    pass


@dataclass(frozen=True)
class Step:
    day: int
    kind: str
    channel: str = "email"
    fallback: Optional[str] = None
    template: Optional[str] = None

    @property
    def is_reminder(self) -> bool:
        return self.kind != "close"


@dataclass(frozen=True)
class DoneStep:
    kind: str
    on: date  # local date the step was done


@dataclass(frozen=True)
class Planned:
    index: int  # position in the (possibly extended) timeline
    step: Step
    due: date


@dataclass(frozen=True)
class Policy:
    timelines: Dict[str, Tuple[Step, ...]]
    by_waiting_reason: Dict[str, Tuple[Step, ...]]
    send_window: Tuple[time, time]
    min_reminders_before_close: int = 2

    def timeline_for(self, priority: Optional[str], waiting_reason: Optional[str]) -> Tuple[Step, ...]:
        if waiting_reason and waiting_reason in self.by_waiting_reason:
            return self.by_waiting_reason[waiting_reason]
        return self.timelines.get(priority or "default", self.timelines["default"])

    def effective_timeline(self, priority: Optional[str], waiting_reason: Optional[str]) -> List[Step]:
        """The timeline with the 001 invariants enforced (>= 2 reminders before close)."""
        steps = list(self.timeline_for(priority, waiting_reason))
        reminders = [s for s in steps if s.is_reminder]
        missing = max(0, max(2, self.min_reminders_before_close) - len(reminders))
        if missing:
            close_at = next((i for i, s in enumerate(steps) if s.kind == "close"), len(steps))
            close_day = steps[close_at].day if close_at < len(steps) else (steps[-1].day + 1 if steps else 1)
            for n in range(missing):
                # the extra reminder is a firm one, one day before the closure
                steps.insert(close_at + n, Step(day=max(1, close_day - missing + n), kind="firm", channel="email"))
            if close_at + missing < len(steps):
                close = steps[close_at + missing]
                if close.day <= steps[close_at + missing - 1].day:
                    steps[close_at + missing] = Step(day=steps[close_at + missing - 1].day + 1, kind="close",
                                                     channel=close.channel)
        return steps

    def plan_next(
        self,
        priority: Optional[str],
        waiting_reason: Optional[str],
        waiting_day: date,
        done: Sequence[DoneStep],
    ) -> Optional[Planned]:
        """The next step and its due date, or None when the timeline is over."""
        steps = self.effective_timeline(priority, waiting_reason)
        index = len(done)
        if index >= len(steps):
            return None
        step = steps[index]
        due = waiting_day + timedelta(days=step.day)
        if done:
            previous_step = steps[index - 1]
            gap = max(1, step.day - previous_step.day)
            due = max(due, done[-1].on + timedelta(days=gap))
        return Planned(index=index, step=step, due=due)

    def first_due(self, ticket, tz: str) -> Optional[date]:
        """Due date of the first step for a ticket that just went waiting, in the local calendar
        of `tz` (Settings.timezone)."""
        if ticket.waiting_since is None:
            return None
        planned = self.plan_next(ticket.priority, ticket.waiting_reason,
                                 local_date(ticket.waiting_since, tz), [])
        return planned.due if planned else None


def _steps(raw: object, where: str) -> Tuple[Step, ...]:
    if not isinstance(raw, list) or not raw:
        raise PolicyError(f"{where}: une liste d'étapes est attendue")
    steps: List[Step] = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise PolicyError(f"{where}[{i}]: une étape est un dictionnaire")
        unknown = set(item) - {"day", "kind", "channel", "fallback", "template"}
        if unknown:
            raise PolicyError(f"{where}[{i}]: clés inconnues {sorted(unknown)}")
        step = Step(
            day=int(item["day"]),
            kind=str(item["kind"]),
            channel=str(item.get("channel", "email")),
            fallback=item.get("fallback"),
            template=item.get("template"),
        )
        if step.kind not in KINDS:
            raise PolicyError(f"{where}[{i}]: kind {step.kind!r} inconnu ({', '.join(KINDS)})")
        if step.channel not in CHANNELS or (step.fallback and step.fallback not in CHANNELS):
            raise PolicyError(f"{where}[{i}]: canal inconnu")
        if step.day < 1:
            raise PolicyError(f"{where}[{i}]: day doit être >= 1")
        if steps and step.day <= steps[-1].day:
            raise PolicyError(f"{where}[{i}]: les jours doivent être croissants")
        steps.append(step)
    if steps[-1].kind != "close" or any(s.kind == "close" for s in steps[:-1]):
        raise PolicyError(f"{where}: la clôture doit être la dernière étape, et la seule")
    return tuple(steps)


def load(path: Path = DEFAULT_PATH) -> Policy:
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    timelines = {name: _steps(steps, f"{path}: timelines.{name}")
                 for name, steps in (raw.get("timelines") or {}).items()}
    for required in ("urgent", "high", "normal", "default"):
        if required not in timelines:
            raise PolicyError(f"{path}: timelines.{required} manquant")
    window = raw.get("send_window") or {"start": "09:00", "end": "19:00"}
    return Policy(
        timelines=timelines,
        by_waiting_reason={
            name: _steps(steps, f"{path}: by_waiting_reason.{name}")
            for name, steps in (raw.get("by_waiting_reason") or {}).items()
        },
        send_window=(time.fromisoformat(str(window["start"])), time.fromisoformat(str(window["end"]))),
        min_reminders_before_close=max(2, int(raw.get("min_reminders_before_close", 2))),
    )


@lru_cache(maxsize=1)
def load_default() -> Policy:
    return load(DEFAULT_PATH)
