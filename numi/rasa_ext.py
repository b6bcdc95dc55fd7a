"""Rasa stores chosen by configuration (environment), behind one endpoints.yml.

* NumiTrackerStore: Rasa's SQLTrackerStore on SQLite (var/tracker.db) by
  default, or on the database of NUMI_TRACKER_URL (e.g. PostgreSQL). It keeps
  the latest trackers in memory and checks them with one indexed query
  (the conversation's last event id), so a turn does not re-read and
  re-deserialise the whole session, and several Rasa instances stay correct.
  When the database is cut, a conversation held in memory goes on and its
  turns are written once the database answers; one that is not held is
  refused with a clear answer, never restarted from nothing (numi/rasa_faults.py).
* NumiLockStore: in-memory for a single Rasa process, Redis when NUMI_REDIS_URL
  is set (several Rasa processes behind a load balancer). The lock lifetime is
  NUMI_LOCK_LIFETIME seconds (60), raised to cover three action calls at
  NUMI_ACTION_TIMEOUT (numi/rasa_faults.py).
"""
from __future__ import annotations

import itertools
import json
import logging
import os
from collections import OrderedDict
from pathlib import Path
from typing import Any, Optional, Tuple

import sqlalchemy as sa
import sqlalchemy.orm

from rasa.core.lock_store import InMemoryLockStore, LockStore, RedisLockStore

from numi.rasa_faults import TrackerStoreUnavailable, count, lock_lifetime, survive_faults
from rasa.core.tracker_store import SQLTrackerStore
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger(__name__)


_PATCHED = False
# Rasa's own functions that speed_up_rasa replaced, by name, kept for comparison (tests).
ORIGINALS: dict = {}


def speed_up_rasa() -> None:
    """Hot spots of Rasa 3.6, fixed without changing behaviour (applied once, at start-up):

    * every action-server response is validated by `jsonschema.validate`, which
      re-checks the schema itself each time: compile the validator once;
    * every event read back is typed by walking all Event subclasses
      (`Event.resolve_by_type`): memoise the lookup by type name;
    * every parse compares the serialised domain with an empty one: once per domain;
    * every rule prediction checks every rule against every turn of the conversation,
      though a rule only looks back as many turns as it has: stop there;
    * every graph run rebuilds its schema and a dask graph: a cached plan instead;
    * every action-server call opens a new HTTP session: keep one.

    Measured with py-spy on `make bench` (README, « Benchmarks »).
    """
    global _PATCHED
    if _PATCHED:
        return
    _compile_action_response_schema()
    _memoise_event_types()
    _domain_emptiness_once()
    _rules_matched_only_as_deep_as_they_go()
    _run_graph_without_dask()
    _keep_action_server_connections()
    _PATCHED = True


def _compile_action_response_schema() -> None:
    from jsonschema import ValidationError
    from jsonschema.validators import validator_for
    from rasa.core.actions.action import RemoteAction

    schema = RemoteAction.action_response_format_spec()
    validator = validator_for(schema)(schema)
    original = ORIGINALS["RemoteAction._validate_action_result"] = RemoteAction._validate_action_result

    def validate_action_result(self, result):
        try:
            validator.validate(result)
            return True
        except ValidationError:
            return original(self, result)  # the original error message

    RemoteAction._validate_action_result = validate_action_result


def _memoise_event_types() -> None:
    from rasa.shared.core.events import Event

    resolve = ORIGINALS["Event.resolve_by_type"] = Event.resolve_by_type  # a staticmethod
    known: dict = {}

    def resolve_by_type(type_name, default=None):
        cls = known.get(type_name)
        if cls is None:
            cls = resolve(type_name, default)
            if cls is not None and getattr(cls, "type_name", None) == type_name:
                known[type_name] = cls  # only real matches are remembered
        return cls

    Event.resolve_by_type = staticmethod(resolve_by_type)


def _graph_plan(runner: Any, targets: Tuple[str, ...]) -> list:
    """The nodes a target needs, in dependency order; computed once per target list."""
    plans = runner.__dict__.setdefault("_numi_plans", {})
    plan = plans.get(targets)
    if plan is None:
        schema = runner._graph_schema.minimal_graph_schema(list(targets))
        order: list = []

        def visit(name: str) -> None:
            if name in order or name not in schema.nodes:
                return
            for dependency in schema.nodes[name].needs.values():
                visit(dependency)
            order.append(name)

        for target in targets:
            visit(target)
        plan = [(name, runner._instantiated_nodes[name], tuple(schema.nodes[name].needs.values()))
                for name in order]
        plans[targets] = plan
    return plan


