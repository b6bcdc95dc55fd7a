"""Seed 001 §7 (« Mes rappels à envoyer aujourd'hui ») and §9 (KPIs with their targets).

The words and the thresholds live in config/reminder_dashboard.yml; this module computes the
figures: the facts are read once (`_Facts`), then each KPI is one small function of them.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from numi.clock import local_date, to_local, to_utc_naive
from numi.db import models as m
from numi.playbooks.render import render_text
from numi.reminders import engine
from numi.reminders.policy import Policy, load_default
from numi.settings import ROOT
from numi.vocab import REMINDER_CONTACTS, REMINDER_KINDS

WORDS_PATH = ROOT / "config" / "reminder_dashboard.yml"
MAX_WEEKS = 52  # the weekly trends go back at most a year
UNITS = ("share", "days", "per_month", "score")


@lru_cache(maxsize=4)
def words(path: Path = WORDS_PATH) -> Mapping[str, Any]:
    """The dashboard's words, checked: every reminder kind and every KPI has its label."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    missing = [k for k in REMINDER_KINDS if k not in data["steps"]] + [k for k in KPIS if k not in data["kpis"]]
    if missing:
        raise ValueError(f"{path}: missing labels for {missing}")
    units = [k for k, spec in data["kpis"].items() if spec.get("unit") not in UNITS]
    if units:
        raise ValueError(f"{path}: KPIs without a unit of {UNITS}: {units}")
    return data


def _item(session: Session, ticket: m.Ticket, action: Optional[engine.PlannedAction], today: date, tz: str,
          due: Optional[date] = None) -> Dict[str, Any]:
    customer = session.get(m.Customer, ticket.customer_id) if ticket.customer_id else None
    short = f"{customer.first_name} {customer.last_name[:1]}." if customer and customer.last_name else "—"
    waiting = (today - local_date(ticket.waiting_since, tz)).days if ticket.waiting_since else 0
    out = {
        "ticket_id": ticket.ref, "customer": short, "subject": ticket.subject, "priority": ticket.priority,
        "waiting_days": waiting, "waiting_for": ticket.waiting_for,
    }
    if action is not None:
        w = words()
        call_now = action.kind == "call" and action.channel == "call"
        out.update({"kind": action.kind, "channel": action.channel,
                    "label": render_text(w["step_label"], {"step": w["steps"][action.kind], "day": action.day}),
                    "button": w["buttons"]["call_now" if call_now and action.urgent else
                                           ("call" if call_now else ("close" if action.kind == "close" else "send"))]})
    if due is not None:
        out["due"] = due.isoformat()
    return out


def daily_list(session: Session, today: date, tz: str, policy: Optional[Policy] = None) -> Dict[str, Any]:
    """What the hotliner has to do today (urgent ones before 15h), this week, and the total waiting."""
    policy = policy or load_default()
    urgent: List[Dict[str, Any]] = []
    todo: List[Dict[str, Any]] = []
    for ticket in engine.due_tickets(session, today):
        action = engine.plan_ticket(session, policy, ticket, today, tz)
        if action is None:
            continue
        (urgent if action.urgent else todo).append(_item(session, ticket, action, today, tz))
    week_end = today + timedelta(days=7)
    week = [
        _item(session, t, None, today, tz, due=t.next_reminder_due)
        for t in session.scalars(select(m.Ticket).where(
            m.Ticket.status == "waiting_customer", m.Ticket.next_reminder_due > today,
            m.Ticket.next_reminder_due <= week_end).order_by(m.Ticket.next_reminder_due))
    ]
    total = session.scalar(select(func.count()).select_from(m.Ticket).where(m.Ticket.status == "waiting_customer"))
    all_tickets = session.scalar(select(func.count()).select_from(m.Ticket)) or 0
    return {"date": today.isoformat(), "urgent_before_15h": urgent, "today": todo, "this_week": week,
            "total_waiting": total, "share_waiting": round(total / all_tickets, 3) if all_tickets else 0.0,
            "normal_share": words()["normal_share"]}


@dataclass(frozen=True)
class _Facts:
    """What the KPIs are computed from, read once."""
    today: date
    tz: str
    policy: Policy
    tickets: Sequence[m.Ticket]
    reminders: Mapping[int, Sequence[m.OutboxMessage]]  # by ticket, in the order sent
    replies: Mapping[int, Sequence[datetime]]  # the customer's answers, by ticket

    @property
    def waiting(self) -> List[m.Ticket]:
        return [t for t in self.tickets if t.status == "waiting_customer"]

    @property
    def inactivity_closures(self) -> List[m.Ticket]:
        return [t for t in self.tickets if t.close_reason == "inactivity" and t.closed_at]


