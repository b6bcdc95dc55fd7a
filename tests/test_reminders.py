"""The reminder engine of seed 001, driven day by day by a fake clock."""
from datetime import date, datetime, time, timedelta
from typing import List, Optional, Tuple

import pytest
from sqlalchemy import select

from numi.clock import to_utc_naive
from numi.db import models as m
from numi.reminders import engine
from numi.tickets import service
from numi.tickets.lifecycle import Transition

START = date(2026, 12, 1)  # a Tuesday; the engine ignores weekends by design (001 counts calendar days)


def waiting_ticket(db, priority: Optional[str], reason: str = "feedback", customer: str = "CLT-00321") -> m.Ticket:
    t = service.open_ticket(db, scenario="tech_support", actor="hotliner:Camille", customer_id=customer,
                            priority=priority, subject="Synchronisation e-mail en double",
                            now=to_utc_naive(datetime.combine(START, time(9)), "Europe/Paris"))
    service.transition(db, t, Transition("waiting_customer", waiting_reason=reason), actor="hotliner:Camille",
                       now=to_utc_naive(datetime.combine(START, time(10)), "Europe/Paris"), tz="Europe/Paris",
                       waiting_for="Vous alliez tester les paramètres IMAP et nous dire si les doublons ont disparu.")
    db.commit()
    return t


def timeline(services, ticket: m.Ticket, days: int = 25, skip_until: int = 1) -> List[Tuple[int, str, str]]:
    seen = []
    for offset in range(skip_until, days):
        for a in engine.run(services.sessions, services.settings, START + timedelta(days=offset)):
            if a.ticket_id == ticket.ref:
                seen.append((offset, a.kind, a.channel))
    return seen


@pytest.mark.parametrize("priority,reason,expected", [
    ("urgent", "feedback", [(1, "gentle", "email"), (2, "call", "call"), (3, "close", "email")]),
    ("high", "feedback", [(3, "gentle", "email"), (5, "call", "call"), (7, "firm", "email"), (8, "close", "email")]),
    ("normal", "feedback", [(5, "gentle", "email"), (10, "followup", "email"), (14, "firm", "email"),
                            (15, "close", "email")]),
    # no priority: J+7 reminder then close at J+14 — with the second reminder 001 requires before closing
    (None, "feedback", [(7, "gentle", "email"), (13, "firm", "email"), (14, "close", "email")]),
    ("normal", "technical_diagnosis", [(10, "gentle", "email"), (15, "followup", "email"), (20, "close", "email")]),
])
def test_default_policy_reproduces_001_day_by_day(db, services, priority, reason, expected):
    ticket = waiting_ticket(db, priority, reason)
    assert timeline(services, ticket) == expected
    db.expire_all()
    closed = db.get(m.Ticket, ticket.number)
    assert closed.status == "closed" and closed.close_reason == "inactivity"
    assert any(e.event == "status_changed" and e.to_status == "closed" and "rappels sans réponse" in
               (e.details or {}).get("internal_note", "") for e in closed.history)
    reminders = [k for _, k, _ in expected if k != "close"]
    assert len(reminders) >= 2  # never close with fewer than two reminders


def test_a_call_without_phone_falls_back_to_email(db, services):
    ticket = waiting_ticket(db, "urgent", customer="CLT-00323")  # Jean Dupont: no phone
    assert timeline(services, ticket) == [(1, "gentle", "email"), (2, "call", "email"), (3, "close", "email")]


def test_a_call_step_puts_the_ticket_on_the_call_list(db, services):
    ticket = waiting_ticket(db, "urgent")
    timeline(services, ticket, days=3)
    task = db.scalars(select(m.CallTask).where(m.CallTask.ticket_number == ticket.number)).one()
    assert task.urgent and "Je vous appelle sur le ticket" in task.script and ticket.ref in task.script


def test_the_same_day_twice_sends_nothing_new(db, services):
    ticket = waiting_ticket(db, "urgent")
    day = START + timedelta(days=1)
    first = engine.run(services.sessions, services.settings, day)
    assert [a.ticket_id for a in first].count(ticket.ref) == 1
    assert [a for a in engine.run(services.sessions, services.settings, day) if a.ticket_id == ticket.ref] == []


