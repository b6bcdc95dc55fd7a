"""The customer's file, the continuity of seed 003 and the KPIs' weekly trends, on the
in-process service (no Rasa): `GET /api/customers/<id>`, `GET /api/customers/<id>/continuity`,
`GET /api/reminders/kpis?weeks=N`, and the pages and vendored scripts that use them."""
from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any, Dict, List, Optional

import pytest
import sqlalchemy as sa
from sqlalchemy import delete, select

from numi.clock import utcnow
from numi.db import models as m
from numi.devstack import signed_conversation
from numi.service.blueprints.web import VENDOR
from numi.settings import ROOT
from tests.service_client import SECRET, Service

HOSTILE = "<script>alert('numi')</script> {{7*7}} <img src=x onerror=alert(1)>"
ALL_ROLES = ("hotliner", "level2", "cs", "supervisor", "admin")


# --- the data ------------------------------------------------------------------------------
def tracker_events(service: Service, conversation: str, events: List[Dict[str, Any]]) -> None:
    """Events in Rasa's tracker store (the `events` table as Rasa's SQLTrackerStore writes it)."""
    engine = sa.create_engine(service.settings.tracker_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                             "sender_id VARCHAR(255) NOT NULL, type_name VARCHAR(255) NOT NULL, timestamp FLOAT, "
                             "intent_name VARCHAR(255), action_name VARCHAR(255), data TEXT)"))
        for e in events:
            conn.execute(sa.text("INSERT INTO events (sender_id, type_name, timestamp, data) VALUES (:s, :t, :ts, :d)"),
                         {"s": conversation, "t": e["event"], "ts": e["timestamp"], "d": json.dumps(e)})
    engine.dispose()


def ts(at: datetime) -> float:
    return (at - datetime(1970, 1, 1)).total_seconds()


def chat(at: datetime, customer_id: str, lines: List[tuple]) -> List[Dict[str, Any]]:
    out = []
    for k, (kind, text) in enumerate(lines):
        moment = ts(at + timedelta(seconds=10 * k))
        if kind == "user":
            out.append({"event": "user", "timestamp": moment, "text": text,
                        "metadata": {"numi": {"mode": "customer", "customer_id": customer_id}}})
        else:
            out.append({"event": "bot", "timestamp": moment, "text": text,
                        "metadata": {"numi": {"from": "agent", "author": "Karim"}} if kind == "agent" else {}})
    return out


def add_ticket(s, customer_id: str, subject: str, status: str = "in_progress", queue: Optional[str] = None,
               conversation_id: Optional[str] = None, created: Optional[datetime] = None) -> m.Ticket:
    created = created or utcnow() - timedelta(days=10)
    t = m.Ticket(customer_id=customer_id, scenario="tech_support", subject=subject, status=status, queue=queue,
                 priority="normal", conversation_id=conversation_id, created_at=created, updated_at=created, data={})
    s.add(t)
    s.flush()
    s.add(m.TicketEvent(ticket_number=t.number, at=created, actor="hotliner:Camille", event="created",
                        to_status="new"))
    return t


