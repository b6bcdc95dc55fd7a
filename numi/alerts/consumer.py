"""Customer messages through Rasa's event broker (issue 17), for several Rasa writers.

Rasa publishes every tracker event to RabbitMQ (config/endpoints.cluster.yml: the fanout
exchange EXCHANGE and numi's durable queue QUEUE); the alerts worker consumes that queue
(`serve`, started by numi/alerts/worker.py when NUMI_AMQP_URL is set), and a periodic
reconciliation re-reads the tracker store (`reconcile`), so that a message is neither lost nor
processed twice. The id-cursor poller (numi/alerts/ingest.py) skips a row whose lower id
commits after a higher one has been read; none of this relies on ids being committed in order.

* Same processing and same key as the poller. A published user event is matched to its row of
  Rasa's `events` table (sender_id, type `user`, timestamp and Rasa's message_id), then
  processed from that row exactly as ingest.py does, under the poller's idempotency key
  `tracker:<row id>`. The poller, the consumer and the reconciliation therefore never process
  one message twice, even side by side or while a deployment switches from one to the other.
* Rasa publishes *before* its tracker store commits. An event whose row is not there yet stays
  unacknowledged and is looked up again, for SETTLE_SECONDS; one still missing then (Rasa could
  not write it: the row is written later, or never) is acknowledged and left to the
  reconciliation, which processes the row if and when it lands. An alert is thus never raised
  for a message the tracker store does not hold.
* Manual acknowledgement, only once the alert engine's transaction has committed. A crash
  between the commit and the ack means a redelivery, whose key exists: a no-op. A malformed
  message is acknowledged and logged by its size alone; a message's text is never logged.
* Reconciliation: the user events of the last RECONCILE_WINDOW_MINUTES (or since the last
  complete pass, when the worker was stopped for longer, up to MAX_CATCH_UP) whose key has not
  been processed. Rasa drops the events it cannot publish before it is connected, and loses the
  ones it kept in memory when it restarts: this pass finds them, within RECONCILE_SECONDS.
* NumiPikaEventBroker (numi/rasa_patches/broker.py, the `event_broker` of config/endpoints.cluster.yml): Rasa's
  PikaEventBroker configured by the one URL NUMI_AMQP_URL, whose logs name the server without
  its password and never carry an event.
"""
from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import aio_pika
from sqlalchemy import bindparam, select, text
from sqlalchemy.engine import Engine

from numi.alerts import ingest
from numi.alerts.housekeeping import housekeeping
from numi.clock import utcnow
from numi.db import models as m
from numi.rasa_patches.broker import where

log = logging.getLogger(__name__)

QUEUE = "numi_events"  # as config/endpoints.cluster.yml names it (tests/test_event_broker.py checks)
EXCHANGE = "rasa-exchange"
SETTLE_SECONDS = 10.0  # how long a published event may wait for its tracker store row
BATCH = 100  # messages analysed together (the emotion and theme models predict a batch at once)
RECONCILE_SECONDS = 60.0
RECONCILE_WINDOW_MINUTES = 30
MAX_CATCH_UP = timedelta(days=7)
RECONCILED = "alerts_reconciled_at"  # numi_meta: when the last complete reconciliation started
EPOCH = datetime(1970, 1, 1)
ROW_QUERY = "SELECT id, sender_id, timestamp, data FROM events WHERE type_name = 'user'"


def key_of(row: Any) -> str:
    """The idempotency key of a tracker store row: the poller's (numi/alerts/ingest.py)."""
    return f"tracker:{row.id}"


