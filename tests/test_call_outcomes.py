"""The call list's outcomes (`POST /api/calls/<id>/outcome`) and 001's « Appel ou SMS »: a
high-priority ticket waiting on the customer gets its J+5 call; nobody answers, so the SMS
leaves (once), and the J+7 firm reminder still comes on J+7. In process (tests/service_client.py),
the reminder engine run day by day around today."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any, Dict, List, Optional, Tuple

import pytest
from sqlalchemy import select

from numi import auth
from numi.clock import local_date, to_utc_naive, utcnow
from numi.db import models as m
from numi.reminders import calls, engine
from numi.reminders.policy import load_default
from numi.tickets import service as tickets
from numi.tickets.lifecycle import Transition
from tests.service_client import Service

PAUL = "CLT-00321"  # demo customer with a phone number (06 12 34 56 78)


def _today(service: Service) -> date:
    return local_date(utcnow(), service.settings.timezone)


def waiting_ticket(service: Service, start: date, customer: str = PAUL, priority: str = "high") -> Tuple[int, str]:
    """A ticket gone waiting for the customer on `start` at 10:00 (local): (number, ref)."""
    tz = service.settings.timezone
    with service.services.sessions() as s, s.begin():
        t = tickets.open_ticket(s, scenario="tech_support", actor="hotliner:Camille", customer_id=customer,
                                priority=priority, subject="Synchronisation e-mail en double",
                                now=to_utc_naive(datetime.combine(start, time(9)), tz))
        tickets.transition(s, t, Transition("waiting_customer", waiting_reason="feedback"), actor="hotliner:Camille",
                           now=to_utc_naive(datetime.combine(start, time(10)), tz), tz=tz,
                           waiting_for="Vous alliez tester les paramètres IMAP.")
        return t.number, t.ref


def run_days(service: Service, start: date, first: int, last: int, ref: str) -> List[Tuple[int, str, str]]:
    """The daily runs of J+first … J+last: what each did for the ticket `ref`."""
    seen = []
    for offset in range(first, last + 1):
        for a in engine.run(service.services.sessions, service.settings, start + timedelta(days=offset)):
            if a.ticket_id == ref:
                seen.append((offset, a.kind, a.channel))
    return seen


def at_j5(service: Service, customer: str = PAUL) -> Tuple[int, str, date]:
    """A high-priority waiting ticket run to J+5 = today: the reminder's call task is on the list."""
    start = _today(service) - timedelta(days=5)
    number, ref = waiting_ticket(service, start, customer)
    assert run_days(service, start, 1, 5, ref) == [(3, "gentle", "email"), (5, "call", "call")]
    return number, ref, start


def call_task(service: Service, number: int) -> Dict[str, Any]:
    with service.services.sessions() as s:
        task = s.scalars(select(m.CallTask).where(m.CallTask.ticket_number == number)).one()
        return {"id": task.id, "key": task.key, "done_at": task.done_at, "outcome": task.outcome}


def sms_rows(service: Service, number: int) -> List[Dict[str, Any]]:
    with service.services.sessions() as s:
        return [{"key": r.key, "kind": r.kind, "recipient": r.recipient, "body": r.body, "not_before": r.not_before,
                 "due_on": r.due_on}
                for r in s.scalars(select(m.OutboxMessage).where(m.OutboxMessage.ticket_number == number,
                                                                 m.OutboxMessage.channel == "sms"))]


def history(service: Service, number: int, event: Optional[str] = None) -> List[Tuple[str, str, Dict[str, Any]]]:
    with service.services.sessions() as s:
        rows = s.scalars(select(m.TicketEvent).where(m.TicketEvent.ticket_number == number)
                         .order_by(m.TicketEvent.id))
        return [(e.event, e.actor, dict(e.details or {})) for e in rows if event is None or e.event == event]


async def post_outcome(service: Service, call_id: Any, body: Any = None, role: Optional[str] = "hotliner",
                       **kwargs: Any) -> Tuple[int, Any]:
    return await service.call("POST", f"/api/calls/{call_id}/outcome", body, role=role, **kwargs)