@pytest.fixture
def paul(service: Service) -> Dict[str, Any]:
    """CLT-00321 (Paul Martin) seen on every channel: a chat three days ago, an e-mail two days
    ago, a call yesterday; a level-2 ticket beside the demo's TK-00456; a hostile CRM note and
    alert; a level-2 handoff of another conversation."""
    now = utcnow()
    chat_conv = signed_conversation(SECRET, owner="CLT-00321")
    handoff_conv = signed_conversation(SECRET)
    with service.services.sessions() as s, s.begin():
        level2 = add_ticket(s, "CLT-00321", HOSTILE, status="escalated", queue="level2", conversation_id=chat_conv)
        s.add(m.TicketEvent(ticket_number=level2.number, at=now - timedelta(days=2), actor="client", event="email",
                            details={"channel": "email", "direction": "in", "subject": "Re: doublons",
                                     "text": "Toujours des doublons " + HOSTILE}))
        phoned = add_ticket(s, "CLT-00321", "Imprimante", status="closed")
        s.add(m.TicketEvent(ticket_number=phoned.number, at=now - timedelta(days=1), actor="hotliner:Camille",
                            event="call_summary", details={"situation": "Imprimante hors ligne",
                                                           "actions": "Pilote réinstallé", "resolution": "Résolu"}))
        handoff = m.Handoff(conversation_id=handoff_conv, queue="level2", priority="normal", status="waiting",
                            ticket_number=level2.number, customer_id="CLT-00321", packet={}, created_at=now)
        s.add(handoff)
        customer = s.get(m.Customer, "CLT-00321")
        customer.crm_notes = [{"at": m.as_iso(now), "rule": "vip_unhappy", "note": HOSTILE, "quote": HOSTILE,
                               "tag": "sensible_prix"}]
        customer.churn_risk = 0.62
        s.add(m.Alert(rule="attrition_explicit", customer_id="CLT-00321", conversation_id=chat_conv, message=HOSTILE,
                      created_at=now, recipients=["relation_client"], signals={"emotion": "anger", "intensity": 2}))
        s.flush()
        ids = {"level2": level2.ref, "phoned": phoned.ref, "handoff": handoff.id}
    tracker_events(service, chat_conv, chat(now - timedelta(days=3), "CLT-00321", [
        ("user", "Mes e-mails arrivent en double"), ("bot", "Avez-vous vérifié IMAP ?"), ("user", "/affirm"),
        ("agent", "Karim : je regarde votre boîte"), ("user", "merci " + HOSTILE)]))
    tracker_events(service, handoff_conv, chat(now - timedelta(minutes=5), "CLT-00321", [
        ("user", "Je reviens pour les doublons")]))
    return {**ids, "chat": chat_conv, "handoff_conv": handoff_conv}


async def audit(service: Service, **query: str) -> List[Dict[str, Any]]:
    path = "/api/audit?" + "&".join(f"{k}={v}" for k, v in query.items())
    return (await service.call("GET", path, role="admin"))[1]["events"]


# --- the customer's file -------------------------------------------------------------------
async def test_the_customer_file_has_contact_subscriptions_invoices_tickets_and_alerts(service: Service, paul):
    status, body = await service.call("GET", "/api/customers/CLT-00321", role="supervisor")
    assert status == 200
    c = body["customer"]
    assert (c["id"], c["first_name"], c["last_name"], c["email"], c["phone"]) == (
        "CLT-00321", "Paul", "Martin", "paul.martin@example.fr", "06 12 34 56 78")
    assert [(x["plan"], x["status"]) for x in body["subscriptions"]] == [("essentiel", "active")]
    assert len(body["invoices"]) == 6 and {i["amount_eur"] for i in body["invoices"]} == {"29.90"}
    issued = [i["issued_on"] for i in body["invoices"]]
    assert issued == sorted(issued, reverse=True)  # the latest first
    tickets = {t["id"]: t for t in body["tickets"]}
    assert {"TK-00456", paul["level2"], paul["phoned"]} <= set(tickets)
    assert tickets["TK-00456"]["status"] == "waiting_customer" and tickets["TK-00456"]["open"] is True
    assert tickets[paul["phoned"]]["open"] is False
    assert all(t["in_scope"] for t in tickets.values())  # a supervisor sees every ticket
    [alert] = body["alerts"]
    assert alert["rule"] == "attrition_explicit" and alert["title"].startswith("ATTRITION 1")
    assert alert["emotion"] == "anger" and alert["intensity"] == 2
    events = await audit(service, outcome="allowed", target="CLT-00321")
    assert any(e["action"] == "read_customer_record" and e["actor"] == "supervisor:supervisor-1" for e in events)
    assert not any("Martin" in json.dumps(e) or "paul.martin" in json.dumps(e) for e in events)


async def test_hostile_stored_text_is_returned_verbatim(service: Service, paul):
    """The API returns what was stored, as data; the page escapes it (textContent)."""
    body = (await service.call("GET", "/api/customers/CLT-00321", role="admin"))[1]
    assert {t["id"]: t["subject"] for t in body["tickets"]}[paul["level2"]] == HOSTILE
    assert body["alerts"][0]["message"] == HOSTILE
    crm = (await service.call("GET", "/api/customers/CLT-00321/crm", role="level2"))[1]
    assert crm["notes"][0]["note"] == HOSTILE and crm["notes"][0]["quote"] == HOSTILE
    last = (await service.call("GET", "/api/customers/CLT-00321/continuity", role="admin"))[1]["recent"]
    email = next(i for i in last if i["channel"] == "email")
    assert email["text"] == "Toujours des doublons " + HOSTILE
    chat_ = [i for i in last if i["channel"] == "chat"][-1]  # the older chat
    assert chat_["messages"][-1]["text"] == "merci " + HOSTILE