# ------------------------------------------------------------------ the processing
def process_rows(services, rows: Sequence[Any]) -> Tuple[int, int]:
    """The alert engine over tracker store rows (id, sender_id, timestamp, data of user events),
    exactly as the poller does it: the rows already processed are skipped, the others
    predicted as one batch, then written in one transaction. Returns (processed, already done).
    Raises when that transaction cannot commit (nothing is then acknowledged)."""
    unique = sorted({row.id: row for row in rows}.values(), key=lambda row: row.id)
    keys = [key_of(row) for row in unique]
    if not keys:
        return 0, 0
    scenarios: Dict[str, Optional[str]] = {}
    customers: Dict[str, Optional[str]] = {}
    with services.sessions() as s:
        seen = set(s.scalars(select(m.MessageSignal.event_key).where(m.MessageSignal.event_key.in_(keys))))
        fresh = [row for row in unique if key_of(row) not in seen]
        messages = [ingest._message(row, services.library, scenarios, customers, s) for row in fresh]
    if any(msg is not None for msg in messages):
        ingest.analyse(services, messages)
    return len(fresh), len(rows) - len(fresh)


def _message_id(row: Any) -> Optional[str]:
    try:
        data = json.loads(row.data) if isinstance(row.data, str) else (row.data or {})
    except ValueError:
        return None
    return data.get("message_id") if isinstance(data, dict) else None


def resolve(tracker: Engine, events: Sequence[Dict[str, Any]]) -> List[Optional[Any]]:
    """The tracker store row of each published user event (None: not committed yet, or never)."""
    if not events:
        return []
    stamps = [float(e["timestamp"]) for e in events]
    query = text(ROW_QUERY + " AND sender_id IN :senders AND timestamp >= :lo AND timestamp <= :hi") \
        .bindparams(bindparam("senders", expanding=True))
    with tracker.connect() as conn:
        rows = conn.execute(query, {"senders": sorted({e["sender_id"] for e in events}),
                                    "lo": min(stamps) - 1, "hi": max(stamps) + 1}).fetchall()
    found: List[Optional[Any]] = []
    for event, stamp in zip(events, stamps):
        same = [r for r in rows if r.sender_id == event["sender_id"] and r.timestamp is not None
                and abs(float(r.timestamp) - stamp) < 1e-6]
        if event.get("message_id"):
            same = [r for r in same if _message_id(r) == event["message_id"]]
        found.append(min(same, key=lambda r: r.id) if same else None)
    return found


def reconcile(services, tracker: Engine, now: Optional[datetime] = None,
              window_minutes: float = RECONCILE_WINDOW_MINUTES, limit: int = 500) -> int:
    """Process the user events of the tracker store that no path has processed yet, by key: those
    of the last `window_minutes`, or since the last complete pass (minus the window) when that
    is older. Idempotent; returns how many messages it processed."""
    now = now or utcnow()
    window = timedelta(minutes=window_minutes)
    with services.sessions() as s:
        mark = s.get(m.Meta, RECONCILED)
        last = datetime.fromisoformat(mark.value) if mark is not None else None
    since = now - window if last is None else max(min(now, last) - window, now - MAX_CATCH_UP)
    after, processed = 0, 0
    while True:
        with tracker.connect() as conn:
            rows = conn.execute(text(ROW_QUERY + " AND timestamp >= :since AND id > :after ORDER BY id LIMIT :limit"),
                                {"since": (since - EPOCH).total_seconds(), "after": after,
                                 "limit": limit}).fetchall()
        if rows:
            processed += process_rows(services, rows)[0]
            after = rows[-1].id
        if len(rows) < limit:
            break
    with services.sessions() as s, s.begin():
        mark = s.get(m.Meta, RECONCILED)
        if mark is None:
            s.add(m.Meta(key=RECONCILED, value=now.isoformat()))
        else:
            mark.value = now.isoformat()
    if processed:
        log.info("alerts: the reconciliation processed %d message(s) the event broker had not delivered", processed)
    return processed


# ------------------------------------------------------------------ the consumer
MALFORMED, OTHER, USER = "malformed", "other", "user"


def classify(body: bytes) -> Tuple[str, Optional[Dict[str, Any]]]:
    """(MALFORMED | OTHER | USER, the event): only user events with a text matter to alerts
    (bot, action, slot… events are acknowledged as they come)."""
    try:
        event = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return MALFORMED, None
    if not isinstance(event, dict):
        return MALFORMED, None
    if event.get("event") != "user":
        return OTHER, None
    stamp = event.get("timestamp")
    if not isinstance(event.get("sender_id"), str) or isinstance(stamp, bool) \
            or not isinstance(stamp, (int, float)):
        return MALFORMED, None
    words = event.get("text")
    if not isinstance(words, str) or not words.strip():
        return OTHER, None  # nothing to analyse (the poller skips these rows too)
    return USER, event


