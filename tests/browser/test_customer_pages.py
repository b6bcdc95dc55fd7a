"""The staff console's customer pages in a real browser (Debian's Chromium driven by
Playwright): the customer's file, the KPI tab with its weekly charts, and the continuity panel
of seed 003 when a level-2 agent claims a handoff or a hotliner starts a call.

Only the numi service runs (`Stack.start(rasa=False)`, demo data on): the chat transcripts are
written in a tracker store of Rasa's shape, and a claim's notice to the conversation goes to a
stand-in that answers as Rasa's HTTP API does. Screenshots go to artifacts/screenshots/."""
from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any, Dict, Iterator

import pytest
from sqlalchemy.orm import Session

from numi.clock import utcnow
from numi.db import make_engine
from numi.db import models as m
from numi.devstack import Stack, signed_conversation
from tests.browser.kit import add_ticket, expect, service_with_stand_in, shot, sign_in, write_transcript

NOTE = "<script>document.title='pwned'</script><img src=x onerror=alert(1)> rappeler avant vendredi"


# --- the data ------------------------------------------------------------------------------
def _weeks_of_reminders(s: Session, now: datetime) -> None:
    """Eight weeks of waiting tickets, reminders, answers, closures and a reopening: the KPI charts' data."""
    monday = (now - timedelta(days=now.weekday())).replace(hour=8, minute=0, second=0, microsecond=0)
    for week in range(8, 0, -1):
        start = monday - timedelta(weeks=week)
        for k in range(2 + week % 3):
            t = add_ticket(s, "CLT-00328", f"Relance semaine {week}.{k}", start, status="waiting_customer")
            t.waiting_since = start + timedelta(hours=1)
            s.add(m.TicketEvent(ticket_number=t.number, at=t.waiting_since, actor="hotliner:Camille",
                                event="status_changed", from_status="new", to_status="waiting_customer"))
            first = start + timedelta(days=3)
            key = f"reminder:{t.number}:{t.waiting_since.isoformat(timespec='seconds')}:"
            s.add(m.OutboxMessage(key=key + "gentle", ticket_number=t.number, kind="gentle", channel="email",
                                  subject="Rappel", body="…", due_on=first.date(), status="sent", created_at=first,
                                  sent_at=first))
            if k % 2 == 0:  # answers the first reminder
                s.add(m.TicketEvent(ticket_number=t.number, at=first + timedelta(days=1), actor="client",
                                    event="status_changed", from_status="waiting_customer", to_status="in_progress"))
                t.status, t.waiting_since = "in_progress", None
            elif week > 2:  # a second reminder, then closed for inactivity
                second = first + timedelta(days=5)
                s.add(m.OutboxMessage(key=key + "followup", ticket_number=t.number, kind="followup", channel="email",
                                      subject="Relance", body="…", due_on=second.date(), status="sent",
                                      created_at=second, sent_at=second))
                closed = second + timedelta(days=4)
                s.add(m.TicketEvent(ticket_number=t.number, at=closed, actor="système:relances",
                                    event="status_changed", from_status="waiting_customer", to_status="closed"))
                t.status, t.close_reason, t.closed_at = "closed", "inactivity", closed
                if week == 5:
                    s.add(m.TicketEvent(ticket_number=t.number, at=closed + timedelta(days=2), actor="client",
                                        event="status_changed", from_status="closed", to_status="in_progress"))
                    t.status, t.reopen_count = "in_progress", 1


