"""The numi service's HTTP API in process (tests/service_client.py): for every area,
authentication (401), roles (403), body schemas (400 / 422, never a 500), hostile input
and the main success paths. No Rasa: where an endpoint tells the Rasa server something,
a recording stand-in takes its place."""
from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any, Dict, List

import pytest

from numi import conversations
from numi.clock import utcnow
from numi.db import models as m
from numi.handoff import service as handoffs
from numi.rasa_client import RasaClient
from numi.settings import RateLimits
from numi.tickets import service as tickets
from numi.vocab import ROLES
from tests.service_client import ACTION_TOKEN, Service

pytestmark = pytest.mark.filterwarnings("ignore:You have set a listener")

DESK = {"hotliner", "level2", "supervisor", "cs", "admin"}
UNAUTHENTICATED = {"error": "Authentification requise.", "code": "unauthenticated"}
FORBIDDEN = {"error": "Accès refusé.", "code": "forbidden"}
HOSTILE = ["{{7*7}}", "<script>alert(1)</script>", "${7*7}", "'; DROP TABLE tickets; --", "\x00\u202e", "x" * 5000]
BAD_TOKENS = (None, "wrong-token", "", "x" * 600)


@pytest.fixture
def rasa(monkeypatch) -> List[Any]:
    """The Rasa server's HTTP API, recorded instead of called."""
    sent: List[Any] = []

    async def system_event(self, conversation_id: str, event: Dict[str, Any], *args: Any, **kwargs: Any) -> None:
        sent.append((conversation_id, event))

    async def say(self, sender: str, text: str, metadata: Dict[str, Any]) -> List[Dict[str, Any]]:
        sent.append((sender, text, metadata))
        return [{"recipient_id": sender, "custom": {"type": "prompter", "say": "Proposez une facture."}}]

    monkeypatch.setattr(RasaClient, "system_event", system_event)
    monkeypatch.setattr(RasaClient, "say", say)
    return sent


# --------------------------------------------------------------------------------------
# The role matrix of the contract (moved from tests/test_api.py, which needed the servers)
# --------------------------------------------------------------------------------------
# endpoint, method, body, roles allowed (numi/access.py; TK-00456 is a level-1 ticket)
MATRIX = [
    ("/api/tickets", "GET", None, DESK),
    ("/api/tickets/TK-00456", "GET", None, {"hotliner", "supervisor", "admin"}),
    ("/api/tickets", "POST", {"scenario": "tech_support", "subject": "Imprimante"}, DESK),
    ("/api/handoffs?queue=level2", "GET", None, {"level2", "supervisor", "admin"}),
    ("/api/reminders/run", "POST", {"today": "2026-11-23", "dry_run": True}, {"admin"}),
    ("/api/reminders/daily", "GET", None, DESK),
    ("/api/reminders/kpis", "GET", None, DESK | {"trainer"}),
    ("/api/calls", "GET", None, {"hotliner", "level2", "supervisor", "admin"}),
    ("/api/callbacks", "GET", None, {"hotliner", "level2", "supervisor", "admin"}),
    ("/api/handoffs/999999", "GET", None, set()),  # 404 for the allowed roles, below
    ("/api/me", "GET", None, set(ROLES)),
    ("/api/alerts", "GET", None, {"level2", "supervisor", "cs", "admin"}),
    ("/api/customers/CLT-00321/crm", "GET", None, DESK),
    ("/api/prompter/calls", "POST", {"customer_id": "CLT-00321"}, {"hotliner", "level2", "supervisor", "admin"}),
    ("/api/trainer/quizzes", "GET", None, {"trainer", "supervisor", "admin"}),
    ("/api/trainer/quizzes/pending_ticket_reminder", "GET", None, {"trainer", "supervisor", "admin"}),
    ("/api/audit", "GET", None, {"admin"}),
    ("/api/customer-tokens", "POST", {"customer_id": "CLT-00321"}, {"website", "admin"}),
    ("/api/customers/CLT-08001", "PUT", {"first_name": "Ana", "last_name": "Lima"}, {"admin"}),
    ("/api/trainer/stories/tests%3Anope", "GET", None, set()),  # 404 for the trainers, 403 for the others
]


@pytest.mark.parametrize("path,method,body,allowed", MATRIX)
async def test_roles(service_on_each_backend: Service, path, method, body, allowed):
    service = service_on_each_backend
    for bad in BAD_TOKENS:
        status, answer = await service.call(method, path, body, token=bad)
        assert status == 401 and answer == UNAUTHENTICATED, (bad, status, answer)
    status, answer = await service.call(method, path, body, headers={"authorization": "Basic YWRtaW46YWRtaW4="})
    assert status == 401 and answer == UNAUTHENTICATED
    if not allowed:  # an unknown resource: 404 for those who may look, 403 for the others, never a leak
        lookers = DESK if "handoffs" in path else {"trainer", "supervisor", "admin"}
        for role in ROLES:
            status, answer = await service.call(method, path, body, role=role)
            assert status == (404 if role in lookers else 403), (role, status)
        return
    for role in ROLES:
        status, answer = await service.call(method, path, body, role=role)
        if role in allowed:
            assert status in (200, 201), (role, path, status, answer)
        else:
            assert status == 403 and answer["code"] in ("forbidden", "out_of_scope", "queue_out_of_scope"), \
                (role, path, status)


