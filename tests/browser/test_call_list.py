"""The phone desk's call list in a real browser: the J+5 call of a high-priority ticket that waits
for Marie (seed 001, « Appel ou SMS »), her number to call, « Pas de réponse » clicked: the call
leaves the list and the SMS of 001 goes to the outbox, once; the call-backs tab's headers."""
from __future__ import annotations

from datetime import timedelta
from typing import Any, Dict, Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from numi.clock import utcnow
from numi.db import make_engine
from numi.db import models as m
from numi.devstack import Stack
from numi.reminders import engine as reminders
from tests.browser.kit import HOSTILE, add_ticket, expect, service_with_stand_in, shot, sign_in


def seed(stack: Stack) -> Dict[str, Any]:
    """Marie Lefèvre's ticket (CLT-00324, a phone number), waiting for 5 days: the gentle e-mail of
    J+3 sent, the call of J+5 in the call list, as the daily run leaves them."""
    now = utcnow()
    db = make_engine(stack.env["NUMI_DATABASE_URL"])
    with Session(db) as s, s.begin():
        t = add_ticket(s, "CLT-00324", "Imprimante réseau " + HOSTILE, now - timedelta(days=6), priority="high",
                       status="waiting_customer")
        t.waiting_since, t.waiting_reason = now - timedelta(days=5), "feedback"
        t.next_reminder_due = (now + timedelta(days=2)).date()
        prefix = reminders.period_key(t)
        for key, kind, channel, day in ((prefix + "0:gentle", "gentle", "email", 2), (prefix + "1:call", "call",
                                                                                     "call", 0)):
            s.add(m.OutboxMessage(key=key, ticket_number=t.number, kind=kind, channel=channel, subject="…",
                                  body="…", due_on=(now - timedelta(days=day)).date(), status="done",
                                  created_at=now - timedelta(days=day)))
        s.add(m.CallTask(key=prefix + "1:call", ticket_number=t.number, customer_id="CLT-00324", reason="reminder",
                         urgent=False, script="Bonjour Marie…", due_on=now.date()))
        number = t.number
    db.dispose()
    return {"number": number, "ref": m.ticket_ref(number)}


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Stack]:
    yield from service_with_stand_in(tmp_path_factory.mktemp("stack"), seed)


def sms_rows(stack: Stack, number: int):
    db = sa.create_engine(stack.env["NUMI_DATABASE_URL"])
    with db.connect() as conn:
        rows = list(conn.execute(sa.text("SELECT key, recipient FROM outbox WHERE ticket_number = :n "
                                         "AND channel = 'sms'"), {"n": number}))
    db.dispose()
    return rows


def test_an_unanswered_reminder_call_sends_the_sms_once(stack, page):
    ref = stack.seeded["ref"]
    sign_in(page, f"{stack.numi}/console/files", stack.staff_token("Camille", "hotliner"))
    page.locator("#tab-calls").click()
    row = page.locator("#calls tr[data-call]", has_text=ref)
    expect(row).to_be_visible(timeout=10_000)
    expect(row.locator("a[href^='tel:']")).to_have_attribute("href", "tel:0781223344")
    expect(row).to_contain_text("Marie Lefèvre (CLT-00324)")
    expect(row).to_contain_text("<script>document.title='pwned'</script>")  # her subject, as text
    assert page.title() != "pwned"
    shot(page, "call_list")
    row.locator("input.call-note").fill("répondeur, message laissé " + HOSTILE)
    row.locator("button[data-outcome='no_answer']").click()
    expect(page.locator("#calls-status")).to_contain_text("SMS")
    expect(page.locator("#calls tr[data-call]", has_text=ref)).to_have_count(0)
    (sms,) = sms_rows(stack, stack.seeded["number"])
    assert sms.key.endswith("1:call:sms") and sms.recipient == "07 81 22 33 44"
    db = sa.create_engine(stack.env["NUMI_DATABASE_URL"])
    with db.connect() as conn:
        (outcome,) = conn.execute(sa.text("SELECT outcome FROM call_tasks WHERE ticket_number = :n"),
                                  {"n": stack.seeded["number"]}).one()
    db.dispose()
    assert outcome == "no_answer: répondeur, message laissé " + HOSTILE  # the hotliner's note, as typed

    page.locator("#tab-callbacks").click()
    expect(page.locator("#callbacks th").first).to_have_text("Quand")