def seed(stack: Stack) -> Dict[str, Any]:
    """Paul Martin (CLT-00321) on every channel, a hostile CRM note, an alert, a level-2 handoff."""
    now = utcnow()
    chat_conv = signed_conversation(stack.secret, owner="CLT-00321")
    handoff_conv = signed_conversation(stack.secret)
    engine = make_engine(stack.env["NUMI_DATABASE_URL"])
    with Session(engine) as s, s.begin():
        level2 = add_ticket(s, "CLT-00321", "E-mails en double après la migration", now - timedelta(days=4),
                         status="escalated", queue="level2", conversation_id=chat_conv)
        s.add(m.TicketEvent(ticket_number=level2.number, at=now - timedelta(days=2), actor="client", event="email",
                            details={"channel": "email", "direction": "in", "subject": "Re: doublons",
                                     "text": "Bonjour, les doublons sont revenus ce matin. <b>Paul</b>"}))
        printer = add_ticket(s, "CLT-00321", "Imprimante hors ligne", now - timedelta(days=1), status="closed")
        s.add(m.TicketEvent(ticket_number=printer.number, at=now - timedelta(days=1), actor="hotliner:Camille",
                            event="call_summary", details={"situation": "Imprimante hors ligne après une mise à jour",
                                                           "actions": "Pilote réinstallé avec le client",
                                                           "resolution": "Résolu"}))
        s.add(m.Handoff(conversation_id=handoff_conv, queue="level2", priority="high", status="waiting",
                        ticket_number=level2.number, customer_id="CLT-00321", created_at=now,
                        packet={"situation": "Doublons revenus", "scenario": "tech_support",
                                "scenario_title": "Support technique", "transcript": [
                                    {"from": "customer", "text": "Les doublons sont revenus"}]}))
        customer = s.get(m.Customer, "CLT-00321")
        customer.churn_risk = 0.62
        customer.crm_notes = [
            {"at": m.as_iso(now - timedelta(days=3)), "rule": "price_sensitivity", "note": "Sensible au prix",
             "quote": "c'est un peu cher pour ce que c'est", "emotion": "dissatisfaction", "tag": "sensible_prix"},
            {"at": m.as_iso(now - timedelta(hours=5)), "rule": "attrition_explicit", "note": NOTE,
             "quote": "je vais finir par résilier", "emotion": "anger"}]
        s.add(m.Alert(rule="attrition_explicit", customer_id="CLT-00321", conversation_id=chat_conv,
                      message="je vais finir par résilier <script>alert(2)</script>",
                      created_at=now - timedelta(hours=5), recipients=["relation_client"],
                      signals={"emotion": "anger", "intensity": 2}))
        for k, (emotion, intensity) in enumerate((("anger", 2), ("dissatisfaction", 1), ("neutral", 0))):
            s.add(m.MessageSignal(conversation_id=chat_conv, customer_id="CLT-00321",
                                  at=now - timedelta(days=3, hours=k), text="…", emotion=emotion,
                                  polarity="negative" if intensity else "neutral", intensity=intensity))
        _weeks_of_reminders(s, now)
        s.flush()
        refs = {"level2": level2.ref, "printer": printer.ref}
    engine.dispose()
    url = stack.env["NUMI_TRACKER_URL"]
    write_transcript(url, chat_conv, [("user", "Mes e-mails arrivent en double depuis la migration"),
                              ("bot", "Avez-vous vérifié les paramètres IMAP ?"), ("user", "oui, rien n'y fait"),
                              ("agent", "Karim : je passe votre demande au niveau 2")],
             now - timedelta(days=3), "CLT-00321")
    write_transcript(url, handoff_conv, [("user", "Les doublons sont revenus")], now - timedelta(minutes=3),
                     "CLT-00321")
    return {**refs, "handoff_conv": handoff_conv}


# --- fixtures ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Stack]:
    """The numi service alone, with the demo data; a stand-in answers on Rasa's port."""
    yield from service_with_stand_in(tmp_path_factory.mktemp("stack"), seed)


# --- the tests -----------------------------------------------------------------------------
def test_the_customer_page_shows_tickets_crm_and_alerts(stack, page):
    token = stack.staff_token("Karim", "level2")
    sign_in(page, f"{stack.numi}/console/client?id=CLT-00321", token)
    expect(page.locator("#customer")).to_be_visible(timeout=10_000)
    expect(page.locator("#c-name")).to_have_text("Paul Martin (CLT-00321)")
    expect(page.locator("#c-contact")).to_contain_text("paul.martin@example.fr")
    expect(page.locator("#c-contact")).to_contain_text("06 12 34 56 78")
    tickets = page.locator("#c-tickets")
    expect(tickets).to_contain_text("TK-00456")
    expect(tickets).to_contain_text("En attente client")
    level2 = stack.seeded["level2"]
    expect(tickets.locator(f"a[href='/console/ticket?id={level2}']")).to_have_text(level2)
    assert tickets.locator("a[href='/console/ticket?id=TK-00456']").count() == 0  # level 1's, not level 2's
    # the emotional CRM: churn risk as a percentage, tags, mood, notes (a stored <script> is text)
    expect(page.locator("#c-crm")).to_contain_text(re.compile(r"62\s%"))
    expect(page.locator("#c-crm")).to_contain_text("sensible_prix")
    expect(page.locator("#c-mood")).to_contain_text("colère")
    expect(page.locator("#c-notes")).to_contain_text(NOTE)
    assert page.locator("#c-notes script, #c-notes img, #c-alerts script").count() == 0
    assert page.title() != "pwned"
    expect(page.locator("#c-alerts")).to_contain_text("ATTRITION 1")
    expect(page.locator("#c-alerts")).to_contain_text("<script>alert(2)</script>")
    expect(page.locator("#c-subscriptions")).to_contain_text("Actif")
    expect(page.locator("#c-invoices")).to_contain_text(re.compile(r"29,90\s€"))
    expect(page.locator("#c-continuity .last-interaction")).to_be_visible()
    if page.locator("#c-email-failing").count():  # only when the customer's JSON carries email_failing
        expect(page.locator("#c-email-failing")).to_be_visible()
    shot(page, "customer_page", full_page=True)
    # keyboard: another customer by number, Enter; one out of level 2's scope is refused, without data
    page.locator("#customer-id").fill("CLT-00323")
    page.keyboard.press("Enter")
    expect(page.locator("#customer-status")).to_contain_text("périmètre")
    expect(page.locator("#customer")).to_be_hidden()


