"""The staff ticket pages in a real browser (Debian's Chromium driven by Playwright), worked with
the keyboard: the list (/console/tickets) filtered, a ticket opened with j and Enter, a reply by
e-mail that the real service delivers after its commit, the status changed (a forbidden target is
not offered, a stale one is refused in French), an internal note; and the chat transcript.

Only the numi service runs (`Stack.start(rasa=False)`, demo data on), with a stand-in on Rasa's
port. Screenshots go to artifacts/screenshots/ (copied to docs/screenshots/ for the README)."""
from __future__ import annotations

import re
import time
from datetime import timedelta
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
from sqlalchemy.orm import Session

from numi.clock import utcnow
from numi.db import make_engine
from numi.db import models as m
from numi.devstack import Stack, http, signed_conversation
from tests.browser.kit import HOSTILE, add_ticket, expect, service_with_stand_in, shot, sign_in, write_transcript


def seed(stack: Stack) -> Dict[str, Any]:
    """Beside the demo's three waiting tickets: Paul's e-mail on TK-00456 (hostile, with attachments),
    a call summary, Paul's level-2 chat ticket with its transcript, and a few others to filter."""
    now = utcnow()
    chat = signed_conversation(stack.secret, owner="CLT-00321")
    engine = make_engine(stack.env["NUMI_DATABASE_URL"])
    with Session(engine) as s, s.begin():
        s.add(m.InboundMail(digest="b" * 64, message_id="<paul-1@example.fr>", source="smtp",
                            sender="paul.martin@example.fr", subject="Re: [TK-00456] doublons", kind="reply",
                            ticket_number=456, received_at=now - timedelta(days=2)))
        s.add(m.TicketEvent(ticket_number=456, at=now - timedelta(days=2), actor="système:e-mail", event="email_in",
                            details={"channel": "email", "direction": "in", "kind": "reply",
                                     "from": "paul.martin@example.fr", "subject": "Re: [TK-00456] doublons",
                                     "text": "Bonjour, toujours des doublons ce matin. " + HOSTILE,
                                     "threaded_by": "headers",
                                     "attachments": [{"name": "capture.png", "type": "image/png", "size": 48213},
                                                     {"name": "outil.exe", "type": "application/x-msdownload",
                                                      "size": 90112, "refused": "type"}]}))
        s.add(m.TicketEvent(ticket_number=456, at=now - timedelta(days=1), actor="hotliner:Camille",
                            event="call_summary", details={"situation": "Doublons après la migration IMAP",
                                                           "actions": "Paramètres IMAP vérifiés avec le client",
                                                           "resolution": "À tester par le client"}))
        level2 = add_ticket(s, "CLT-00321", "E-mails en double après la migration", now - timedelta(days=4),
                         status="escalated", queue="level2", priority="high", conversation_id=chat)
        add_ticket(s, "CLT-00324", "Imprimante réseau introuvable", now - timedelta(days=3), queue="level2")
        add_ticket(s, "CLT-00326", "Sauvegarde des photos", now - timedelta(days=9), status="closed", queue="level2")
        add_ticket(s, None, "Demande sans client " + HOSTILE, now - timedelta(days=2), queue="cs", priority=None)
        s.add(m.TicketEvent(ticket_number=level2.number, at=now - timedelta(days=3), actor="système:e-mail",
                            event="email_failing", reason="l'adresse paul.martin@example.fr est en échec",
                            details={"channel": "email", "address": "paul.martin@example.fr", "mail_id": 7}))
        refs = {"level2": level2.ref}
    engine.dispose()
    write_transcript(stack.env["NUMI_TRACKER_URL"], chat, [("user", "Mes e-mails arrivent en double " + HOSTILE),
                                                          ("bot", "Avez-vous vérifié les paramètres IMAP ?"),
                                                          ("agent", "Karim : je passe votre demande au niveau 2")],
                     now - timedelta(days=4))
    return refs


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Stack]:
    yield from service_with_stand_in(tmp_path_factory.mktemp("stack"), seed)


def options(pg, select: str) -> List[str]:
    return pg.locator(f"{select} option").evaluate_all("os => os.map(o => o.value).filter(Boolean)")


