"""Seed 001 §7 (« Mes rappels à envoyer aujourd'hui ») and §9 (KPIs with their targets)."""
from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any, Dict, List, Optional

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from numi.clock import local_date, to_local
from numi.db import models as m
from numi.reminders import engine
from numi.reminders.policy import Policy, load_default
from numi.vocab import REMINDER_CONTACTS

LABELS = {"gentle": "Rappel doux", "followup": "Relance", "firm": "Relance ferme", "call": "Appel",
          "close": "Clôture"}


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
        call_now = action.kind == "call" and action.channel == "call"
        out.update({"kind": action.kind, "channel": action.channel,
                    "label": f"{LABELS[action.kind]} (J+{action.day})",
                    "button": "APPELER MAINTENANT" if call_now and action.urgent else
                    ("APPELER" if call_now else ("CLÔTURER" if action.kind == "close" else "ENVOYER RAPPEL"))})
    if due is not None:
        out["due"] = due.isoformat()
    return out


def daily_list(session: Session, today: date, tz: str, policy: Optional[Policy] = None) -> Dict[str, Any]:
    """What the hotliner has to do today (urgent ones before 15h), this week, and the total waiting."""
    policy = policy or load_default()
    urgent, todo = [], []
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
            "normal_share": "2–5 % du volume"}


def _kpi(name: str, value: Any, target: str, ok: Optional[bool], definition: str) -> Dict[str, Any]:
    return {"name": name, "value": value, "target": target, "on_target": ok, "definition": definition}


def kpis(session: Session, today: date, tz: str, policy: Optional[Policy] = None) -> List[Dict[str, Any]]:
    """The KPIs of 001 §9, computed from the tickets, their history and the outbox."""
    policy = policy or load_default()
    tickets = list(session.scalars(select(m.Ticket)))
    reminders = list(session.scalars(select(m.OutboxMessage).where(
        m.OutboxMessage.key.like("reminder:%"), m.OutboxMessage.kind.in_(REMINDER_CONTACTS))))
    by_ticket: Dict[int, List[m.OutboxMessage]] = {}
    for r in reminders:
        by_ticket.setdefault(r.ticket_number, []).append(r)
    events = list(session.scalars(select(m.TicketEvent).order_by(m.TicketEvent.id)))
    replies: Dict[int, List[datetime]] = {}
    for e in events:
        if e.actor == "client" and e.from_status in ("waiting_customer", "closed") and e.to_status == "in_progress":
            replies.setdefault(e.ticket_number, []).append(e.at)

    waiting = [t for t in tickets if t.status == "waiting_customer"]
    share = len(waiting) / len(tickets) if tickets else 0.0

    delays, programmed = [], []
    for number, rows in by_ticket.items():
        t = session.get(m.Ticket, number)
        first = min(rows, key=lambda r: r.id)
        start = first.key.split(":")[2]
        waited = (first.due_on - local_date(datetime.fromisoformat(start), tz)).days
        delays.append(waited)
        programmed.append(policy.effective_timeline(t.priority, t.waiting_reason)[0].day)
    avg_delay = round(sum(delays) / len(delays), 1) if delays else None
    avg_prog = round(sum(programmed) / len(programmed), 1) if programmed else None

    def answered_after(n: int) -> Optional[float]:
        """Share of tickets that answered after their n-th reminder (and before the next)."""
        eligible = answered = 0
        for number, rows in by_ticket.items():
            rows = sorted(rows, key=lambda r: r.id)
            if len(rows) < n:
                continue
            eligible += 1
            sent = rows[n - 1].created_at
            nxt = rows[n].created_at if len(rows) > n else None
            if any(at >= sent and (nxt is None or at < nxt) for at in replies.get(number, [])):
                answered += 1
        return round(answered / eligible, 3) if eligible else None

    inactivity = [t for t in tickets if t.close_reason == "inactivity" and t.closed_at]
    closure_delays = []
    for t in inactivity:
        started = next((e.at for e in reversed(t.history) if e.to_status == "waiting_customer" and e.at <= t.closed_at), None)
        if started:
            closure_delays.append((t.closed_at - started).days)
    per_month = Counter(f"{to_local(t.closed_at, tz):%Y-%m}" for t in inactivity)
    closed_ever = [t for t in tickets if t.closed_at or t.reopen_count]
    reopen_rate = (sum(1 for t in tickets if t.reopen_count) / len(closed_ever)) if closed_ever else None
    dormant = [t for t in waiting if t.waiting_since and (today - local_date(t.waiting_since, tz)).days > 30]
    r1, r2 = answered_after(1), answered_after(2)
    avg_close = round(sum(closure_delays) / len(closure_delays), 1) if closure_delays else None
    return [
        _kpi("share_waiting_customer", round(share, 3), "2–5 %", 0.02 <= share <= 0.05 if tickets else None,
             "Proportion des tickets « En attente client » sur le total"),
        _kpi("avg_days_before_first_reminder", avg_delay, f"≤ délai programmé ({avg_prog} j en moyenne)",
             (avg_delay <= avg_prog) if avg_delay is not None else None,
             "Jours entre la mise en attente et le 1er rappel"),
        _kpi("answer_rate_after_1st_reminder", r1, "≥ 60 %", (r1 >= 0.6) if r1 is not None else None,
             "% de clients qui répondent après le 1er rappel"),
        _kpi("answer_rate_after_2nd_reminder", r2, "≥ 30 %", (r2 >= 0.3) if r2 is not None else None,
             "% de clients qui répondent après la relance"),
        _kpi("avg_days_to_inactivity_closure", avg_close, "≤ 14 jours",
             (avg_close <= 14) if avg_close is not None else None, "Jours avant une clôture « inactivité »"),
        _kpi("inactivity_closures_per_month", dict(sorted(per_month.items())), "à suivre (normaliser)", None,
             "Volume de clôtures pour inactivité par mois"),
        _kpi("closure_satisfaction", None, "≥ 4/5", None,
             "% de clients satisfaits du processus (pas encore mesuré : aucune enquête branchée)"),
        _kpi("reopen_rate", round(reopen_rate, 3) if reopen_rate is not None else None, "5–15 % (normal)",
             (0.05 <= reopen_rate <= 0.15) if reopen_rate is not None else None,
             "% de tickets rouverts après clôture"),
        _kpi("dormant_over_30_days", round(len(dormant) / len(waiting), 3) if waiting else 0.0, "< 5 %",
             (len(dormant) / len(waiting) < 0.05) if waiting else True,
             "Tickets en attente client depuis plus de 30 jours"),
    ]
