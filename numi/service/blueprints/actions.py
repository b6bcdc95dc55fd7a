"""POST /webhook: the rasa-sdk action-server protocol, on the numi service's private
listener (numi/service/app.py checks Rasa's shared secret before this runs)."""
from __future__ import annotations

import asyncio
import logging

from rasa_sdk.executor import ActionExecutor
from rasa_sdk.interfaces import ActionExecutionRejection, ActionNotFoundException
from sanic import Blueprint, Sanic, response
from sanic.request import Request

from numi.reminders import outbox
from numi.service import schemas
from numi.service.http import body_of

log = logging.getLogger(__name__)
bp = Blueprint("actions")
_executor = None


def executor() -> ActionExecutor:
    global _executor
    if _executor is None:
        _executor = ActionExecutor()
        _executor.register_package("actions")
    return _executor


@bp.post("/webhook")
async def webhook(request: Request) -> response.HTTPResponse:
    body_of(request, schemas.ActionCall)  # 400 / 422 before any action runs
    action_call = request.json
    try:
        result = await executor().run(action_call)
    except ActionExecutionRejection as e:
        return response.json({"error": e.message, "action_name": e.action_name}, status=400)
    except ActionNotFoundException as e:
        return response.json({"error": e.message, "action_name": e.action_name}, status=404)
    pending = request.ctx.db.info.pop("outbox_pending", False)
    request.ctx.db.commit()
    if pending:  # a one-time code, an invoice or a certificate leaves now, not at the next tick
        request.app.add_task(_deliver(request.app))
    return response.json(result, status=200)


async def _deliver(app: Sanic) -> None:
    services = app.ctx.services
    try:
        await asyncio.get_running_loop().run_in_executor(None, outbox.flush, services.sessions, services.mailer)
    except Exception:  # the scheduler retries every minute
        log.exception("outbox delivery failed")


@bp.get("/actions")
async def actions(request: Request) -> response.HTTPResponse:
    return response.json([{"name": k} for k in executor().actions.keys()])