def _facts(session: Session, today: date, tz: str, policy: Policy) -> _Facts:
    reminders: Dict[int, List[m.OutboxMessage]] = {}
    for r in session.scalars(select(m.OutboxMessage).where(
            m.OutboxMessage.key.like("reminder:%"), m.OutboxMessage.kind.in_(REMINDER_CONTACTS),
            engine.IS_STEP)  # one reminder a step
            .order_by(m.OutboxMessage.id)):
        reminders.setdefault(r.ticket_number, []).append(r)
    replies: Dict[int, List[datetime]] = {}
    for e in session.scalars(select(m.TicketEvent).order_by(m.TicketEvent.id)):
        if e.actor == "client" and e.from_status in ("waiting_customer", "closed") and e.to_status == "in_progress":
            replies.setdefault(e.ticket_number, []).append(e.at)
    return _Facts(today, tz, policy, list(session.scalars(select(m.Ticket))), reminders, replies)


def _mean(values: Sequence[float]) -> Optional[float]:
    return round(sum(values) / len(values), 1) if values else None


Figure = Tuple[Any, Optional[bool], Dict[str, Any]]  # value, on target, what the target's text needs


def _within(value: Optional[float], bounds: Sequence[Optional[float]], strict: bool = False) -> Optional[bool]:
    if value is None:
        return None
    low, high = bounds
    return (low is None or value >= low) and (high is None or (value < high if strict else value <= high))


def share_waiting_customer(f: _Facts, spec: Mapping[str, Any]) -> Figure:
    share = len(f.waiting) / len(f.tickets) if f.tickets else 0.0
    return round(share, 3), _within(share, spec["range"]) if f.tickets else None, {}


def avg_days_before_first_reminder(f: _Facts, spec: Mapping[str, Any]) -> Figure:
    delays, programmed = [], []
    by_number = {t.number: t for t in f.tickets}
    for number, rows in f.reminders.items():
        ticket = by_number[number]
        first = rows[0]
        started = first.key.split(":")[2]
        delays.append((first.due_on - local_date(datetime.fromisoformat(started), f.tz)).days)
        programmed.append(f.policy.effective_timeline(ticket.priority, ticket.waiting_reason)[0].day)
    delay, planned = _mean(delays), _mean(programmed)
    on_target = (delay <= planned) if delay is not None and planned is not None else None
    return delay, on_target, {"programmed": planned}


def _answered_after(f: _Facts, n: int, sent_within: Optional[Tuple[datetime, datetime]] = None) -> Optional[float]:
    """Share of tickets that answered after their n-th reminder (and before the next); with
    `sent_within` (from, to), only the tickets whose n-th reminder left in that period."""
    eligible = answered = 0
    for number, rows in f.reminders.items():
        if len(rows) < n:
            continue
        if sent_within is not None and not sent_within[0] <= rows[n - 1].created_at < sent_within[1]:
            continue
        eligible += 1
        sent = rows[n - 1].created_at
        following = rows[n].created_at if len(rows) > n else None
        if any(at >= sent and (following is None or at < following) for at in f.replies.get(number, [])):
            answered += 1
    return round(answered / eligible, 3) if eligible else None


def answer_rate_after_1st_reminder(f: _Facts, spec: Mapping[str, Any]) -> Figure:
    rate = _answered_after(f, 1)
    return rate, _within(rate, spec["range"]), {}


def answer_rate_after_2nd_reminder(f: _Facts, spec: Mapping[str, Any]) -> Figure:
    rate = _answered_after(f, 2)
    return rate, _within(rate, spec["range"]), {}


def avg_days_to_inactivity_closure(f: _Facts, spec: Mapping[str, Any]) -> Figure:
    days = []
    for t in f.inactivity_closures:
        started = next((e.at for e in reversed(t.history) if e.to_status == "waiting_customer" and e.at <= t.closed_at),
                       None)
        if started:
            days.append((t.closed_at - started).days)
    mean = _mean(days)
    return mean, _within(mean, spec["range"]), {}


def inactivity_closures_per_month(f: _Facts, spec: Mapping[str, Any]) -> Figure:
    per_month = Counter(f"{to_local(t.closed_at, f.tz):%Y-%m}" for t in f.inactivity_closures)
    return dict(sorted(per_month.items())), None, {}


def closure_satisfaction(f: _Facts, spec: Mapping[str, Any]) -> Figure:
    return None, None, {}  # no survey is connected yet: the definition says so


def reopen_rate(f: _Facts, spec: Mapping[str, Any]) -> Figure:
    closed_ever = [t for t in f.tickets if t.closed_at or t.reopen_count]
    if not closed_ever:
        return None, None, {}
    rate = sum(1 for t in f.tickets if t.reopen_count) / len(closed_ever)
    return round(rate, 3), _within(rate, spec["range"]), {}


def dormant_over_30_days(f: _Facts, spec: Mapping[str, Any]) -> Figure:
    waiting = f.waiting
    if not waiting:
        return 0.0, True, {}
    dormant = [t for t in waiting if t.waiting_since and (f.today - local_date(t.waiting_since, f.tz)).days > 30]
    share = len(dormant) / len(waiting)
    return round(share, 3), _within(share, spec["range"], strict=bool(spec.get("strict"))), {}


