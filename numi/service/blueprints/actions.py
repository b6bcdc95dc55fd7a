"""POST /webhook: the rasa-sdk action-server protocol, on the numi service's private
listener (numi/service/app.py checks Rasa's shared secret before this runs)."""
from __future__ import annotations

from rasa_sdk.executor import ActionExecutor
from rasa_sdk.interfaces import ActionExecutionRejection, ActionNotFoundException
from sanic import Blueprint, response
from sanic.request import Request

from numi.service import schemas
from numi.service.http import body_of, commit_then_deliver

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
    commit_then_deliver(request)  # a one-time code, an invoice or a certificate leaves now, not at the next tick
    return response.json(result, status=200)


@bp.get("/actions")
async def actions(request: Request) -> response.HTTPResponse:
    return response.json([{"name": k} for k in executor().actions.keys()])
