"""Rasa stores chosen by configuration (numi.settings.Settings), behind one endpoints.yml.

* NumiTrackerStore: Rasa's SQLTrackerStore on SQLite (var/tracker.db) by
  default, or on the database of NUMI_TRACKER_URL (e.g. PostgreSQL). It keeps
  the latest trackers in memory and checks them with one indexed query
  (the conversation's last event id), so a turn does not re-read and
  re-deserialise the whole session, and several Rasa instances stay correct.
  When the database is cut, a conversation held in memory goes on and its
  turns are written once the database answers; one that is not held is
  refused with a clear answer, never restarted from nothing (`TrackerStoreUnavailable`,
  let through by the FailSafeTrackerStore patch of numi/rasa_patches/faults.py).
* NumiLockStore: in-memory for a single Rasa process, Redis when NUMI_REDIS_URL
  is set (several Rasa processes behind a load balancer), with atomic tickets and a
  TTL (numi/rasa_patches/redis_lock.py; Rasa's own RedisLockStore races, rasa#9213). The lock lifetime is
  NUMI_LOCK_LIFETIME seconds (60), raised to cover three action calls at
  NUMI_ACTION_TIMEOUT (numi/rasa_patches/faults.py).
* tracker_url(): the tracker store's database, for numi's processes that read or erase
  conversations (scheduler, alerts worker, GDPR erasure).

Constructing a store patches nothing: the Rasa process applies numi's patches at start-up
(`python -m numi.rasa_main`); a store made without them logs a warning.
"""
from __future__ import annotations

import itertools
import json
import logging
from collections import OrderedDict
from pathlib import Path
from typing import Any, Iterable, Optional, Tuple

import redis
import sqlalchemy as sa
import sqlalchemy.orm
from rasa.core.lock_store import InMemoryLockStore, LockStore
from rasa.core.tracker_store import SQLTrackerStore
from sqlalchemy.engine import make_url

from numi.rasa_patches import patch
from numi.rasa_patches.faults import TrackerStoreUnavailable, count, lock_lifetime
from numi.rasa_patches.redis_lock import AtomicRedisLockStore
from numi.settings import Settings

log = logging.getLogger(__name__)
# the patch the store's promise (refuse, never restart a conversation) depends on
FAIL_SAFE_PATCH = "FailSafeTrackerStore.retrieve"


def tracker_url(settings: Optional[Settings] = None) -> str:
    """The tracker store's SQLAlchemy URL (NUMI_TRACKER_URL; SQLite in var/ by default)."""
    return (settings or Settings.from_env()).tracker_url


