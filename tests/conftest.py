"""Shared fixtures: a fresh database per test (SQLite, and PostgreSQL when
NUMI_TEST_POSTGRES_URL is set), services, and rasa-sdk trackers built from events."""
from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from numi import runtime
from numi.settings import Settings

POSTGRES_URL = os.environ.get("NUMI_TEST_POSTGRES_URL")
BACKENDS = ["sqlite"] + (["postgres"] if POSTGRES_URL else [])


def _postgres_database() -> str:
    """A new, empty PostgreSQL database for one test."""
    import sqlalchemy as sa

    name = f"numi_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT", future=True)
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return POSTGRES_URL.rsplit("/", 1)[0] + "/" + name


def _drop_postgres_database(url: str) -> None:
    import sqlalchemy as sa

    name = url.rsplit("/", 1)[1]
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT", future=True)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path: Path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'numi.db'}"
    else:
        url = _postgres_database()
        yield url
        runtime.close()
        _drop_postgres_database(url)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings.from_env(env={}, database_url=database_url, secret="test-secret",
                             admin_token="admin-test-token", mailbox_dir=tmp_path / "mailbox",
                             scheduler_enabled=False)


@pytest.fixture
def services(settings: Settings):
    svc = runtime.init(settings)
    yield svc
    runtime.close()


@pytest.fixture
def db(services):
    session = services.sessions()
    token = runtime.bind_session(session)
    yield session
    session.rollback()
    session.close()
    runtime.unbind_session(token)


def make_tracker(sender_id: str = "test-conv", slots: Optional[Dict[str, Any]] = None,
                 text: str = "", intent: Optional[str] = None, confidence: float = 1.0,
                 entities: Optional[List[Dict[str, Any]]] = None, metadata: Optional[Dict[str, Any]] = None,
                 events: Optional[List[Dict[str, Any]]] = None, active_loop: Optional[str] = None,
                 ranking: Optional[List[Dict[str, Any]]] = None,
                 extracted: Optional[Dict[str, Any]] = None) -> Tracker:
    """A rasa-sdk Tracker as the Rasa server would send it to an action."""
    latest = {
        "text": text,
        "intent": {"name": intent, "confidence": confidence},
        "intent_ranking": ranking or ([{"name": intent, "confidence": confidence}] if intent else []),
        "entities": entities or [],
        "metadata": metadata or {"numi": {"mode": "customer"}},
    }
    evts = list(events or [])
    evts.append({"event": "user", "text": text, "parse_data": latest, "metadata": latest["metadata"]})
    slots = dict(slots or {})
    for name, value in (extracted or {}).items():  # what action_extract_slots set for this message
        evts.append({"event": "slot", "name": name, "value": value})
        slots[name] = value
    return Tracker(sender_id, slots, latest, evts, False, None,
                   {"name": active_loop} if active_loop else {}, "action_listen")


async def run_action(action, tracker: Tracker, domain: Optional[Dict[str, Any]] = None):
    """Run a rasa-sdk action; returns (messages, events)."""
    dispatcher = CollectingDispatcher()
    import inspect

    events = action.run(dispatcher, tracker, domain or {})
    if inspect.isawaitable(events):
        events = await events
    return dispatcher.messages, events


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """The real Rasa server and numi service, for one test module."""
    from numi.devstack import Stack

    s = Stack(tmp_path_factory.mktemp("stack")).start()
    yield s
    s.stop()


@pytest.fixture(scope="session")
def agent():
    """The trained model, loaded in process once (with numi's Rasa speed-ups applied)."""
    from rasa.core.agent import Agent

    from numi.devstack import model_path
    from numi.rasa_patches.speedups import SPEED_UPS
    from numi.rasa_patches.startup import install

    install(SPEED_UPS)
    return Agent.load(model_path())


def components_of(agent, cls) -> list:
    """The loaded graph components of type `cls` in the agent's model."""
    return [node._component for node in agent.processor.graph_runner._instantiated_nodes.values()
            if isinstance(getattr(node, "_component", None), cls)]


# The numi service in process (create_app + sanic-testing's ASGI client): `service`,
# `make_service`, `service_on_each_backend`.
from tests.service_client import make_service, service, service_on_each_backend  # noqa: E402,F401