async def test_every_refusal_is_audited_without_the_token(service: Service):
    assert (await service.call("GET", "/api/tickets", token="numi_guessed"))[0] == 401
    assert (await service.call("GET", "/api/audit", role="hotliner"))[0] == 403
    status, trail = await service.call("GET", "/api/audit?outcome=unauthenticated", role="admin")
    assert status == 200 and any(e["action"] == "GET /api/tickets" and e["actor"] is None for e in trail["events"])
    assert "numi_guessed" not in json.dumps(trail)
    denied = (await service.call("GET", "/api/audit?outcome=denied", role="admin"))[1]["events"]
    assert any(e["action"] == "GET /api/audit" and e["role"] == "hotliner" for e in denied)
    assert (await service.call("GET", "/api/audit?outcome=maybe", role="admin"))[0] == 422
    assert (await service.call("GET", "/api/audit?limit=<script>", role="admin"))[0] == 200


# --------------------------------------------------------------------------------------
# Tickets
# --------------------------------------------------------------------------------------
async def test_ticket_lifecycle_over_the_api(service_on_each_backend: Service):
    service = service_on_each_backend
    call = service.call
    status, t = await call("POST", "/api/tickets", {"scenario": "tech_support", "customer_id": "CLT-00321",
                                                    "priority": "normal", "subject": "Wi-Fi"}, role="hotliner")
    assert status == 201 and t["status"] == "new" and t["id"].startswith("TK-")
    url = f"/api/tickets/{t['id']}"
    assert (await call("PATCH", url, {"status": "waiting_customer"}, role="hotliner"))[0] == 409  # needs a reason
    status, t2 = await call("PATCH", url, {"status": "waiting_customer", "waiting_reason": "feedback"}, role="hotliner")
    assert status == 200 and t2["waiting_since"]
    status, _ = await call("PATCH", url, {"status": "closed", "close_reason": "resolution"}, role="hotliner")
    assert status == 409  # closing needs a note too
    # a refused change changes nothing
    assert (await call("GET", url, role="hotliner"))[1]["status"] == "waiting_customer"
    status, t3 = await call("PATCH", url, {"status": "closed", "close_reason": "resolution", "note": "ok au tél."},
                            role="hotliner")
    assert status == 200 and t3["status"] == "closed"
    assert (await call("PATCH", url, {"status": "escalated"}, role="hotliner"))[0] == 409
    status, t4 = await call("PATCH", url, {"status": "in_progress", "reason": "le client rappelle"}, role="hotliner")
    assert status == 200 and [h["event"] for h in t4["history"]][-1] == "reopened"
    # only an admin may import a ticket in a given state
    imported = {"scenario": "tech_support", "status": "waiting_customer", "waiting_reason": "feedback",
                "waiting_since": "2026-11-01T09:00:00", "priority": "high"}
    assert (await call("POST", "/api/tickets", imported, role="hotliner"))[0] == 403
    status, t5 = await call("POST", "/api/tickets", imported, role="admin")
    assert status == 201 and t5["status"] == "waiting_customer" and t5["waiting_since"].startswith("2026-11-01")
    # a taken id is refused
    status, answer = await call("POST", "/api/tickets", {"scenario": "tech_support", "id": "TK-00456"}, role="admin")
    assert status == 409 and answer["code"] == "ticket_id_taken"


@pytest.mark.parametrize("body", [None, [], {"scenario": "nope"},
                                  {"scenario": "tech_support", "customer_id": "CLT-99999"},
                                  {"scenario": "tech_support", "priority": "extreme"}])
async def test_bad_ticket_requests(service: Service, body):
    status, answer = await service.call("POST", "/api/tickets", body, role="hotliner")
    assert status in (400, 409, 422) and "error" in answer


async def test_unknown_ticket_and_bad_dates(service: Service):
    assert (await service.call("GET", "/api/tickets/TK-99999", role="admin"))[0] == 404
    assert (await service.call("GET", "/api/tickets/<script>", role="admin"))[0] == 404
    assert (await service.call("POST", "/api/reminders/run", {"today": "demain"}, role="admin"))[0] == 422
    assert (await service.call("POST", "/api/reminders/run", {"dry_run": "oui"}, role="admin"))[0] == 422