def test_the_kpi_tab_is_readable_and_charted(stack, page):
    token = stack.staff_token("Sonia", "supervisor")
    sign_in(page, f"{stack.numi}/console/files", token)
    page.locator("#tab-kpis").click()
    kpis = page.locator("#kpis")
    expect(kpis.locator("tr[data-kpi]")).to_have_count(9, timeout=10_000)
    expect(kpis).to_contain_text("Tickets en attente client")  # the French label, not the name
    assert "share_waiting_customer" not in kpis.inner_text()
    text = kpis.inner_text()
    assert "[object Object]" not in text and "✅" not in text and "❌" not in text
    assert re.search(r"\d+(,\d+)?\u00a0%", text), text
    months = "janvier|février|mars|avril|mai|juin|juillet|août|septembre|octobre|novembre|décembre"
    expect(kpis.locator("tr[data-kpi='inactivity_closures_per_month'] .kpi-value")).to_contain_text(
        re.compile(rf"({months}) \d{{4}} : \d"))
    expect(kpis.locator("tr[data-kpi='closure_satisfaction'] .kpi-value")).to_have_text("pas encore mesuré")
    expect(kpis.locator(".state.ok, .state.off").first).to_be_visible()
    for canvas in ("kpi-volumes", "kpi-rates"):
        page.wait_for_function(f"window.Chart && window.Chart.getChart('{canvas}') !== undefined", timeout=10_000)
        labels = page.evaluate(f"window.Chart.getChart('{canvas}').data.labels")
        assert len(labels) == 8 and all(label.startswith("sem. du ") for label in labels), labels
        box = page.locator(f"#{canvas}").bounding_box()
        assert box and box["width"] > 200 and box["height"] > 150
        painted = page.evaluate(f"""(() => {{ const c = document.getElementById('{canvas}');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n; }})()""")
        assert painted > 1000, painted
    volumes = page.evaluate("window.Chart.getChart('kpi-volumes').data.datasets.map(d => d.label)")
    assert volumes == ["Rappels envoyés", "Réponses des clients", "Clôtures pour inactivité", "Tickets rouverts"]
    assert sum(page.evaluate("window.Chart.getChart('kpi-volumes').data.datasets[0].data")) > 0
    page.locator("#kpi-volumes").scroll_into_view_if_needed()
    shot(page, "kpis", full_page=True)


def test_claiming_a_handoff_shows_the_customers_continuity(stack, page):
    token = stack.staff_token("Lea", "level2")
    sign_in(page, f"{stack.numi}/console/files", token)
    item = page.locator(f"#handoff-list li.handoff-item[data-conv='{stack.seeded['handoff_conv']}']")
    expect(item).to_be_visible(timeout=10_000)
    item.click()
    expect(page.locator("#h-packet")).to_contain_text("Doublons revenus")
    panel = page.locator("#h-continuity")
    expect(panel).to_be_hidden()
    page.locator("#h-claim").click()
    expect(panel).to_be_visible(timeout=10_000)
    expect(panel.locator(".open-tickets")).to_contain_text(stack.seeded["level2"])
    expect(panel.locator(".open-tickets")).to_contain_text("TK-00456")
    last = panel.locator(".last-interaction")
    expect(last).to_contain_text("Téléphone")  # the call of yesterday, not this conversation
    expect(last).to_contain_text("Pilote réinstallé avec le client")
    expect(last.locator("dt")).to_have_text(["Situation", "Actions menées", "Résolution"])
    expect(panel.locator(".earlier")).to_contain_text("E-mail")
    expect(panel.locator(".earlier")).to_contain_text("Chat")
    assert panel.locator("b, script").count() == 0  # the e-mail's markup is text
    expect(page.locator("#h-text")).to_be_focused()
    shot(page, "level2_continuity")


def test_starting_a_call_with_a_known_number_shows_the_continuity(stack, page):
    token = stack.staff_token("Camille", "hotliner")
    sign_in(page, f"{stack.numi}/console/prompteur", token)
    expect(page.locator("#call-customer")).to_be_focused()
    page.keyboard.type("CLT-00321")
    page.keyboard.press("Enter")
    expect(page.locator("#say")).to_be_focused(timeout=10_000)
    panel = page.locator("#call-continuity")
    expect(panel).to_be_visible(timeout=10_000)
    expect(panel).to_contain_text("Paul Martin")
    expect(panel.locator(".open-tickets")).to_contain_text("TK-00456")
    expect(panel.locator(".open-tickets a[href='/console/ticket?id=TK-00456']")).to_be_visible()
    expect(panel.locator(".last-interaction")).to_contain_text("Chat")  # the handoff's conversation, minutes ago
    expect(panel.locator(".last-interaction")).to_contain_text("Les doublons sont revenus")
    expect(page.locator("#say")).to_be_focused()  # the panel does not take the keyboard
    shot(page, "prompter_continuity")
    # a call without a customer number shows no panel
    page.locator("#call-customer").fill("")
    page.locator("#call-customer").press("Enter")
    expect(panel).to_be_hidden(timeout=10_000)
