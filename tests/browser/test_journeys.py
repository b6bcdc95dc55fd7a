"""The four journeys of the web pages in a real browser (Debian's Chromium driven by
Playwright) against the real Rasa server and numi service. Each test saves a
screenshot in artifacts/screenshots/."""
from __future__ import annotations

import re
import time

import pytest

from numi.devstack import Stack, http
from tests.browser.kit import expect, shot, sign_in


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """The real servers with the demo sign-in on (NUMI_DEMO=1, as `make run` sets it)."""
    s = Stack(tmp_path_factory.mktemp("stack"), extra_env={"NUMI_DEMO": "1"}).start()
    yield s
    s.stop()


@pytest.fixture
def viewport():
    return {"width": 1280, "height": 860}


def bot_texts(pg) -> str:
    return " ".join(pg.locator("#chat-log li.msg.bot p, #chat-log li.msg.agent p").all_inner_texts())


def wait_bot(pg, count_before: int, timeout: float = 20) -> None:
    """Until the bot has said something new and stopped typing."""
    bots = pg.locator("#chat-log li.msg.bot, #chat-log li.msg.agent")
    expect(bots).not_to_have_count(count_before, timeout=timeout * 1000)
    deadline = time.time() + timeout
    while time.time() < deadline and pg.locator("#chat-typing").is_visible():
        time.sleep(0.1)
    time.sleep(0.4)


def say(pg, text: str) -> None:
    before = pg.locator("#chat-log li.msg.bot, #chat-log li.msg.agent").count()
    pg.locator("#chat-input").fill(text)
    pg.keyboard.press("Enter")
    wait_bot(pg, before)


def click_first_button(pg) -> bool:
    buttons = pg.locator("#chat-log li:last-child .buttons button:enabled")
    if buttons.count() == 0:
        return False
    before = pg.locator("#chat-log li.msg.bot, #chat-log li.msg.agent").count()
    buttons.first.click()
    wait_bot(pg, before)
    return True


def settled(pg) -> None:
    """Until the prompter has no request in flight."""
    expect(pg.locator("body[data-busy]")).to_have_count(0, timeout=20_000)


def open_chat(pg, url: str) -> None:
    pg.goto(url)
    pg.locator("#chat-open").click()
    expect(pg.locator("#chat-status")).to_have_class(re.compile("online"), timeout=15_000)


# ---------------------------------------------------------------------------
def test_customer_conversation_ends_in_a_ticket(stack, page):
    open_chat(page, f"{stack.numi}/?client=CLT-00321")
    expect(page.locator("#customer-name")).to_have_text("Paul Martin")
    # hostile text is shown as text, never run
    say(page, "<img src=x onerror=alert(1)> {{7*7}}")
    expect(page.locator("#chat-log li.msg.user p").first).to_have_text("<img src=x onerror=alert(1)> {{7*7}}")
    assert page.locator("#chat-log img").count() == 0
    say(page, "Bonjour, le site plante quand je veux réserver un atelier, j'ai un message d'erreur")
    answers = iter(["Quand je clique sur Réserver, la page affiche « erreur 500 »", "sur Chrome, sous Windows 11",
                    "hier soir vers 20h", "oui", "non"])
    for _ in range(10):
        if re.search(r"TK-\d{5}", bot_texts(page)):
            break
        if not click_first_button(page):
            say(page, next(answers, "oui"))
    ticket_id = re.search(r"TK-\d{5}", bot_texts(page)).group(0)
    conv = page.evaluate("window.numiChat.state().session")
    status, body = http("GET", f"{stack.numi}/api/tickets/{ticket_id}", token=stack.admin_token)
    assert status == 200 and body["conversation_id"] == conv and body["customer_id"] == "CLT-00321"
    assert body["scenario"] == "bug_report"

    # the customer's page can never reach a staff endpoint
    assert page.evaluate("fetch('/api/tickets').then(r => r.status)") == 401
    assert page.evaluate("fetch('/api/handoffs', {headers: {Authorization: 'Bearer ' + "
                         "document.getElementById('chat').dataset.customerToken}}).then(r => r.status)") == 401

    # a lost connection comes back to the same conversation
    page.evaluate("window.numiChat.socket.io.engine.close()")
    expect(page.locator("#chat-status")).to_have_class(re.compile("online"), timeout=15_000)
    say(page, "merci beaucoup")
    assert page.evaluate("window.numiChat.state().session") == conv
    # and a reload keeps the conversation on screen
    page.reload()
    expect(page.locator("#chat")).to_be_visible()
    expect(page.locator("#chat-log")).to_contain_text(ticket_id)
    shot(page, "customer_chat")


