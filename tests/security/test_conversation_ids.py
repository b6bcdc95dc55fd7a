"""Signed conversation ids and the identity a conversation trusts (in process, no server)."""
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actions.base import customer_of
from numi import conversations
from tests.conftest import make_tracker

SECRET = "unit-secret"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)


def test_an_issued_id_checks_out_with_its_owner_and_channel():
    conv = conversations.issue(SECRET, NOW, 3600, channel="socketio", owner="CLT-00321")
    checked = conversations.check(conv.id, SECRET, NOW + timedelta(minutes=59), channel="socketio")
    assert checked is not None and checked.owner == "CLT-00321" and checked.channel == "socketio"
    assert len(conv.id) <= conversations.MAX_LENGTH


@pytest.mark.parametrize("case", ["expired", "other channel", "other secret", "owner swapped", "truncated",
                                  "plain id", "empty", "not a string"])
def test_anything_numi_did_not_issue_is_refused(case):
    conv = conversations.issue(SECRET, NOW, 3600, owner="CLT-00321")
    value, secret, now, channel = conv.id, SECRET, NOW, "rest"
    if case == "expired":
        now = NOW + timedelta(hours=1, seconds=1)
    elif case == "other channel":
        channel = "socketio"
    elif case == "other secret":
        secret = "another-secret"
    elif case == "owner swapped":
        value = value.replace("CLT-00321", "CLT-00322")
    elif case == "truncated":
        value = value[:-2]
    elif case == "plain id":
        value = "test-1234"
    elif case == "empty":
        value = ""
    else:
        value = {"id": value}
    assert conversations.check(value, secret, now, channel=channel) is None


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0), st.characters(blacklist_categories=("Cs",)))
def test_changing_any_character_breaks_the_signature(position, char):
    conv = conversations.issue(SECRET, NOW, 3600)
    i = position % len(conv.id)
    forged = conv.id[:i] + char + conv.id[i + 1:]
    if forged != conv.id:
        assert conversations.check(forged, SECRET, NOW) is None


def _events(*items):
    return [dict(e) for e in items]


def test_a_proved_identity_lasts_while_the_conversation_is_alive():
    t0 = 1_700_000_000.0
    events = _events({"event": "user", "timestamp": t0}, {"event": "slot", "name": "customer_id",
                                                          "value": "CLT-00321", "timestamp": t0 + 5},
                     {"event": "user", "timestamp": t0 + 600}, {"event": "user", "timestamp": t0 + 1200})
    assert conversations.proved_identity(events, idle_seconds=1800) == "CLT-00321"


def test_a_proved_identity_expires_after_the_idle_time_and_with_a_new_session():
    t0 = 1_700_000_000.0
    proof = {"event": "slot", "name": "customer_id", "value": "CLT-00321", "timestamp": t0}
    idle = _events(proof, {"event": "user", "timestamp": t0 + 1801}, {"event": "user", "timestamp": t0 + 1802})
    assert conversations.proved_identity(idle, idle_seconds=1800) is None
    new_session = _events(proof, {"event": "session_started", "timestamp": t0 + 10},
                          {"event": "user", "timestamp": t0 + 20})
    assert conversations.proved_identity(new_session, idle_seconds=1800) is None


def test_actions_trust_the_channel_or_a_live_proof_never_a_bare_slot():
    t0 = 1_700_000_000.0
    # a slot in the tracker's state, but no slot event that proves it (e.g. a forged tracker)
    bare = make_tracker("c", slots={"customer_id": "CLT-00321"}, text="mes tickets")
    assert customer_of(bare, 1800) is None
    verified = make_tracker("c", text="mes tickets",
                            metadata={"numi": {"mode": "customer", "customer_id": "CLT-00322"}})
    assert customer_of(verified, 1800) == "CLT-00322"
    proved = make_tracker("c", text="mes tickets", events=[
        {"event": "slot", "name": "customer_id", "value": "CLT-00321", "timestamp": t0}])
    proved.events[-1]["timestamp"] = t0 + 60
    assert customer_of(proved, 1800) == "CLT-00321"
    proved.events[-1]["timestamp"] = t0 + 4000
    assert customer_of(proved, 1800) is None
