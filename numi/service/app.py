"""`create_app(settings)`: the numi service. Resources open in startup listeners."""
from __future__ import annotations

import logging
from typing import Optional

from sanic import Sanic
from sanic.request import Request

from numi import runtime
from numi.settings import Settings

log = logging.getLogger(__name__)


def create_app(settings: Optional[Settings] = None, name: str = "numi") -> Sanic:
    settings = settings or Settings.from_env()
    app = Sanic(name)
    app.config.REQUEST_MAX_SIZE = 2_000_000
    app.config.FALLBACK_ERROR_FORMAT = "json"
    app.ctx.settings = settings

    from numi.service.actions_bp import bp as actions_bp
    from numi.service.api import bp as api_bp
    from numi.service.health import bp as health_bp
    from numi.service.prompter_bp import bp as prompter_bp
    from numi.service.trainer_bp import bp as trainer_bp
    from numi.service.web import bp as web_bp

    app.blueprint(health_bp)
    app.blueprint(actions_bp)
    app.blueprint(api_bp)
    app.blueprint(prompter_bp)
    app.blueprint(trainer_bp)
    app.blueprint(web_bp)

    @app.listener("before_server_start")
    async def open_resources(app: Sanic, _loop) -> None:
        app.ctx.services = runtime.init(app.ctx.settings)

    @app.listener("after_server_start")
    async def start_scheduler(app: Sanic, _loop) -> None:
        if app.ctx.settings.scheduler_enabled:
            from numi.service.scheduler import loop

            app.add_task(loop(app))
        if app.ctx.settings.alerts_enabled:  # a niced process of its own (numi/alerts/worker.py)
            import os
            import subprocess
            import sys

            app.ctx.alerts_worker = subprocess.Popen([sys.executable, "-m", "numi.alerts.worker"],
                                                     preexec_fn=lambda: os.nice(10))

    @app.listener("before_server_stop")
    async def stop_workers(app: Sanic, _loop) -> None:
        worker = getattr(app.ctx, "alerts_worker", None)
        if worker is not None:
            worker.terminate()
            try:
                worker.wait(timeout=10)
            except Exception:
                worker.kill()

    @app.listener("after_server_stop")
    async def close_resources(app: Sanic, _loop) -> None:
        runtime.close()

    @app.middleware("request")
    async def open_session(request: Request) -> None:
        request.ctx.db = runtime.get().sessions()
        request.ctx.token = runtime.bind_session(request.ctx.db)

    @app.middleware("response")
    async def close_session(request: Request, response) -> None:
        db = getattr(request.ctx, "db", None)
        if db is not None:
            try:
                if response is not None and response.status < 400:
                    db.commit()
                else:
                    db.rollback()
            finally:
                db.close()
                runtime.unbind_session(request.ctx.token)
                request.ctx.db = None

    return app
