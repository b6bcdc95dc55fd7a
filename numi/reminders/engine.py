"""The daily reminder run of seed 001: waiting tickets reminded, then closed cleanly.

`plan()` decides (read-only) what today's run does; `run()` does exactly that,
one ticket per transaction, every message through the outbox with the
idempotency key (ticket, waiting period, step). A dry run returns the plan.

Rules that hold whatever the configuration (see policy.py for the timeline ones):
* only tickets `waiting_customer` whose `next_reminder_due` <= today are read
  (an indexed query: the run touches only what is due);
* at most one step per ticket per day;
* a call step without a phone number falls back to e-mail (an SMS step too);
* messages leave only within the send window (else they wait in the outbox);
* the closure sends the closing e-mail and keeps everything (history, archive).
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any, Dict, List, Optional

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from numi import wording
from numi.clock import date_fr, local_date, to_local, to_utc_naive
from numi.db import models as m
from numi.inbox import signing
from numi.reminders import crashpoints, outbox
from numi.reminders.policy import DoneStep, Policy, Step, load_default
from numi.tickets import service as tickets
from numi.tickets.lifecycle import Transition

log = logging.getLogger(__name__)

SPECIAL_CASES = {  # seed 001 §5: the waiting reason chooses the reminder text
    "test_email": "reminder_test_email",
    "internal_check": "reminder_internal_check",
    "validation": "reminder_validation",
    "third_party": "reminder_third_party",
}


@dataclass(frozen=True)
class PlannedAction:
    ticket_id: str
    kind: str
    channel: str
    due: str  # ISO date the step was due
    step: int
    day: int  # J+n of the timeline
    urgent: bool

    def as_json(self) -> Dict[str, Any]:
        return asdict(self)


def period_key(ticket: m.Ticket) -> str:
    """Identifies one waiting period of a ticket (a ticket may wait several times)."""
    return f"reminder:{ticket.number}:{ticket.waiting_since.isoformat(timespec='seconds')}:"


# The SMS a hotliner's unanswered reminder call sends (numi/reminders/calls.py): its key is the
# call step's key with this suffix, so it is part of that step, never a step of its own.
CALL_SMS_SUFFIX = ":sms"
IS_STEP = ~m.OutboxMessage.key.like("%" + CALL_SMS_SUFFIX)  # an outbox row that is a step of its own


def step_rows(session: Session, ticket: m.Ticket) -> List[m.OutboxMessage]:
    """The outbox rows of the ticket's current waiting period, one per step done, in order
    (the SMS after an unanswered call belongs to the call's step: left out)."""
    return list(session.scalars(select(m.OutboxMessage).where(
        m.OutboxMessage.ticket_number == ticket.number,
        m.OutboxMessage.key.like(period_key(ticket) + "%"), IS_STEP).order_by(m.OutboxMessage.id)))


def done_steps(session: Session, ticket: m.Ticket) -> List[DoneStep]:
    return [DoneStep(kind=r.kind, on=r.due_on) for r in step_rows(session, ticket)]


def _channel(step: Step, customer: Optional[m.Customer]) -> str:
    phone = customer.phone if customer else None
    if step.channel == "email" and customer is not None and customer.email_failing_at is not None:
        # a bounce marked the address as failing: the step goes by SMS, else the hotliner calls
        return "sms" if phone else "call"
    if step.channel in ("call", "sms") and not phone:
        fallback = step.fallback if step.fallback and step.fallback != step.channel else "email"
        return "email" if fallback in ("call", "sms") else fallback
    return step.channel


def plan_ticket(session: Session, policy: Policy, ticket: m.Ticket, today: date, tz: str) -> Optional[PlannedAction]:
    if ticket.status != "waiting_customer" or ticket.waiting_since is None:
        return None
    done = done_steps(session, ticket)
    if done and done[-1].on >= today:
        return None  # at most one step per ticket per day
    planned = policy.plan_next(ticket.priority, ticket.waiting_reason, local_date(ticket.waiting_since, tz), done)
    if planned is None or planned.due > today:
        return None
    customer = session.get(m.Customer, ticket.customer_id) if ticket.customer_id else None
    return PlannedAction(ticket_id=ticket.ref, kind=planned.step.kind, channel=_channel(planned.step, customer),
                         due=planned.due.isoformat(), step=planned.index, day=planned.step.day,
                         urgent=ticket.priority == "urgent")


def due_tickets(session: Session, today: date, limit: Optional[int] = None) -> List[m.Ticket]:
    query = (select(m.Ticket).where(m.Ticket.status == "waiting_customer", m.Ticket.next_reminder_due <= today)
             .order_by(m.Ticket.next_reminder_due, m.Ticket.number))
    if limit:
        query = query.limit(limit)
    return list(session.scalars(query))


def plan(session: Session, today: date, tz: str, policy: Optional[Policy] = None) -> List[PlannedAction]:
    policy = policy or load_default()
    actions = []
    for ticket in due_tickets(session, today):
        action = plan_ticket(session, policy, ticket, today, tz)
        if action is not None:
            actions.append(action)
    return actions


def next_due(session: Session, policy: Policy, ticket: m.Ticket, tz: str) -> Optional[date]:
    if ticket.status != "waiting_customer" or ticket.waiting_since is None:
        return None
    done = done_steps(session, ticket)
    planned = policy.plan_next(ticket.priority, ticket.waiting_reason, local_date(ticket.waiting_since, tz), done)
    if planned is None:
        return None
    if done:  # at most one step a day
        return max(planned.due, done[-1].on + timedelta(days=1))
    return planned.due


def send_time(settings, now: datetime, window) -> Optional[datetime]:
    """None to send now; else the naive-UTC moment the send window opens (no mail at night)."""
    local_now = to_local(now, settings.timezone).replace(tzinfo=None)
    start = datetime.combine(local_now.date(), window[0])
    end = datetime.combine(local_now.date(), window[1])
    if start <= local_now < end:
        return None
    opening = start if local_now < start else start + timedelta(days=1)
    return to_utc_naive(opening, settings.timezone)


def context(session: Session, ticket: m.Ticket, today: date, tz: str,
            phone_line: Optional[str] = None) -> Dict[str, Any]:
    customer = session.get(m.Customer, ticket.customer_id) if ticket.customer_id else None
    done = done_steps(session, ticket)
    waiting_day = local_date(ticket.waiting_since, tz)
    agent = (ticket.assignee or "").split(":")[-1] or wording.text("reminder_mails.signature")
    waiting_for = ticket.waiting_for or wording.text("reminder_mails.waiting_for")
    return {
        "customer": customer,
        "first_name": (customer.first_name if customer else "") or "",
        "ticket": ticket,
        "ref": ticket.ref,
        "subject": ticket.subject or wording.text("reminder_mails.subject"),
        "waiting_for": waiting_for,
        "waiting_inline": _inline(waiting_for),
        "opened": date_fr(local_date(ticket.created_at, tz)),
        "opened_short": f"{local_date(ticket.created_at, tz):%d/%m}",
        "waiting_days": (today - waiting_day).days,
        "reminders_sent": sum(1 for d in done if d.kind != "close"),
        "agent": agent,
        "today": date_fr(today),
        "phone_line": phone_line,  # the hotline's number (NUMI_HOTLINE_PHONE), or nothing
    }


def _inline(text: str) -> str:
    """« Vous alliez tester… » → « vous alliez tester… », to continue a sentence."""
    return text[:1].lower() + text[1:] if text[:1].isupper() and text[1:2].islower() else text


def template_for(ticket: m.Ticket, step: Step, kind: str) -> str:
    if step.template:
        return f"reminder_{step.template}"
    if kind in ("gentle", "followup") and ticket.waiting_reason in SPECIAL_CASES:
        return SPECIAL_CASES[ticket.waiting_reason]
    return f"reminder_{kind}"


def execute(session: Session, settings, policy: Policy, ticket: m.Ticket, action: PlannedAction, today: date,
            now: datetime) -> bool:
    """Carry out one planned action inside the caller's transaction. False if already done."""
    steps = policy.effective_timeline(ticket.priority, ticket.waiting_reason)
    step = steps[action.step]
    key = f"{period_key(ticket)}{action.step}:{action.kind}"
    customer = session.get(m.Customer, ticket.customer_id) if ticket.customer_id else None
    ctx = context(session, ticket, today, settings.timezone, settings.hotline_phone)
    not_before = send_time(settings, now, policy.send_window)
    actor = wording.text("ticket_history.actors.reminders")
    if action.channel == "call":  # a call step, or an e-mail step to an address that bounced, without SMS
        subject, body = outbox.render_mail("reminder_call", ctx)
        row = outbox.enqueue(session, key=key, kind="call", channel="call",
                             recipient=customer.phone if customer else None,
                             subject=subject, body=body, ticket_number=ticket.number, due_on=today, now=now)
        if row is None:
            return False
        row.status = "done"  # a call task, not a message: the hotliner makes the call
        session.add(m.CallTask(key=key, ticket_number=ticket.number, customer_id=ticket.customer_id,
                               reason="reminder", urgent=action.urgent, script=body, due_on=today))
        tickets.record(session, ticket, actor=actor, event="call_scheduled", at=now,
                       details={"kind": "call", "day": action.day, "urgent": action.urgent})
    elif action.kind == "close":
        row = outbox.enqueue_template(session, key=key, kind="close", channel="email",
                                      recipient=customer.email if customer else None, template="reminder_close",
                                      context=ctx, ticket_number=ticket.number, due_on=today,
                                      not_before=not_before, now=now,
                                      **signing.thread_fields(settings, ticket.number, key))
        if row is None:
            return False
        note = wording.text("ticket_history.inactivity_closure_note", reminders=ctx["reminders_sent"])
        why = wording.text("ticket_history.inactivity_closure")
        tickets.transition(session, ticket, Transition("closed", reason=why, close_reason="inactivity", note=note),
                           actor=actor, now=now)
    else:
        channel = action.channel
        # a call step that fell back to e-mail sends the follow-up e-mail, never the call script
        kind_text = "followup" if action.kind == "call" else action.kind
        template = "reminder_sms" if channel == "sms" else template_for(ticket, step, kind_text)
        recipient = (customer.phone if channel == "sms" else customer.email) if customer else None
        thread = signing.thread_fields(settings, ticket.number, key) if channel == "email" else {}
        row = outbox.enqueue_template(session, key=key, kind=action.kind, channel=channel, recipient=recipient,
                                      template=template, context=ctx, ticket_number=ticket.number, due_on=today,
                                      not_before=not_before, now=now, **thread)
        if row is None:
            return False
        tickets.record(session, ticket, actor=actor, event="reminder_sent", at=now,
                       details={"kind": action.kind, "channel": channel, "day": action.day})
    ticket.next_reminder_due = next_due(session, policy, ticket, settings.timezone)
    return True


def run(sessions: sessionmaker, settings, today: date, dry_run: bool = False, now: Optional[datetime] = None,
        mailer=None, policy: Optional[Policy] = None) -> List[PlannedAction]:
    """The daily run (or its exact preview). Returns what was (or would be) done."""
    policy = policy or load_default()
    if now is None:
        now = to_utc_naive(datetime.combine(today, settings.reminder_run_at), settings.timezone)
    with sessions() as s:
        planned = plan(s, today, settings.timezone, policy)
    if dry_run:
        return planned
    done: List[PlannedAction] = []
    for action in planned:
        try:
            with sessions() as s, s.begin():
                ticket = tickets.get_by_ref(s, action.ticket_id)
                again = plan_ticket(s, policy, ticket, today, settings.timezone) if ticket else None
                if ticket is None or again is None or again != action:
                    continue  # another run did it meanwhile
                if execute(s, settings, policy, ticket, action, today, now):
                    done.append(action)
            crashpoints.hit("after_reminder")
        except IntegrityError:  # a concurrent run inserted the same key first
            continue
    if mailer is not None:
        outbox.flush(sessions, mailer, now=now)
    return done
