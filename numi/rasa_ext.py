"""Rasa stores chosen by configuration (environment), behind one endpoints.yml.

* NumiTrackerStore: Rasa's SQLTrackerStore on SQLite (var/tracker.db) by
  default, or on the database of NUMI_TRACKER_URL (e.g. PostgreSQL). It keeps
  the latest trackers in memory and checks them with one indexed query
  (the conversation's last event id), so a turn does not re-read and
  re-deserialise the whole session, and several Rasa instances stay correct.
* NumiLockStore: in-memory for a single Rasa process, Redis when NUMI_REDIS_URL
  is set (several Rasa processes behind a load balancer). The lock lifetime is
  NUMI_LOCK_LIFETIME seconds (Rasa's default is 60).
"""
from __future__ import annotations

import itertools
import json
import os
from collections import OrderedDict
from pathlib import Path
from typing import Any, Optional, Tuple

import sqlalchemy as sa
import sqlalchemy.orm

from rasa.core.lock_store import InMemoryLockStore, LockStore, RedisLockStore
from rasa.core.tracker_store import SQLTrackerStore
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent


_PATCHED = False


def speed_up_rasa() -> None:
    """Two hot spots of Rasa 3.6, fixed without changing behaviour (applied once, at start-up):

    * every action-server response is validated by `jsonschema.validate`, which
      re-checks the schema itself each time: compile the validator once;
    * every event read back is typed by walking all Event subclasses
      (`Event.resolve_by_type`): memoise the lookup by type name.
    """
    global _PATCHED
    if _PATCHED:
        return
    from jsonschema import ValidationError
    from jsonschema.validators import validator_for
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.core.events import Event

    schema = RemoteAction.action_response_format_spec()
    validator = validator_for(schema)(schema)
    original = RemoteAction._validate_action_result

    def validate_action_result(self, result):
        try:
            validator.validate(result)
            return True
        except ValidationError:
            return original(self, result)  # the original error message

    RemoteAction._validate_action_result = validate_action_result
    resolve = Event.resolve_by_type  # a staticmethod
    known: dict = {}

    def resolve_by_type(type_name, default=None):
        cls = known.get(type_name)
        if cls is None:
            cls = resolve(type_name, default)
            if cls is not None and getattr(cls, "type_name", None) == type_name:
                known[type_name] = cls  # only real matches are remembered
        return cls

    Event.resolve_by_type = staticmethod(resolve_by_type)
    _PATCHED = True


def tracker_url() -> str:
    return os.environ.get("NUMI_TRACKER_URL") or f"sqlite:///{ROOT / 'var' / 'tracker.db'}"


class NumiTrackerStore(SQLTrackerStore):
    CACHE_SIZE = 5000

    def __init__(self, domain: Any = None, host: Optional[str] = None, event_broker: Any = None,
                 **kwargs: Any) -> None:
        speed_up_rasa()
        url = make_url(tracker_url())
        if url.get_backend_name() == "sqlite":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
            super().__init__(domain=domain, dialect="sqlite", db=url.database, event_broker=event_broker)
            self._sqlite_pragmas()
        else:
            dialect = url.drivername
            super().__init__(domain=domain, dialect=dialect, host=url.host, port=url.port,
                             db=url.database, username=url.username, password=url.password,
                             event_broker=event_broker, login_db=kwargs.get("login_db"))
        # sender_id -> (last event id in the database, tracker, number of its events stored)
        self._cache: "OrderedDict[str, Tuple[Optional[int], Any, int]]" = OrderedDict()

    def _sqlite_pragmas(self) -> None:
        def pragmas(dbapi_conn, _record) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        # SQLAlchemy 1.4 opens a new SQLite connection per session (NullPool): keep a pool instead
        self.engine = sa.create_engine(self.engine.url, poolclass=sa.pool.QueuePool, pool_size=5,
                                       connect_args={"check_same_thread": False, "timeout": 30})
        sa.event.listen(self.engine, "connect", pragmas)
        self.sessionmaker = sa.orm.sessionmaker(bind=self.engine)

    def _last_id(self, session, sender_id: str) -> Optional[int]:
        return session.query(sa.func.max(self.SQLEvent.id)).filter(self.SQLEvent.sender_id == sender_id).scalar()

    def _remember(self, sender_id: str, last_id: Optional[int], tracker: Any) -> None:
        self._cache[sender_id] = (last_id, tracker, len(tracker.events))
        self._cache.move_to_end(sender_id)
        while len(self._cache) > self.CACHE_SIZE:
            self._cache.popitem(last=False)

    async def retrieve(self, sender_id: str):
        with self.session_scope() as session:
            last_id = self._last_id(session, sender_id)
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

    async def save(self, tracker) -> None:
        await self.stream_events(tracker)
        cached = self._cache.get(tracker.sender_id)
        with self.session_scope() as session:
            if cached and cached[1] is tracker and self._last_id(session, tracker.sender_id) == cached[0]:
                new = itertools.islice(tracker.events, cached[2], len(tracker.events))
            else:
                new = self._additional_events(session, tracker)
            rows = []
            for event in new:
                data = event.as_dict()
                rows.append(self.SQLEvent(
                    sender_id=tracker.sender_id, type_name=event.type_name, timestamp=data.get("timestamp"),
                    intent_name=data.get("parse_data", {}).get("intent", {}).get("name"),
                    action_name=data.get("name"), data=json.dumps(data)))
            session.add_all(rows)
            session.flush()
            last_id = max((r.id for r in rows), default=None)
            session.commit()
            if last_id is None:
                last_id = self._last_id(session, tracker.sender_id)
        self._remember(tracker.sender_id, last_id, tracker)


class NumiLockStore:
    """A factory: Rasa instantiates it with `endpoint_config=`; it returns the real store."""

    def __new__(cls, endpoint_config: Any = None) -> LockStore:  # type: ignore[misc]
        url = os.environ.get("NUMI_REDIS_URL")
        if url:
            parsed = make_url(url.replace("redis://", "redis+x://", 1)) if url.startswith("redis://") else None
            host = parsed.host if parsed else "127.0.0.1"
            port = parsed.port if parsed and parsed.port else 6379
            db = int(parsed.database) if parsed and parsed.database else 1
            return RedisLockStore(host=host, port=port, db=db, key_prefix="numi")
        return InMemoryLockStore()
