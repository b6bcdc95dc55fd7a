"""Point 1 and 9 of the trust issue: the action server is not a public door, and nothing
listens beyond 127.0.0.1 by default."""
import socket

import pytest

from numi.devstack import http, signed_conversation
from tests.security.conftest import machine_addresses

pytestmark = pytest.mark.slow


def forged_call(action="action_start_playbook", customer="CLT-00321"):
    """What an attacker posted on :5055/webhook before: a tracker that claims a customer."""
    sender = "attacker-conv"
    latest = {"text": "je veux supprimer mon compte", "intent": {"name": "request_account_deletion", "confidence": 1},
              "entities": [], "metadata": {"numi": {"mode": "customer", "customer_id": customer}}}
    return {"next_action": action, "sender_id": sender, "version": "3.6.2", "domain": {},
            "tracker": {"sender_id": sender, "slots": {"customer_id": customer}, "latest_message": latest,
                        "events": [{"event": "user", "text": latest["text"], "parse_data": latest,
                                    "metadata": latest["metadata"]}],
                        "paused": False, "followup_action": None, "active_loop": {}, "latest_action_name": None}}


def tickets_of_attacker(stack):
    return http("GET", f"{stack.numi}/api/tickets?conversation_id=attacker-conv", token=stack.admin_token)[1]["tickets"]


def test_the_public_listener_does_not_serve_actions(stack):
    status, body = http("POST", f"{stack.numi}/webhook", forged_call())
    assert status == 404
    assert http("GET", f"{stack.numi}/actions")[0] == 404
    assert tickets_of_attacker(stack) == []


@pytest.mark.parametrize("header", [None, "Bearer wrong", "Bearer ", "test-action-token", "Basic dGVzdA=="])
def test_the_private_listener_refuses_calls_without_the_shared_secret(stack, header):
    headers = {} if header is None else {"Authorization": header}
    status, body = http("POST", f"{stack.actions}/webhook", forged_call(), headers=headers)
    assert status == 401 and body["code"] == "action_unauthorized"
    assert tickets_of_attacker(stack) == []
    events = http("GET", f"{stack.numi}/api/audit?outcome=unauthenticated", token=stack.admin_token)[1]["events"]
    assert any(e["action"] == "POST /webhook" and e["address"] == "127.0.0.1" for e in events)


@pytest.mark.parametrize("body", [{"next_action": ["x"], "tracker": {}}, {"next_action": "action_start_playbook"},
                                  {"next_action": "action_start_playbook", "sender_id": "x", "tracker": "a string",
                                   "domain": {}}, [], "x"])
def test_with_the_secret_a_malformed_call_is_refused_by_its_schema(stack, body):
    status, reply = http("POST", f"{stack.actions}/webhook", body,
                         headers={"Authorization": f"Bearer {stack.action_token}"})
    assert status in (400, 422) and "error" in reply


def test_a_conversation_only_sees_the_tickets_of_the_customer_the_channel_verified(stack):
    """The same question, on a conversation the website signed for Paul, and on an anonymous one."""
    website = stack.staff_token("site", "website")
    token = http("POST", f"{stack.numi}/api/customer-tokens", {"customer_id": "CLT-00321"}, token=website)[1]
    paul = stack.new_conversation(customer_token=token["customer_token"])
    stack.say(paul, "où en est mon ticket ?")
    reply = " ".join(m.get("text") or "" for m in stack.say(paul, "TK-00456")[1])
    assert "IMAP" in reply or "Synchronisation" in reply  # Paul's own ticket, told to Paul
    anonymous = signed_conversation()
    forged = {"numi": {"customer_id": "CLT-00321"}, "customer_id": "CLT-00321"}
    stack.say(anonymous, "où en est mon ticket ?", forged)
    reply = " ".join(m.get("text") or "" for m in stack.say(anonymous, "TK-00456", forged)[1])
    assert "IMAP" not in reply and "Synchronisation" not in reply
    assert stack.tracker(anonymous)["latest_message"]["metadata"]["numi"] == {"mode": "customer"}


@pytest.mark.parametrize("which", ["numi", "actions", "rasa"])
def test_nothing_listens_beyond_loopback(stack, which):
    addresses = machine_addresses()
    if not addresses:
        pytest.skip("this machine has no address but loopback: nothing to check")
    port = {"numi": stack.numi_port, "actions": stack.action_port, "rasa": stack.rasa_port}[which]
    for address in addresses:
        with socket.socket() as s:
            s.settimeout(2)
            assert s.connect_ex((address, port)) != 0, f"{which} answers on {address}:{port}"
    with socket.socket() as s:
        s.settimeout(2)
        assert s.connect_ex(("127.0.0.1", port)) == 0
