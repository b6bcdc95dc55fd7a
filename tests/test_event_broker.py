"""Issue 17: customer messages through Rasa's event broker, with the real RabbitMQ (127.0.0.1:5672)
and the numi database on SQLite and PostgreSQL. Events are written as Rasa writes them: Rasa's
SQLTrackerStore, its event broker made by Rasa's factory from config/endpoints.cluster.yml (a
unique queue and exchange per test, deleted afterwards), publishing before the store commits.

* every customer message gives its alert, once; the other events are acknowledged;
* the consumer killed (SIGKILL, a real process) after its commit but before any ack: the
  restarted one gets every message again and processes none twice, nothing is lost;
* malformed messages are acknowledged, logged without their content, and do not block the queue;
* an event never published (Rasa was not connected) or published before a row that lands late
  is found by the reconciliation; the poller and the consumer never both process one message;
* neither the broker's password nor a message's text reaches the logs."""
from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import List, Optional, Tuple
from urllib.parse import urlsplit

import aio_pika
import pytest
import yaml
from rasa.core.brokers.broker import EventBroker
from rasa.core.brokers.pika import PikaEventBroker
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import read_endpoint_config
from sqlalchemy import create_engine, func, select

from numi.alerts import consumer, ingest
from numi.rasa_patches import broker as broker_mod
from numi.clock import utcnow
from numi.db import models as m
from numi.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
CLUSTER = ROOT / "config" / "endpoints.cluster.yml"
AMQP_URL = os.environ.get("NUMI_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
LEAVER = "CLT-00321"  # a demo customer (perimeter particuliers)
CHURN = "J'en ai marre, je vais résilier mon abonnement"


def _rabbitmq_up() -> bool:
    parts = urlsplit(AMQP_URL)
    try:
        socket.create_connection((parts.hostname, parts.port or 5672), timeout=2).close()
        return True
    except OSError:
        return False


def with_rabbitmq(test):
    """The real RabbitMQ, or the test is skipped, saying why."""
    reason = f"RabbitMQ unreachable at {consumer.where(AMQP_URL)} (set NUMI_TEST_AMQP_URL)"
    return pytest.mark.rabbitmq(pytest.mark.skipif(not _rabbitmq_up(), reason=reason)(test))


# ------------------------------------------------------------------ configuration (no server)
def test_cluster_endpoints_are_endpoints_yml_plus_the_event_broker():
    single = yaml.safe_load((ROOT / "endpoints.yml").read_text(encoding="utf-8"))
    cluster = yaml.safe_load(CLUSTER.read_text(encoding="utf-8"))
    assert "event_broker" not in single  # the single-process default needs no RabbitMQ
    assert {k: v for k, v in cluster.items() if k != "event_broker"} == single
    broker = cluster["event_broker"]
    assert broker["queues"] == [consumer.QUEUE] and broker["exchange_name"] == consumer.EXCHANGE
    assert broker["url"] == "${NUMI_AMQP_URL}" and "password" not in broker
    assert broker["should_keep_unpublished_messages"] is True
    module, _, name = broker["type"].rpartition(".")
    assert issubclass(getattr(__import__(module, fromlist=[name]), name), PikaEventBroker)


def test_amqp_url_setting():
    assert Settings.from_env(env={"NUMI_AMQP_URL": AMQP_URL}).amqp_url == AMQP_URL
    assert Settings.from_env(env={}).amqp_url is None
    assert "guest@" not in repr(Settings.from_env(env={"NUMI_AMQP_URL": AMQP_URL}))


def test_broker_url_keeps_its_password_out_of_the_host():
    broker = broker_mod.NumiPikaEventBroker("amqps://numi:p%40ss%2Fw@mq.example:5671/prod?heartbeat=30",
                                          queues=["q"], event_loop=asyncio.new_event_loop())
    assert "p%40ss" not in broker.host and "p@ss" not in broker.host and "numi" not in broker.host
    assert broker.host == "amqps://mq.example:5671/prod"
    assert broker._configure_url() == "amqps://numi:p%40ss%2Fw@mq.example:5671/prod?heartbeat=30"
    assert (broker.username, broker.password, broker.port) == ("numi", "p@ss/w", 5671)


# ------------------------------------------------------------------ helpers
@pytest.fixture
async def names():
    """A queue and an exchange of this test's own, deleted afterwards."""
    tag = uuid.uuid4().hex[:10]
    queue, exchange = f"numi_test_{tag}", f"numi-test-{tag}"
    yield queue, exchange
    connection = await aio_pika.connect_robust(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        await channel.queue_delete(queue)
        await channel.exchange_delete(exchange)


async def rasa_broker(monkeypatch, queue: str, exchange: str) -> EventBroker:
    """The event broker Rasa makes from config/endpoints.cluster.yml (its own factory), on this
    test's queue and exchange."""
    monkeypatch.setenv("NUMI_AMQP_URL", AMQP_URL)
    monkeypatch.setenv("NUMI_ACTION_URL", "http://127.0.0.1:9/webhook")
    monkeypatch.setenv("NUMI_ACTION_TOKEN", "test-action-token")
    config = read_endpoint_config(str(CLUSTER), "event_broker")
    config.kwargs.update(queues=[queue], exchange_name=exchange)
    broker = await EventBroker.create(config)
    assert isinstance(broker, broker_mod.NumiPikaEventBroker) and broker.is_ready()
    return broker


async def published(broker) -> None:
    """Wait until the broker's background publishes are done (Rasa does not wait for them)."""
    for _ in range(200):
        if not broker._background_tasks:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("events still being published")


async def rasa_saves(store: SQLTrackerStore, conversations: List[Tuple[str, str]],
                     stamp: Optional[float] = None) -> None:
    """Each conversation's turn as Rasa records it: action_listen, the customer's message (with
    Rasa's message id and numi's metadata), the bot's answer; publish first, then commit."""
    for conv, words in conversations:
        tracker = DialogueStateTracker(conv, slots=[])
        tracker.update(ActionExecuted("action_listen"))
        tracker.update(UserUttered(words, {"name": "threaten_churn", "confidence": 0.97},
                                   message_id=uuid.uuid4().hex, timestamp=stamp,
                                   metadata={"numi": {"mode": "customer", "customer_id": LEAVER}}))
        tracker.update(BotUttered("Je comprends, je transmets à un conseiller."))
        await store.save(tracker)
    if store.event_broker is not None:
        await published(store.event_broker)


async def ready_count(queue: str) -> int:
    connection = await aio_pika.connect_robust(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, durable=True, passive=True)
        return declared.declaration_result.message_count


def signals_by_text(services) -> dict:
    with services.sessions() as s:
        rows = s.execute(select(m.MessageSignal.text, func.count()).where(m.MessageSignal.text.like(f"{CHURN}%"))
                         .group_by(m.MessageSignal.text)).all()
    return {t: n for t, n in rows}


def attrition_alerts(services) -> List[Tuple[int, str]]:
    with services.sessions() as s:
        return sorted(s.execute(select(m.Alert.id, m.Alert.conversation_id)
                                .where(m.Alert.rule == "attrition_explicit")).all())


def consume(services, tracker, names, **kwargs):
    queue, exchange = names
    kwargs.setdefault("until_idle", 1.5)
    return consumer.consume(services, tracker, AMQP_URL, queue=queue, exchange=exchange, **kwargs)


@pytest.fixture
def tracker_db(tmp_path):
    path = tmp_path / "tracker.db"
    engine = create_engine(f"sqlite:///{path}", future=True)
    yield path, engine
    engine.dispose()


def conversations(n: int, tag: str) -> List[Tuple[str, str]]:
    return [(f"web-{tag}-{k}", f"{CHURN} n°{k} ({tag})") for k in range(n)]


# ------------------------------------------------------------------ with RabbitMQ
@with_rabbitmq
async def test_one_alert_per_message(services, tracker_db, names, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    path, engine = tracker_db
    broker = await rasa_broker(monkeypatch, *names)
    try:
        convs = conversations(4, "one")
        await rasa_saves(SQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(path), event_broker=broker), convs)
    finally:
        await broker.close()
    assert await ready_count(names[0]) == 3 * len(convs)  # every event of every turn, on the queue
    stats = await consume(services, engine, names)
    assert (stats.received, stats.processed, stats.ignored, stats.already_done) == (12, 4, 8, 0), stats
    assert signals_by_text(services) == {words: 1 for _, words in convs}
    assert sorted(c for _, c in attrition_alerts(services)) == sorted(c for c, _ in convs)  # one each
    assert await ready_count(names[0]) == 0  # all acknowledged
    again = await consume(services, engine, names, until_idle=0.5)
    assert again.received == 0 and len(attrition_alerts(services)) == 4
    logs = caplog.text
    assert ":guest@" not in logs and CHURN not in logs  # no password, no message text


CHILD = r'''
import asyncio, sys, time
from pathlib import Path
import aio_pika.message
from sqlalchemy import create_engine
from numi import runtime
from numi.alerts import consumer
from numi.rasa_patches import broker as broker_mod
from numi.settings import Settings

database_url, tracker_path, amqp_url, queue, exchange, marker, mailbox = sys.argv[1:]


async def stuck_ack(self, multiple=False):
    Path(marker).write_text("committed, nothing acknowledged")
    time.sleep(3600)  # the test kills this process here: after the commit, before any ack


aio_pika.message.IncomingMessage.ack = stuck_ack
services = runtime.init(Settings.from_env(env={}, database_url=database_url, secret="test-secret",
                                          mailbox_dir=Path(mailbox), scheduler_enabled=False))
tracker = create_engine(f"sqlite:///{tracker_path}", future=True)
asyncio.run(consumer.consume(services, tracker, amqp_url, queue=queue, exchange=exchange, linger=2.0,
                             until_idle=600))
'''


@with_rabbitmq
async def test_consumer_killed_before_ack_then_restarted(services, settings, tracker_db, names, monkeypatch,
                                                          tmp_path):
    path, engine = tracker_db
    broker = await rasa_broker(monkeypatch, *names)
    try:
        convs = conversations(5, "kill")
        await rasa_saves(SQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(path), event_broker=broker), convs)
    finally:
        await broker.close()
    published_count = await ready_count(names[0])
    assert published_count == 15
    script, marker = tmp_path / "child.py", tmp_path / "committed"
    script.write_text(CHILD, encoding="utf-8")
    child = subprocess.Popen([sys.executable, str(script), settings.database_url, str(path), AMQP_URL, *names,
                              str(marker), str(tmp_path / "mailbox")], cwd=ROOT,
                             env={**os.environ, "PYTHONPATH": str(ROOT)}, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 240
        while not marker.exists():
            assert child.poll() is None, child.stderr.read().decode()[-3000:]
            assert time.monotonic() < deadline, "the consumer never committed"
            await asyncio.sleep(0.2)
        before = attrition_alerts(services)
        assert signals_by_text(services) == {words: 1 for _, words in convs}  # processed, committed
        assert len(before) == 5
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(30)
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL
    for _ in range(50):  # the broker takes the dead consumer's deliveries back
        if await ready_count(names[0]) == published_count:
            break
        await asyncio.sleep(0.1)
    assert await ready_count(names[0]) == published_count  # nothing was acknowledged, nothing lost
    stats = await consume(services, engine, names)
    assert stats.received == stats.redelivered == published_count, stats
    assert (stats.processed, stats.already_done) == (0, 5), stats  # redelivered: no-ops
    assert signals_by_text(services) == {words: 1 for _, words in convs}  # no duplicate
    assert attrition_alerts(services) == before
    with services.sessions() as s:
        emails = s.scalar(select(func.count()).select_from(m.OutboxMessage).where(m.OutboxMessage.kind == "alert"))
        keys = s.scalars(select(m.OutboxMessage.key).where(m.OutboxMessage.kind == "alert")).all()
    assert emails == len(set(keys)) and emails > 0
    assert await ready_count(names[0]) == 0


@with_rabbitmq
async def test_malformed_messages_do_not_block_the_queue(services, tracker_db, names, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    path, engine = tracker_db
    broker = await rasa_broker(monkeypatch, *names)
    secret_words = "PAS-DU-JSON mon IBAN FR76"
    try:
        for body in [b"{" + secret_words.encode(), b"\xff\xfe\x00", b'["une liste"]',
                     json.dumps({"event": "user", "text": secret_words}).encode(),  # no sender, no time
                     json.dumps({"event": "user", "sender_id": "x", "timestamp": "hier"}).encode()]:
            await broker._exchange.publish(aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT), "")
        convs = conversations(1, "poison")
        await rasa_saves(SQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(path), event_broker=broker), convs)
    finally:
        await broker.close()
    stats = await consume(services, engine, names)
    assert (stats.malformed, stats.processed, stats.ignored) == (5, 1, 2), stats
    assert signals_by_text(services) == {convs[0][1]: 1}
    assert await ready_count(names[0]) == 0  # acknowledged: never redelivered, never looping
    logs = caplog.text
    assert "malformed message" in logs
    assert secret_words not in logs and "IBAN" not in logs and CHURN not in logs and ":guest@" not in logs


@with_rabbitmq
async def test_published_before_a_late_commit_then_reconciled(services, tracker_db, names, monkeypatch):
    """Rasa publishes before its store commits: a row that is not there within the settle time
    is acknowledged without an alert (the tracker store does not hold it), and the
    reconciliation processes it once it lands; the consumer then sees it as done."""
    path, engine = tracker_db
    broker = await rasa_broker(monkeypatch, *names)
    conv, words = conversations(1, "late")[0]
    tracker = DialogueStateTracker(conv, slots=[])
    tracker.update(UserUttered(words, {"name": "threaten_churn", "confidence": 0.97}, message_id=uuid.uuid4().hex,
                               metadata={"numi": {"mode": "customer", "customer_id": LEAVER}}))
    try:
        store = SQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(path), event_broker=broker)
        await store.stream_events(tracker)  # what save() does first; its commit has not happened
        await published(broker)
        stats = await consume(services, engine, names, settle_seconds=1.0)
        assert (stats.received, stats.unresolved, stats.processed) == (1, 1, 0), stats
        assert signals_by_text(services) == {}
        store.event_broker = None
        await store.save(tracker)  # the row lands, late
        assert consumer.reconcile(services, engine) == 1
        assert consumer.reconcile(services, engine) == 0
        assert signals_by_text(services) == {words: 1}
        broker.publish({"sender_id": conv, **tracker.events[-1].as_dict()})  # published again, e.g. after a restart
        await published(broker)
    finally:
        await broker.close()
    stats = await consume(services, engine, names)
    assert (stats.processed, stats.already_done) == (0, 1), stats
    assert signals_by_text(services) == {words: 1} and len(attrition_alerts(services)) == 1


