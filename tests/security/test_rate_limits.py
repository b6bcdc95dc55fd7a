"""Point 5 of the trust issue: floods get 429, everyone else stays fast. A stack with the
limits of a real deployment (small ones, so that the test is short)."""
import asyncio
import time
import uuid

import pytest
import socketio

from tests.security.conftest import hang_up
from numi.devstack import Stack, http, signed_conversation
from numi.ratelimit import Limiter
from numi.settings import RateLimits

pytestmark = pytest.mark.slow
LIMITS = {"NUMI_RATE_CONVERSATION": "5/10 seconds", "NUMI_RATE_ADDRESS": "60/10 seconds",
          "NUMI_RATE_PUBLIC": "10/minute"}


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    s = Stack(tmp_path_factory.mktemp("limited"), extra_env=LIMITS).start()
    yield s
    s.stop()


def test_a_flood_from_one_conversation_gets_429_and_others_are_served(limited):
    flooder, other = signed_conversation(), signed_conversation()
    answers = [limited.say(flooder, f"message {i}") for i in range(30)]
    statuses = [a[0] for a in answers]
    assert statuses[:5] == [200] * 5 and statuses.count(429) == 25
    refused = next(a[1] for a in answers if a[0] == 429)
    assert "Patientez" in refused[0]["text"]  # a short French message, in the shape of a reply
    tracker = limited.tracker(flooder)
    assert len([e for e in tracker["events"] if e.get("event") == "user"]) == 5  # the rest never reached the bot
    start = time.perf_counter()
    status, reply = limited.say(other, "bonjour")
    assert status == 200 and reply and time.perf_counter() - start < 5


def test_new_conversations_from_one_address_are_limited(limited):
    statuses = [http("POST", f"{limited.numi}/chat/conversations", {})[0] for _ in range(14)]
    assert statuses.count(201) <= 10 and statuses[-1] == 429
    status, body = http("POST", f"{limited.numi}/chat/conversations", {})
    assert status == 429 and body["code"] == "rate_limited" and "patienter" in body["error"]


async def test_a_socket_flood_gets_a_polite_message(limited):
    session = signed_conversation(channel="socketio")
    sio, inbox = socketio.AsyncClient(), asyncio.Queue()
    confirmed = asyncio.get_running_loop().create_future()
    sio.on("bot_uttered", lambda data: inbox.put_nowait(data))
    sio.on("session_confirm", lambda sid: confirmed.done() or confirmed.set_result(sid))
    await sio.connect(limited.rasa, socketio_path="/socket.io", transports=["polling"])
    try:
        await sio.emit("session_request", {"session_id": session})
        await asyncio.wait_for(confirmed, 10)
        for i in range(12):
            await sio.emit("user_uttered", {"message": f"spam {i}", "session_id": session})
        texts = []
        deadline = time.time() + 20
        while time.time() < deadline and not any("Patientez" in t for t in texts):
            try:
                texts.append((await asyncio.wait_for(inbox.get(), 2)).get("text") or "")
            except asyncio.TimeoutError:
                break
        assert any("Patientez" in t for t in texts)
    finally:
        await hang_up(sio)
    users = []
    for _ in range(50):  # the five accepted messages are answered one after the other
        users = [e for e in limited.tracker(session)["events"] if e.get("event") == "user"]
        if len(users) >= 5:
            break
        await asyncio.sleep(0.2)
    await asyncio.sleep(0.5)
    assert len([e for e in limited.tracker(session)["events"] if e.get("event") == "user"]) == 5


@pytest.mark.redis
def test_processes_share_their_counts_through_redis():
    import redis

    try:
        redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=1).ping()
    except redis.exceptions.RedisError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    limits = RateLimits(conversation="4/10 seconds")
    first, second = (Limiter(limits, "redis://127.0.0.1:6379/3") for _ in range(2))
    key = uuid.uuid4().hex
    assert [first.hit("conversation", key) for _ in range(2)] == [True, True]
    assert [second.hit("conversation", key) for _ in range(3)] == [True, True, False]
    assert not first.hit("conversation", key)
    assert Limiter(limits).hit("conversation", key)  # in memory: a process of its own