@dataclass
class Stats:
    received: int = 0
    redelivered: int = 0
    processed: int = 0  # messages analysed (alerts raised where the rules said so)
    already_done: int = 0  # redeliveries and messages another path had processed: no-ops
    ignored: int = 0  # not a customer message
    malformed: int = 0
    unresolved: int = 0  # never found in the tracker store: left to the reconciliation
    failed_passes: int = 0

    def as_dict(self) -> Dict[str, int]:
        return asdict(self)


@dataclass
class _Held:
    message: Any  # aio_pika IncomingMessage
    event: Dict[str, Any]
    since: float
    row: Any = field(default=None)


async def declare(channel: Any, queue: str = QUEUE, exchange: str = EXCHANGE) -> Any:
    """The queue, declared and bound exactly as Rasa's PikaEventBroker does it (a fanout exchange,
    a durable queue), so that whichever starts first, no event is routed nowhere."""
    ex = await channel.declare_exchange(exchange, type=aio_pika.ExchangeType.FANOUT)
    q = await channel.declare_queue(queue, durable=True)
    await q.bind(ex, "")
    return q


async def _gather(inbox: "asyncio.Queue[Any]", size: int, wait: float, linger: float) -> List[Any]:
    """Up to `size` messages: waits `wait` seconds for the first, then `linger` for the rest."""
    try:
        batch = [await asyncio.wait_for(inbox.get(), timeout=wait)]
    except asyncio.TimeoutError:
        return []
    deadline = asyncio.get_running_loop().time() + linger
    while len(batch) < size:
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            break
        try:
            batch.append(await asyncio.wait_for(inbox.get(), timeout=left))
        except asyncio.TimeoutError:
            break
    return batch


async def _ack(message: Any) -> None:
    try:
        await message.ack()
    except Exception as exc:  # its channel was lost: the message comes again, and is a no-op then
        log.warning("alerts: acknowledgement lost (%s): the message will be redelivered", type(exc).__name__)


async def consume(services, tracker: Engine, url: str, *, queue: str = QUEUE, exchange: str = EXCHANGE,
                  should_stop: Optional[Callable[[], bool]] = None, until_idle: Optional[float] = None,
                  settle_seconds: float = SETTLE_SECONDS, batch_size: int = BATCH, linger: float = 0.2,
                  periodic: Optional[Callable[[], Any]] = None, periodic_every: float = 2.0) -> Stats:
    """Consume `queue` until `should_stop()` (checked twice a second), or until it has been idle
    for `until_idle` seconds. `periodic` runs every `periodic_every` seconds meanwhile, on the
    same thread as the processing (one database writer per worker). Returns what it did."""
    stats = Stats()
    loop = asyncio.get_running_loop()
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="alerts-consumer")

    def run(fn: Callable[..., Any], *args: Any) -> "asyncio.Future[Any]":
        return loop.run_in_executor(executor, functools.partial(fn, *args))

    connection = await aio_pika.connect_robust(url)
    log.info("alerts: consuming queue %s on %s", queue, where(url))
    inbox: "asyncio.Queue[Any]" = asyncio.Queue()
    held: List[_Held] = []
    active = loop.time()
    next_periodic = loop.time()
    try:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=2 * batch_size)
        q = await declare(channel, queue, exchange)
        await q.consume(inbox.put, no_ack=False)
        while not (should_stop and should_stop()):
            batch = await _gather(inbox, batch_size, 0.25 if held else 0.5, linger)
            if periodic is not None and loop.time() >= next_periodic:
                try:
                    await run(periodic)
                except Exception as exc:
                    log.error("alerts: periodic task failed (%s)", type(exc).__name__)
                next_periodic = loop.time() + periodic_every
            if batch:
                active = loop.time()
            elif not held:
                if until_idle is not None and loop.time() - active >= until_idle:
                    break
                continue
            held = await _pass(run, services, tracker, batch, held, stats, settle_seconds)
    finally:
        await connection.close()
        executor.shutdown(wait=True)
    return stats


