"""`create_app(settings)`: the numi service. One Sanic app on two listeners: the public one
(pages, chat, staff API) on NUMI_HOST:NUMI_PORT, and the private one of the custom actions
(the rasa-sdk protocol) on `settings.action_host:action_port` (127.0.0.1:5056 by default).
Resources open in startup listeners; one database session per request."""
from __future__ import annotations

import asyncio
import hmac
import logging
import os
import subprocess
import sys
from typing import Any, List, Optional

from sanic import Sanic
from sanic.request import Request

from numi import audit, runtime
from numi.clock import utcnow
from numi.inbox.process import Deps
from numi.inbox.receivers import ImapPoller, rasa_understand, start_smtp
from numi.ratelimit import Limiter
from numi.reminders import outbox
from numi.runtime import Services
from numi.service.blueprints import (actions, alerts, calls, chat, customers, dashboard, handoffs, health, prompter,
                                     reminders, staff, tickets, trainer, web)
from numi.service.http import InvalidBody, client_address, error, invalid_body_response
from numi.service.scheduler import loop as scheduler_loop
from numi.settings import Settings

log = logging.getLogger(__name__)
# The public listener's areas, in the order their routes are matched; the private one's.
PUBLIC = (health.bp, chat.bp, staff.bp, tickets.bp, handoffs.bp, reminders.bp, dashboard.bp, calls.bp, customers.bp,
          alerts.bp, prompter.bp, trainer.bp, web.bp)
PRIVATE = (actions.bp,)


def _per_request_sessions(app: Sanic) -> None:
    """One database session per request: committed below 400, rolled back otherwise."""

    @app.middleware("request")
    async def open_session(request: Request) -> None:
        request.ctx.db = request.app.ctx.services.sessions()
        request.ctx.token = runtime.bind_session(request.ctx.db)

    @app.middleware("response")
    async def close_session(request: Request, response) -> None:
        db = getattr(request.ctx, "db", None)
        pending = getattr(request.ctx, "audit", None) or []  # a refusal still leaves its trace
        if db is None:  # refused before the session opened (wrong listener, no secret)
            if pending:
                with request.app.ctx.services.sessions() as own:
                    own.add_all(pending)
                    own.commit()
            return
        try:
            if response is None or response.status >= 400:
                db.rollback()
            db.add_all(pending)
            db.commit()
        finally:
            db.close()
            runtime.unbind_session(request.ctx.token)
            request.ctx.db = None


def _errors(app: Sanic) -> None:
    app.error_handler.add(InvalidBody, invalid_body_response)

    def unexpected(request, exc: Exception):
        status = getattr(exc, "status_code", 500)
        if isinstance(status, int) and 400 <= status < 500:
            return error("invalid_json", status) if status == 400 else app.error_handler.default(request, exc)
        log.error("unexpected error on %s %s: %s", request.method, request.path, type(exc).__name__)
        return error("internal", 500)

    app.error_handler.add(Exception, unexpected)


def _alerts_worker() -> "subprocess.Popen[bytes]":
    return subprocess.Popen([sys.executable, "-m", "numi.alerts.worker"], preexec_fn=lambda: os.nice(10))


async def _supervise_alerts_worker(app: Sanic, every: float = 2.0) -> None:
    """Start the alerts worker again when it exits while the service runs (a crash, a kill):
    the messages it had not acknowledged wait in RabbitMQ or the tracker store meanwhile."""
    delay = every
    while getattr(app.ctx, "alerts_worker", None) is not None:
        await asyncio.sleep(delay)
        worker = app.ctx.alerts_worker
        if worker is None or worker.poll() is None:
            delay = every
            continue
        log.warning("alerts worker exited (code %s): started again", worker.returncode)
        app.ctx.alerts_worker = _alerts_worker()
        delay = min(delay * 2, 30.0)  # a worker that dies at once is not restarted in a tight loop


def _base_app(settings: Settings, name: str) -> Sanic:
    app = Sanic(name)
    app.config.REQUEST_MAX_SIZE = 2_000_000
    app.config.FALLBACK_ERROR_FORMAT = "json"
    app.config.PROXIES_COUNT = settings.proxies_count
    app.ctx.settings = settings
    _errors(app)
    return app


ACTION_PATHS = ("/webhook", "/actions")