def _domain_emptiness_once() -> None:
    """Every parsed message asks `domain.is_empty()`, which serialises the whole domain and an
    empty one to compare them. A loaded domain does not change: answer once per domain."""
    from rasa.shared.core.domain import Domain

    is_empty = ORIGINALS["Domain.is_empty"] = Domain.is_empty

    def once(self: Any) -> bool:
        known = self.__dict__.get("_numi_is_empty")
        if known is None:
            known = self.__dict__["_numi_is_empty"] = is_empty(self)
        return known

    Domain.is_empty = once


def _rules_matched_only_as_deep_as_they_go() -> None:
    """RulePolicy keeps the rules that match the conversation, turn by turn from the latest.
    Past a rule's own length it always matches (`_is_rule_applicable` returns True), yet Rasa
    goes on through every earlier turn of the conversation, for every rule: the cost of a
    prediction grew with the conversation. Stop at the longest remaining rule: same result."""
    from rasa.core.policies.rule_policy import RulePolicy

    def possible_keys(self: Any, lookup: dict, states: list) -> set:
        keys = set(lookup.keys())
        for i, state in enumerate(reversed(states)):
            if not keys or i >= max(len(self._rule_key_to_state(k)) for k in keys):
                break
            keys = {k for k in keys if self._is_rule_applicable(k, i, state)}
        return keys

    ORIGINALS["RulePolicy._get_possible_keys"] = RulePolicy._get_possible_keys
    RulePolicy._get_possible_keys = possible_keys


def _run_graph_without_dask() -> None:
    """Each message runs the NLU graph once and the policy graph once per predicted action.
    Rasa's DaskGraphRunner recomputes the minimal schema (a recursive walk and copies) and
    hands a fresh graph to dask's scheduler every time. The graph is a fixed DAG run on one
    thread: run the same nodes, with the same inputs, in a cached order."""
    from rasa.engine.exceptions import GraphRunError
    from rasa.engine.runner.dask import DaskGraphRunner

    ORIGINALS["DaskGraphRunner.run"] = DaskGraphRunner.run

    def run(self: Any, inputs: Optional[dict] = None, targets: Optional[list] = None) -> dict:
        run_targets = tuple(targets) if targets else tuple(self._graph_schema.target_names)
        plan = _graph_plan(self, run_targets)
        # an input is handed to nodes as (name, value), as the dask graph did
        values = {}
        for name, value in (inputs or {}).items():
            if isinstance(value, str) and value in self._graph_schema.nodes:
                raise GraphRunError(f"Input value '{value}' clashes with a node name.")
            values[name] = (name, value)
        try:
            for name, node, needs in plan:
                values[name] = node(*[values.get(dependency, dependency) for dependency in needs])
        except RuntimeError as e:
            raise GraphRunError("Error running runner.") from e
        return dict(values[target] for target in run_targets)

    DaskGraphRunner.run = run


def _keep_action_server_connections() -> None:
    """Rasa opens a new HTTP client session (and TCP connection) for every action-server
    call. Keep one session per event loop; its idle connections close after 2 s, before the
    server's keep-alive (5 s) would."""
    import asyncio

    import aiohttp
    from rasa.utils.endpoints import DEFAULT_REQUEST_TIMEOUT, EndpointConfig

    sessions: dict = {}

    class _Kept:
        def __init__(self, session: aiohttp.ClientSession, loop: Any) -> None:
            self.session, self.loop = session, loop

        async def __aenter__(self) -> aiohttp.ClientSession:
            return self.session

        async def __aexit__(self, *exc: Any) -> None:
            return None  # kept open for the next call

    def session(self: EndpointConfig) -> Any:
        loop = asyncio.get_running_loop()
        key = (id(loop), tuple(sorted(self.headers.items())), tuple(sorted(self.basic_auth.items())))
        kept = sessions.get(key)
        if kept is None or kept.loop is not loop or kept.session.closed:
            for stale in [k for k, v in sessions.items() if v.loop.is_closed()]:
                del sessions[stale]  # sessions of finished loops (tests run one loop each)
            auth = (aiohttp.BasicAuth(self.basic_auth["username"], self.basic_auth["password"])
                    if self.basic_auth else None)
            kept = sessions[key] = _Kept(aiohttp.ClientSession(
                headers=self.headers, auth=auth, timeout=aiohttp.ClientTimeout(total=DEFAULT_REQUEST_TIMEOUT),
                connector=aiohttp.TCPConnector(keepalive_timeout=2)), loop)
        return kept

    # No retry of a call the server closed: a POST that may have reached the action server is
    # never sent again (numi/rasa_faults.py); idle connections close before the server's do.
    EndpointConfig.session = session