def test_hotliner_walks_a_playbook_by_keyboard(stack, page):
    token = stack.staff_token("Camille", "hotliner")
    sign_in(page, f"{stack.numi}/console/prompteur", token)
    kb = page.keyboard
    expect(page.locator("#call-customer")).to_be_focused()
    kb.type("CLT-00322")
    kb.press("Enter")
    expect(page.locator("#say")).to_be_focused(timeout=10_000)
    kb.type("la cliente a cliqué sur un lien dans un faux mail de sa banque et a donné ses identifiants")
    kb.press("Enter")
    expect(page.locator("#card")).to_be_visible(timeout=20_000)
    settled(page)
    expect(page.locator("#card-title")).to_contain_text("security_incident")
    expect(page.locator("#card-detected")).to_contain_text("report_security_incident")
    expect(page.locator("#card-detected")).to_contain_text("2e")
    first_step = page.locator("#card-step").inner_text()
    assert page.locator("#card-script").inner_text().strip() not in ("", "—")
    steps = {first_step}
    for _ in range(6):  # walk on with the keyboard: the first action, else « étape suivante »
        before = page.locator("#call-log li").count()
        if page.locator("#card-actions button").count():
            kb.press("Alt+1")
        else:
            kb.press("Alt+n")
        expect(page.locator("#call-log li")).not_to_have_count(before, timeout=20_000)
        settled(page)
        steps.add(page.locator("#card-step").inner_text())
    assert len(steps) >= 3, steps
    kb.press("Alt+t")
    expect(page.locator("#ticket-status")).to_contain_text("TK-", timeout=10_000)
    settled(page)
    kb.press("Alt+w")
    expect(page.locator("#wrap-resolution")).to_be_focused()
    kb.type("Mots de passe changés avec la cliente, banque prévenue ; rappel demain.")
    kb.press("Control+Enter")
    expect(page.locator("#ticket-status")).to_contain_text("Résumé enregistré", timeout=10_000)
    ticket_id = re.search(r"TK-\d{5}", page.locator("#ticket-status").inner_text()).group(0)
    status, ticket = http("GET", f"{stack.numi}/api/tickets/{ticket_id}", token=stack.admin_token)
    summaries = [h for h in ticket["history"] if h["event"] == "call_summary"]
    assert summaries and "banque prévenue" in summaries[-1]["details"]["resolution"]
    assert ticket["customer_id"] == "CLT-00322" and ticket["scenario"] == "security_incident"
    shot(page, "hotliner_prompter")