def test_dry_run_previews_exactly_the_real_run(db, services):
    waiting_ticket(db, "urgent")
    waiting_ticket(db, "high")
    for offset in range(1, 9):
        day = START + timedelta(days=offset)
        preview = engine.run(services.sessions, services.settings, day, dry_run=True)
        assert engine.run(services.sessions, services.settings, day) == preview


def test_after_downtime_no_burst(db, services):
    ticket = waiting_ticket(db, "normal")
    seen = timeline(services, ticket, days=40, skip_until=16)  # the service was down until J+16
    assert seen[0] == (16, "gentle", "email")
    days = [d for d, _, _ in seen]
    assert len(days) == len(set(days))  # never two steps the same day
    assert days == sorted(days) and all(b - a >= 1 for a, b in zip(days, days[1:]))
    assert [k for _, k, _ in seen] == ["gentle", "followup", "firm", "close"]
    assert seen[1][0] - seen[0][0] == 5  # the spacing of the timeline is kept


def test_a_customer_reply_stops_the_clock(db, services):
    ticket = waiting_ticket(db, "normal")
    timeline(services, ticket, days=6)  # gentle at J+5
    service.customer_replied(db, db.get(m.Ticket, ticket.number), actor="client")
    db.commit()
    assert timeline(services, ticket, days=30, skip_until=6) == []
    assert db.get(m.Ticket, ticket.number).status == "in_progress"


def test_a_reply_after_closure_reopens_the_same_ticket(db, services):
    ticket = waiting_ticket(db, "urgent")
    timeline(services, ticket, days=4)
    db.expire_all()
    t = db.get(m.Ticket, ticket.number)
    assert t.status == "closed"
    service.customer_replied(db, t, actor="client")
    db.commit()
    assert t.status == "in_progress" and t.ref == ticket.ref and t.reopen_count == 1
    events = [e.event for e in t.history]
    assert events[0] == "created" and events[-1] == "reopened"
    assert "reminder_sent" in events  # the history is kept


def test_only_due_tickets_are_read(db, services):
    ticket = waiting_ticket(db, "normal")
    assert ticket.next_reminder_due == START + timedelta(days=5)
    assert engine.due_tickets(db, START + timedelta(days=4)) == [] or all(
        t.number != ticket.number for t in engine.due_tickets(db, START + timedelta(days=4)))


def test_daily_list_and_kpis_match_001(db, services):
    from numi.reminders import dashboard

    urgent = waiting_ticket(db, "urgent")
    high = waiting_ticket(db, "high")
    normal = waiting_ticket(db, "normal")
    day = START + timedelta(days=3)
    for offset in range(1, 3):
        engine.run(services.sessions, services.settings, START + timedelta(days=offset))
    listing = dashboard.daily_list(db, day, "Europe/Paris")
    mine = {urgent.ref, high.ref, normal.ref}  # the demo tickets are in the lists too
    urgent_items = [i for i in listing["urgent_before_15h"] if i["ticket_id"] in mine]
    today_items = [i for i in listing["today"] if i["ticket_id"] in mine]
    assert [i["ticket_id"] for i in urgent_items] == [urgent.ref]
    assert urgent_items[0]["label"] == "Clôture (J+3)"
    assert [i["ticket_id"] for i in today_items] == [high.ref]
    assert today_items[0]["label"] == "Rappel doux (J+3)" and today_items[0]["button"] == "ENVOYER RAPPEL"
    assert normal.ref in [i["ticket_id"] for i in listing["this_week"]]
    assert listing["total_waiting"] >= 3
    db.rollback()  # end the read transaction (SQLite: BEGIN IMMEDIATE holds the write lock)
    for offset in range(3, 17):
        engine.run(services.sessions, services.settings, START + timedelta(days=offset))
    db.expire_all()
    assert db.get(m.Ticket, urgent.number).status == "closed"
    service.customer_replied(db, db.get(m.Ticket, urgent.number), actor="client")  # reopens after closure
    db.commit()
    k = {x["name"]: x for x in dashboard.kpis(db, START + timedelta(days=17), "Europe/Paris")}
    assert k["avg_days_before_first_reminder"]["value"] is not None
    assert k["reopen_rate"]["value"] > 0
    closure = k["avg_days_to_inactivity_closure"]
    assert closure["value"] > 0 and closure["on_target"] == (closure["value"] <= 14)
    assert sum(k["inactivity_closures_per_month"]["value"].values()) >= 2
    assert all("target" in x for x in k.values())