async def test_the_tickets_and_alerts_follow_the_callers_scope(service: Service, paul):
    status, body = await service.call("GET", "/api/customers/CLT-00321", role="hotliner")
    assert status == 200 and "alerts" not in body  # a hotliner does not read the alerts
    scope = {t["id"]: t["in_scope"] for t in body["tickets"]}
    assert scope["TK-00456"] is True and scope[paul["level2"]] is False
    status, body = await service.call("GET", "/api/customers/CLT-00321", role="level2")
    assert status == 200 and len(body["alerts"]) == 1  # through the level-2 ticket and handoff
    assert {t["id"]: t["in_scope"] for t in body["tickets"]}[paul["level2"]] is True


@pytest.mark.parametrize("path", ["/api/customers/CLT-00321", "/api/customers/CLT-00321/continuity"])
async def test_without_a_token_401_and_wrong_roles_403(service: Service, path):
    status, body = await service.call("GET", path)
    assert status == 401 and body["code"] == "unauthenticated"
    assert (await service.call("GET", path, token="numi_not-a-token"))[0] == 401
    for role in ("trainer", "website"):
        status, body = await service.call("GET", path, role=role)
        assert status == 403 and body == {"error": "Accès refusé.", "code": "forbidden"}


@pytest.mark.parametrize("path", ["/api/customers/{}", "/api/customers/{}/continuity"])
async def test_out_of_scope_unknown_and_erased_customers(service: Service, path):
    # Jean Dupont (CLT-00323) has only a level-1 ticket: level 2 and CS do not see him
    for role in ("level2", "cs"):
        status, body = await service.call("GET", path.format("CLT-00323"), role=role)
        assert status == 403 and body == {"error": "Ce client n'est pas dans votre périmètre.",
                                          "code": "customer_out_of_scope"}
    denied = await audit(service, outcome="denied", target="CLT-00323")
    assert {e["role"] for e in denied} == {"level2", "cs"}
    assert (await service.call("GET", path.format("CLT-00323"), role="hotliner"))[0] == 200
    for unknown in ("CLT-99999", "%3Cscript%3E" * 5, "clt-00321%00"):
        status, body = await service.call("GET", path.format(unknown), role="supervisor")
        assert status == 404 and body["code"] == "unknown_customer", unknown
    assert (await service.call("POST", "/api/customers/CLT-00326/erase", role="admin"))[0] == 200
    for role in ALL_ROLES:
        status, body = await service.call("GET", path.format("CLT-00326"), role=role)
        assert status in (403, 404) and "Claire" not in json.dumps(body) and "moreau" not in json.dumps(body)
    assert (await service.call("GET", path.format("CLT-00326"), role="admin"))[0] == 404


async def test_the_email_failing_flag_shows_until_the_address_changes(service: Service):
    """A bounce marks the address failing: the customer's file says so; the same address written
    again (another case) keeps the mark, a new address clears it."""
    before = (await service.call("GET", "/api/customers/CLT-00321", role="admin"))[1]
    assert before["customer"]["email_failing"] is False
    with service.services.sessions() as s, s.begin():
        paul = s.get(m.Customer, "CLT-00321")
        paul.email_failing_at, address = utcnow(), paul.email
    body = (await service.call("GET", "/api/customers/CLT-00321", role="hotliner"))[1]
    assert body["customer"]["email_failing"] is True
    same = {"first_name": "Paul", "last_name": "Martin", "email": address.upper()}
    assert (await service.call("PUT", "/api/customers/CLT-00321", same, role="admin"))[1]["email_failing"] is True
    new = dict(same, email="paul.martin@nouveau.example.fr")
    assert (await service.call("PUT", "/api/customers/CLT-00321", new, role="admin"))[1]["email_failing"] is False


