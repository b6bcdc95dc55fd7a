"""Live handoffs: the waiting list, then claim, read the packet, reply, hand back or close.
Each action is told to the conversation on the Rasa server (a system event)."""
from __future__ import annotations

from typing import Optional, Union

from sanic import Blueprint, response
from sanic.request import Request

from numi import access
from numi.clock import utcnow
from numi.db import models as m
from numi.handoff import service as handoffs
from numi.service import schemas
from numi.service.http import audit_request, bad, body_of, deny, message, require, send_agent_message, tell_rasa
from numi.tickets import lifecycle
from numi.tickets.lifecycle import TransitionError
from numi.vocab import DESK

bp = Blueprint("handoffs", url_prefix="/api")


def scoped_handoff(request: Request, handoff_id: str) -> Union[m.Handoff, response.HTTPResponse]:
    """The handoff if it exists and its queue is the caller's, else the refusal (404, 403)."""
    h: Optional[m.Handoff] = (request.ctx.db.get(m.Handoff, int(handoff_id))
                              if str(handoff_id).isdigit() and len(handoff_id) < 12 else None)
    if h is None:
        return bad(message("unknown_handoff"), 404)
    if not access.queue_allowed(request.ctx.staff, h.queue):
        return deny(request, "queue_out_of_scope", target=f"handoff:{h.id}")
    return h


@bp.get("/handoffs")
@require(DESK)
async def list_handoffs(request: Request) -> response.HTTPResponse:
    queue = request.args.get("queue")
    if queue is not None and queue not in lifecycle.QUEUES:
        return bad(message("unknown_queue"))
    staff = request.ctx.staff
    if queue is not None and not access.queue_allowed(staff, queue):
        return deny(request, "queue_out_of_scope")
    now = utcnow()
    items = [h for h in handoffs.waiting(request.ctx.db, queue) if access.queue_allowed(staff, h.queue)]
    return response.json({"handoffs": [handoffs.handoff_json(h, now) for h in items]})


@bp.get("/handoffs/<handoff_id>")
@require(DESK)
async def get_handoff(request: Request, handoff_id: str) -> response.HTTPResponse:
    h = scoped_handoff(request, handoff_id)
    if isinstance(h, response.HTTPResponse):
        return h
    audit_request(request, "allowed", target=h.customer_id or f"handoff:{h.id}", action="read_handoff_packet")
    body = handoffs.handoff_json(h, utcnow())
    body["messages"] = handoffs.messages(request.ctx.db, h.id)
    return response.json(body)


@bp.get("/handoffs/<handoff_id>/messages")
@require(DESK)
async def handoff_messages(request: Request, handoff_id: str) -> response.HTTPResponse:
    h = scoped_handoff(request, handoff_id)
    if isinstance(h, response.HTTPResponse):
        return h
    after = request.args.get("after", "0")
    return response.json({"status": h.status, "messages": handoffs.messages(
        request.ctx.db, h.id, int(after) if after.isdigit() and len(after) < 12 else 0)})


@bp.post("/handoffs/<handoff_id>/claim")
@require(DESK)
async def claim_handoff(request: Request, handoff_id: str) -> response.HTTPResponse:
    h = scoped_handoff(request, handoff_id)
    if isinstance(h, response.HTTPResponse):
        return h
    try:
        handoffs.claim(request.ctx.db, h, request.ctx.staff, utcnow())
    except handoffs.HandoffError as exc:
        return bad(str(exc), exc.status)
    request.ctx.db.commit()
    await tell_rasa(request, h.conversation_id, {"type": "handoff_claimed", "author": request.ctx.staff["name"]})
    return response.json(handoffs.handoff_json(h, utcnow()))


@bp.post("/handoffs/<handoff_id>/messages")
@require(DESK)
async def reply_handoff(request: Request, handoff_id: str) -> response.HTTPResponse:
    body = body_of(request, schemas.AgentMessage)
    h = scoped_handoff(request, handoff_id)
    if isinstance(h, response.HTTPResponse):
        return h
    staff = request.ctx.staff
    if h.status != "claimed" or (h.claimed_by != staff["name"] and not access.sees_all(staff)):
        return bad(message("claim_first"), 409)
    handoffs.record_message(request.ctx.db, h.id, "agent", body.text, staff["name"], utcnow())
    request.ctx.db.commit()
    await send_agent_message(request, h.conversation_id, body.text, staff["name"])
    return response.json({"ok": True}, status=201)


async def _end_handoff(request: Request, handoff_id: str, close: bool) -> response.HTTPResponse:
    body = body_of(request, schemas.HandoffEnd, optional=True)
    h = scoped_handoff(request, handoff_id)
    if isinstance(h, response.HTTPResponse):
        return h
    if close and (body.close_reason is None or not body.note):
        return bad(message("close_needs_reason_and_note", reasons=", ".join(lifecycle.CLOSE_REASONS)), 422)
    try:
        handoffs.end(request.ctx.db, h, request.ctx.staff, utcnow(), close_reason=body.close_reason if close else None,
                     note=body.note)
    except (handoffs.HandoffError, TransitionError) as exc:
        request.ctx.db.rollback()
        return bad(str(exc), getattr(exc, "status", 409))
    request.ctx.db.commit()
    await tell_rasa(request, h.conversation_id, {"type": "handoff_closed" if close else "handback"})
    return response.json(handoffs.handoff_json(h, utcnow()))


@bp.post("/handoffs/<handoff_id>/handback")
@require(DESK)
async def handback(request: Request, handoff_id: str) -> response.HTTPResponse:
    return await _end_handoff(request, handoff_id, close=False)


@bp.post("/handoffs/<handoff_id>/close")
@require(DESK)
async def close_handoff(request: Request, handoff_id: str) -> response.HTTPResponse:
    return await _end_handoff(request, handoff_id, close=True)