@pytest.mark.parametrize("body,status,field", [
    ({"scenario": "tech_support", "subject": ["a"]}, 422, "subject"),
    ({"scenario": "tech_support", "subject": "x" * 201}, 422, "subject"),
    ({"scenario": "tech_support", "typo": 1}, 422, "typo"),
    ({"scenario": {"$ne": None}}, 422, "scenario"),
    ({"scenario": "tech_support", "customer_id": "clt-1 OR 1=1"}, 422, "customer_id"),
    ({"scenario": "tech_support", "queue": "mars"}, 422, "queue"),
])
async def test_ticket_bodies_are_checked_field_by_field(service: Service, body, status, field):
    got, answer = await service.call("POST", "/api/tickets", body, role="hotliner")
    assert got == status and answer["code"] == "invalid_field" and answer["field"] == field


@pytest.mark.parametrize("raw", [b"{", b"[1,", b"\xff\xfe", b"null", b'"x"', b"42"])
async def test_bodies_that_are_not_a_json_object_are_400(service: Service, raw):
    status, answer = await service.call("POST", "/api/tickets", raw=raw, role="hotliner")
    assert status == 400 and answer["code"] == "invalid_json"


@pytest.mark.parametrize("text", HOSTILE[:5])
async def test_hostile_text_is_stored_and_answered_as_plain_data(service: Service, text):
    status, t = await service.call("POST", "/api/tickets", {"scenario": "tech_support", "subject": text},
                                   role="hotliner")
    assert status == 201 and t["subject"] == text.strip()  # never evaluated, never rendered
    status, found = await service.call("GET", "/api/tickets?subject=x&scenario=" + "%3Cscript%3E" * 50,
                                       role="hotliner")
    assert status == 200 and found["tickets"] == []
    status, patched = await service.call("PATCH", f"/api/tickets/{t['id']}", {"assignee": text[:80] or "x"},
                                         role="hotliner")
    assert status in (200, 422)


async def test_a_huge_body_is_refused_by_its_schema(service: Service):
    # (above REQUEST_MAX_SIZE, 2 MB, Sanic's HTTP server answers 413 before reading: the ASGI
    # client has no such server, see tests/security for the real one)
    huge = b'{"scenario": "tech_support", "subject": "' + b"x" * 1_900_000 + b'"}'
    for path, method in (("/api/tickets", "POST"), ("/api/tickets/TK-00456", "PATCH")):
        status, answer = await service.call(method, path, raw=huge, role="admin")
        assert status == 422 and answer["field"] in ("subject", "scenario")
    status, answer = await service.call("POST", "/chat/conversations", raw=b'{"customer_token": "' + b"x" * 1_900_000
                                        + b'"}')
    assert status == 422 and answer["field"] == "customer_token"


async def test_tickets_out_of_scope_are_refused_and_audited(service: Service):
    status, t = await service.call("POST", "/api/tickets", {"scenario": "tech_support", "queue": "level2"},
                                   role="admin")
    assert status == 201
    for method, body in (("GET", None), ("PATCH", {"status": "closed", "close_reason": "other", "note": "x"})):
        status, answer = await service.call(method, f"/api/tickets/{t['id']}", body, role="hotliner")
        assert status == 403 and answer["code"] == "out_of_scope"
    assert (await service.call("GET", f"/api/tickets/{t['id']}", role="admin"))[1]["status"] == "new"
    assert t["id"] in {x["id"] for x in (await service.call("GET", "/api/tickets", role="level2"))[1]["tickets"]}
    assert t["id"] not in {x["id"] for x in (await service.call("GET", "/api/tickets", role="cs"))[1]["tickets"]}
    status, answer = await service.call("POST", "/api/tickets", {"scenario": "tech_support", "queue": "cs"},
                                        role="level2")
    assert status == 403 and answer["code"] == "queue_out_of_scope"
    events = (await service.call("GET", f"/api/audit?outcome=denied&target={t['id']}", role="admin"))[1]["events"]
    assert {e["role"] for e in events} == {"hotliner"}


# --------------------------------------------------------------------------------------
# Handoffs
# --------------------------------------------------------------------------------------
def _handoff(service: Service, queue: str = "level2") -> int:
    with service.services.sessions() as s, s.begin():
        ticket = tickets.get_by_ref(s, "TK-00456")
        h = handoffs.request(s, ticket, {"summary": "{{7*7}} <b>x</b>"}, queue, "conv-handoff", "CLT-00321",
                             "bot", utcnow(), "test")
        return h.id


