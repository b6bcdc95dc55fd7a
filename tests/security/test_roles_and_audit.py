"""Point 4 of the trust issue: staff see what their role allows, and every refusal leaves a trace."""
import pytest

from numi.devstack import http

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def desk(numi_only):
    s = numi_only
    tokens = {role: s.staff_token(name, role) for name, role in
              (("Lea", "hotliner"), ("Karim", "level2"), ("Chloe", "cs"), ("Sam", "supervisor"), ("Tom", "trainer"),
               ("site", "website"))}
    tickets = {}
    for queue in ("level2", "cs", "supervisor"):
        status, t = http("POST", f"{s.numi}/api/tickets", {"scenario": "tech_support", "queue": queue,
                                                            "customer_id": "CLT-00321"}, token=s.admin_token)
        assert status == 201
        tickets[queue] = t["id"]
    status, t = http("POST", f"{s.numi}/api/tickets", {"scenario": "tech_support"}, token=tokens["hotliner"])
    assert status == 201 and t["queue"] is None
    tickets["level1"] = t["id"]
    return s, tokens, tickets


def visible(s, token):
    status, body = http("GET", f"{s.numi}/api/tickets", token=token)
    assert status == 200
    return {t["id"] for t in body["tickets"]}


def test_each_role_lists_only_its_scope(desk):
    s, tokens, tickets = desk
    assert tickets["level1"] in visible(s, tokens["hotliner"])
    assert not {tickets["level2"], tickets["cs"], tickets["supervisor"]} & visible(s, tokens["hotliner"])
    assert tickets["level2"] in visible(s, tokens["level2"])
    assert not {tickets["cs"], tickets["supervisor"], tickets["level1"]} & visible(s, tokens["level2"])
    assert tickets["cs"] in visible(s, tokens["cs"]) and tickets["level2"] not in visible(s, tokens["cs"])
    assert set(tickets.values()) <= visible(s, tokens["supervisor"])
    assert set(tickets.values()) <= visible(s, s.admin_token)


@pytest.mark.parametrize("role,queue", [("hotliner", "level2"), ("hotliner", "cs"), ("level2", "cs"),
                                        ("cs", "level2"), ("level2", "supervisor")])
def test_a_ticket_out_of_scope_is_refused_and_audited(desk, role, queue):
    s, tokens, tickets = desk
    ref = tickets[queue]
    assert http("GET", f"{s.numi}/api/tickets/{ref}", token=tokens[role])[0] == 403
    status, _ = http("PATCH", f"{s.numi}/api/tickets/{ref}", {"status": "closed", "close_reason": "other",
                                                              "note": "x"}, token=tokens[role])
    assert status == 403
    assert http("GET", f"{s.numi}/api/tickets/{ref}", token=s.admin_token)[1]["status"] == "new"
    events = http("GET", f"{s.numi}/api/audit?outcome=denied&target={ref}", token=s.admin_token)[1]["events"]
    actors = {(e["actor"], e["action"], e["address"]) for e in events}
    assert any(a[0].startswith(f"{role}:") and a[1] == f"GET /api/tickets/{ref}" and a[2] == "127.0.0.1"
               for a in actors)


def test_a_ticket_someone_handled_stays_theirs_after_escalation(desk):
    s, tokens, tickets = desk
    ref = tickets["level1"]
    status, t = http("PATCH", f"{s.numi}/api/tickets/{ref}", {"queue": "level2"}, token=tokens["hotliner"])
    assert status == 200 and t["queue"] == "level2"
    assert http("GET", f"{s.numi}/api/tickets/{ref}", token=tokens["hotliner"])[0] == 200  # Léa handled it
    assert ref in visible(s, tokens["level2"])


@pytest.mark.parametrize("role,queue", [("hotliner", "level2"), ("level2", "cs"), ("cs", "supervisor")])
def test_queues_out_of_scope_are_refused(desk, role, queue):
    s, tokens, _ = desk
    assert http("GET", f"{s.numi}/api/handoffs?queue={queue}", token=tokens[role])[0] == 403


@pytest.mark.parametrize("role,method,path", [
    ("trainer", "GET", "/api/tickets"), ("trainer", "GET", "/api/customers/CLT-00321/crm"),
    ("website", "GET", "/api/tickets"), ("website", "PUT", "/api/customers/CLT-00999"),
    ("hotliner", "GET", "/api/audit"), ("supervisor", "POST", "/api/customers/CLT-00321/erase"),
    ("hotliner", "POST", "/api/customer-tokens"), ("level2", "POST", "/api/reminders/run"),
    ("hotliner", "GET", "/api/trainer/stories"),
])
def test_roles_without_the_right_get_403_and_a_trace(desk, role, method, path):
    s, tokens, _ = desk
    body = {"first_name": "A", "last_name": "B"} if method == "PUT" else ({"customer_id": "CLT-00321"}
                                                                          if "tokens" in path else None)
    status, reply = http(method, f"{s.numi}{path}", body, token=tokens[role])
    assert status == 403 and set(reply) == {"error", "code"}
    events = http("GET", f"{s.numi}/api/audit?outcome=denied", token=s.admin_token)[1]["events"]
    assert any(e["action"] == f"{method} {path}" and e["role"] == role for e in events)


def test_no_token_or_a_wrong_one_is_401_and_leaves_a_trace(desk):
    s, _, _ = desk
    assert http("GET", f"{s.numi}/api/tickets")[0] == 401
    assert http("GET", f"{s.numi}/api/tickets", token="numi_guessed")[0] == 401
    events = http("GET", f"{s.numi}/api/audit?outcome=unauthenticated", token=s.admin_token)[1]["events"]
    assert any(e["action"] == "GET /api/tickets" and e["actor"] is None for e in events)
    assert not any("numi_guessed" in str(e) for e in events)  # never the token itself


def test_sensitive_reads_and_actions_are_audited(desk):
    s, tokens, _ = desk
    assert http("GET", f"{s.numi}/api/customers/CLT-00321/crm", token=tokens["level2"])[0] == 200
    events = http("GET", f"{s.numi}/api/audit?outcome=allowed&target=CLT-00321", token=s.admin_token)[1]["events"]
    assert any(e["action"] == "read_customer_crm" and e["actor"] == "level2:Karim" for e in events)
    assert not any("Martin" in str(e) or "@" in str(e) for e in events)  # no personal data in the trail


def test_a_conversations_messages_are_read_within_scope(desk):
    s, tokens, _ = desk
    status, _ = http("POST", f"{s.numi}/api/tickets", {"scenario": "tech_support", "queue": "level2",
                                                        "conversation_id": "conv-of-level2"}, token=s.admin_token)
    assert status == 201
    url = f"{s.numi}/api/conversations/conv-of-level2/signals"
    assert http("GET", url, token=tokens["hotliner"])[0] == 403
    assert http("GET", url, token=tokens["cs"])[0] == 403
    assert http("GET", url, token=tokens["level2"])[0] == 404  # in scope; no message analysed yet
    assert http("GET", url, token=tokens["supervisor"])[0] == 404
    events = http("GET", f"{s.numi}/api/audit?outcome=denied&target=conv-of-level2", token=s.admin_token)[1]["events"]
    assert {e["role"] for e in events} == {"hotliner", "cs"}
