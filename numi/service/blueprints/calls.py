"""The phone desk's lists: the calls the reminders ask for (with the customer's phone number),
what the hotliner records once a call is made (numi/reminders/calls.py: an unanswered reminder
call sends 001's SMS), and the specialists' call-backs (seed 003) with the conversation's
context to read first."""
from __future__ import annotations

from sanic import Blueprint, response
from sanic.request import Request
from sqlalchemy import select

from numi import access
from numi.clock import datetime_fr, to_local, utcnow
from numi.db import models as m
from numi.reminders import calls as call_outcomes
from numi.reminders import dashboard
from numi.service import schemas
from numi.service.http import bad, body_of, commit_then_deliver, message, require
from numi.vocab import CALL_OUTCOMES, PHONE

bp = Blueprint("calls", url_prefix="/api")


@bp.get("/calls")
@require(PHONE)
async def call_list(request: Request) -> response.HTTPResponse:
    """The calls still to make, the urgent ones first, each with the customer's phone number, and
    the outcomes a call may have (in the order the console offers them)."""
    rows = request.ctx.db.execute(
        select(m.CallTask, m.Customer.phone, m.Customer.first_name, m.Customer.last_name, m.Ticket.subject)
        .outerjoin(m.Customer, m.Customer.id == m.CallTask.customer_id)
        .outerjoin(m.Ticket, m.Ticket.number == m.CallTask.ticket_number)
        .where(m.CallTask.done_at.is_(None)).order_by(m.CallTask.urgent.desc(), m.CallTask.due_on, m.CallTask.id))
    buttons = dashboard.words()["buttons"]
    return response.json({"outcomes": list(CALL_OUTCOMES), "calls": [
        {"id": c.id, "ticket_id": m.ticket_ref(c.ticket_number) if c.ticket_number else None,
         "customer_id": c.customer_id, "customer_name": m.full_name(first, last),
         "subject": subject, "phone": phone, "reason": c.reason, "urgent": c.urgent,
         "due": c.due_on.isoformat(), "label": buttons["call_now"] if c.urgent else buttons["call"],
         "script": c.script} for c, phone, first, last, subject in rows]})


@bp.post("/calls/<call_id>/outcome")
@require(PHONE)
async def call_outcome(request: Request, call_id: str) -> response.HTTPResponse:
    """How the call went (`reached`, `no_answer`, `wrong_number`, and a note), once; the
    hotliner is the token's staff member. The SMS an unanswered reminder call sends leaves
    after the commit (within the send window)."""
    body = body_of(request, schemas.CallOutcomeBody)
    if not (call_id.isdigit() and len(call_id) < 12):
        return bad(message("unknown_call"), 404)
    try:
        done = call_outcomes.record_outcome(request.ctx.db, request.app.ctx.settings, int(call_id), body.outcome,
                                            actor=access.actor(request.ctx.staff), now=utcnow(), note=body.note)
    except call_outcomes.CallOutcomeError as exc:
        request.ctx.db.rollback()
        return bad(str(exc), exc.status)
    commit_then_deliver(request)
    return response.json(done.as_json())


@bp.get("/callbacks")
@require(PHONE)
async def callbacks_list(request: Request) -> response.HTTPResponse:
    """The specialists' call-back list (seed 003), with the conversation's context to read first."""
    tz = request.app.ctx.settings.timezone
    rows = request.ctx.db.scalars(select(m.Callback).where(m.Callback.status == "scheduled")
                                  .order_by(m.Callback.slot_start))
    return response.json({"callbacks": [
        {"id": c.id, "when": m.as_iso(c.slot_start),
         "when_fr": datetime_fr(to_local(c.slot_start, tz).replace(tzinfo=None)),
         "customer_id": c.customer_id, "phone": c.phone, "subject": c.subject,
         "ticket_id": m.ticket_ref(c.ticket_number) if c.ticket_number else None, "context": c.context}
        for c in rows]})
