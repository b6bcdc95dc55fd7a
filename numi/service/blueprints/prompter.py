"""The prompter console's API (agent assist): start a call, relay what the caller
says to Rasa in agent mode, one-click ticket and escalation, the call summary."""
from __future__ import annotations

from typing import Any, Callable, Dict, Tuple, Type, TypeVar, Union

from sanic import Blueprint, response
from sanic.request import Request

from numi.db import models as m
from numi.prompter import calls
from numi.rasa_client import RasaClient, RasaError
from numi.service import schemas
from numi import wording
from numi.service.http import bad, body_of, message, require
from numi.vocab import PHONE

bp = Blueprint("prompter", url_prefix="/api/prompter")
OnCall = TypeVar("OnCall", bound=schemas.OnCall)


def _actor(request: Request) -> str:
    return f"{request.ctx.staff['role']}:{request.ctx.staff['name']}"


def _call(request: Request, call_id: str,
          schema: Type[OnCall]) -> Union[Tuple[OnCall, Dict[str, Any]], response.HTTPResponse]:
    """(body, call token payload), or the refusal: a request on a call, its schema and token checked."""
    body = body_of(request, schema)
    try:
        claims = calls.check_token(call_id, body.call_token, request.ctx.staff, request.app.ctx.settings.secret)
    except calls.CallError as exc:
        return bad(str(exc), exc.status)
    return body, claims


def _scenario(request: Request, body: Any) -> str:
    if body.scenario not in request.app.ctx.services.library:
        raise calls.CallError("unknown_scenario", 422)
    return str(body.scenario)


@bp.post("/calls")
@require(PHONE)
async def start_call(request: Request) -> response.HTTPResponse:
    body = body_of(request, schemas.StartCall, optional=True)
    customer = None
    if body.customer_id:
        customer = request.ctx.db.get(m.Customer, body.customer_id.strip().upper()[:16])
        if customer is None or customer.erased_at is not None:
            return bad(message("unknown_customer"), 404)
    return response.json(calls.start(request.ctx.staff, request.app.ctx.settings.secret, customer), status=201)


@bp.post("/calls/<call_id>/say")
@require(PHONE)
async def say(request: Request, call_id: str) -> response.HTTPResponse:
    checked = _call(request, call_id, schemas.CallerSays)
    if isinstance(checked, response.HTTPResponse):
        return checked
    body = checked[0]
    text = body.text
    if not text.strip():
        return bad(message("caller_text_required"), 422)
    metadata = {"agent_token": body.call_token}  # it names the caller when the hotliner identified them
    request.ctx.db.commit()  # no database lock held while Rasa calls the actions back
    settings = request.app.ctx.settings
    try:
        messages = await RasaClient(settings.rasa_url, settings.rasa_token).say(call_id, text[:4000], metadata)
    except (RasaError, OSError) as exc:
        return bad(message("assistant_unavailable", problem=exc), 502)
    ticket = calls.call_ticket(request.ctx.db, call_id)
    return response.json({"messages": messages,
                          "ticket": m.ticket_json(ticket, with_history=False) if ticket else None})


async def _on_ticket(request: Request, call_id: str, work: Callable[[Any, m.Ticket], object],
                     schema: Type[schemas.OnCall], status: int = 200,
                     **ticket_fields: Callable[[Any], Any]) -> response.HTTPResponse:
    """The call's ticket (opened if needed), then `work(body, ticket)`; a CallError undoes it all."""
    checked = _call(request, call_id, schema)
    if isinstance(checked, response.HTTPResponse):
        return checked
    body, claims = checked
    try:
        ticket = calls.ensure_ticket(request.ctx.db, call_id, _scenario(request, body), _actor(request),
                                     customer_id=claims.get("cust"),
                                     **{k: f(body) for k, f in ticket_fields.items()})
        work(body, ticket)
    except calls.CallError as exc:
        request.ctx.db.rollback()
        return bad(str(exc), exc.status)
    return response.json(m.ticket_json(ticket), status=status)


@bp.post("/calls/<call_id>/ticket")
@require(PHONE)
async def open_ticket(request: Request, call_id: str) -> response.HTTPResponse:
    return await _on_ticket(request, call_id, lambda body, ticket: None, schemas.CallTicket, status=201,
                            priority=lambda b: b.priority, subject=lambda b: (b.subject or "")[:200])


@bp.post("/calls/<call_id>/escalate")
@require(PHONE)
async def escalate(request: Request, call_id: str) -> response.HTTPResponse:
    return await _on_ticket(request, call_id, lambda body, ticket: calls.escalate(
        request.ctx.db, ticket, body.queue, _actor(request),
        reason=(body.reason or wording.text("ticket_history.prompter_escalation"))[:500]), schemas.CallEscalation)


@bp.post("/calls/<call_id>/summary")
@require(PHONE)
async def summary(request: Request, call_id: str) -> response.HTTPResponse:
    def save(body: schemas.CallSummary, ticket: m.Ticket) -> None:
        calls.save_summary(request.ctx.db, ticket, calls.clean_summary(body.dict()), _actor(request))

    return await _on_ticket(request, call_id, save, schemas.CallSummary)
