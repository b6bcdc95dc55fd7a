"""Point 2 of the trust issue: a conversation id is not a key anyone can make. REST and
socket.io refuse ids numi did not issue, store nothing for them, and one socket holds a
conversation at a time."""
import asyncio
from datetime import datetime, timedelta, timezone

import pytest
import socketio
from sqlalchemy import create_engine, text

from numi import auth, conversations
from tests.security.conftest import hang_up
from numi.devstack import http, signed_conversation

pytestmark = pytest.mark.slow


def stored_events(stack, sender):
    engine = create_engine(stack.env["NUMI_TRACKER_URL"])
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM events WHERE sender_id = :s"), {"s": sender}).scalar()
    finally:
        engine.dispose()


def refused_ids(stack):
    now = datetime.now(timezone.utc)
    issued = signed_conversation()
    return {
        "made up": "moi",
        "old style": "test-1234567890",
        "forged MAC": issued[:-3] + ("AAA" if not issued.endswith("AAA") else "BBB"),
        "expired": conversations.issue(stack.secret, now - timedelta(hours=2), 3600).id,
        "a widget's": signed_conversation(channel="socketio"),
        "other secret": conversations.issue("another-secret", now, 3600).id,
    }


def test_rest_refuses_ids_numi_did_not_issue_and_stores_nothing(stack):
    for label, sender in refused_ids(stack).items():
        status, body = stack.say(sender, "bonjour")
        assert status == 403 and body["code"] == "unknown_conversation", label
        assert stored_events(stack, sender) == 0, label


def test_an_issued_conversation_works_and_its_expiry_is_announced(stack):
    status, body = http("POST", f"{stack.numi}/chat/conversations", {})
    assert status == 201 and body["expires_at"].endswith("Z")
    assert datetime.fromisoformat(body["expires_at"][:-1] + "+00:00") > datetime.now(timezone.utc) + timedelta(hours=1)
    status, reply = stack.say(body["conversation_id"], "bonjour")
    assert status == 200 and reply


@pytest.mark.parametrize("body", [{"customer_token": "forged.token"}, {"customer_token": 12},
                                  {"channel": "telegram"}, {"owner": "CLT-00321"}, []])
def test_a_conversation_cannot_be_claimed_for_a_customer_without_a_valid_token(stack, body):
    status, reply = http("POST", f"{stack.numi}/chat/conversations", body)
    assert status in (400, 403, 422) and "conversation_id" not in reply


def test_an_owned_conversation_refuses_another_customers_token(stack):
    paul = stack.new_conversation(customer_token=auth.customer_token("CLT-00321", stack.secret))
    sophie = {"customer_token": auth.customer_token("CLT-00322", stack.secret)}
    status, body = stack.say(paul, "mes factures", sophie)
    assert status == 403 and body["code"] == "owner_mismatch"
    assert stored_events(stack, paul) == 0


class Client:
    def __init__(self, url):
        self.url, self.sio, self.inbox, self.events = url, socketio.AsyncClient(), asyncio.Queue(), asyncio.Queue()

    async def join(self, session_id):
        self.sio.on("bot_uttered", lambda data: self.inbox.put_nowait(data))
        for name in ("session_confirm", "session_refused", "session_taken_over"):
            self.sio.on(name, lambda data, name=name: self.events.put_nowait((name, data)))
        await self.sio.connect(self.url, socketio_path="/socket.io", transports=["polling"])
        await self.sio.emit("session_request", {"session_id": session_id})
        return await asyncio.wait_for(self.events.get(), 10)


async def test_the_socket_refuses_ids_numi_did_not_issue(stack):
    refused = {k: v for k, v in refused_ids(stack).items() if k != "a widget's"}
    for label, session in list(refused.items()) + [("none", None), ("a REST id", signed_conversation())]:
        client = Client(stack.rasa)
        try:
            name, data = await client.join(session)
            assert name == "session_refused", label
            await client.sio.emit("user_uttered", {"message": "bonjour", "session_id": session})
            await asyncio.sleep(0.5)
            assert client.inbox.empty(), label
            if isinstance(session, str):
                assert stored_events(stack, session) == 0, label
        finally:
            await hang_up(client.sio)


async def test_a_second_socket_takes_the_conversation_over_and_the_first_hears_nothing_more(stack):
    session = stack.new_conversation(channel="socketio")
    first, second = Client(stack.rasa), Client(stack.rasa)
    try:
        assert (await first.join(session))[0] == "session_confirm"
        assert (await second.join(session))[0] == "session_confirm"
        name, data = await asyncio.wait_for(first.events.get(), 5)
        assert name == "session_taken_over" and data["text"]
        await second.sio.emit("user_uttered", {"message": "bonjour", "session_id": session})
        assert await asyncio.wait_for(second.inbox.get(), 15)
        await asyncio.sleep(1)
        assert first.inbox.empty()
        # the first socket was let go: the server closed it, and only the second one spoke
        for _ in range(50):
            if not first.sio.connected:
                break
            await asyncio.sleep(0.1)
        assert not first.sio.connected
        texts = [e.get("text") for e in stack.tracker(session)["events"] if e.get("event") == "user"]
        assert texts == ["bonjour"]
    finally:
        for c in (first, second):
            await hang_up(c.sio)
