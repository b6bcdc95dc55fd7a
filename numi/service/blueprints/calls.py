"""The phone desk's lists: the calls the reminders ask for, and the specialists'
call-backs (seed 003) with the conversation's context to read first."""
from __future__ import annotations

from sanic import Blueprint, response
from sanic.request import Request
from sqlalchemy import select

from numi.clock import datetime_fr, to_local
from numi.db import models as m
from numi.service.http import require
from numi.vocab import PHONE

bp = Blueprint("calls", url_prefix="/api")


@bp.get("/calls")
@require(PHONE)
async def call_list(request: Request) -> response.HTTPResponse:
    rows = request.ctx.db.scalars(select(m.CallTask).where(m.CallTask.done_at.is_(None))
                                  .order_by(m.CallTask.urgent.desc(), m.CallTask.due_on))
    return response.json({"calls": [
        {"id": c.id, "ticket_id": m.ticket_ref(c.ticket_number) if c.ticket_number else None,
         "customer_id": c.customer_id, "reason": c.reason, "urgent": c.urgent, "due": c.due_on.isoformat(),
         "label": "APPELER MAINTENANT" if c.urgent else "APPELER", "script": c.script} for c in rows]})


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
