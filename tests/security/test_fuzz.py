"""Point 6 of the trust issue: bad input never gets a 500. Generated bodies (hypothesis) to
every endpoint that takes one, on the real servers; any 5xx fails."""
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from numi.devstack import http, signed_conversation

pytestmark = pytest.mark.slow

scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-2**63, max_value=2**63),
                    st.floats(allow_nan=False), st.text(max_size=40),
                    st.sampled_from(["{{7*7}}", "<script>alert(1)</script>", '/inform{"customer_id":"CLT-00321"}',
                                     "TK-00456", "CLT-00321", "level2", "closed", "2026-13-45", "", " " * 5,
                                     "x" * 5000, "\x00\u202e", "c1.a.b.rest..c"]))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=10), inner, max_size=4)),
                      max_leaves=12)
FIELDS = ["scenario", "customer_id", "conversation_id", "priority", "subject", "queue", "id", "status",
          "waiting_reason", "waiting_since", "created_at", "assignee", "reason", "close_reason", "note",
          "waiting_for", "today", "dry_run", "text", "call_token", "situation", "actions", "resolution", "index",
          "given", "answers", "customer_token", "channel", "first_name", "last_name", "email", "phone", "segment",
          "satisfaction", "recommendation", "sender", "message", "metadata", "next_action", "sender_id", "tracker",
          "domain", "version"]
bodies = st.one_of(values, st.dictionaries(st.sampled_from(FIELDS), values, max_size=8))
raw = st.one_of(st.binary(max_size=200), st.sampled_from([b"{", b"[1,", b'{"a":}', b"\xff\xfe", b"null", b'"x"']))

# (method, path, who): every endpoint that reads a body
ENDPOINTS = [
    ("POST", "/chat/conversations", None),
    ("POST", "/api/tickets", "admin"), ("POST", "/api/tickets", "hotliner"),
    ("PATCH", "/api/tickets/TK-00456", "admin"), ("PATCH", "/api/tickets/TK-00456", "hotliner"),
    ("POST", "/api/reminders/run", "admin"), ("POST", "/api/renewals/run", "admin"),
    ("PUT", "/api/customers/CLT-08001", "admin"), ("POST", "/api/customer-tokens", "website"),
    ("POST", "/api/handoffs/1/messages", "admin"), ("POST", "/api/handoffs/1/close", "admin"),
    ("POST", "/api/handoffs/1/handback", "admin"), ("POST", "/api/handoffs/1/claim", "admin"),
    ("POST", "/api/prompter/calls", "hotliner"), ("POST", "/api/prompter/calls/CALL/say", "hotliner"),
    ("POST", "/api/prompter/calls/CALL/ticket", "hotliner"), ("POST", "/api/prompter/calls/CALL/escalate", "hotliner"),
    ("POST", "/api/prompter/calls/CALL/summary", "hotliner"),
    ("POST", "/api/trainer/quizzes/pending_ticket_reminder/answer", "trainer"),
    ("POST", "/api/trainer/quizzes/pending_ticket_reminder/score", "trainer"),
    ("POST", "ACTIONS/webhook", "actions"),
    ("POST", "RASA/webhooks/rest/webhook", None),
]


@pytest.fixture(scope="module")
def targets(stack):
    tokens = {"admin": stack.admin_token, "actions": stack.action_token}
    for role in ("hotliner", "website", "trainer"):
        tokens[role] = stack.staff_token(f"fuzz-{role}", role)
    call = http("POST", f"{stack.numi}/api/prompter/calls", {}, token=tokens["hotliner"])[1]
    return stack, tokens, call["call_id"]


def url_of(stack, path, call_id):
    path = path.replace("CALL", call_id)
    if path.startswith("ACTIONS"):
        return stack.actions + path[len("ACTIONS"):]
    if path.startswith("RASA"):
        return stack.rasa + path[len("RASA"):]
    return stack.numi + path


def send(stack, tokens, call_id, method, path, who, data: bytes):
    headers = {"Authorization": f"Bearer {tokens[who]}"} if who else {}
    status, body = http(method, url_of(stack, path, call_id), raw=data, headers=headers, timeout=60)
    assert status < 500, (method, path, data[:300], status, body)
    return status


@pytest.mark.parametrize("method,path,who", ENDPOINTS)
def test_generated_bodies_never_get_a_5xx(targets, method, path, who):
    stack, tokens, call_id = targets

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(body=bodies, junk=raw)
    def check(body, junk):
        if path.endswith("rest/webhook") and isinstance(body, dict) and "sender" in body and body.get("sender") is None:
            body = dict(body, sender=signed_conversation())
        send(stack, tokens, call_id, method, path, who, json.dumps(body).encode())
        send(stack, tokens, call_id, method, path, who, junk)

    check()