# --- continuity (seed 003) -----------------------------------------------------------------
async def test_the_last_interaction_whatever_the_channel(service: Service, paul):
    status, body = await service.call("GET", "/api/customers/CLT-00321/continuity", role="supervisor")
    assert status == 200 and body["customer_id"] == "CLT-00321" and body["name"] == "Paul Martin"
    assert {t["id"] for t in body["open_tickets"]} == {"TK-00456", paul["level2"]}  # not the closed one
    channels = [i["channel"] for i in body["recent"]]
    # the handoff's conversation (5 min ago), the call (yesterday), the e-mail (2 days), the chat (3 days)
    assert channels == ["chat", "phone", "email", "chat"]
    assert body["last"] == body["recent"][0]
    assert body["last"]["messages"] == [{"from": "customer", "text": "Je reviens pour les doublons"}]
    phone = body["recent"][1]
    assert phone["summary"] == {"situation": "Imprimante hors ligne", "actions": "Pilote réinstallé",
                                "resolution": "Résolu"}
    assert phone["ticket_id"] == paul["phoned"] and phone["author"] == "hotliner:Camille"
    email = body["recent"][2]
    assert (email["direction"], email["subject"], email["ticket_id"]) == ("in", "Re: doublons", paul["level2"])
    older = body["recent"][3]
    assert older["ticket_id"] == paul["level2"]
    assert [t["from"] for t in older["messages"]] == ["customer", "bot", "agent", "customer"]  # no « /affirm »
    assert "conversation_id" not in json.dumps(body)  # a conversation id is a credential
    events = await audit(service, outcome="allowed", target="CLT-00321")
    assert any(e["action"] == "read_customer_continuity" for e in events)


async def test_claiming_a_handoff_leaves_its_own_conversation_out(service: Service, paul):
    path = f"/api/customers/CLT-00321/continuity?exclude_handoff={paul['handoff']}"
    status, body = await service.call("GET", path, role="level2")
    assert status == 200 and body["last"]["channel"] == "phone"
    assert len(body["recent"]) == 3
    for junk in ("abc", "99999", "-1", "1" * 40, "%3Cscript%3E"):
        status, body = await service.call("GET", f"/api/customers/CLT-00321/continuity?exclude_handoff={junk}",
                                          role="level2")
        assert status == 200 and len(body["recent"]) == 4, junk


async def test_a_hotliner_on_a_call_reads_the_callers_continuity(service: Service, paul):
    # Marie Lefèvre (CLT-00324) has no ticket: no hotliner sees her record, until one takes her call
    path = "/api/customers/CLT-00324/continuity"
    assert (await service.call("GET", path, role="hotliner"))[0] == 403
    status, call = await service.call("POST", "/api/prompter/calls", {"customer_id": "CLT-00324"}, role="hotliner")
    assert status == 201
    on_call = {"x-numi-call-token": call["call_token"]}
    status, body = await service.call("GET", path, role="hotliner", headers=on_call)
    assert status == 200 and body == {"customer_id": "CLT-00324", "name": "Marie Lefèvre", "open_tickets": [],
                                      "last": None, "recent": []}
    assert (await service.call("GET", "/api/customers/CLT-00324", role="hotliner", headers=on_call))[0] == 200
    # the token names one customer, for the hotliner who took the call
    assert (await service.call("GET", "/api/customers/CLT-00325/continuity", role="hotliner",
                               headers=on_call))[0] == 403
    other = service.token("hotliner", "Hugo")
    assert (await service.call("GET", path, token=other, headers=on_call))[0] == 403
    for junk in ("x", "a.b", call["call_token"] + "x", "x" * 5000):
        status, _ = await service.call("GET", path, role="hotliner", headers={"x-numi-call-token": junk})
        assert status == 403, junk
    # a call on Paul: the one on the line is the call's own conversation, left out
    status, call = await service.call("POST", "/api/prompter/calls", {"customer_id": "CLT-00321"}, role="hotliner")
    tracker_events(service, call["call_id"], chat(utcnow(), "CLT-00321", [("user", "le client rappelle")]))
    body = (await service.call("GET", "/api/customers/CLT-00321/continuity", role="hotliner",
                               headers={"x-numi-call-token": call["call_token"]}))[1]
    assert body["last"]["messages"] == [{"from": "customer", "text": "Je reviens pour les doublons"}]