class NumiTrackerStore(SQLTrackerStore):  # type: ignore[misc]
    CACHE_SIZE = 5000

    def __init__(self, domain: Any = None, host: Optional[str] = None, event_broker: Any = None,
                 **kwargs: Any) -> None:
        if FAIL_SAFE_PATCH not in patch.APPLIED:
            log.warning("numi's Rasa patches are not installed (start Rasa with `python -m numi.rasa_main run`): "
                        "an unreachable tracker store would start conversations again from nothing")
        settings = Settings.from_env()
        # conversations whose last turn could not be written (the database was cut): written
        # with their next turn, or as soon as the database answers again; served meanwhile
        self._unsaved: "OrderedDict[str, Any]" = OrderedDict()
        url = make_url(tracker_url(settings))
        if url.get_backend_name() == "sqlite":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
            super().__init__(domain=domain, dialect="sqlite", db=url.database, event_broker=event_broker)
            self._sqlite_pragmas()
        else:
            dialect = url.drivername
            super().__init__(domain=domain, dialect=dialect, host=url.host, port=url.port,
                             db=url.database, username=url.username, password=url.password,
                             event_broker=event_broker, login_db=kwargs.get("login_db"))
        if url.get_backend_name() != "sqlite":  # failing statements must not log their values
            self.engine: Any = sa.create_engine(self.engine.url, hide_parameters=True, pool_pre_ping=True)
            self.sessionmaker = sa.orm.sessionmaker(bind=self.engine)
        # sender_id -> (last event id in the database, tracker, number of its events stored)
        self._cache: "OrderedDict[str, Tuple[Optional[int], Any, int]]" = OrderedDict()
        # The two statements of every turn, as plain SQL: the ORM's per-call compilation and
        # unit of work cost more than the statements themselves (README, « Benchmarks »).
        mark = "?" if self.engine.dialect.paramstyle == "qmark" else "%s"
        table = self.SQLEvent.__tablename__
        self._select_last_id = f"SELECT max(id) FROM {table} WHERE sender_id = {mark}"
        self._insert_events = (f"INSERT INTO {table} (sender_id, type_name, timestamp, intent_name, action_name, "
                               f"data) VALUES ({', '.join([mark] * 6)})")

    def _sqlite_pragmas(self) -> None:
        def pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        # SQLAlchemy 1.4 opens a new SQLite connection per session (NullPool): keep a pool instead
        self.engine = sa.create_engine(self.engine.url, poolclass=sa.pool.QueuePool, pool_size=5, hide_parameters=True,
                                       connect_args={"check_same_thread": False, "timeout": 30})
        sa.event.listen(self.engine, "connect", pragmas)
        self.sessionmaker = sa.orm.sessionmaker(bind=self.engine)

    def _last_id(self, conn: Any, sender_id: str) -> Optional[int]:
        last: Optional[int] = conn.exec_driver_sql(self._select_last_id, (sender_id,)).scalar()
        return last

    def _remember(self, sender_id: str, last_id: Optional[int], tracker: Any) -> None:
        self._cache[sender_id] = (last_id, tracker, len(tracker.events))
        self._cache.move_to_end(sender_id)
        while len(self._cache) > self.CACHE_SIZE:
            self._cache.popitem(last=False)

    async def retrieve(self, sender_id: str) -> Any:
        try:
            with self.engine.connect() as conn:
                last_id = self._last_id(conn, sender_id)
        except sa.exc.SQLAlchemyError as exc:
            return self._while_unreachable(sender_id, "read", exc)
        if sender_id in self._unsaved:  # the database is back: write what it missed first
            tracker = self._unsaved[sender_id]
            await self.save(tracker)
            return tracker
        cached = self._cache.get(sender_id)
        if cached and cached[0] == last_id and last_id is not None and len(cached[1].events) == cached[2]:
            self._cache.move_to_end(sender_id)
            return cached[1]  # nobody wrote since, and nothing unsaved was added to it
        tracker = await super().retrieve(sender_id)
        if tracker is not None:
            self._remember(sender_id, last_id, tracker)
        else:
            self._cache.pop(sender_id, None)
        return tracker

    def _while_unreachable(self, sender_id: str, what: str, exc: Exception) -> Any:
        """The database cannot be read: the conversation held in memory goes on; one that is
        not held is refused (never restarted from nothing)."""
        n = count(f"tracker_store_{what}_failed")
        log.error("tracker store unreachable (%s, %s; %d since start)", what, type(exc).__name__, n)
        held = self._unsaved.get(sender_id) or (self._cache.get(sender_id) or (None, None))[1]
        if held is not None:
            return held
        raise TrackerStoreUnavailable("tracker store unreachable")

    async def save(self, tracker: Any) -> None:
        try:
            await self._save(tracker)
        except sa.exc.SQLAlchemyError as exc:
            n = count("tracker_store_write_failed")
            log.error("tracker store unreachable (write, %s; %d since start): the turn is kept in memory "
                      "and written with the next one", type(exc).__name__, n)
            self._unsaved[tracker.sender_id] = tracker
            self._unsaved.move_to_end(tracker.sender_id)
            cached = self._cache.get(tracker.sender_id)
            self._cache[tracker.sender_id] = (cached[0], tracker, cached[2]) if cached else (None, tracker, 0)
            return
        self._unsaved.pop(tracker.sender_id, None)

    async def _save(self, tracker: Any) -> None:
        await self.stream_events(tracker)
        sender_id = tracker.sender_id
        cached = self._cache.get(sender_id)
        with self.engine.begin() as conn:
            if cached and cached[1] is tracker and self._last_id(conn, sender_id) == cached[0]:
                new: Iterable[Any] = itertools.islice(tracker.events, cached[2], len(tracker.events))
            else:  # not the tracker we handed out, or somebody wrote since: count what is stored
                with self.session_scope() as session:
                    new = list(self._additional_events(session, tracker))
            rows = []
            for event in new:
                data = event.as_dict()
                rows.append((sender_id, event.type_name, data.get("timestamp"),
                             data.get("parse_data", {}).get("intent", {}).get("name"), data.get("name"),
                             json.dumps(data)))
            if rows:
                conn.exec_driver_sql(self._insert_events, rows)
            last_id = self._last_id(conn, sender_id)
        self._remember(sender_id, last_id, tracker)


class NumiLockStore:
    """A factory: Rasa instantiates it with `endpoint_config=`; it returns the real store."""

    def __new__(cls, endpoint_config: Any = None) -> LockStore:
        url = Settings.from_env().redis_url
        if url:
            parsed = make_url(url.replace("redis://", "redis+x://", 1)) if url.startswith("redis://") else None
            host = parsed.host if parsed else "127.0.0.1"
            port = parsed.port if parsed and parsed.port else 6379
            db = int(parsed.database) if parsed and parsed.database else 1
            client = redis.Redis(host=host, port=port, db=db, password=parsed.password if parsed else None,
                                 socket_timeout=10)
            return AtomicRedisLockStore(client, lock_lifetime(), key_prefix="numi")
        return _Lifetime.of(InMemoryLockStore)()


class _Lifetime:
    """Rasa's lock stores with the lifetime numi configures (numi/rasa_patches/faults.py, at least as
    long as a turn may wait on actions) instead of Rasa's 60 s fixed at import time."""

    @staticmethod
    def of(store: type) -> type:
        lifetime = lock_lifetime()

        class Store(store):  # type: ignore[misc]
            lock_lifetime = lifetime

            def lock(self, conversation_id: str, lock_lifetime: Optional[float] = None,
                     wait_time_in_seconds: float = 1) -> Any:
                return super().lock(conversation_id, lock_lifetime or self.lock_lifetime, wait_time_in_seconds)

        Store.__name__ = f"Numi{store.__name__}"
        return Store