# --------------------------------------------------------------------------------------------
# the call list, then « Pas de réponse »: 001's SMS, once
# --------------------------------------------------------------------------------------------
async def test_the_call_list_gives_the_phone_then_no_answer_sends_the_sms_once(service: Service):
    number, ref, _ = at_j5(service)
    status, listing = await service.call("GET", "/api/calls", role="hotliner")
    mine = [c for c in listing["calls"] if c["ticket_id"] == ref]
    assert status == 200 and len(mine) == 1 and listing["outcomes"] == ["reached", "no_answer", "wrong_number"]
    call = mine[0]
    assert call["phone"] == "06 12 34 56 78" and call["reason"] == "reminder" and call["label"] == "APPELER"
    assert sms_rows(service, number) == []

    note = "répondeur, pas de message"
    status, done = await post_outcome(service, call["id"], {"outcome": "no_answer", "note": note})
    assert status == 200, done
    assert done["outcome"] == "no_answer" and done["sms_sent"] is True and done["ticket_id"] == ref

    sms = sms_rows(service, number)
    assert len(sms) == 1
    assert sms[0]["recipient"] == "06 12 34 56 78" and sms[0]["kind"] == "call"
    assert sms[0]["key"] == call_task(service, number)["key"] + ":sms"
    assert ref in sms[0]["body"] and sms[0]["due_on"] == _today(service)

    task = call_task(service, number)
    assert task["done_at"] is not None and task["outcome"] == "no_answer: répondeur, pas de message"
    outcome = history(service, number, "call_outcome")
    assert outcome == [("call_outcome", "hotliner:hotliner-1",
                        {"outcome": "no_answer", "reason": "reminder", "note": "répondeur, pas de message"})]
    sent = history(service, number, "reminder_sent")[-1]
    assert sent[1] == "hotliner:hotliner-1" and sent[2] == {"kind": "call", "channel": "sms", "day": 5}

    # done: off the list, and a second outcome is refused, with nothing sent again
    status, listing = await service.call("GET", "/api/calls", role="hotliner")
    assert all(c["id"] != call["id"] for c in listing["calls"])
    for again in ("no_answer", "reached"):
        status, answer = await post_outcome(service, call["id"], {"outcome": again}, role="level2")
        assert status == 409 and answer["error"] == "cet appel est déjà noté comme fait"
    assert len(sms_rows(service, number)) == 1
    assert len(history(service, number, "call_outcome")) == 1


async def test_the_j7_firm_reminder_still_comes_on_j7_after_the_j5_sms(service: Service):
    number, ref, start = at_j5(service)
    status, _ = await post_outcome(service, call_task(service, number)["id"], {"outcome": "no_answer"})
    assert status == 200 and len(sms_rows(service, number)) == 1
    with service.services.sessions() as s:
        ticket = s.get(m.Ticket, number)
        assert ticket.next_reminder_due == start + timedelta(days=7)
        assert [d.kind for d in engine.done_steps(s, ticket)] == ["gentle", "call"]  # the SMS is the call's step
    assert run_days(service, start, 6, 9, ref) == [(7, "firm", "email"), (8, "close", "email")]
    with service.services.sessions() as s:
        ticket = s.get(m.Ticket, number)
        assert ticket.status == "closed" and ticket.close_reason == "inactivity"
        closing = [e for e in ticket.history if e.event == "status_changed" and e.to_status == "closed"][-1]
        assert "3 rappels" in closing.details["internal_note"]  # gentle, call (with its SMS), firm
    assert len(sms_rows(service, number)) == 1


async def test_reached_sends_nothing(service: Service):
    number, _, _ = at_j5(service)
    status, done = await post_outcome(service, call_task(service, number)["id"], {"outcome": "reached"})
    assert status == 200 and done["sms_sent"] is False and done["note"] is None
    assert sms_rows(service, number) == []
    assert call_task(service, number)["outcome"] == "reached"
    assert [d["outcome"] for _, _, d in history(service, number, "call_outcome")] == ["reached"]