async def test_a_handoff_is_claimed_answered_and_closed(service: Service, rasa):
    hid = _handoff(service)
    status, listed = await service.call("GET", "/api/handoffs?queue=level2", role="level2")
    assert status == 200 and [h["id"] for h in listed["handoffs"]] == [hid]
    assert (await service.call("GET", "/api/handoffs", role="hotliner"))[1]["handoffs"] == []  # not its queue
    status, answer = await service.call("GET", "/api/handoffs?queue=level2", role="hotliner")
    assert status == 403 and answer["code"] == "queue_out_of_scope"
    assert (await service.call("GET", "/api/handoffs?queue=mars", role="level2"))[0] == 400
    url = f"/api/handoffs/{hid}"
    assert (await service.call("GET", url, role="cs"))[0] == 403
    status, packet = await service.call("GET", url, role="level2")
    assert status == 200 and packet["packet"] == {"summary": "{{7*7}} <b>x</b>"} and packet["messages"] == []
    # reply before claiming: refused
    assert (await service.call("POST", f"{url}/messages", {"text": "Bonjour"}, role="level2"))[0] == 409
    status, claimed = await service.call("POST", f"{url}/claim", role="level2")
    assert status == 200 and claimed["status"] == "claimed" and claimed["claimed_by"] == "level2-1"
    assert rasa[-1] == ("conv-handoff", {"type": "handoff_claimed", "author": "level2-1"})
    for bad in ([], {"text": ""}, {"text": ["x"]}, {"text": "x" * 4001}, {"text": "x", "extra": 1}):
        status, _ = await service.call("POST", f"{url}/messages", bad, role="level2")
        assert status in (400, 422), bad
    status, _ = await service.call("POST", f"{url}/messages", {"text": "<script>alert(1)</script>"}, role="level2")
    assert status == 201 and rasa[-1][1]["text"] == "<script>alert(1)</script>"
    status, msgs = await service.call("GET", f"{url}/messages?after=abc", role="level2")
    assert status == 200 and msgs["messages"][-1]["text"] == "<script>alert(1)</script>"
    status, answer = await service.call("POST", f"{url}/close", {"close_reason": "resolution"}, role="level2")
    assert status == 422  # a note is needed
    assert (await service.call("POST", f"{url}/close", {"close_reason": "nope", "note": "x"}, role="level2"))[0] == 422
    status, closed = await service.call("POST", f"{url}/close", {"close_reason": "resolution", "note": "réglé"},
                                        role="level2")
    assert status == 200 and closed["status"] != "claimed"
    assert rasa[-1] == ("conv-handoff", {"type": "handoff_closed"})


async def test_a_handoff_is_handed_back(service: Service, rasa):
    hid = _handoff(service, queue="cs")
    assert (await service.call("POST", f"/api/handoffs/{hid}/claim", role="cs"))[0] == 200
    status, _ = await service.call("POST", f"/api/handoffs/{hid}/handback", role="cs")
    assert status == 200 and rasa[-1] == ("conv-handoff", {"type": "handback"})


@pytest.mark.parametrize("handoff_id", ["abc", "-1", "9" * 20, "%3Cscript%3E", "1.5"])
async def test_unknown_handoffs_are_404(service: Service, handoff_id):
    for method, suffix in (("GET", ""), ("GET", "/messages"), ("POST", "/claim"), ("POST", "/handback")):
        status, answer = await service.call(method, f"/api/handoffs/{handoff_id}{suffix}", role="level2")
        assert status == 404 and "error" in answer


# --------------------------------------------------------------------------------------
# Reminders, the dashboard, calls and call-backs
# --------------------------------------------------------------------------------------
async def test_the_reminder_run_then_the_call_list(service: Service):
    status, dry = await service.call("POST", "/api/reminders/run", {"dry_run": True}, role="admin")
    assert status == 200 and dry["dry_run"] is True and isinstance(dry["actions"], list)
    status, ran = await service.call("POST", "/api/reminders/run", {"today": dry["date"]}, role="admin")
    assert status == 200 and [a["ticket_id"] for a in ran["actions"]] == [a["ticket_id"] for a in dry["actions"]]
    assert all(set(a) >= {"ticket_id", "kind", "channel", "due"} for a in ran["actions"])
    status, calls = await service.call("GET", "/api/calls", role="hotliner")
    assert status == 200 and isinstance(calls["calls"], list)
    assert all(c["label"] in ("APPELER", "APPELER MAINTENANT") for c in calls["calls"])
    status, callbacks = await service.call("GET", "/api/callbacks", role="level2")
    assert status == 200 and callbacks == {"callbacks": []}
    for body in ([], {"today": "2026-02-30"}, {"today": 20261123}, {"dry_run": 1}, {"today": "{{7*7}}"}):
        status, _ = await service.call("POST", "/api/reminders/run", body, role="admin")
        assert status in (400, 422), body


