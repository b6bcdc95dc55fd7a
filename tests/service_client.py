"""The numi service in process, for endpoint tests that need no Rasa: `create_app(settings)`
on a fresh SQLite database (with the demo data), scheduler, alerts worker and private
listener off, reached through sanic-testing's ASGI client (no socket, no subprocess).

    async def test_something(service):
        status, body = await service.call("GET", "/api/tickets", role="hotliner")

`service.actions` is the same app seen from the private action listener (the one that
serves /webhook): under ASGI every request arrives on port 0, so that app's action port is 0.
"""
from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, Optional, Set, Tuple

import httpx
import pytest
from sanic import Sanic

from numi import auth, runtime
from numi.db import models as m
from numi.runtime import Services
from numi.service.app import create_app
from numi.settings import RateLimits, Settings

ADMIN_TOKEN = "admin-test-token"
ACTION_TOKEN = "test-action-token"
SECRET = "test-secret"
UNLIMITED = RateLimits(conversation="100000/second", address="100000/second", public="100000/second")
_names = itertools.count()


@dataclass
class Service:
    """One in-process numi service and the staff tokens made for it."""

    app: Sanic
    services: Services
    settings: Settings
    tokens: Dict[Tuple[str, str], str] = field(default_factory=dict)
    _started: Set[str] = field(default_factory=set)

    def token(self, role: str, name: Optional[str] = None) -> str:
        """A staff bearer token for `role`, made as `python -m numi.cli staff create` does."""
        if role == "admin" and name is None:
            return ADMIN_TOKEN
        key = (role, name or f"{role}-1")
        if key not in self.tokens:
            token = auth.new_staff_token()
            with self.services.sessions() as s, s.begin():
                s.add(m.StaffToken(name=key[1], role=role, token_hash=auth.hash_token(token)))
            self.tokens[key] = token
        return self.tokens[key]

    async def call(self, method: str, path: str, body: Any = None, *, role: Optional[str] = None,
                   token: Optional[str] = None, raw: Optional[bytes] = None,
                   headers: Optional[Dict[str, str]] = None, app: Optional[Sanic] = None) -> Tuple[int, Any]:
        """(status, the JSON body, or the text when it is not JSON) of one request."""
        sent = {"content-type": "application/json", **(headers or {})}
        bearer = token if token is not None else (self.token(role) if role else None)
        if bearer is not None:
            sent["authorization"] = f"Bearer {bearer}"
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        response = await self._send(app or self.app, method, path, content=data, headers=sent)
        if not response.content:
            return response.status_code, None
        try:
            return response.status_code, json.loads(response.content)
        except ValueError:
            return response.status_code, response.text

    async def response(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The whole httpx response (headers, text) of one request."""
        return await self._send(self.app, method, path, **kwargs)

    async def _send(self, app: Sanic, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The first request goes through sanic-testing's whole cycle (the app's startup
        listeners, the request, its shutdown listeners); the next ones reuse the started
        app through the same ASGI client (sanic-testing would start the app again for each:
        about 0.2 s a request)."""
        client = app.asgi_client
        if app.name not in self._started:
            self._started.add(app.name)
            _, response = await client.request(method, path, **kwargs)
            return response
        return await httpx.AsyncClient.request(client, method, path, **kwargs)

    @property
    def actions(self) -> Sanic:
        """The app as the private action listener sees it (made on first use)."""
        if not hasattr(self, "_actions"):
            self._actions = create_app(replace(self.settings, action_port=0), name=f"numi_actions_{next(_names)}",
                                       with_actions=False, services=self.services)
        return self._actions


def service_settings(database_url: str, tmp_path: Path, **overrides: Any) -> Settings:
    base = Settings.from_env(env={}, database_url=database_url, secret=SECRET, admin_token=ADMIN_TOKEN,
                             action_token=ACTION_TOKEN, mailbox_dir=tmp_path / "mailbox",
                             tracker_url=f"sqlite:///{tmp_path / 'tracker.db'}", rasa_url="http://127.0.0.1:9",
                             scheduler_enabled=False, alerts_enabled=False, rate_limits=UNLIMITED)
    return replace(base, **overrides)


def _open(settings: Settings) -> Service:
    Sanic.test_mode = True  # several apps in one process (sanic's app registry)
    services = runtime.init(settings)
    app = create_app(settings, name=f"numi_test_{next(_names)}", with_actions=False, services=services)
    return Service(app=app, services=services, settings=settings)


def _close(service: Service) -> None:
    for app in (service.app, getattr(service, "_actions", None)):
        if app is not None:
            Sanic._app_registry.pop(app.name, None)
    runtime.close()


@pytest.fixture
def make_service(tmp_path: Path) -> Iterator[Callable[..., Service]]:
    """`make_service(**settings overrides)`: an in-process service on a fresh SQLite database."""
    opened = []

    def make(**overrides: Any) -> Service:
        db = tmp_path / f"numi-{len(opened)}.db"
        service = _open(service_settings(f"sqlite:///{db}", tmp_path, **overrides))
        opened.append(service)
        return service

    yield make
    for service in opened:
        _close(service)


@pytest.fixture
def service(make_service: Callable[..., Service]) -> Service:
    """The in-process numi service on a fresh SQLite database."""
    return make_service()


@pytest.fixture
def service_on_each_backend(database_url: str, tmp_path: Path) -> Iterator[Service]:
    """The in-process service on each database of tests/conftest.py (SQLite, and PostgreSQL
    when NUMI_TEST_POSTGRES_URL is set): for the API contract's own checks."""
    service = _open(service_settings(database_url, tmp_path))
    yield service
    _close(service)
