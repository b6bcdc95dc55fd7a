"""Process-wide services, opened by the numi service's startup listener (never at import).

Actions reach the database through `session()`, the per-request session that the
/webhook handler opens and commits.
"""
from __future__ import annotations

import contextvars
from dataclasses import dataclass
from typing import Optional

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from numi.db import make_engine, make_sessionmaker
from numi.db.migrate import upgrade
from numi.mail import Mailer
from numi.playbooks.library import Library, default_library
from numi.settings import Settings


@dataclass
class Services:
    settings: Settings
    engine: Engine
    sessions: sessionmaker
    library: Library
    mailer: object


_services: Optional[Services] = None
_session: contextvars.ContextVar[Optional[Session]] = contextvars.ContextVar("numi_session", default=None)


def init(settings: Settings, library: Optional[Library] = None) -> Services:
    """Open the database (upgrading its schema), load playbooks: once per process."""
    global _services

    engine = make_engine(settings.database_url)
    upgrade(engine, settings)
    _services = Services(settings=settings, engine=engine, sessions=make_sessionmaker(engine),
                         library=library or default_library(), mailer=Mailer(settings))
    return _services


def get() -> Services:
    if _services is None:
        raise RuntimeError("numi services are not initialised (numi.runtime.init)")
    return _services


def close() -> None:
    global _services
    if _services is not None:
        _services.engine.dispose()
    _services = None


def session() -> Session:
    current = _session.get()
    if current is None:
        raise RuntimeError("no database session for this request")
    return current


def bind_session(s: Optional[Session]) -> contextvars.Token:
    return _session.set(s)


def unbind_session(token: contextvars.Token) -> None:
    _session.reset(token)