# ------------------------------------------------------------------ reconciliation (no RabbitMQ needed)
async def test_reconciliation_finds_what_was_never_published_and_shares_the_pollers_keys(services, tracker_db):
    path, engine = tracker_db
    store = SQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(path))  # no broker: never published
    first = conversations(2, "never")
    await rasa_saves(store, first)
    with services.sessions() as s, s.begin():  # the id-cursor poller has read past these rows already
        s.add(m.Meta(key=ingest.CURSOR, value="1000"))
    assert ingest.run(services, engine) == 0  # … so it would never see them
    assert consumer.reconcile(services, engine) == 2
    assert consumer.reconcile(services, engine) == 0  # idempotent
    assert signals_by_text(services) == {words: 1 for _, words in first}
    with services.sessions() as s, s.begin():  # the poller from the start: the same keys, no double
        s.get(m.Meta, ingest.CURSOR).value = "0"
    second = conversations(1, "poller")
    await rasa_saves(store, second)
    assert ingest.run(services, engine) == 3  # reads the three rows, processes the new one only
    assert consumer.reconcile(services, engine) == 0
    assert signals_by_text(services) == {words: 1 for _, words in first + second}
    assert len(attrition_alerts(services)) == 3


async def test_reconciliation_catches_up_after_a_stop_and_keeps_to_its_window(services, tracker_db):
    path, engine = tracker_db
    store = SQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(path))
    start = utcnow()
    assert consumer.reconcile(services, engine, now=start) == 0  # a complete pass, at `start`

    def epoch(at):
        return (at - consumer.EPOCH).total_seconds()

    while_stopped = conversations(1, "stopped")  # the worker is stopped for five hours meanwhile
    await rasa_saves(store, while_stopped, stamp=epoch(start + timedelta(hours=1)))
    assert consumer.reconcile(services, engine, now=start + timedelta(hours=5)) == 1  # back to the last pass
    assert signals_by_text(services) == {while_stopped[0][1]: 1}
    old = conversations(1, "old")  # older than the window and than the last pass: not re-read
    await rasa_saves(store, old, stamp=epoch(start + timedelta(hours=1)))
    assert consumer.reconcile(services, engine, now=start + timedelta(hours=10)) == 0
    assert signals_by_text(services) == {while_stopped[0][1]: 1}
