"""The prompter console's API (agent assist): start a call, relay what the caller
says to Rasa in agent mode, one-click ticket and escalation, the call summary."""
from __future__ import annotations

from sanic import Blueprint, response

from numi.db import models as m
from numi.prompter import calls
from numi.rasa_client import RasaClient, RasaError
from numi.service.api import _bad, _body
from numi.service.auth import require
from numi.tickets.lifecycle import PRIORITIES

bp = Blueprint("prompter", url_prefix="/api/prompter")
ROLES = ("hotliner", "level2", "supervisor")


def _actor(request) -> str:
    return f"{request.ctx.staff['role']}:{request.ctx.staff['name']}"


def _call(request, call_id: str):
    """(body, error response): the body of a request on a call, its token checked."""
    body = _body(request)
    if body is None:
        return None, _bad("corps JSON attendu")
    try:
        body["_call"] = calls.check_token(call_id, body.get("call_token"), request.ctx.staff,
                                          request.app.ctx.settings.secret)
    except calls.CallError as exc:
        return None, _bad(str(exc), exc.status)
    return body, None


def _scenario(request, body) -> str:
    scenario = body.get("scenario")
    if not isinstance(scenario, str) or scenario not in request.app.ctx.services.library:
        raise calls.CallError("« scenario » doit être un scénario connu")
    return scenario


@bp.post("/calls")
@require(*ROLES)
async def start_call(request):
    body = _body(request) or {}
    customer = None
    if body.get("customer_id"):
        customer = request.ctx.db.get(m.Customer, str(body["customer_id"]).strip().upper()[:16])
        if customer is None or customer.erased_at is not None:
            return _bad("client inconnu", 404)
    return response.json(calls.start(request.ctx.staff, request.app.ctx.settings.secret, customer), status=201)


@bp.post("/calls/<call_id>/say")
@require(*ROLES)
async def say(request, call_id: str):
    body, error = _call(request, call_id)
    if error:
        return error
    text = body.get("text")
    if not isinstance(text, str) or not text.strip():
        return _bad("« text » : ce que dit l'appelant")
    metadata = {"agent_token": body["call_token"]}  # it names the caller when the hotliner identified them
    request.ctx.db.commit()  # no database lock held while Rasa calls the actions back
    settings = request.app.ctx.settings
    try:
        messages = await RasaClient(settings.rasa_url, settings.rasa_token).say(call_id, text[:4000], metadata)
    except (RasaError, OSError) as exc:
        return _bad(f"assistant indisponible : {exc}", 502)
    ticket = calls.call_ticket(request.ctx.db, call_id)
    return response.json({"messages": messages, "ticket": m.ticket_json(ticket, with_history=False) if ticket else None})


def _customer(request, body):
    return body["_call"].get("cust")


async def _on_ticket(request, call_id: str, work, status: int = 200, **ticket_fields):
    """The call's ticket (opened if needed), then `work(body, ticket)`; a CallError undoes it all."""
    body, error = _call(request, call_id)
    if error:
        return error
    try:
        ticket = calls.ensure_ticket(request.ctx.db, call_id, _scenario(request, body), _actor(request),
                                     customer_id=_customer(request, body),
                                     **{k: f(body) for k, f in ticket_fields.items()})
        work(body, ticket)
    except calls.CallError as exc:
        request.ctx.db.rollback()
        return _bad(str(exc), exc.status)
    return response.json(m.ticket_json(ticket), status=status)


@bp.post("/calls/<call_id>/ticket")
@require(*ROLES)
async def open_ticket(request, call_id: str):
    return await _on_ticket(request, call_id, lambda body, ticket: None, status=201,
                            priority=lambda b: b.get("priority") if b.get("priority") in PRIORITIES else None,
                            subject=lambda b: str(b.get("subject") or "")[:200])


@bp.post("/calls/<call_id>/escalate")
@require(*ROLES)
async def escalate(request, call_id: str):
    return await _on_ticket(request, call_id, lambda body, ticket: calls.escalate(
        request.ctx.db, ticket, str(body.get("queue")), _actor(request),
        reason=str(body.get("reason") or "escalade depuis le prompteur")[:500]))


@bp.post("/calls/<call_id>/summary")
@require(*ROLES)
async def summary(request, call_id: str):
    def save(body, ticket):
        calls.save_summary(request.ctx.db, ticket, calls.clean_summary(body), _actor(request))

    return await _on_ticket(request, call_id, save)
