"""The staff API of the contract: every endpoint, every role, and concurrent ticket creation."""
import subprocess
import sys
import threading

import pytest

from numi.devstack import ROOT, Stack, http

pytestmark = pytest.mark.slow
ROLES = ("hotliner", "level2", "supervisor", "trainer", "admin")


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


def token(stack, role):
    out = subprocess.run([sys.executable, "-m", "numi.cli", "staff", "create", "--name", f"{role}-1", "--role", role],
                         cwd=ROOT, env=stack.env, capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()[-1]


# endpoint, method, body, roles allowed
MATRIX = [
    ("/api/tickets", "GET", None, {"hotliner", "level2", "supervisor", "trainer", "admin"}),
    ("/api/tickets/TK-00456", "GET", None, {"hotliner", "level2", "supervisor", "trainer", "admin"}),
    ("/api/tickets", "POST", {"scenario": "tech_support", "subject": "Imprimante"}, {"hotliner", "level2", "supervisor", "admin"}),
    ("/api/handoffs?queue=level2", "GET", None, {"hotliner", "level2", "supervisor", "admin"}),
    ("/api/reminders/run", "POST", {"today": "2026-11-23", "dry_run": True}, {"admin"}),
    ("/api/reminders/daily", "GET", None, {"hotliner", "level2", "supervisor", "trainer", "admin"}),
    ("/api/reminders/kpis", "GET", None, {"hotliner", "level2", "supervisor", "trainer", "admin"}),
    ("/api/calls", "GET", None, {"hotliner", "level2", "supervisor", "admin"}),
    ("/api/callbacks", "GET", None, {"hotliner", "level2", "supervisor", "admin"}),
    ("/api/handoffs/999999", "GET", None, set()),  # 404 for the allowed roles, below
]


@pytest.mark.parametrize("path,method,body,allowed", MATRIX)
def test_roles(stack, path, method, body, allowed):
    url = stack.numi + path
    for bad in (None, "wrong-token", "Bearer", "x" * 600):
        status, answer = http(method, url, body, token=bad)
        assert status == 401 and answer == {"error": "authentification requise"}
    if not allowed:  # an unknown resource: 404 for staff, 403 for trainers, never a leak
        for role, tok in stack.tokens.items():
            status, answer = http(method, url, body, token=tok)
            assert status == (403 if role == "trainer" else 404), (role, status)
        return
    for role, tok in stack.tokens.items():
        status, answer = http(method, url, body, token=tok)
        if role in allowed:
            assert status in (200, 201), (role, path, status, answer)
        else:
            assert status == 403 and answer == {"error": "accès refusé"}, (role, path, status)


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
    assert status in (400, 409) and "error" in answer


def test_unknown_ticket_and_bad_dates(stack):
    assert http("GET", f"{stack.numi}/api/tickets/TK-99999", token=stack.admin_token)[0] == 404
    assert http("GET", f"{stack.numi}/api/tickets/<script>", token=stack.admin_token)[0] == 404
    assert http("POST", f"{stack.numi}/api/reminders/run", {"today": "demain"}, token=stack.admin_token)[0] == 400
    assert http("POST", f"{stack.numi}/api/reminders/run", {"dry_run": "oui"}, token=stack.admin_token)[0] == 400


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