async def test_without_a_tracker_store_the_customers_recorded_messages_stand_in(service: Service):
    conv = signed_conversation(SECRET)
    with service.services.sessions() as s, s.begin():
        add_ticket(s, "CLT-00322", "Sauvegarde", conversation_id=conv)
        for k, text in enumerate(("ma sauvegarde échoue", HOSTILE)):
            s.add(m.MessageSignal(conversation_id=conv, customer_id="CLT-00322", at=utcnow() - timedelta(hours=2 - k),
                                  text=text, emotion="neutral", polarity="neutral", intensity=0))
    status, body = await service.call("GET", "/api/customers/CLT-00322/continuity", role="hotliner")
    assert status == 200
    assert body["last"]["channel"] == "chat"
    assert body["last"]["messages"] == [{"from": "customer", "text": "ma sauvegarde échoue"},
                                        {"from": "customer", "text": HOSTILE}]


# --- the KPIs and their weekly trends ------------------------------------------------------
def _reminder(s, ticket: m.Ticket, kind: str, at: datetime) -> None:
    s.add(m.OutboxMessage(key=f"reminder:{ticket.number}:{ticket.waiting_since.isoformat(timespec='seconds')}:{kind}",
                          ticket_number=ticket.number, kind=kind, channel="email", recipient="x@example.fr",
                          subject="Relance", body="…", due_on=at.date(), status="sent", created_at=at, sent_at=at))


def _event(s, ticket: m.Ticket, at: datetime, from_status: Optional[str], to_status: str, actor: str) -> None:
    s.add(m.TicketEvent(ticket_number=ticket.number, at=at, actor=actor, event="status_changed",
                        from_status=from_status, to_status=to_status))


@pytest.fixture
def weeks_of_reminders(service: Service) -> None:
    """Only two tickets (the demo's are removed), both waiting from Tuesday 10 November 2026:
    A answers its first reminder (17th); B gets a second one (24th), is closed for inactivity
    (25th) and reopened by the customer (1 December)."""
    noon = lambda day: datetime(2026, 11, day, 11) if day <= 30 else datetime(2026, 12, day - 30, 11)  # noqa: E731
    with service.services.sessions() as s, s.begin():
        s.execute(delete(m.TicketEvent))
        s.execute(delete(m.Ticket))
        a = add_ticket(s, "CLT-00321", "A", status="in_progress", created=noon(10))
        b = add_ticket(s, "CLT-00322", "B", status="in_progress", created=noon(10))
        for t in (a, b):
            t.waiting_since = noon(10) + timedelta(minutes=5)
            _event(s, t, t.waiting_since, "new", "waiting_customer", "hotliner:Camille")
            _reminder(s, t, "gentle", noon(17))
        _event(s, a, noon(18), "waiting_customer", "in_progress", "client")
        _reminder(s, b, "followup", noon(24))
        _event(s, b, noon(25), "waiting_customer", "closed", "système:relances")
        b.closed_at, b.close_reason = noon(25), "inactivity"
        _event(s, b, noon(31), "closed", "in_progress", "client")
        b.reopen_count = 1


async def test_the_weekly_trends_come_from_the_tickets_history_and_the_outbox(service: Service, weeks_of_reminders):
    status, body = await service.call("GET", "/api/reminders/kpis?weeks=4&today=2026-12-02", role="trainer")
    assert status == 200
    weekly = body["weekly"]
    assert [w["week"] for w in weekly] == ["2026-W46", "2026-W47", "2026-W48", "2026-W49"]
    assert [w["start"] for w in weekly] == ["2026-11-09", "2026-11-16", "2026-11-23", "2026-11-30"]
    assert [w["end"] for w in weekly][-1] == "2026-12-06"

    def series(name: str) -> List[Any]:
        return [w[name] for w in weekly]

    assert series("reminders_sent") == [0, 2, 1, 0]
    assert series("customer_replies") == [0, 1, 0, 1]  # A's answer, then B's reopening
    assert series("answer_rate_after_1st_reminder") == [None, 0.5, None, None]
    assert series("inactivity_closures") == [0, 0, 1, 0]
    assert series("reopened") == [0, 0, 0, 1]
    assert series("share_waiting_customer") == [1.0, 0.5, 0.0, 0.0]
    kpis = {k["name"]: k for k in body["kpis"]}  # the table from the same facts
    assert kpis["inactivity_closures_per_month"]["value"] == {"2026-11": 1}
    assert kpis["inactivity_closures_per_month"]["unit"] == "per_month"
    assert kpis["answer_rate_after_1st_reminder"]["value"] == 0.5
    assert kpis["answer_rate_after_1st_reminder"]["unit"] == "share"
    assert kpis["reopen_rate"]["value"] == 1.0
    assert kpis["avg_days_before_first_reminder"]["unit"] == "days"
    assert kpis["avg_days_before_first_reminder"]["target"] == "≤ délai programmé (5 j en moyenne)"


