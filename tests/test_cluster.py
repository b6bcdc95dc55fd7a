"""`make cluster`: 2 Rasa replicas and 2 numi processes behind HAProxy, on free ports.

The cluster is started once for the module, as `make cluster` starts it (`python -m
numi.cluster start`, which returns once the load balancer answers), with its own run
directory, databases (numi_cluster_test, rasa_cluster_test) and Redis database (6). A chat
goes through the load balancer and both Rasa replicas serve it; socket.io's polling
transport works through it, pinned to one replica by HAProxy's cookie; `stop` leaves no
process behind. Skipped, with the reason, when HAProxy, PostgreSQL, Redis or RabbitMQ is
missing.
"""
from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

from numi import cluster
from numi.devstack import UNLIMITED, http

pytestmark = [pytest.mark.slow, pytest.mark.cluster]

ROOT = Path(__file__).resolve().parent.parent
RASA_TOKEN = "test-rasa-token"


def _free_ports(n: int) -> List[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _newest_model() -> Dict[str, str]:
    if os.environ.get("NUMI_MODEL") and Path(os.environ["NUMI_MODEL"]).exists():
        return {"NUMI_MODEL": os.environ["NUMI_MODEL"]}
    models = sorted((ROOT / "models").glob("*.tar.gz"), key=lambda p: p.stat().st_mtime, reverse=True)
    return {"NUMI_MODEL": str(models[0])} if models else {}  # none: the launcher trains one


def _cli(command: str, env: Dict[str, str], timeout: float = 600) -> "subprocess.CompletedProcess[str]":
    return subprocess.run([sys.executable, "-m", "numi.cluster", command], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


class Cluster:
    def __init__(self, env: Dict[str, str]) -> None:
        self.env = env
        self.topo = cluster.topology(env)
        self.lb = self.topo.lb_url
        self.start_seconds = 0.0
        self.killed: List[str] = []

    def stats(self) -> Dict[str, Dict[str, int]]:
        """backend/server -> HAProxy's counters for it (total sessions, 2xx answers)."""
        return {f"{r['pxname']}/{r['svname']}": {"stot": int(r["stot"] or 0), "2xx": int(r.get("hrsp_2xx") or 0)}
                for r in cluster.haproxy_stats(self.topo)}

    def conversation(self, channel: str = "rest") -> str:
        status, body = http("POST", f"{self.lb}/chat/conversations", {"channel": channel})
        assert status == 201, body
        conversation_id: str = body["conversation_id"]
        return conversation_id

    def say(self, sender: str, text: str) -> Any:
        status, body = http("POST", f"{self.lb}/webhooks/rest/webhook", {"sender": sender, "message": text})
        assert status == 200, body
        return body


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    run_dir = tmp_path_factory.mktemp("cluster")
    lb, actions_lb, r1, r2, n1, n2, a1, a2 = _free_ports(8)
    env = dict(os.environ, NUMI_LB_URL=f"http://127.0.0.1:{lb}", NUMI_RASA_REPLICAS="2", NUMI_REPLICAS="2",
               NUMI_CLUSTER_DIR=str(run_dir / "run"), NUMI_CLUSTER_ACTIONS_LB_PORT=str(actions_lb),
               NUMI_CLUSTER_RASA_PORTS=f"{r1},{r2}", NUMI_CLUSTER_NUMI_PORTS=f"{n1},{n2}",
               NUMI_CLUSTER_ACTION_PORTS=f"{a1},{a2}", NUMI_CLUSTER_START_TIMEOUT="400",
               NUMI_DATABASE_URL="postgresql://postgres@127.0.0.1:5432/numi_cluster_test",
               NUMI_TRACKER_URL="postgresql://postgres@127.0.0.1:5432/rasa_cluster_test",
               NUMI_REDIS_URL="redis://127.0.0.1:6379/6", NUMI_MAILBOX_DIR=str(run_dir / "mailbox"),
               NUMI_SECRET=os.environ.get("NUMI_SECRET", "test-secret"), NUMI_RASA_TOKEN=RASA_TOKEN,
               NUMI_ACTION_TOKEN=os.environ.get("NUMI_ACTION_TOKEN", "test-action-token"),
               NUMI_ADMIN_TOKEN="test-admin-token", PYTHONPATH=str(ROOT), **UNLIMITED, **_newest_model())
    for local in ("NUMI_LOCAL", "NUMI_DEMO", "NUMI_SCHEDULER", "NUMI_ALERTS"):
        env.pop(local, None)
    problems = cluster.missing_services(cluster.environment(env))
    if problems:
        pytest.skip(" ; ".join(problems))
    began = time.monotonic()
    started = _cli("start", env)
    c = Cluster(env)
    c.start_seconds = time.monotonic() - began
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        assert c.lb in started.stdout  # it prints where the load balancer answers
        print(f"\ncluster started in {c.start_seconds:.0f} s")
        yield c
    finally:
        _cli("stop", env, timeout=120)


def test_the_configuration_is_rendered_from_the_template_and_valid() -> None:
    env = cluster.environment(dict(os.environ, NUMI_RASA_REPLICAS="3", NUMI_REPLICAS="2"))
    topo = cluster.topology(env)
    text = cluster.render_haproxy(topo)
    assert text.count("server rasa") == 3 and text.count("server numi") == 4  # public + actions backends
    assert "bind 127.0.0.1:8080" in text and "0.0.0.0" not in text
    haproxy = cluster.haproxy_binary()
    if haproxy is None:
        pytest.skip(cluster.say("haproxy_missing"))
    cfg = Path(os.environ.get("TMPDIR", "/tmp")) / f"numi-haproxy-{os.getpid()}.cfg"
    cfg.write_text(text)
    try:
        checked = subprocess.run([haproxy, "-c", "-f", str(cfg)], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stdout + checked.stderr
    finally:
        cfg.unlink()


def test_a_missing_engine_is_named_in_french() -> None:
    closed = _free_ports(1)[0]
    assert cluster.check_postgres(f"postgresql://postgres@127.0.0.1:{closed}/postgres").startswith(
        f"PostgreSQL ne répond pas sur 127.0.0.1:{closed}")
    assert cluster.check_redis(f"redis://127.0.0.1:{closed}/0").startswith(
        f"Redis ne répond pas sur 127.0.0.1:{closed}")
    assert cluster.check_rabbitmq(f"amqp://guest:guest@127.0.0.1:{closed}/").startswith(
        f"RabbitMQ ne répond pas sur 127.0.0.1:{closed}")


def test_a_chat_through_the_load_balancer_is_served_by_both_rasa_replicas(running: Cluster) -> None:
    before = running.stats()
    conv = running.conversation()
    replies = [running.say(conv, text) for text in ("bonjour", "bonjour", "merci", "bonjour")]
    for reply in replies:
        assert reply and any(isinstance(m.get("text"), str) and m["text"] for m in reply), reply
    after = running.stats()
    for member in running.topo.rasa:  # round robin: both replicas answered messages of it
        key = f"rasa/{member.name}"
        assert after[key]["2xx"] > before[key]["2xx"], (member.name, before, after)
    # one conversation, whichever replica answered: the shared tracker store has every turn
    status, tracker = http("GET", f"{running.lb}/conversations/{conv}/tracker?token={RASA_TOKEN}")
    assert status == 200
    said = [e.get("text") for e in tracker["events"] if e.get("event") == "user"]
    assert said == ["bonjour", "bonjour", "merci", "bonjour"]
    # numi's side is spread too
    for _ in range(4):
        assert http("GET", f"{running.lb}/health")[0] == 200
    final = running.stats()
    assert all(final[f"numi/{m.name}"]["2xx"] > after[f"numi/{m.name}"]["2xx"] for m in running.topo.numi)


def _raw(method: str, url: str, cookie: str = "", body: bytes = b"") -> "tuple[int, str, str]":
    req = urllib.request.Request(url, data=body or None, method=method)
    if cookie:
        req.add_header("Cookie", cookie)
    if body:
        req.add_header("Content-Type", "text/plain;charset=UTF-8")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read().decode(), resp.headers.get("Set-Cookie", "")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), exc.headers.get("Set-Cookie", "")


def test_socketio_polling_is_pinned_to_one_replica(running: Cluster) -> None:
    name = running.topo.sticky_cookie
    base = f"{running.lb}/socket.io/?EIO=4&transport=polling"
    status, body, set_cookie = _raw("GET", base)
    assert status == 200 and body.startswith("0{"), body
    sid = body.split('"sid":"', 1)[1].split('"', 1)[0]
    assert set_cookie.startswith(f"{name}="), set_cookie
    pinned = set_cookie.split("=", 1)[1].split(";", 1)[0]
    other = next(m.name for m in running.topo.rasa if m.name != pinned)
    # the replica that does not hold the session refuses it: without the cookie, polling breaks
    assert _raw("POST", f"{base}&sid={sid}", f"{name}={other}", b"40")[0] == 400
    # with it, the session goes on (socket.io's connect packet, then its answer)
    assert _raw("POST", f"{base}&sid={sid}", f"{name}={pinned}", b"40")[:2] == (200, "OK")
    status, body, _ = _raw("GET", f"{base}&sid={sid}", f"{name}={pinned}")
    assert status == 200 and body.startswith("40"), body


async def _socketio_chat(lb: str, conversation: str, cookie: str) -> Dict[str, Any]:
    import aiohttp
    import socketio

    # aiohttp keeps no cookie of an IP address unless told to (browsers do keep it)
    session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    sio = socketio.AsyncClient(http_session=session)
    loop = asyncio.get_running_loop()
    confirmed: "asyncio.Future[Any]" = loop.create_future()
    uttered: "asyncio.Future[Any]" = loop.create_future()
    sio.on("session_confirm", lambda data: confirmed.done() or confirmed.set_result(data))
    sio.on("session_refused", lambda data: confirmed.done() or confirmed.set_exception(AssertionError(data)))
    sio.on("bot_uttered", lambda data: uttered.done() or uttered.set_result(data))
    try:
        await sio.connect(lb, transports=["polling"], socketio_path="socket.io", wait_timeout=20)
        await sio.emit("session_request", {"session_id": conversation})
        assert await asyncio.wait_for(confirmed, 30) == conversation
        await sio.emit("user_uttered", {"message": "bonjour", "session_id": conversation})
        reply = await asyncio.wait_for(uttered, 90)
        cookies = {c.key: c.value for c in session.cookie_jar}
        return {"reply": reply, "transport": sio.transport(), "replica": cookies.get(cookie)}
    finally:
        await sio.disconnect()
        await session.close()


async def test_socketio_chat_through_the_load_balancer(running: Cluster) -> None:
    conversations = [running.conversation("socketio") for _ in range(2)]
    results = [await _socketio_chat(running.lb, conv, running.topo.sticky_cookie) for conv in conversations]
    for result in results:
        assert result["transport"] == "polling"
        assert isinstance(result["reply"], dict) and result["reply"].get("text"), result
    # the two sessions were spread over the two replicas, each pinned to its own
    assert {r["replica"] for r in results} == {m.name for m in running.topo.rasa}


async def _socket_session(lb: str, conversation: str, cookie: str, got: List[Any]) -> Any:
    import aiohttp
    import socketio

    session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    sio = socketio.AsyncClient(http_session=session)
    confirmed = asyncio.get_running_loop().create_future()
    sio.on("session_confirm", lambda data: confirmed.done() or confirmed.set_result(data))
    sio.on("bot_uttered", lambda data: got.append(data))
    await sio.connect(lb, transports=["polling"], socketio_path="socket.io", wait_timeout=20)
    await sio.emit("session_request", {"session_id": conversation})
    await asyncio.wait_for(confirmed, 30)
    replica = {c.key: c.value for c in session.cookie_jar}.get(cookie)
    return sio, session, replica


async def test_an_agents_messages_reach_the_customer_from_either_replica(running: Cluster) -> None:
    """The customer's socket is held by one replica; the agent's messages are emitted by each
    replica in turn (called directly, not through the load balancer): all of them arrive
    (python-socketio's Redis manager; Rasa alone loses those of the other replica)."""
    from numi.rasa_client import RasaClient

    conv = running.conversation("socketio")
    got: List[Any] = []
    sio, session, replica = await _socket_session(running.lb, conv, running.topo.sticky_cookie, got)
    try:
        assert replica in {m.name for m in running.topo.rasa}
        await sio.emit("user_uttered", {"message": "bonjour", "session_id": conv})  # the socket is its channel
        deadline = time.monotonic() + 60
        while not got and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        assert got, "the bot answered on the socket"
        got.clear()
        for i, member in enumerate(running.topo.rasa * 2):
            rasa = RasaClient(f"http://127.0.0.1:{member.port}", RASA_TOKEN)
            await rasa.system_event(conv, {"type": "agent_message", "author": "Camille", "text": f"message {i}"})
        deadline = time.monotonic() + 30
        while len(got) < 4 and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
    finally:
        await sio.disconnect()
        await session.close()
    texts = [m.get("text", "") for m in got]
    assert [f"message {i}" in t for i, t in enumerate(texts)] == [True] * 4, texts


def test_kill_9_of_a_rasa_and_a_numi_process_under_load_loses_nothing(running: Cluster) -> None:
    """The short failure run of `make bench-cluster`: conversations through the load balancer,
    one Rasa replica and the numi process holding the scheduler's lease killed (SIGKILL) while
    they run. Every message answered (some after a retry), in order, once; no ticket, e-mail,
    alert or signal twice; every message analysed; another numi process takes the scheduler."""
    from numi import loadgen

    result = loadgen.failure_run(running.topo, conversations=40, concurrency=8, rasa_token=RASA_TOKEN,
                                 kill_after=(2.0, 4.0))
    print("\nfailure run:", result)
    running.killed = [k for k in result["killed"] if k.startswith(("rasa", "numi"))]
    assert len(running.killed) == 2, result
    assert result["load"]["unanswered"] == 0 and result["answered"] == result["sent"] == 200, result
    assert result["load"]["seconds"] > 4.0, "the kills happened during the load"
    assert result["lost"] == result["duplicated"] == result["out_of_order"] == 0, result
    for what in ("tickets_duplicated", "emails_duplicated", "alerts_duplicated", "signals_duplicated",
                 "signals_missing"):
        assert result[what] == 0, (what, result)
    assert result["tickets"] >= 40 and result["alerts"] >= 1, result
    assert "scheduler_takeover_s" in result["killed"], result  # another process holds the lease


def test_stop_leaves_no_process_and_is_idempotent(running: Cluster) -> None:
    recorded = cluster.recorded(running.topo)
    assert set(recorded) == {"haproxy", "rasa1", "rasa2", "numi1", "numi2"}
    # all alive but those the failure test killed (stop copes with both)
    assert {n for n, (pid, started) in recorded.items() if not cluster.alive(pid, started)} == set(running.killed)
    children = {pid: cluster._group_members(pid) for pid, _ in recorded.values()}
    assert any(len(members) > 1 for members in children.values())  # numi1's alerts worker, at least
    began = time.monotonic()
    stopped = _cli("stop", running.env, timeout=120)
    seconds = time.monotonic() - began
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    print(f"\ncluster stopped in {seconds:.1f} s (started in {running.start_seconds:.0f} s)")
    for pid, started in recorded.values():
        assert not cluster.alive(pid, started)
        assert cluster._group_members(pid) == []  # nor any of its children
    assert cluster.busy_ports(running.topo) == []
    assert not list((running.topo.run_dir / "pids").glob("*.pid"))
    again = _cli("stop", running.env, timeout=60)
    assert again.returncode == 0 and cluster.say("nothing_to_stop", run_dir=running.topo.run_dir) in again.stdout