async def test_the_dashboard(service: Service):
    status, daily = await service.call("GET", "/api/reminders/daily?today=2026-11-23", role="hotliner")
    assert status == 200 and isinstance(daily, dict)
    status, kpis = await service.call("GET", "/api/reminders/kpis", role="trainer")
    assert status == 200 and "kpis" in kpis
    for path in ("/api/reminders/daily?today=demain", "/api/reminders/kpis?today=%3Cscript%3E"):
        status, answer = await service.call("GET", path, role="supervisor")
        assert status == 400 and answer == {"error": "« today » doit être une date AAAA-MM-JJ"}
    assert (await service.call("GET", "/api/reminders/daily", role="trainer"))[0] == 403


async def test_the_renewal_run(service: Service, rasa):
    status, run = await service.call("POST", "/api/renewals/run", {"today": "2026-11-23"}, role="admin")
    assert status == 200 and run["date"] == "2026-11-23" and isinstance(run["started"], list)
    assert (await service.call("POST", "/api/renewals/run", {"today": "hier"}, role="admin"))[0] == 422
    assert (await service.call("POST", "/api/renewals/run", {}, role="supervisor"))[0] == 403


# --------------------------------------------------------------------------------------
# Customers: the CRM import, customer tokens, the emotional CRM, the erasure
# --------------------------------------------------------------------------------------
async def test_a_customer_is_imported_then_updated(service: Service):
    body = {"first_name": "Ana", "last_name": "<b>Lima</b>", "email": "ana@example.fr", "segment": "vip"}
    status, created = await service.call("PUT", "/api/customers/CLT-08001", body, role="admin")
    assert status == 201 and created["last_name"] == "<b>Lima</b>" and created["segment"] == "vip"
    status, updated = await service.call("PUT", "/api/customers/CLT-08001", {"first_name": "Ana", "last_name": "Lima",
                                                                            "email": None}, role="admin")
    assert status == 200 and updated["email"] is None and updated["segment"] == "vip"
    for path, bad in (("/api/customers/clt-1", body), ("/api/customers/" + "X" * 17, body),
                      ("/api/customers/CLT-08001", {"first_name": "Ana"}),
                      ("/api/customers/CLT-08001", dict(body, email="pas-un-mail")),
                      ("/api/customers/CLT-08001", dict(body, satisfaction=9)),
                      ("/api/customers/CLT-08001", dict(body, satisfaction="5")),
                      ("/api/customers/CLT-08001", dict(body, first_name="x" * 81))):
        status, answer = await service.call("PUT", path, bad, role="admin")
        assert status == 422 and answer["code"] == "invalid_field", (path, bad)
    trail = (await service.call("GET", "/api/audit?target=CLT-08001", role="admin"))[1]["events"]
    assert {e["action"] for e in trail} >= {"customer_created", "customer_updated"}


async def test_customer_tokens_open_the_customers_conversations(service: Service):
    status, minted = await service.call("POST", "/api/customer-tokens", {"customer_id": "CLT-00321"}, role="website")
    assert status == 201 and minted["customer_token"] and minted["expires_at"].endswith("Z")
    status, conv = await service.call("POST", "/chat/conversations", {"customer_token": minted["customer_token"]})
    assert status == 201
    owned = conversations.check(conv["conversation_id"], service.settings.secret, datetime.now(timezone.utc))
    assert owned is not None and owned.owner == "CLT-00321"
    status, answer = await service.call("POST", "/api/customer-tokens", {"customer_id": "CLT-99999"}, role="website")
    assert status == 404 and answer["code"] == "unknown_customer"
    for bad in ({}, {"customer_id": "<script>"}, {"customer_id": ["CLT-00321"]}, []):
        assert (await service.call("POST", "/api/customer-tokens", bad, role="website"))[0] in (400, 422)
    assert (await service.call("GET", "/api/tickets", role="website"))[0] == 403  # it may do nothing else


async def test_the_emotional_crm_is_read_within_scope_and_audited(service: Service):
    status, crm = await service.call("GET", "/api/customers/CLT-00321/crm", role="level2")
    assert status == 200 and crm["customer_id"] == "CLT-00321" and "recent_mood" in crm
    assert (await service.call("GET", "/api/customers/CLT-99999/crm", role="level2"))[0] == 404
    assert (await service.call("GET", "/api/customers/" + "%3Cscript%3E" * 5 + "/crm", role="level2"))[0] == 404
    assert (await service.call("GET", "/api/customers/CLT-00321/crm", role="trainer"))[0] == 403
    trail = (await service.call("GET", "/api/audit?outcome=allowed&target=CLT-00321", role="admin"))[1]["events"]
    assert any(e["action"] == "read_customer_crm" and e["actor"] == "level2:level2-1" for e in trail)
    assert not any("Martin" in json.dumps(e) for e in trail)  # no personal data in the trail