async def test_wrong_number_sends_nothing_and_is_recorded(service: Service):
    number, _, _ = at_j5(service)
    status, done = await post_outcome(service, call_task(service, number)["id"],
                                      {"outcome": "wrong_number", "note": "  numéro attribué à quelqu'un d'autre  "})
    assert status == 200 and done["sms_sent"] is False
    assert sms_rows(service, number) == []
    assert call_task(service, number)["outcome"] == "wrong_number: numéro attribué à quelqu'un d'autre"
    assert history(service, number, "call_outcome")[0][2]["outcome"] == "wrong_number"


async def test_no_answer_without_a_phone_number_sends_no_sms(service: Service):
    number, _, _ = at_j5(service)
    with service.services.sessions() as s, s.begin():
        s.get(m.Customer, PAUL).phone = None  # the number was removed since the call was planned
    status, done = await post_outcome(service, call_task(service, number)["id"], {"outcome": "no_answer"})
    assert status == 200 and done["sms_sent"] is False
    assert sms_rows(service, number) == []
    assert len(history(service, number, "call_outcome")) == 1


async def test_no_answer_on_a_ticket_no_longer_waiting_sends_no_sms(service: Service):
    number, _, _ = at_j5(service)
    with service.services.sessions() as s, s.begin():
        tickets.customer_replied(s, s.get(m.Ticket, number), actor="client")
    status, done = await post_outcome(service, call_task(service, number)["id"], {"outcome": "no_answer"})
    assert status == 200 and done["sms_sent"] is False
    assert sms_rows(service, number) == []


async def test_no_answer_on_a_risk_call_sends_no_sms(service: Service):
    today = _today(service)
    with service.services.sessions() as s, s.begin():
        task = m.CallTask(key="alert:test-outcome", customer_id=PAUL, reason="attrition", urgent=True,
                          script="", due_on=today)
        s.add(task)
        s.flush()
        task_id = task.id
    status, done = await post_outcome(service, task_id, {"outcome": "no_answer"}, role="supervisor")
    assert status == 200 and done["sms_sent"] is False and done["ticket_id"] is None
    with service.services.sessions() as s:
        assert s.scalars(select(m.OutboxMessage).where(m.OutboxMessage.key.like("alert:test-outcome%"))).all() == []
        assert s.get(m.CallTask, task_id).outcome == "no_answer"


def test_the_sms_waits_for_the_send_window(service: Service):
    """At 21:00 (local) the SMS is put in the outbox for the window's opening, as engine.py does."""
    number, _, _ = at_j5(service)
    tz = service.settings.timezone
    evening = to_utc_naive(datetime.combine(_today(service), time(21)), tz)
    with service.services.sessions() as s, s.begin():
        task_id = s.scalars(select(m.CallTask.id).where(m.CallTask.ticket_number == number)).one()
        done = calls.record_outcome(s, service.settings, task_id, "no_answer", actor="hotliner:Camille", now=evening)
    assert done.sms_sent
    window = load_default().send_window
    expected = engine.send_time(service.settings, evening, window)
    assert expected == to_utc_naive(datetime.combine(_today(service) + timedelta(days=1), window[0]), tz)
    assert [r["not_before"] for r in sms_rows(service, number)] == [expected]


def test_the_next_step_due_today_goes_instead_of_the_sms(service: Service):
    """Noted on J+7 before the run: the firm reminder is due, so no SMS (one message a day)."""
    number, ref, start = at_j5(service)
    j7 = to_utc_naive(datetime.combine(start + timedelta(days=7), time(8)), service.settings.timezone)
    with service.services.sessions() as s, s.begin():
        task_id = s.scalars(select(m.CallTask.id).where(m.CallTask.ticket_number == number)).one()
        done = calls.record_outcome(s, service.settings, task_id, "no_answer", actor="hotliner:Camille", now=j7)
    assert not done.sms_sent and sms_rows(service, number) == []
    assert run_days(service, start, 7, 7, ref) == [(7, "firm", "email")]