def tracker_url() -> str:
    return os.environ.get("NUMI_TRACKER_URL") or f"sqlite:///{ROOT / 'var' / 'tracker.db'}"


class NumiTrackerStore(SQLTrackerStore):
    CACHE_SIZE = 5000

    def __init__(self, domain: Any = None, host: Optional[str] = None, event_broker: Any = None,
                 **kwargs: Any) -> None:
        speed_up_rasa()
        from numi.channels import failure_text

        survive_faults(failure_text)
        # conversations whose last turn could not be written (the database was cut): written
        # with their next turn, or as soon as the database answers again; served meanwhile
        self._unsaved: "OrderedDict[str, Any]" = OrderedDict()
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
        if url.get_backend_name() != "sqlite":  # failing statements must not log their values
            self.engine = sa.create_engine(self.engine.url, hide_parameters=True, pool_pre_ping=True)
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
        def pragmas(dbapi_conn, _record) -> None:
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
        return conn.exec_driver_sql(self._select_last_id, (sender_id,)).scalar()

    def _remember(self, sender_id: str, last_id: Optional[int], tracker: Any) -> None:
        self._cache[sender_id] = (last_id, tracker, len(tracker.events))
        self._cache.move_to_end(sender_id)
        while len(self._cache) > self.CACHE_SIZE:
            self._cache.popitem(last=False)

    async def retrieve(self, sender_id: str):
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

    def _while_unreachable(self, sender_id: str, what: str, exc: Exception):
        """The database cannot be read: the conversation held in memory goes on; one that is
        not held is refused (never restarted from nothing)."""
        n = count(f"tracker_store_{what}_failed")
        log.error("tracker store unreachable (%s, %s; %d since start)", what, type(exc).__name__, n)
        held = self._unsaved.get(sender_id) or (self._cache.get(sender_id) or (None, None))[1]
        if held is not None:
            return held
        raise TrackerStoreUnavailable("tracker store unreachable")

    async def save(self, tracker) -> None:
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

    async def _save(self, tracker) -> None:
        await self.stream_events(tracker)
        sender_id = tracker.sender_id
        cached = self._cache.get(sender_id)
        with self.engine.begin() as conn:
            if cached and cached[1] is tracker and self._last_id(conn, sender_id) == cached[0]:
                new = itertools.islice(tracker.events, cached[2], len(tracker.events))
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

    def __new__(cls, endpoint_config: Any = None) -> LockStore:  # type: ignore[misc]
        url = os.environ.get("NUMI_REDIS_URL")
        if url:
            parsed = make_url(url.replace("redis://", "redis+x://", 1)) if url.startswith("redis://") else None
            host = parsed.host if parsed else "127.0.0.1"
            port = parsed.port if parsed and parsed.port else 6379
            db = int(parsed.database) if parsed and parsed.database else 1
            return _Lifetime.of(RedisLockStore)(host=host, port=port, db=db, key_prefix="numi")
        return _Lifetime.of(InMemoryLockStore)()


class _Lifetime:
    """Rasa's lock stores with the lifetime numi configures (numi/rasa_faults.py, at least as
    long as a turn may wait on actions) instead of Rasa's 60 s fixed at import time."""

    @staticmethod
    def of(store: type) -> type:
        lifetime = lock_lifetime()

        class Store(store):  # type: ignore[misc, valid-type]
            lock_lifetime = lifetime

            def lock(self, conversation_id: str, lock_lifetime: Optional[float] = None,
                     wait_time_in_seconds: float = 1):
                return super().lock(conversation_id, lock_lifetime or self.lock_lifetime, wait_time_in_seconds)

        Store.__name__ = f"Numi{store.__name__}"
        return Store
