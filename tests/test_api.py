"""The staff API of the contract: every endpoint, every role, and concurrent ticket creation."""
import subprocess
import sys
import threading

import pytest

from numi.devstack import ROOT, Stack, http

pytestmark = pytest.mark.slow
ROLES = ("hotliner", "level2", "supervisor", "cs", "trainer", "website", "admin")
DESK = {"hotliner", "level2", "supervisor", "cs", "admin"}
UNAUTHENTICATED = {"error": "Authentification requise.", "code": "unauthenticated"}
FORBIDDEN = {"error": "Accès refusé.", "code": "forbidden"}


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def stack(request, tmp_path_factory):
    import os

    extra = {}
    if request.param == "postgres":
        if not os.environ.get("NUMI_TEST_POSTGRES_URL"):
            pytest.skip("PostgreSQL tests need NUMI_TEST_POSTGRES_URL (set by .ci/run when a server answers)")
        from tests.conftest import _drop_postgres_database, _postgres_database

        url = _postgres_database()
        extra = {"NUMI_DATABASE_URL": url}
    s = Stack(tmp_path_factory.mktemp("api"), extra_env=extra).start()
    s.tokens = {role: token(s, role) for role in ROLES if role != "admin"}
    s.tokens["admin"] = s.admin_token
    yield s
    s.stop()
    if extra:
        _drop_postgres_database(extra["NUMI_DATABASE_URL"])


def token(stack, role, name=None):
    out = subprocess.run([sys.executable, "-m", "numi.cli", "staff", "create", "--name", name or f"{role}-1",
                          "--role", role],
                         cwd=ROOT, env=stack.env, capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()[-1]


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
]


@pytest.mark.parametrize("path,method,body,allowed", MATRIX)
def test_roles(stack, path, method, body, allowed):
    url = stack.numi + path
    for bad in (None, "wrong-token", "Bearer", "x" * 600):
        status, answer = http(method, url, body, token=bad)
        assert status == 401 and answer == UNAUTHENTICATED
    if not allowed:  # an unknown resource: 404 for the desk, 403 for the others, never a leak
        for role, tok in stack.tokens.items():
            status, answer = http(method, url, body, token=tok)
            assert status == (404 if role in DESK else 403), (role, status)
        return
    for role, tok in stack.tokens.items():
        status, answer = http(method, url, body, token=tok)
        if role in allowed:
            assert status in (200, 201), (role, path, status, answer)
        else:
            assert status == 403 and answer["code"] in ("forbidden", "out_of_scope", "queue_out_of_scope"), \
                (role, path, status)


def test_ticket_lifecycle_over_the_api(stack):
    tok = stack.tokens["hotliner"]
    status, t = http("POST", f"{stack.numi}/api/tickets", {"scenario": "tech_support", "customer_id": "CLT-00321",
                                                            "priority": "normal", "subject": "Wi-Fi"}, token=tok)
    assert status == 201 and t["status"] == "new" and t["id"].startswith("TK-")
    url = f"{stack.numi}/api/tickets/{t['id']}"
    assert http("PATCH", url, {"status": "waiting_customer"}, token=tok)[0] == 409  # needs a reason
    status, t2 = http("PATCH", url, {"status": "waiting_customer", "waiting_reason": "feedback"}, token=tok)
    assert status == 200 and t2["waiting_since"]
    status, _ = http("PATCH", url, {"status": "closed", "close_reason": "resolution"}, token=tok)
    assert status == 409  # closing needs a note too
    assert http("GET", url, token=tok)[1]["status"] == "waiting_customer"  # a refused change changes nothing
    status, t3 = http("PATCH", url, {"status": "closed", "close_reason": "resolution", "note": "ok au tél."}, token=tok)
    assert status == 200 and t3["status"] == "closed"
    assert http("PATCH", url, {"status": "escalated"}, token=tok)[0] == 409
    status, t4 = http("PATCH", url, {"status": "in_progress", "reason": "le client rappelle"}, token=tok)
    assert status == 200 and [h["event"] for h in t4["history"]][-1] == "reopened"
    # only an admin may import a ticket in a given state
    imported = {"scenario": "tech_support", "status": "waiting_customer", "waiting_reason": "feedback",
                "waiting_since": "2026-11-01T09:00:00", "priority": "high"}
    assert http("POST", f"{stack.numi}/api/tickets", imported, token=tok)[0] == 403
    status, t5 = http("POST", f"{stack.numi}/api/tickets", imported, token=stack.admin_token)
    assert status == 201 and t5["status"] == "waiting_customer" and t5["waiting_since"].startswith("2026-11-01")


@pytest.mark.parametrize("body", [None, [], {"scenario": "nope"}, {"scenario": "tech_support", "customer_id": "CLT-99999"},
                                  {"scenario": "tech_support", "priority": "extreme"}])
def test_bad_ticket_requests(stack, body):
    status, answer = http("POST", f"{stack.numi}/api/tickets", body, token=stack.tokens["hotliner"])
    assert status in (400, 409, 422) and "error" in answer


def test_unknown_ticket_and_bad_dates(stack):
    assert http("GET", f"{stack.numi}/api/tickets/TK-99999", token=stack.admin_token)[0] == 404
    assert http("GET", f"{stack.numi}/api/tickets/<script>", token=stack.admin_token)[0] == 404
    assert http("POST", f"{stack.numi}/api/reminders/run", {"today": "demain"}, token=stack.admin_token)[0] == 422
    assert http("POST", f"{stack.numi}/api/reminders/run", {"dry_run": "oui"}, token=stack.admin_token)[0] == 422