# --------------------------------------------------------------------------------------------
# attacks: who may, what body, which id, whose name
# --------------------------------------------------------------------------------------------
async def test_only_the_phone_desk_records_an_outcome(service: Service):
    number, _, _ = at_j5(service)
    task_id = call_task(service, number)["id"]
    status, answer = await post_outcome(service, task_id, {"outcome": "reached"}, role=None)
    assert status == 401 and answer["code"] == "unauthenticated"
    status, _ = await post_outcome(service, task_id, {"outcome": "reached"}, role=None, token="not-a-token")
    assert status == 401
    customer = auth.customer_token(PAUL, service.settings.secret)  # a customer's token is no staff token
    status, _ = await post_outcome(service, task_id, {"outcome": "reached"}, role=None, token=customer)
    assert status == 401
    for role in ("cs", "trainer", "website"):
        status, answer = await post_outcome(service, task_id, {"outcome": "no_answer"}, role=role)
        assert status == 403 and answer["code"] == "forbidden", role
    assert call_task(service, number)["done_at"] is None and sms_rows(service, number) == []
    status, _ = await service.call("GET", "/api/calls", role="trainer")
    assert status == 403


@pytest.mark.parametrize("body,raw,expected", [
    ({}, None, 422),
    ({"outcome": "x"}, None, 422),
    ({"outcome": ""}, None, 422),
    ({"outcome": None}, None, 422),
    ({"outcome": 1}, None, 422),
    ({"outcome": ["no_answer"]}, None, 422),
    ({"outcome": "NO_ANSWER"}, None, 422),
    ({"outcome": "reached", "note": "x" * 2001}, None, 422),
    ({"outcome": "reached", "note": 12}, None, 422),
    ({"outcome": "reached", "note": {"text": "x"}}, None, 422),
    ({"outcome": "reached", "extra": 1}, None, 422),
    ({"outcome": "reached", "actor": "supervisor:Someone"}, None, 422),
    (None, b"{not json", 400),
    (None, b"[]", 400),
    (None, b'"reached"', 400),
    (None, b"", 400),
    (None, "\u00e9".encode("latin-1"), 400),
])
async def test_a_bad_body_is_refused_in_french_never_500(service: Service, body, raw, expected):
    number, _, _ = at_j5(service)
    task_id = call_task(service, number)["id"]
    status, answer = await post_outcome(service, task_id, body, raw=raw)
    assert status == expected, answer
    assert isinstance(answer, dict) and answer["error"] and answer["code"] in ("invalid_field", "invalid_json")
    assert call_task(service, number)["done_at"] is None and sms_rows(service, number) == []


async def test_a_note_of_2000_characters_is_kept(service: Service):
    number, _, _ = at_j5(service)
    task_id = call_task(service, number)["id"]
    status, done = await post_outcome(service, task_id, {"outcome": "reached", "note": "é" * 2000})
    assert status == 200 and done["note"] == "é" * 2000


@pytest.mark.parametrize("call_id", ["999999", "0", "abc", "-1", "9" * 20, "1.5", "%3Cscript%3E"])
async def test_an_unknown_call_is_404(service: Service, call_id):
    status, answer = await post_outcome(service, call_id, {"outcome": "reached"})
    assert status == 404 and answer["error"] == "appel introuvable"


async def test_the_actor_is_the_token_s_staff_member_never_the_body(service: Service):
    number, _, _ = at_j5(service)
    task_id = call_task(service, number)["id"]
    status, _ = await post_outcome(service, task_id, {"outcome": "no_answer", "actor": "supervisor:Boss"})
    assert status == 422 and call_task(service, number)["done_at"] is None
    token = service.token("level2", "Camille")
    status, _ = await post_outcome(service, task_id, {"outcome": "no_answer", "note": "actor: supervisor:Boss"},
                                   role=None, token=token)
    assert status == 200
    actors = {actor for event, actor, _ in history(service, number) if event in ("call_outcome", "reminder_sent")
              and actor != "système:relances"}
    assert actors == {"level2:Camille"}