async def test_the_erasure(service: Service):
    assert (await service.call("POST", "/api/customers/CLT-00321/erase", role="supervisor"))[0] == 403
    status, erased = await service.call("POST", "/api/customers/CLT-00321/erase", role="admin")
    assert status == 200 and erased["customer_id"] == "CLT-00321" and isinstance(erased["erased"], dict)
    status, answer = await service.call("PUT", "/api/customers/CLT-00321", {"first_name": "P", "last_name": "M"},
                                        role="admin")
    assert status == 409 and answer["code"] == "customer_erased"
    assert (await service.call("GET", "/api/customers/CLT-00321/crm", role="admin"))[0] == 404
    assert (await service.call("POST", "/api/customers/CLT-99999/erase", role="admin"))[0] == 404


# --------------------------------------------------------------------------------------
# Alerts and a conversation's signals (seed 002)
# --------------------------------------------------------------------------------------
async def test_alerts_and_signals(service: Service):
    with service.services.sessions() as s, s.begin():
        s.add(m.Alert(rule="angry_vip", customer_id="CLT-00322", conversation_id="conv-signals",
                      message="<script>x</script>", created_at=utcnow(), recipients=["supervisor"], signals={}))
    status, alerts = await service.call("GET", "/api/alerts?limit=abc&rule=angry_vip", role="cs")
    assert status == 200 and [a["message"] for a in alerts["alerts"]] == ["<script>x</script>"]
    assert (await service.call("GET", "/api/alerts?rule=%7B%7B7*7%7D%7D", role="cs"))[1] == {"alerts": []}
    assert (await service.call("GET", "/api/alerts", role="hotliner"))[0] == 403
    status, answer = await service.call("GET", "/api/conversations/conv-signals/signals", role="supervisor")
    assert status == 404 and "error" in answer  # in scope, no message analysed
    assert (await service.call("GET", "/api/conversations/conv-signals/signals", role="hotliner"))[0] == 403


# --------------------------------------------------------------------------------------
# The prompter (agent assist)
# --------------------------------------------------------------------------------------
async def test_a_prompter_call(service: Service, rasa):
    status, call = await service.call("POST", "/api/prompter/calls", {"customer_id": "CLT-00322"}, role="hotliner")
    assert status == 201 and call["call_id"].startswith("c1.") and call["customer_id"] == "CLT-00322"
    base = f"/api/prompter/calls/{call['call_id']}"
    token = call["call_token"]
    other = service.token("hotliner", "Autre hotliner")
    assert (await service.call("POST", f"{base}/say", {"call_token": token, "text": "bonjour"}, token=other))[0] == 403
    for bad in (None, [], {"call_token": token}, {"call_token": token, "text": "  "},
                {"call_token": "forged.token", "text": "bonjour"}, {"call_token": ["x"], "text": "x"}):
        status, answer = await service.call("POST", f"{base}/say", bad, role="hotliner")
        assert status in (400, 403, 422) and "error" in answer, bad
    assert (await service.call("POST", "/api/prompter/calls", {"customer_id": "CLT-99999"}, role="hotliner"))[0] == 404
    status, said = await service.call("POST", f"{base}/say", {"call_token": token, "text": "{{7*7}}"}, role="hotliner")
    assert status == 200 and said["messages"][0]["custom"]["type"] == "prompter" and said["ticket"] is None
    assert rasa[-1][:2] == (call["call_id"], "{{7*7}}") and rasa[-1][2] == {"agent_token": token}
    status, t = await service.call("POST", f"{base}/escalate", {"call_token": token, "scenario": "invoice_request",
                                                                 "queue": "level2"}, role="hotliner")
    assert status == 200 and t["status"] == "escalated" and t["queue"] == "level2"
    assert (await service.call("POST", f"{base}/escalate", {"call_token": token, "scenario": "invoice_request",
                                                             "queue": "mars"}, role="hotliner"))[0] == 422
    assert (await service.call("POST", f"{base}/ticket", {"call_token": token, "scenario": "nope"},
                               role="hotliner"))[0] == 422
    assert (await service.call("POST", f"{base}/summary", {"call_token": token, "scenario": "invoice_request",
                                                            "situation": "", "actions": "", "resolution": ""},
                               role="hotliner"))[0] == 400
    status, t2 = await service.call("POST", f"{base}/summary", {
        "call_token": token, "scenario": "invoice_request", "situation": "Facture de mars demandée",
        "actions": "{{7*7}}", "resolution": "<b>envoyée</b>"}, role="hotliner")
    assert status == 200 and t2["id"] == t["id"] and t2["customer_id"] == "CLT-00322"
    summary = [h for h in t2["history"] if h["event"] == "call_summary"][-1]["details"]
    assert summary == {"situation": "Facture de mars demandée", "actions": "{{7*7}}", "resolution": "<b>envoyée</b>"}