def _two_listeners(app: Sanic) -> None:
    """The custom actions answer only on the private listener, and only to calls that carry
    Rasa's shared secret; the public listener does not serve them at all (404)."""
    settings: Settings = app.ctx.settings
    expected = f"Bearer {settings.action_token}".encode() if settings.action_token else None

    @app.middleware("request")
    async def listener_of_the_route(request: Request):
        private = request.conn_info is not None and request.conn_info.server_port == settings.action_port
        is_action = request.path in ACTION_PATHS
        if private != is_action:
            return error("not_found", 404)
        if private:
            given = request.headers.get("authorization", "").encode()
            if expected is None or not hmac.compare_digest(given, expected):
                request.ctx.audit = [audit.event(utcnow(), f"{request.method} {request.path}", "unauthenticated",
                                                 address=client_address(request), details={"listener": "actions"})]
                return error("action_unauthorized", 401)


def inbound_receivers(services: Services, settings: Settings) -> List[Any]:
    """The configured ways mail comes in, started; each has `.stop()`."""
    deps = Deps(sessions=services.sessions, settings=settings, library=services.library,
                understand=rasa_understand(settings),
                deliver=lambda: outbox.flush(services.sessions, services.mailer))  # type: ignore[arg-type]
    started: List[Any] = []
    if settings.inbound.smtp is not None:
        started.append(start_smtp(deps))
    if settings.inbound.imap_url is not None:
        started.append(ImapPoller(deps).start())
    return started


def create_app(settings: Optional[Settings] = None, name: str = "numi", with_actions: bool = True,
               services: Optional[Services] = None) -> Sanic:
    """The numi service. Its resources (database, playbooks, mailer, rate limiter) open in
    its startup listener and close when it stops; `services` already opened by the caller
    (an in-process test) are used as they are and left open."""
    settings = settings or Settings.from_env()
    app = _base_app(settings, name)
    app.ctx.services = services

    _two_listeners(app)  # first: nothing else runs for a request on the wrong listener
    for blueprint in PUBLIC + PRIVATE:
        app.blueprint(blueprint)
    _per_request_sessions(app)

    async def open_resources(app: Sanic, _loop: asyncio.AbstractEventLoop) -> None:
        if app.ctx.services is None:  # (an ASGI client starts the app again for every request)
            app.ctx.services = runtime.init(app.ctx.settings)
            app.ctx.owns_services = True
        if getattr(app.ctx, "limiter", None) is None:
            app.ctx.limiter = Limiter(app.ctx.settings.rate_limits, app.ctx.settings.redis_url)

    async def start_actions_and_workers(app: Sanic, _loop: asyncio.AbstractEventLoop) -> None:
        s = app.ctx.settings
        if with_actions:  # the same app on a second, private socket (the app is already started)
            app.ctx.actions_server = await app.create_server(  # listening once awaited
                host=s.action_host, port=s.action_port, access_log=False, return_asyncio_server=True)
        if s.scheduler_enabled:
            app.add_task(scheduler_loop(app))
        if s.inbound.enabled:  # e-mail in: the SMTP listener, the IMAP poller (numi/inbox/receivers.py)
            app.ctx.inbound = inbound_receivers(app.ctx.services, s)
        if s.alerts_enabled:  # a niced process of its own (numi/alerts/worker.py), restarted if it dies
            app.ctx.alerts_worker = _alerts_worker()
            app.add_task(_supervise_alerts_worker(app))

    async def stop_workers(app: Sanic, _loop: asyncio.AbstractEventLoop) -> None:
        for receiver in getattr(app.ctx, "inbound", None) or []:
            receiver.stop()
        app.ctx.inbound = []
        server = getattr(app.ctx, "actions_server", None)
        if server is not None:
            server.close()
        worker = getattr(app.ctx, "alerts_worker", None)
        app.ctx.alerts_worker = None  # first: the supervisor does not start it again
        if worker is not None:
            worker.terminate()
            try:
                worker.wait(timeout=10)
            except Exception:
                worker.kill()

    async def close_resources(app: Sanic, _loop: asyncio.AbstractEventLoop) -> None:
        if getattr(app.ctx, "owns_services", False):
            runtime.close()
            app.ctx.services = None
            app.ctx.owns_services = False

    app.register_listener(open_resources, "before_server_start")
    app.register_listener(start_actions_and_workers, "after_server_start")
    app.register_listener(stop_workers, "before_server_stop")
    app.register_listener(close_resources, "after_server_stop")
    return app