# The KPIs of 001 §9, in the order shown; each one's words are under `kpis:` in WORDS_PATH.
KPIS: Dict[str, Callable[[_Facts, Mapping[str, Any]], Figure]] = {fn.__name__: fn for fn in (
    share_waiting_customer, avg_days_before_first_reminder, answer_rate_after_1st_reminder,
    answer_rate_after_2nd_reminder, avg_days_to_inactivity_closure, inactivity_closures_per_month,
    closure_satisfaction, reopen_rate, dormant_over_30_days)}


def _decimal_fr(value: Any) -> Any:
    """A number as French writes it in a sentence (7,5; 5), anything else as it is."""
    return f"{value:g}".replace(".", ",") if isinstance(value, float) else value


def _kpis_of(facts: _Facts) -> List[Dict[str, Any]]:
    out = []
    for name, compute in KPIS.items():
        spec = words()["kpis"][name]
        value, on_target, target_params = compute(facts, spec)
        out.append({"name": name, "label": spec["label"], "unit": spec["unit"], "value": value,
                    "target": render_text(spec["target"], {k: _decimal_fr(v) for k, v in target_params.items()}),
                    "on_target": on_target, "definition": spec["definition"]})
    return out


def kpis(session: Session, today: date, tz: str, policy: Optional[Policy] = None) -> List[Dict[str, Any]]:
    """The KPIs of 001 §9, computed from the tickets, their history and the outbox."""
    return _kpis_of(_facts(session, today, tz, policy or load_default()))


# --- weekly trends ----------------------------------------------------------------------
# The figures of each ISO week, from the same facts as the KPIs: what was sent and answered
# that week, what closed or reopened, and the share waiting for the customer when it ended.
WEEKLY_SERIES = ("reminders_sent", "customer_replies", "inactivity_closures", "reopened",
                 "answer_rate_after_1st_reminder", "share_waiting_customer")


def _status_at(ticket: m.Ticket, moment: datetime) -> Optional[str]:
    """The ticket's status at `moment` by its history (None: it did not exist yet)."""
    if ticket.created_at > moment:
        return None
    status: Optional[str] = None
    for e in ticket.history:
        if e.at <= moment and e.to_status:
            status = e.to_status
    return status or (ticket.status if not ticket.history else "new")


def _week(f: _Facts, monday: date) -> Dict[str, Any]:
    start = to_utc_naive(datetime.combine(monday, datetime.min.time()), f.tz)
    end = to_utc_naive(datetime.combine(monday + timedelta(days=7), datetime.min.time()), f.tz)

    def within(at: Optional[datetime]) -> bool:
        return at is not None and start <= at < end

    moment = min(end, _now_of(f))  # the week's end, or the end of today for the week in progress
    statuses = [s for s in (_status_at(t, moment) for t in f.tickets) if s is not None]
    year, week, _ = monday.isocalendar()
    return {
        "week": f"{year}-W{week:02d}", "start": monday.isoformat(), "end": (monday + timedelta(days=6)).isoformat(),
        "reminders_sent": sum(within(r.created_at) for rows in f.reminders.values() for r in rows),
        "customer_replies": sum(within(at) for ats in f.replies.values() for at in ats),
        "inactivity_closures": sum(within(t.closed_at) for t in f.inactivity_closures),
        "reopened": sum(within(e.at) for t in f.tickets for e in t.history
                        if e.from_status == "closed" and e.to_status not in (None, "closed")),
        "answer_rate_after_1st_reminder": _answered_after(f, 1, sent_within=(start, end)),
        "share_waiting_customer": round(statuses.count("waiting_customer") / len(statuses), 3) if statuses else None,
    }


def _now_of(f: _Facts) -> datetime:
    """The end of `today` (local), as naive UTC: a week in progress is read up to then."""
    return to_utc_naive(datetime.combine(f.today + timedelta(days=1), datetime.min.time()), f.tz)


def _weekly_of(f: _Facts, weeks: int) -> List[Dict[str, Any]]:
    if not 1 <= weeks <= MAX_WEEKS:
        raise ValueError(f"weeks must be within 1..{MAX_WEEKS}")
    this_monday = f.today - timedelta(days=f.today.weekday())
    return [_week(f, this_monday - timedelta(weeks=k)) for k in range(weeks - 1, -1, -1)]


def weekly(session: Session, today: date, tz: str, weeks: int, policy: Optional[Policy] = None) -> List[Dict[str, Any]]:
    """The last `weeks` ISO weeks up to the one of `today`, oldest first (WEEKLY_SERIES each)."""
    return _weekly_of(_facts(session, today, tz, policy or load_default()), weeks)


def report(session: Session, today: date, tz: str, weeks: Optional[int] = None,
           policy: Optional[Policy] = None) -> Dict[str, Any]:
    """`{"kpis": [...]}`, and `"weekly"` when `weeks` is given: the facts are read once for both."""
    facts = _facts(session, today, tz, policy or load_default())
    out: Dict[str, Any] = {"kpis": _kpis_of(facts)}
    if weeks is not None:
        out["weekly"] = _weekly_of(facts, weeks)
    return out