def test_a_call_that_falls_back_to_email_sends_a_reminder_not_the_call_script(db, services):
    ticket = waiting_ticket(db, "urgent", customer="CLT-00323")  # no phone
    timeline(services, ticket, days=3)
    rows = db.scalars(select(m.OutboxMessage).where(m.OutboxMessage.ticket_number == ticket.number,
                                                    m.OutboxMessage.kind == "call")).all()
    assert len(rows) == 1 and rows[0].channel == "email"
    assert "Je vous appelle" not in rows[0].body and "Relance" in rows[0].subject


def test_nothing_leaves_outside_the_send_window(db, services):
    ticket = waiting_ticket(db, "urgent")
    night = to_utc_naive(datetime.combine(START + timedelta(days=1), time(23, 30)), "Europe/Paris")
    engine.run(services.sessions, services.settings, START + timedelta(days=1), now=night, mailer=services.mailer)
    row = db.scalars(select(m.OutboxMessage).where(m.OutboxMessage.ticket_number == ticket.number)).one()
    assert row.status == "pending" and row.not_before == to_utc_naive(
        datetime.combine(START + timedelta(days=2), time(9)), "Europe/Paris")
    db.rollback()  # end the read transaction (SQLite: BEGIN IMMEDIATE holds the write lock)
    from numi.reminders import outbox

    morning = to_utc_naive(datetime.combine(START + timedelta(days=2), time(9, 5)), "Europe/Paris")
    assert outbox.flush(services.sessions, services.mailer, now=morning)["sent"] >= 1
    db.expire_all()
    assert db.get(m.OutboxMessage, row.id).status == "sent"


@pytest.mark.parametrize("reason,phrase", [
    ("test_email", "Avez-vous reçu notre e-mail de test"),  # 5.1
    ("internal_check", "encore en cours d'analyse"),  # 5.2
    ("validation", "Ça marche partiellement"),  # 5.3
    ("third_party", "en parler à un tiers"),  # 5.4
])
def test_the_waiting_reason_chooses_the_special_case_text(db, services, reason, phrase):
    ticket = waiting_ticket(db, "normal", reason=reason)
    timeline(services, ticket, days=6)
    row = db.scalars(select(m.OutboxMessage).where(m.OutboxMessage.ticket_number == ticket.number)).one()
    assert phrase in row.subject + row.body


def test_the_service_runs_the_daily_reminders_once_after_the_configured_time(db, services):
    from numi.service.scheduler import reminder_tick

    day = START + timedelta(days=1)
    early = to_utc_naive(datetime.combine(day, time(8, 0)), "Europe/Paris")
    late = to_utc_naive(datetime.combine(day, time(10, 0)), "Europe/Paris")
    waiting_ticket(db, "urgent")
    db.rollback()
    assert reminder_tick(services, early) is False  # before 09:30
    assert reminder_tick(services, late) is True
    assert reminder_tick(services, late + timedelta(hours=2)) is False  # once a day
    assert reminder_tick(services, late + timedelta(days=1)) is True


def test_the_first_reminder_is_due_in_the_configured_time_zone(db):
    """policy.first_due reads the day in Settings.timezone, not a constant: 23:30 UTC is already
    the next day in Paris but still the same day in New York."""
    late = datetime.combine(START, time(23, 30))  # naive UTC
    dues = {}
    for tz in ("Europe/Paris", "America/New_York"):
        t = service.open_ticket(db, scenario="tech_support", actor="test", customer_id="CLT-00321",
                                priority="normal", subject="Fuseau", now=late)
        service.transition(db, t, Transition("waiting_customer", waiting_reason="feedback"), actor="test",
                           now=late, tz=tz)
        dues[tz] = t.next_reminder_due
    assert dues["Europe/Paris"] - dues["America/New_York"] == timedelta(days=1)


def test_going_waiting_without_a_time_zone_is_refused(db):
    t = service.open_ticket(db, scenario="tech_support", actor="test", customer_id="CLT-00321", priority="normal",
                            subject="Fuseau")
    with pytest.raises(ValueError):
        service.transition(db, t, Transition("waiting_customer", waiting_reason="feedback"), actor="test")
    assert t.status != "waiting_customer"