def test_level2_takeover_reaches_the_customer_live(stack, browser, page):
    token = stack.staff_token("Karim", "level2")
    open_chat(page, f"{stack.numi}/")
    say(page, "au secours, un rançongiciel chiffre tous mes fichiers et demande une rançon")
    for _ in range(8):  # follow the playbook until the handoff
        if re.search(r"relation|rejoindre|conseiller", bot_texts(page)):
            break
        if not click_first_button(page):
            say(page, "L'écran affiche une demande de rançon en bitcoins")
    conv = page.evaluate("window.numiChat.state().session")

    agent_ctx = browser.new_context(viewport={"width": 1280, "height": 860}, locale="fr-FR")
    agent = agent_ctx.new_page()
    agent_errors = []
    agent.on("pageerror", lambda exc: agent_errors.append(str(exc)))
    agent.on("dialog", lambda d: agent_errors.append(f"dialog: {d.message}") or d.dismiss())
    try:
        sign_in(agent, f"{stack.numi}/console/files", token)
        item = agent.locator(f"#handoff-list li.handoff-item[data-conv='{conv}']")
        expect(item).to_be_visible(timeout=10_000)
        item.click()
        expect(agent.locator("#h-packet")).to_contain_text("security_incident")
        expect(agent.locator("#h-messages")).to_contain_text("rançongiciel")
        agent.locator("#h-claim").click()
        expect(page.locator("#chat-notice")).to_be_visible(timeout=10_000)
        agent.locator("#h-text").fill("Bonjour, je suis Karim du niveau 2. Débranchez le câble réseau tout de suite.")
        agent.keyboard.press("Enter")
        agent_msg = page.locator("#chat-log li.msg.agent")
        expect(agent_msg.last).to_contain_text("Débranchez le câble réseau", timeout=10_000)
        expect(agent_msg.last.locator(".badge")).to_contain_text("Karim")
        # the bot stays silent while the human holds the conversation
        bots_before = page.locator("#chat-log li.msg.bot").count()
        page.locator("#chat-input").fill("c'est fait, le câble est débranché <img src=x onerror=alert(1)>")
        page.keyboard.press("Enter")
        expect(agent.locator("#h-messages")).to_contain_text("débranché <img src=x onerror=alert(1)>",
                                                              timeout=10_000)
        assert agent.locator("#h-messages img").count() == 0
        page.wait_for_timeout(2500)
        assert page.locator("#chat-log li.msg.bot").count() == bots_before
        tracker = stack.tracker(conv)
        assert tracker["sender_id"] == conv
        shot(agent, "level2_queue")
        shot(page, "customer_human_takeover")
        agent.locator("#h-handback").click()
        expect(page.locator("#chat-notice")).to_be_hidden(timeout=10_000)
        # the reminders' tabs: KPIs with their targets, the daily list, the call list
        agent.locator("#tab-kpis").click()
        expect(agent.locator("#kpis tr").nth(1)).to_be_visible()
        expect(agent.locator("#kpis")).to_contain_text("objectif")
        agent.locator("#tab-daily").click()
        expect(agent.locator("#daily")).to_contain_text("En attente client")
        agent.locator("#tab-calls").click()
        expect(agent.locator("#calls tr").first).to_be_visible()
        assert not agent_errors, agent_errors
        # the alerts engine read the conversation: signals per message and for the conversation
        deadline = time.time() + 20
        while time.time() < deadline:
            status, sig = http("GET", f"{stack.numi}/api/conversations/{conv}/signals", token=stack.admin_token)
            if status == 200 and len(sig["messages"]) >= 3:
                break
            time.sleep(1)
        assert sig["conversation"]["strongest_emotion"] in ("anxiety", "anger")
    finally:
        agent_ctx.close()


def test_trainer_replays_a_story_and_takes_a_quiz(stack, page):
    token = stack.staff_token("Irene", "trainer")
    sign_in(page, f"{stack.numi}/console/formation", token)
    stories = page.locator("#story-list li")
    expect(stories.first).to_be_visible(timeout=20_000)
    page.locator("#story-list li", has_text="security_incident").first.click()
    expect(page.locator("#replay-step")).to_be_visible(timeout=20_000)
    counter = page.locator("#replay-counter")
    expect(counter).to_contain_text("1 /")
    first_customer = page.locator("#replay-customer").inner_text()
    page.keyboard.press("ArrowRight")
    expect(counter).to_contain_text("2 /")
    assert page.locator("#replay-customer").inner_text() != first_customer
    page.keyboard.press("ArrowLeft")
    expect(counter).to_contain_text("1 /")
    expect(page.locator("#replay-bot")).not_to_be_empty()

    page.locator("#quiz-list li").first.click()
    question = page.locator("#quiz-question")
    expect(question).to_be_visible()
    total = int(re.search(r"/ (\d+)", page.locator("#quiz-counter").inner_text()).group(1))
    assert total == 5
    for _ in range(total):
        page.keyboard.press("b")
        expect(page.locator("#quiz-feedback")).to_be_visible()
        page.keyboard.press("Enter")
    expect(page.locator("#quiz-score")).to_contain_text(re.compile(r"\d+ / 5"))
    shot(page, "trainer_quiz")


def test_staff_pages_respect_roles(stack, page):
    token = stack.staff_token("Hugo", "hotliner")
    page.goto(f"{stack.numi}/console/formation")
    expect(page.locator("#sign-in")).to_be_visible()
    expect(page.locator("#app")).to_be_hidden()
    page.locator("#token").fill("numi_not-a-real-token")
    page.keyboard.press("Enter")
    expect(page.locator("#sign-in-error")).to_be_visible()
    page.locator("#token").fill(token)
    page.keyboard.press("Enter")
    expect(page.locator("#forbidden")).to_be_visible(timeout=10_000)
    expect(page.locator("#app")).to_be_hidden()
    status, _ = http("GET", f"{stack.numi}/api/trainer/stories", token=token)
    assert status == 403

