"""Tickets: list, read, open (an admin may import one in a given state), and change.

Every read and action is checked against the caller's scope (numi/access.py)."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Dict, Optional, Union

from sanic import Blueprint, response
from sanic.request import Request
from sqlalchemy import select

from numi import access
from numi.clock import utcnow
from numi.db import models as m
from numi.reminders.policy import load_default
from numi.service import schemas
from numi.service.http import bad, body_of, deny, error, message, require
from numi.tickets import service
from numi.tickets.lifecycle import WAITING_REASONS, Transition, TransitionError
from numi.vocab import DESK

bp = Blueprint("tickets", url_prefix="/api")
ADMIN_ONLY_FIELDS = ("id", "status", "waiting_reason", "waiting_since", "created_at")
FILTERS = ("conversation_id", "customer_id", "status", "scenario")


def _dt(value: Optional[str]) -> Optional[datetime]:
    if value is None:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).replace(tzinfo=None)


def scoped_ticket(request: Request, ref: str) -> Union[m.Ticket, response.HTTPResponse]:
    """The ticket `ref` if the caller may see it, else the refusal (404, 403)."""
    ticket = service.get_by_ref(request.ctx.db, ref)
    if ticket is None:
        return bad(message("unknown_ticket"), 404)
    if not access.ticket_visible(request.ctx.db, request.ctx.staff, ticket):
        return deny(request, "out_of_scope", target=ticket.ref)
    return ticket


@bp.get("/tickets")
@require(DESK)
async def list_tickets(request: Request) -> response.HTTPResponse:
    q = select(m.Ticket)
    for field in FILTERS:
        value = request.args.get(field)
        if value:
            q = q.where(getattr(m.Ticket, field) == value[:128])
    scope = access.ticket_scope(request.ctx.staff)
    if scope is not None:
        q = q.where(scope)
    items = request.ctx.db.scalars(q.order_by(m.Ticket.number.desc()).limit(500))
    return response.json({"tickets": [m.ticket_json(t, with_history=False) for t in items]})


@bp.get("/tickets/<ref>")
@require(DESK)
async def get_ticket(request: Request, ref: str) -> response.HTTPResponse:
    ticket = scoped_ticket(request, ref)
    return ticket if isinstance(ticket, response.HTTPResponse) else response.json(m.ticket_json(ticket))


@bp.post("/tickets")
@require(DESK)
async def create_ticket(request: Request) -> response.HTTPResponse:
    body = body_of(request, schemas.TicketCreate)
    staff = request.ctx.staff
    if body.scenario not in request.app.ctx.services.library:
        return bad(message("unknown_scenario"), 422)
    given = body.__fields_set__
    if staff["role"] != "admin" and any(k in given for k in ADMIN_ONLY_FIELDS):
        return deny(request)
    if body.queue is not None and not access.queue_allowed(staff, body.queue):
        return deny(request, "queue_out_of_scope")
    if body.customer_id is not None and request.ctx.db.get(m.Customer, body.customer_id) is None:
        return bad(message("unknown_customer"), 422)
    number = m.parse_ticket_ref(body.id) if body.id else None
    if number is not None and request.ctx.db.get(m.Ticket, number) is not None:
        return error("ticket_id_taken", 409)
    try:
        ticket = service.open_ticket(
            request.ctx.db, scenario=body.scenario, actor=access.actor(staff), customer_id=body.customer_id,
            conversation_id=body.conversation_id, priority=body.priority, subject=body.subject or "",
            queue=body.queue, now=_dt(body.created_at) if staff["role"] == "admin" else None, number=number)
        if staff["role"] == "admin" and body.status and body.status != "new":
            _import_status(request, ticket, body, staff)
    except TransitionError as exc:
        request.ctx.db.rollback()
        return bad(str(exc), 409)
    return response.json(m.ticket_json(ticket), status=201)


def _import_status(request: Request, ticket: m.Ticket, body: schemas.TicketCreate, staff: Dict[str, Any]) -> None:
    """An admin imports a ticket from another helpdesk in a given state."""
    if body.status == "waiting_customer" and body.waiting_reason is None:
        raise TransitionError("waiting_reason_required", reasons=", ".join(WAITING_REASONS))
    ticket.status = body.status
    ticket.waiting_reason = body.waiting_reason
    ticket.waiting_since = _dt(body.waiting_since) or (utcnow() if body.status == "waiting_customer" else None)
    if body.status == "waiting_customer":
        ticket.next_reminder_due = load_default().first_due(ticket, request.app.ctx.settings.timezone)
    service.record(request.ctx.db, ticket, actor=f"admin:{staff['name']}", event="imported", to_status=body.status,
                   details={"waiting_reason": ticket.waiting_reason})


@bp.patch("/tickets/<ref>")
@require(DESK)
async def patch_ticket(request: Request, ref: str) -> response.HTTPResponse:
    body = body_of(request, schemas.TicketPatch)
    ticket = scoped_ticket(request, ref)
    if isinstance(ticket, response.HTTPResponse):
        return ticket
    actor = access.actor(request.ctx.staff)
    given = body.__fields_set__
    try:
        if "assignee" in given or "queue" in given:
            if "assignee" in given:
                ticket.assignee = body.assignee
            if "queue" in given:
                ticket.queue = body.queue
            service.record(request.ctx.db, ticket, actor=actor, event="assigned",
                           details={"assignee": ticket.assignee, "queue": ticket.queue})
        if "priority" in given:
            ticket.priority = body.priority
            service.record(request.ctx.db, ticket, actor=actor, event="priority_changed",
                           details={"priority": ticket.priority})
        if body.status and body.status != ticket.status:
            service.transition(request.ctx.db, ticket, Transition(
                body.status, reason=body.reason, waiting_reason=body.waiting_reason,
                close_reason=body.close_reason, note=body.note), actor=actor, waiting_for=body.waiting_for,
                tz=request.app.ctx.settings.timezone)
    except TransitionError as exc:
        request.ctx.db.rollback()
        return bad(str(exc), 409)
    return response.json(m.ticket_json(ticket))
