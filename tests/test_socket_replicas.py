"""socket.io across Rasa replicas (issue 17): with NUMI_REDIS_URL, a message emitted by one
process reaches the customer's socket held by another (python-socketio's Redis manager, as
numi.channels.socket_manager configures it); without it, it does not. Real processes, real Redis."""
from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytestmark = [pytest.mark.redis, pytest.mark.slow]
ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


def _peers(redis_url):
    env = dict(os.environ, PYTHONPATH=str(ROOT), NUMI_SECRET="test-secret")
    env.pop("NUMI_REDIS_URL", None)
    if redis_url:
        env["NUMI_REDIS_URL"] = redis_url
    ports = [_free_port(), _free_port()]
    procs = [subprocess.Popen([sys.executable, "-m", "tests.helpers.socket_peer", str(p)], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for p in ports]
    deadline = time.monotonic() + 30
    for port in ports:
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    return ports, procs


async def _across(ports) -> list:
    import httpx
    import socketio

    got: list = []
    client = socketio.AsyncClient()
    client.on("bot_uttered", lambda data: got.append(data))
    joined = asyncio.Event()
    client.on("joined", lambda data: joined.set())
    room = f"conv-{uuid.uuid4().hex}"
    await client.connect(f"http://127.0.0.1:{ports[0]}", socketio_path="socket.io", transports=["polling"])
    await client.emit("join", {"room": room})
    await asyncio.wait_for(joined.wait(), 10)
    async with httpx.AsyncClient() as http:  # the agent's message arrives at the other replica
        await http.post(f"http://127.0.0.1:{ports[1]}/emit", json={"room": room, "text": "Bonjour, ici Camille"})
        await http.post(f"http://127.0.0.1:{ports[0]}/emit", json={"room": room, "text": "même réplique"})
    await asyncio.sleep(1.5)
    await client.disconnect()
    return got


@pytest.mark.parametrize("with_redis", [True, False])
async def test_an_agent_message_reaches_the_socket_on_another_replica(with_redis):
    if not _redis_up():
        pytest.skip("no Redis on 127.0.0.1:6379")
    ports, procs = _peers("redis://127.0.0.1:6379/6" if with_redis else None)
    try:
        got = await _across(ports)
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)
    texts = sorted(m["text"] for m in got)
    if with_redis:
        assert texts == ["Bonjour, ici Camille", "même réplique"]
    else:  # what Rasa 3.6 does on its own: the other replica's emit is lost
        assert texts == ["même réplique"]
