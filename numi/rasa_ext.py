"""Rasa stores chosen by configuration (environment), behind one endpoints.yml.

* NumiTrackerStore: Rasa's SQLTrackerStore on SQLite (var/tracker.db) by
  default, or on the database of NUMI_TRACKER_URL (e.g. PostgreSQL).
* NumiLockStore: in-memory for a single Rasa process, Redis when NUMI_REDIS_URL
  is set (several Rasa processes behind a load balancer). The lock lifetime is
  NUMI_LOCK_LIFETIME seconds (Rasa's default is 60).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

from rasa.core.lock_store import InMemoryLockStore, LockStore, RedisLockStore
from rasa.core.tracker_store import SQLTrackerStore
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent


def tracker_url() -> str:
    return os.environ.get("NUMI_TRACKER_URL") or f"sqlite:///{ROOT / 'var' / 'tracker.db'}"


class NumiTrackerStore(SQLTrackerStore):
    def __init__(self, domain: Any = None, host: Optional[str] = None, event_broker: Any = None,
                 **kwargs: Any) -> None:
        url = make_url(tracker_url())
        if url.get_backend_name() == "sqlite":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
            super().__init__(domain=domain, dialect="sqlite", db=url.database, event_broker=event_broker)
        else:
            dialect = url.drivername
            super().__init__(domain=domain, dialect=dialect, host=url.host, port=url.port,
                             db=url.database, username=url.username, password=url.password,
                             event_broker=event_broker, login_db=kwargs.get("login_db"))


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