async def test_a_prompter_ticket_is_opened_once(service: Service):
    status, call = await service.call("POST", "/api/prompter/calls", {}, role="level2")
    assert status == 201 and call.get("customer_id") is None
    base = f"/api/prompter/calls/{call['call_id']}"
    body = {"call_token": call["call_token"], "scenario": "tech_support", "priority": "high", "subject": "<i>x</i>"}
    status, t = await service.call("POST", f"{base}/ticket", body, role="level2")
    assert status == 201 and t["priority"] == "high" and t["subject"] == "<i>x</i>"
    status, again = await service.call("POST", f"{base}/ticket", body, role="level2")
    assert status == 201 and again["id"] == t["id"]
    assert (await service.call("POST", f"{base}/ticket", body, role="cs"))[0] == 403


# --------------------------------------------------------------------------------------
# The trainer
# --------------------------------------------------------------------------------------
async def test_the_trainer_checks_answers_on_the_server(service: Service):
    status, listed = await service.call("GET", "/api/trainer/quizzes", role="trainer")
    assert status == 200 and any(q["id"] == "pending_ticket_reminder" for q in listed["quizzes"])
    url = "/api/trainer/quizzes/pending_ticket_reminder"
    status, quiz = await service.call("GET", url, role="trainer")
    assert status == 200 and len(quiz["questions"]) == 5
    assert all("answer" not in q and "explanation" not in q for q in quiz["questions"])  # not sent ahead
    status, checked = await service.call("POST", f"{url}/answer", {"index": 0, "given": "B"}, role="trainer")
    assert status == 200 and checked["correct"] and checked["answer"] == "B"
    for bad in ({"index": 99, "given": "A"}, {"index": "0"}, None, {"index": -1}, {"index": 0, "given": "x" * 11}):
        assert (await service.call("POST", f"{url}/answer", bad, role="trainer"))[0] in (400, 422), bad
    status, result = await service.call("POST", f"{url}/score", {"answers": ["B", "B", "C", "B", "A", "Z", None]},
                                        role="trainer")
    assert status == 200 and result["correct"] == 5 and result["total"] == 5
    for junk in (["B", {"x": 1}], "n'importe quoi"):
        assert (await service.call("POST", f"{url}/score", {"answers": junk}, role="trainer"))[0] == 422
    for path in ("/api/trainer/quizzes/nope", "/api/trainer/quizzes/%7B%7B7*7%7D%7D",
                 "/api/trainer/quizzes/..%2F..%2Fetc%2Fpasswd", "/api/trainer/stories/tests%3Anope"):
        assert (await service.call("GET", path, role="trainer"))[0] == 404, path
    assert (await service.call("GET", url, role="hotliner"))[0] == 403


# --------------------------------------------------------------------------------------
# Public: health, new conversations, the pages
# --------------------------------------------------------------------------------------
async def test_health(service: Service):
    status, body = await service.call("GET", "/health")
    assert status == 200 and body["status"] == "ok" and body["service"] == "numi" and body["playbooks"] > 0


async def test_new_conversations(service: Service):
    status, conv = await service.call("POST", "/chat/conversations", {})
    assert status == 201 and conv["channel"] == "rest" and conv["expires_at"].endswith("Z")
    assert conversations.check(conv["conversation_id"], service.settings.secret, datetime.now(timezone.utc)) is not None
    status, conv = await service.call("POST", "/chat/conversations", raw=b"")  # no body at all: {}
    assert status == 201
    status, widget = await service.call("POST", "/chat/conversations", {"channel": "socketio"})
    assert status == 201 and widget["channel"] == "socketio"
    for bad, expected in (([], 400), (b"{", 400), ({"channel": "ftp"}, 422), ({"customer_token": {"a": 1}}, 422),
                          ({"customer_id": "CLT-00321"}, 422), ({"customer_token": "{{7*7}}"}, 403),
                          ({"customer_token": "x" * 5000}, 422)):
        kwargs = {"raw": bad} if isinstance(bad, bytes) else {}
        status, answer = await service.call("POST", "/chat/conversations", None if kwargs else bad, **kwargs)
        assert status == expected and "error" in answer, (bad, status, answer)


async def test_new_conversations_are_rate_limited(make_service):
    service = make_service(rate_limits=RateLimits(public="3/minute"))
    statuses = [(await service.call("POST", "/chat/conversations", {}))[0] for _ in range(5)]
    assert statuses == [201, 201, 201, 429, 429]
    assert (await service.call("POST", "/chat/conversations", {}))[1]["code"] == "rate_limited"