async def _pass(run, services, tracker: Engine, batch: List[Any], held: List[_Held], stats: Stats,
                settle_seconds: float) -> List[_Held]:
    """One pass: sort the new messages, find the rows of the held ones, process those found in
    one transaction, acknowledge what is done. Returns the messages still held."""
    now = asyncio.get_running_loop().time()
    done: List[Any] = []
    for message in batch:
        stats.received += 1
        stats.redelivered += bool(message.redelivered)
        kind, event = classify(message.body)
        if kind == MALFORMED:
            stats.malformed += 1
            log.warning("alerts: malformed message acknowledged and dropped (%d bytes)", len(message.body))
            done.append(message)
        elif kind == OTHER:
            stats.ignored += 1
            done.append(message)
        else:
            assert event is not None
            held.append(_Held(message, event, now))
    waiting = [h for h in held if h.row is None]
    if waiting:
        try:
            for h, row in zip(waiting, await run(resolve, tracker, [h.event for h in waiting])):
                h.row = row
        except Exception as exc:
            log.error("alerts: tracker store unreachable (%s): %d event(s) held", type(exc).__name__, len(waiting))
    ready = [h for h in held if h.row is not None]
    keep = [h for h in held if h.row is None and now - h.since < settle_seconds]
    late = [h for h in held if h.row is None and now - h.since >= settle_seconds]
    if late:
        stats.unresolved += len(late)
        done.extend(h.message for h in late)
        log.warning("alerts: %d published event(s) not in the tracker store after %.0f s: acknowledged, "
                    "left to the reconciliation", len(late), settle_seconds)
    if ready:
        try:
            processed, already = await run(process_rows, services, [h.row for h in ready])
        except Exception as exc:  # nothing committed: nothing acknowledged, tried again shortly
            stats.failed_passes += 1
            log.error("alerts: %d message(s) not processed (%s): kept, tried again", len(ready), type(exc).__name__)
            keep.extend(ready)
            await asyncio.sleep(min(30.0, 0.5 * 2 ** min(stats.failed_passes, 6)))
        else:
            stats.processed += processed
            stats.already_done += already
            done.extend(h.message for h in ready)
    for message in done:  # after the commit
        await _ack(message)
    return keep


# ------------------------------------------------------------------ the worker's loop
def serve(services, tracker: Engine, should_stop: Callable[[], bool], every: float = 2.0,
          reconcile_every: float = RECONCILE_SECONDS) -> None:
    """The alerts worker with the event broker: the consumer, the reconciliation every
    `reconcile_every` seconds and the alerts' housekeeping every `every` seconds. While RabbitMQ
    is unreachable, the reconciliation alone carries the messages (later, none lost)."""
    assert services.settings.amqp_url, "NUMI_AMQP_URL is not set"
    url = services.settings.amqp_url
    last = [float("-inf")]

    def periodic() -> None:
        now = utcnow()
        if time.monotonic() - last[0] >= reconcile_every:
            last[0] = time.monotonic()
            reconcile(services, tracker, now)
        housekeeping(services, now)

    failures = 0
    while not should_stop():
        started = time.monotonic()
        try:
            asyncio.run(consume(services, tracker, url, should_stop=should_stop, periodic=periodic,
                                periodic_every=every))
        except Exception as exc:  # RabbitMQ unreachable at start, or gone for good
            failures = 1 if time.monotonic() - started > 60 else failures + 1
            log.error("alerts: event broker at %s unreachable (%s, %d in a row): reconciling meanwhile",
                      where(url), type(exc).__name__, failures)
            try:
                periodic()
            except Exception as inner:  # e.g. Rasa has not created its tracker store yet
                log.debug("alerts: periodic: %s", type(inner).__name__)
            pause = min(30.0, 2.0 * failures)
            while pause > 0 and not should_stop():
                time.sleep(0.5)
                pause -= 0.5


# ------------------------------------------------------------------ Rasa's side
