"""What a hotliner records once a call of the call list is made (`POST /api/calls/<id>/outcome`),
and 001's « Appel ou SMS » (J+5, high priority): the SMS when nobody answered.

`record_outcome()` closes a call task once: `done_at`, `outcome` (the code of
numi.vocab.CALL_OUTCOMES, then the hotliner's note), and a `call_outcome` entry in the
ticket's history, under the hotliner's name. A second outcome for the same task is refused
(409), even from a concurrent request (a conditional update).

`no_answer` on a reminder's call task sends the SMS of 001 (templates/mail/reminder_sms.txt.j2)
through the outbox, as the daily run sends an SMS step (numi/reminders/engine.py): within the
send window (else it waits in the outbox), with the call step's key plus
engine.CALL_SMS_SUFFIX, so that it is sent once and stays part of the call's step (the
timeline does not move: the next step comes on its day). No SMS when:
* the customer has no phone number;
* the ticket no longer waits for the customer, or waits again since (another waiting period);
* the timeline went on after the call (a later step was done), or its next step is due today
  (at most one message a ticket a day: the next reminder goes instead).
`reached` and `wrong_number` send nothing.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Dict, Optional

from sqlalchemy import update
from sqlalchemy.orm import Session

from numi import wording
from numi.clock import local_date
from numi.db import models as m
from numi.reminders import engine, outbox
from numi.reminders.policy import Policy, load_default
from numi.settings import Settings
from numi.tickets import service as tickets
from numi.vocab import CALL_OUTCOMES

OUTCOME_EVENT = "call_outcome"
NOTE_MAX = 2000


class CallOutcomeError(wording.Refusal):
    """An unknown call task (404), one already done (409), an outcome that is not one (422)."""

    default_status = 409


@dataclass(frozen=True)
class Recorded:
    task_id: int
    outcome: str
    note: Optional[str]
    done_at: datetime
    ticket_id: Optional[str]
    sms_sent: bool  # the SMS of 001 was put in the outbox (it leaves within the send window)

    def as_json(self) -> Dict[str, Any]:
        return {"id": self.task_id, "outcome": self.outcome, "note": self.note, "done_at": m.as_iso(self.done_at),
                "ticket_id": self.ticket_id, "sms_sent": self.sms_sent}


def outcome_text(outcome: str, note: Optional[str]) -> str:
    """What `CallTask.outcome` keeps: the code, then the hotliner's note (« no_answer: … »)."""
    return f"{outcome}: {note}" if note else outcome


def record_outcome(session: Session, settings: Settings, task_id: int, outcome: str, *, actor: str,
                   now: datetime, note: Optional[str] = None, policy: Optional[Policy] = None) -> Recorded:
    """Mark the call task done with its outcome, inside the caller's transaction; raises
    CallOutcomeError. `actor` is the authenticated staff member (« hotliner:Camille »)."""
    if outcome not in CALL_OUTCOMES:
        raise CallOutcomeError("unknown_call_outcome", 422, outcomes=", ".join(CALL_OUTCOMES))
    note = (note or "").strip()[:NOTE_MAX] or None
    task = session.get(m.CallTask, task_id)
    if task is None:
        raise CallOutcomeError("unknown_call", 404)
    claimed = session.execute(
        update(m.CallTask).where(m.CallTask.id == task.id, m.CallTask.done_at.is_(None))
        .values(done_at=now, outcome=outcome_text(outcome, note))
        .execution_options(synchronize_session="fetch")).rowcount
    if not claimed:
        raise CallOutcomeError("call_already_done", 409)
    ticket = session.get(m.Ticket, task.ticket_number) if task.ticket_number is not None else None
    sent = False
    if ticket is not None:
        details: Dict[str, Any] = {"outcome": outcome, "reason": task.reason}
        if note:
            details["note"] = note
        tickets.record(session, ticket, actor=actor, event=OUTCOME_EVENT, at=now, details=details)
        if outcome == "no_answer" and task.reason == "reminder":
            sent = _send_sms(session, settings, policy or load_default(), task, ticket, actor, now)
    return Recorded(task_id=int(task.id), outcome=outcome, note=note, done_at=now,
                    ticket_id=m.ticket_ref(ticket.number) if ticket is not None else None, sms_sent=sent)


def _step_index(task: m.CallTask, ticket: m.Ticket) -> Optional[int]:
    """The step of the ticket's current waiting period that made this call task, or None (an
    earlier waiting period's call)."""
    prefix = engine.period_key(ticket)
    key = str(task.key)
    if not key.startswith(prefix):
        return None
    index = key[len(prefix):].split(":", 1)[0]
    return int(index) if index.isdigit() else None


def _send_sms(session: Session, settings: Settings, policy: Policy, task: m.CallTask, ticket: m.Ticket,
              actor: str, now: datetime) -> bool:
    """001's « ou SMS » after an unanswered reminder call, when it may still go (see the module)."""
    if ticket.status != "waiting_customer" or ticket.waiting_since is None:
        return False
    index = _step_index(task, ticket)
    customer = session.get(m.Customer, ticket.customer_id) if ticket.customer_id else None
    if index is None or customer is None or not customer.phone:
        return False
    today = local_date(now, settings.timezone)
    done = engine.step_rows(session, ticket)
    if not done or done[-1].key != task.key:
        return False  # the timeline went on since the call
    if ticket.next_reminder_due is not None and ticket.next_reminder_due <= today:
        return False  # the next step goes today instead: one message a day
    ctx = engine.context(session, ticket, today, settings.timezone, settings.hotline_phone)
    row = outbox.enqueue_template(session, key=f"{task.key}{engine.CALL_SMS_SUFFIX}", kind="call", channel="sms",
                                  recipient=customer.phone, template="reminder_sms", context=ctx,
                                  ticket_number=ticket.number, due_on=today,
                                  not_before=engine.send_time(settings, now, policy.send_window), now=now)
    if row is None:
        return False  # already sent
    steps = policy.effective_timeline(ticket.priority, ticket.waiting_reason)
    details: Dict[str, Any] = {"kind": "call", "channel": "sms"}
    if index < len(steps):
        details["day"] = steps[index].day
    tickets.record(session, ticket, actor=actor, event="reminder_sent", at=now, details=details)
    return True