# --- the tests -----------------------------------------------------------------------------
def test_a_supervisor_works_a_ticket_with_the_keyboard(stack, page):
    token = stack.staff_token("Sonia Durand", "supervisor")
    sign_in(page, f"{stack.numi}/console/tickets", token)
    rows = page.locator("#ticket-rows tr.ticket-row")
    expect(rows).to_have_count(7, timeout=10_000)
    expect(page.locator("#tickets-status")).to_have_text("7 ticket(s) pour ce filtre")
    expect(page.locator("#counts-status")).to_contain_text("En attente client 3")
    expect(page.locator("#counts-queue")).to_contain_text("Niveau 2 3")
    expect(page.locator("#ticket-rows")).to_contain_text("Demande sans client " + HOSTILE)  # text, not markup
    assert page.locator("#ticket-rows script, #ticket-rows img").count() == 0 and page.title() != "pwned"
    # a filter by the menu: level 2's tickets, and the counts of that filter
    page.locator("#f-queue").select_option("level2")
    expect(rows).to_have_count(3)
    expect(page.locator("#f-status option[value='closed']")).to_have_text("Clôturé (1)")
    page.locator("#f-queue").select_option("")
    expect(rows).to_have_count(7)
    # the keyboard: / searches, the list follows the typing; Escape, j, Enter opens
    page.locator("body").click(position={"x": 5, "y": 400})
    page.keyboard.press("/")
    expect(page.locator("#f-q")).to_be_focused()
    page.keyboard.type("martin")
    expect(rows).to_have_count(2)  # Paul Martin's two tickets
    page.locator("#f-status").select_option("waiting_customer")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("TK-00456")
    expect(rows.first).to_contain_text("Paul Martin")
    assert "status=waiting_customer" in page.url and "q=martin" in page.url
    shot(page, "tickets_list")
    page.locator("#f-status").focus()
    page.keyboard.press("Escape")
    expect(page.locator("#ticket-rows a[href='/console/ticket?id=TK-00456']")).to_be_focused()
    page.keyboard.press("k")  # stays on the first row
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/console/ticket\?id=TK-00456$"))
    expect(page.locator("#ticket")).to_be_visible(timeout=10_000)

    # the ticket page: the customer, the history in time order, e-mails and calls as text
    expect(page.locator("#t-title")).to_contain_text("TK-00456")
    expect(page.locator("#t-customer")).to_contain_text("Paul Martin")
    expect(page.locator("#t-customer")).to_contain_text("paul.martin@example.fr")
    expect(page.locator("#t-customer-link")).to_have_attribute("href", "/console/client?id=CLT-00321")
    history = page.locator("#t-history")
    events = history.locator("li.entry").evaluate_all("ls => ls.map(l => l.dataset.event)")
    assert events == ["created", "status_changed", "email_in", "call_summary"], events
    mail = history.locator("li.entry-email_in")
    expect(mail).to_contain_text("E-mail reçu du client")
    expect(mail).to_contain_text("toujours des doublons ce matin. " + HOSTILE)
    expect(mail).to_contain_text("capture.png")
    expect(mail).to_contain_text("refusée : type de fichier non accepté")
    expect(mail).to_contain_text("par les en-têtes de réponse")
    expect(history.locator("li.entry-call_summary")).to_contain_text("Paramètres IMAP vérifiés avec le client")
    assert page.locator("#t-history script, #t-history img").count() == 0 and page.title() != "pwned"
    expect(page.locator("#t-conversation-note")).to_have_text("Pas de conversation de chat pour ce ticket.")
    expect(page.locator("#reply-chat")).to_be_disabled()
    expect(page.locator("#back-to-list")).to_have_attribute("href", re.compile(r"^/console/tickets\?.*q=martin"))

    # reply by e-mail: r, type, Ctrl+Enter; the reply is in the history, and the real service delivers it
    page.keyboard.press("r")
    expect(page.locator("#reply-text")).to_be_focused()
    expect(page.locator("#reply-email")).to_be_checked()
    page.keyboard.type("Bonjour Paul, pouvez-vous relancer la synchronisation ? " + HOSTILE)
    page.keyboard.press("Control+Enter")
    expect(page.locator("#reply-status")).to_have_text("E-mail envoyé au client : il apparaît dans l'historique.",
                                                       timeout=10_000)
    sent = history.locator("li.entry-email_out")
    expect(sent).to_have_count(1)
    expect(sent).to_contain_text("pouvez-vous relancer la synchronisation ? " + HOSTILE)
    expect(sent).to_contain_text("[TK-00456]")
    expect(sent).to_contain_text("supervisor:Sonia Durand")
    expect(page.locator("#reply-text")).to_have_value("")
    mailbox = Path(stack.env["NUMI_MAILBOX_DIR"])
    deadline = time.time() + 10
    while time.time() < deadline and not any("relancer la synchronisation" in p.read_text(errors="replace")
                                             for p in mailbox.rglob("*") if p.is_file()):
        time.sleep(0.2)
    delivered = [p.read_text(errors="replace") for p in mailbox.rglob("*") if p.is_file()]
    assert any("relancer la synchronisation" in d and "[TK-00456]" in d for d in delivered), delivered

    # the status: only the lifecycle's targets are offered; an allowed one works
    page.locator("body").click(position={"x": 5, "y": 5})
    page.keyboard.press("s")
    expect(page.locator("#status-target")).to_be_focused()
    assert options(page, "#status-target") == ["in_progress", "escalated", "closed"]  # never « new » again
    page.locator("#status-target").select_option("in_progress")
    page.keyboard.press("Control+Enter")
    expect(page.locator("#status-status")).to_have_text("Statut changé. En cours", timeout=10_000)
    expect(page.locator("#t-status")).to_have_text("En cours")
    assert options(page, "#status-target") == ["waiting_customer", "escalated", "closed"]
    expect(history.locator("li.entry-status_changed").last).to_contain_text("En attente client → En cours")
    expect(history.locator("li.entry-status_changed").last).to_contain_text("supervisor:Sonia Durand")
    # waiting for the customer asks for a reason, closing for a reason and a note
    page.locator("#status-target").select_option("waiting_customer")
    expect(page.locator("#waiting-fields")).to_be_visible()
    expect(page.locator("#close-fields")).to_be_hidden()
    page.locator("#status-target").select_option("closed")
    expect(page.locator("#close-fields")).to_be_visible()
    # a page left open while somebody else closed the ticket: its target is refused, in French
    status, _ = http("PATCH", f"{stack.numi}/api/tickets/TK-00456", {"status": "closed", "close_reason": "other",
                                                                     "note": "clôturé ailleurs"},
                     token=stack.admin_token)
    assert status == 200
    page.locator("#status-target").select_option("escalated")
    page.locator("#status-apply").click()
    expect(page.locator("#status-status")).to_have_text("Refusé : transition interdite : closed → escalated",
                                                        timeout=10_000)
    expect(page.locator("#status-status")).to_have_class(re.compile(r"\berror\b"))
    status, ticket = http("GET", f"{stack.numi}/api/tickets/TK-00456", token=stack.admin_token)
    assert ticket["status"] == "closed"
    page.reload()
    expect(page.locator("#t-status")).to_have_text("Clôturé", timeout=10_000)
    assert options(page, "#status-target") == ["in_progress"]

    # an internal note: n, type, Ctrl+Enter
    page.locator("body").click(position={"x": 5, "y": 5})
    page.keyboard.press("n")
    expect(page.locator("#note-text")).to_be_focused()
    page.keyboard.type("Client rappelé, il teste ce soir. " + HOSTILE)
    page.keyboard.press("Control+Enter")
    expect(page.locator("#note-status")).to_have_text("Note ajoutée à l'historique.", timeout=10_000)
    note = history.locator("li.entry-internal_note")
    expect(note).to_have_count(1)
    expect(note).to_contain_text("Client rappelé, il teste ce soir. " + HOSTILE)
    expect(note).to_contain_text("interne")
    assert page.locator("#app script, #app img").count() == 0 and page.title() != "pwned"
    expect(page.locator("#note-text")).to_have_value("")
    page.keyboard.press("Escape")  # out of the field, the single keys are shortcuts again
    page.keyboard.press("h")
    expect(page.locator("#t-history-title")).to_be_focused()
    page.locator("#t-title").scroll_into_view_if_needed()
    shot(page, "ticket_page", full_page=True)