async def test_the_pages(service: Service):
    page = await service.response("GET", "/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    embedded = re.search(r'<script type="application/json" id="numi-texts">(.*?)</script>', page.text)
    assert embedded and set(json.loads(embedded.group(1))) == {"site", "chat"}  # not the console's
    hostile = await service.response("GET", "/?client=%3Cscript%3Ealert(1)%3C/script%3E")
    assert hostile.status_code == 200 and "<script>alert(1)</script>" not in hostile.text
    for path in ("/console", "/console/prompteur", "/console/files", "/console/formation"):
        assert (await service.response("GET", path)).status_code == 200, path
    missing = await service.response("GET", "/console/%3Cscript%3E")
    assert missing.status_code == 404 and "<script>" not in missing.text
    static = await service.response("GET", "/static/numi.css")
    assert static.status_code == 200
    assert (await service.response("GET", "/static/..%2F..%2Fnumi%2Fsettings.py")).status_code in (400, 404)


async def test_unknown_routes_and_methods_are_json_4xx(service: Service):
    status, answer = await service.call("GET", "/api/nope", role="admin")
    assert status == 404
    status, answer = await service.call("DELETE", "/api/tickets", role="admin")
    assert status == 405


# --------------------------------------------------------------------------------------
# The private action listener
# --------------------------------------------------------------------------------------
async def test_the_actions_answer_only_on_their_listener_and_with_the_secret(service: Service):
    actions = service.actions
    assert (await service.call("GET", "/actions", token=ACTION_TOKEN))[0] == 404  # not on the public listener
    assert (await service.call("POST", "/webhook", {}, token=ACTION_TOKEN))[0] == 404
    assert (await service.call("GET", "/health", app=actions))[0] == 404  # nothing else on the private one
    for bad in BAD_TOKENS:
        status, answer = await service.call("POST", "/webhook", {}, token=bad, app=actions)
        assert status == 401 and answer["code"] == "action_unauthorized"
    status, listed = await service.call("GET", "/actions", token=ACTION_TOKEN, app=actions)
    assert status == 200 and {"name": "action_start_playbook"} in listed
    for bad, expected in (([], 400), (b"{", 400), ({}, 422), ({"next_action": "x", "sender_id": "s"}, 422),
                          ({"next_action": "x" * 101, "sender_id": "s", "tracker": {"sender_id": "s", "events": []},
                            "domain": {}}, 422)):
        kwargs = {"raw": bad} if isinstance(bad, bytes) else {}
        status, answer = await service.call("POST", "/webhook", None if kwargs else bad, token=ACTION_TOKEN,
                                            app=actions, **kwargs)
        assert status == expected, (bad, status, answer)
    status, answer = await service.call("POST", "/webhook", {
        "next_action": "action_nope", "sender_id": "s", "tracker": {"sender_id": "s", "events": []}, "domain": {}},
        token=ACTION_TOKEN, app=actions)
    assert status == 404 and answer["action_name"] == "action_nope"
    trail = (await service.call("GET", "/api/audit?outcome=unauthenticated", role="admin"))[1]["events"]
    assert any(e["action"] == "POST /webhook" for e in trail)


# --------------------------------------------------------------------------------------
# No body ever gets a 500
# --------------------------------------------------------------------------------------
BODY_ENDPOINTS = [
    ("POST", "/chat/conversations", None), ("POST", "/api/tickets", "admin"), ("POST", "/api/tickets", "hotliner"),
    ("PATCH", "/api/tickets/TK-00456", "admin"), ("POST", "/api/reminders/run", "admin"),
    ("POST", "/api/renewals/run", "admin"), ("PUT", "/api/customers/CLT-08001", "admin"),
    ("POST", "/api/customer-tokens", "website"), ("POST", "/api/handoffs/1/messages", "admin"),
    ("POST", "/api/handoffs/1/close", "admin"), ("POST", "/api/prompter/calls", "hotliner"),
    ("POST", "/api/prompter/calls/c1.x/say", "hotliner"), ("POST", "/api/prompter/calls/c1.x/summary", "hotliner"),
    ("POST", "/api/trainer/quizzes/pending_ticket_reminder/answer", "trainer"),
    ("POST", "/api/trainer/quizzes/pending_ticket_reminder/score", "trainer"),
]
JUNK: List[Any] = [None, [], 0, "x", {"": None}, {"scenario": None}, {"today": "2026-13-45"},
                   {"call_token": "c1.a.b.rest..c", "text": "{{7*7}}"}, {"answers": {"0": "A"}},
                   {"status": "closed", "close_reason": "resolution", "note": "<script>"},
                   {"first_name": "\x00", "last_name": "\u202e"}, {"customer_id": "CLT-00321" * 3},
                   {"index": 2**63}, {"text": {"$gt": ""}}, {k: "{{7*7}}" for k in ("scenario", "subject", "text")}]


@pytest.mark.parametrize("method,path,role", BODY_ENDPOINTS)
async def test_junk_bodies_never_get_a_5xx(service: Service, rasa, method, path, role):
    for body in JUNK + HOSTILE:
        status, answer = await service.call(method, path, body, role=role)
        assert status < 500, (method, path, body, status, answer)