async def test_the_kpis_are_labelled_and_the_weeks_checked(service: Service):
    status, body = await service.call("GET", "/api/reminders/kpis", role="hotliner")
    assert status == 200 and "weekly" not in body  # asked for only
    for k in body["kpis"]:
        assert k["label"] and k["target"] and k["unit"] in ("share", "days", "per_month", "score")
        assert "None" not in k["target"]
        if k["unit"] == "share" and k["value"] is not None:
            assert 0 <= k["value"] <= 1
    status, body = await service.call("GET", "/api/reminders/kpis?weeks=8", role="hotliner")
    assert status == 200 and len(body["weekly"]) == 8
    today = datetime.now().date()
    assert body["weekly"][-1]["start"] <= today.isoformat() <= body["weekly"][-1]["end"]
    for bad in ("0", "53", "-1", "abc", "8.5", "%3Cscript%3E", "9" * 30, "%7B%7B7*7%7D%7D"):
        status, answer = await service.call("GET", f"/api/reminders/kpis?weeks={bad}", role="supervisor")
        assert status == 400 and answer == {"error": "« weeks » doit être un nombre de semaines, de 1 à 52"}, bad
    assert (await service.call("GET", "/api/reminders/kpis?weeks=8", role="website"))[0] == 403


# --- the pages and the vendored scripts ----------------------------------------------------
async def test_the_customer_page_and_the_vendored_chart_library(service: Service):
    page = await service.response("GET", "/console/client?id=CLT-00321")
    assert page.status_code == 200 and "script-src 'self'" in page.headers["content-security-policy"]
    assert '<script src="/static/customer.js"></script>' in page.text and "<script>" not in page.text.replace(
        '<script type="application/json" id="numi-texts">', "")
    files = await service.response("GET", "/console/files")
    assert '<script src="/static/vendor/chart.umd.min.js"></script>' in files.text
    for name, path in VENDOR.items():
        answer = await service.response("GET", f"/static/vendor/{name}")
        if path.exists():
            assert answer.status_code == 200 and "javascript" in answer.headers["content-type"]
        else:  # pragma: no cover - web/node_modules not installed
            assert answer.status_code == 404 and "make setup" in answer.text
    assert (await service.response("GET", "/static/vendor/..%2F..%2Fpackage.json")).status_code == 404
    assert (await service.response("GET", "/static/vendor/chart.js")).status_code == 404


def test_every_vendored_script_is_an_exact_dependency_checked_by_the_bootstrap():
    root = ROOT
    package = json.loads((root / "web" / "package.json").read_text())
    lock = json.loads((root / "web" / "package-lock.json").read_text())
    bootstrap = (root / "scripts" / "bootstrap.sh").read_text()
    for path in VENDOR.values():
        name = path.relative_to(root / "web" / "node_modules").parts[0]
        version = package["dependencies"][name]
        assert version[0].isdigit(), f"{name}: an exact version, not {version}"
        assert lock["packages"][f"node_modules/{name}"]["version"] == version
        assert str(path.relative_to(root)) in bootstrap


async def test_the_customer_record_reads_one_customer_per_request(service: Service, paul):
    """A sanity check on the session: the record and the CRM agree on the customer."""
    record = (await service.call("GET", "/api/customers/CLT-00321", role="admin"))[1]
    crm = (await service.call("GET", "/api/customers/CLT-00321/crm", role="admin"))[1]
    assert record["customer"]["id"] == crm["customer_id"]
    with service.services.sessions() as s:
        assert s.scalar(select(m.Customer.churn_risk).where(m.Customer.id == "CLT-00321")) == 0.62