def test_concurrent_ticket_creation_gives_unique_numbers(stack):
    ids, errors = [], []

    def create():
        status, body = http("POST", f"{stack.numi}/api/tickets", {"scenario": "bug_report", "subject": "parallel"},
                            token=stack.tokens["hotliner"])
        (ids if status == 201 else errors).append(body.get("id") if status == 201 else (status, body))

    threads = [threading.Thread(target=create) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(ids) == 20 and len(set(ids)) == 20


def test_prompter_calls_belong_to_their_hotliner(stack):
    hot = stack.tokens["hotliner"]
    status, call = http("POST", f"{stack.numi}/api/prompter/calls", {"customer_id": "CLT-00322"}, token=hot)
    assert status == 201 and call["call_id"].startswith("c1.") and call["customer_id"] == "CLT-00322"
    base = f"{stack.numi}/api/prompter/calls/{call['call_id']}"
    # another staff member (not a supervisor) cannot use this call token, nor a token of another call
    other = token(stack, "hotliner", "Autre hotliner")
    assert http("POST", f"{base}/say", {"call_token": call["call_token"], "text": "bonjour"}, token=other)[0] == 403
    _, second = http("POST", f"{stack.numi}/api/prompter/calls", {}, token=hot)
    assert http("POST", f"{base}/say", {"call_token": second["call_token"], "text": "x"}, token=hot)[0] == 403
    for bad in (None, [], {"call_token": call["call_token"]}, {"call_token": call["call_token"], "text": "  "},
                {"call_token": "forged.token", "text": "bonjour"}):
        status, answer = http("POST", f"{base}/say", bad, token=hot)
        assert status in (400, 403, 422) and "error" in answer
    assert http("POST", f"{stack.numi}/api/prompter/calls", {"customer_id": "CLT-99999"}, token=hot)[0] == 404
    # the caller's words reach Rasa in agent mode: the answer is a prompter card
    status, said = http("POST", f"{base}/say", {"call_token": call["call_token"],
                                                "text": "la cliente veut une facture de son abonnement"}, token=hot)
    assert status == 200 and any((m.get("custom") or {}).get("type") == "prompter" for m in said["messages"])
    # escalation and the call summary land on the call's ticket
    status, t = http("POST", f"{base}/escalate", {"call_token": call["call_token"], "scenario": "invoice_request",
                                                  "queue": "level2"}, token=hot)
    assert status == 200 and t["status"] == "escalated" and t["queue"] == "level2"
    assert http("POST", f"{base}/escalate", {"call_token": call["call_token"], "scenario": "invoice_request",
                                             "queue": "mars"}, token=hot)[0] == 422
    assert http("POST", f"{base}/summary", {"call_token": call["call_token"], "scenario": "invoice_request",
                                            "situation": "", "actions": "", "resolution": ""}, token=hot)[0] == 400
    status, t2 = http("POST", f"{base}/summary", {"call_token": call["call_token"], "scenario": "invoice_request",
                                                  "situation": "Facture de mars demandée", "actions": "{{7*7}}",
                                                  "resolution": "<b>envoyée</b>"}, token=hot)
    assert status == 200 and t2["id"] == t["id"] and t2["customer_id"] == "CLT-00322"
    summary = [h for h in t2["history"] if h["event"] == "call_summary"][-1]["details"]
    assert summary == {"situation": "Facture de mars demandée", "actions": "{{7*7}}", "resolution": "<b>envoyée</b>"}


def test_trainer_api_checks_answers_on_the_server(stack):
    tr = stack.tokens["trainer"]
    status, quiz = http("GET", f"{stack.numi}/api/trainer/quizzes/pending_ticket_reminder", token=tr)
    assert status == 200 and len(quiz["questions"]) == 5
    assert all("answer" not in q and "explanation" not in q for q in quiz["questions"])  # not sent ahead
    url = f"{stack.numi}/api/trainer/quizzes/pending_ticket_reminder"
    status, checked = http("POST", f"{url}/answer", {"index": 0, "given": "B"}, token=tr)
    assert status == 200 and checked["correct"] and checked["answer"] == "B"
    for bad in ({"index": 99, "given": "A"}, {"index": "0"}, None):
        assert http("POST", f"{url}/answer", bad, token=tr)[0] in (400, 422)
    status, result = http("POST", f"{url}/score", {"answers": ["B", "B", "C", "B", "A", "Z", None]}, token=tr)
    assert status == 200 and result["correct"] == 5 and result["total"] == 5
    for junk in (["B", {"x": 1}], "n'importe quoi"):
        assert http("POST", f"{url}/score", {"answers": junk}, token=tr)[0] == 422
    assert http("GET", f"{stack.numi}/api/trainer/quizzes/nope", token=tr)[0] == 404
    assert http("GET", f"{stack.numi}/api/trainer/stories/tests%3Anope", token=tr)[0] == 404
    status, stories = http("GET", f"{stack.numi}/api/trainer/stories", token=tr)
    sid = next(s["id"] for s in stories["stories"] if s["scenario"] == "account_deletion_gdpr")
    status, story = http("GET", f"{stack.numi}/api/trainer/stories/{sid}", token=tr)
    assert status == 200 and story["steps"][0]["bot"]
    status, squiz = http("GET", f"{stack.numi}/api/trainer/quizzes/story:{sid}", token=tr)
    assert status == 200 and squiz["questions"]