def test_a_level2_agent_reads_the_chat_and_answers_in_it(stack, page):
    token = stack.staff_token("Karim", "level2")
    level2 = stack.seeded["level2"]
    sign_in(page, f"{stack.numi}/console/ticket?id={level2}", token)
    expect(page.locator("#ticket")).to_be_visible(timeout=10_000)
    conversation = page.locator("#t-conversation")
    expect(conversation.locator("li")).to_have_count(3)
    expect(conversation.locator("li").first).to_contain_text("Mes e-mails arrivent en double " + HOSTILE)
    expect(conversation.locator("li").nth(2)).to_contain_text("Conseiller · Karim")
    assert page.locator("#t-conversation script, #t-conversation img").count() == 0
    expect(page.locator("#reply-chat")).to_be_enabled()
    page.locator("#reply-chat").check()
    page.locator("#reply-text").fill("Je regarde votre boîte tout de suite.")
    page.keyboard.press("Control+Enter")
    expect(page.locator("#reply-status")).to_have_text("Message envoyé dans le chat du client.", timeout=10_000)
    expect(page.locator("#t-history li.entry-agent_message")).to_contain_text("Je regarde votre boîte tout de suite.")
    bounce = page.locator("#t-history li.entry-email_failing")
    expect(bounce).to_contain_text("Adresse e-mail en échec")
    expect(bounce).to_contain_text("l'adresse paul.martin@example.fr est en échec")
    # assign: a, type, Ctrl+Enter
    page.keyboard.press("Escape")
    page.keyboard.press("a")
    expect(page.locator("#assignee")).to_be_focused()
    page.keyboard.type("Karim")
    page.keyboard.press("Control+Enter")
    expect(page.locator("#assign-status")).to_have_text("Attribution enregistrée.", timeout=10_000)
    expect(page.locator("#t-fields")).to_contain_text("Karim")
    expect(page.locator("#t-history li.entry-assigned")).to_contain_text("Attribué à : Karim · File : Niveau 2")
    # a ticket of another queue is refused without showing anything of it
    page.locator("#ticket-id").fill("TK-00456")
    page.keyboard.press("Enter")
    expect(page.locator("#ticket-status")).to_contain_text("périmètre")
    expect(page.locator("#ticket")).to_be_hidden()
