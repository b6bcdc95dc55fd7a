"""The staff API of the contract on the real servers: concurrent ticket creation, and what
needs Rasa (the prompter relaying the caller, the trainer's stories). Every endpoint and
every role, ticket lifecycle and bad requests: tests/test_service_inprocess.py (in process)."""
import subprocess
import sys
import threading

import pytest

from numi.devstack import ROOT, Stack, http

pytestmark = pytest.mark.slow
ROLES = ("hotliner", "level2", "supervisor", "cs", "trainer", "website", "admin")


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
