"""Tickets: list (filtered, with counts), read, open (an admin may import one in a given state),
and change; the console's ticket page: what it shows besides the ticket, the conversation's
transcript, internal notes and the agent's replies (e-mail or chat).

Every read and action is checked against the caller's scope (numi/access.py); the work is
numi/tickets/desk.py's."""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Dict, Optional, Union

from sanic import Blueprint, response
from sanic.request import Request

from numi import access, transcript
from numi.clock import utcnow
from numi.db import models as m
from numi.reminders.policy import load_default
from numi.replay.recorded import tracker_engine
from numi.service import schemas
from numi.service.http import (RASA_ERRORS, audit_request, bad, body_of, commit_then_deliver, deny, error, message,
                               query_of, require, send_agent_message)
from numi.tickets import desk, service
from numi.tickets.lifecycle import WAITING_REASONS, Transition, TransitionError
from numi.vocab import DESK

log = logging.getLogger(__name__)
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
    """The contract's filters (`conversation_id`, `customer_id`, `status`, `scenario`; `status=open`
    is every status but closed), and the desk's (`queue`, `priority`, `q`, `waiting_days_min`,
    `sort`, `limit`, `offset`, validated); `counts` of the filter beside the page."""
    query = query_of(request, schemas.TicketQuery)
    given = {field: request.args.get(field) for field in FILTERS}
    found = desk.TicketFilter(**given, **query.dict())
    items, counts = desk.list_tickets(request.ctx.db, request.ctx.staff, found, utcnow())
    return response.json({"tickets": items, "counts": counts})


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


# --- the console's ticket page ---------------------------------------------------------------
def _is_call(request: Request, ticket: m.Ticket) -> bool:
    if not ticket.conversation_id:
        return False
    with tracker_engine(request.app.ctx.settings.tracker_url) as tracker:
        return transcript.is_call(tracker, ticket.conversation_id)


@bp.get("/tickets/<ref>/desk")
@require(DESK)
async def ticket_desk(request: Request, ref: str) -> response.HTTPResponse:
    """The ticket with its history, its customer, the statuses it may go to, its handoffs and
    the channels an agent can answer on (audited: it shows the customer's contact)."""
    ticket = scoped_ticket(request, ref)
    if isinstance(ticket, response.HTTPResponse):
        return ticket
    chat = desk.chat_open(ticket, request.app.ctx.settings.secret, utcnow(), _is_call(request, ticket))
    audit_request(request, "allowed", target=ticket.customer_id or ticket.ref, action="read_ticket_desk")
    return response.json({"ticket": m.ticket_json(ticket), **desk.page_json(request.ctx.db, ticket, chat)})


@bp.get("/tickets/<ref>/conversation")
@require(DESK)
async def ticket_conversation(request: Request, ref: str) -> response.HTTPResponse:
    """The transcript of the ticket's conversation (numi/transcript.py), audited."""
    ticket = scoped_ticket(request, ref)
    if isinstance(ticket, response.HTTPResponse):
        return ticket
    if not ticket.conversation_id:
        return response.json({"conversation_id": None, "source": "none", "kind": None, "messages": []})
    audit_request(request, "allowed", target=ticket.customer_id or ticket.ref, action="read_ticket_conversation")
    with tracker_engine(request.app.ctx.settings.tracker_url) as tracker:
        body = transcript.transcript(request.ctx.db, tracker, ticket.conversation_id)
    return response.json(body)


@bp.post("/tickets/<ref>/notes")
@require(DESK)
async def add_note(request: Request, ref: str) -> response.HTTPResponse:
    """An internal note (`internal_note`): staff only, never shown to the customer."""
    body = body_of(request, schemas.TicketNote)
    ticket = scoped_ticket(request, ref)
    if isinstance(ticket, response.HTTPResponse):
        return ticket
    entry, new = desk.add_note(request.ctx.db, ticket, actor=access.actor(request.ctx.staff), text=body.text,
                               client_id=body.client_id)
    return response.json(desk.event_json(entry), status=201 if new else 200)


@bp.post("/tickets/<ref>/replies")
@require(DESK)
async def reply(request: Request, ref: str) -> response.HTTPResponse:
    """The agent's answer to the customer: an e-mail in the ticket's thread (delivered after the
    commit), or a message in the ticket's chat. The same `client_id` again is the same reply."""
    body = body_of(request, schemas.TicketReply)
    ticket = scoped_ticket(request, ref)
    if isinstance(ticket, response.HTTPResponse):
        return ticket
    if body.channel == "chat":
        return await _chat_reply(request, ticket, body)
    sent = desk.email_reply(request.ctx.db, request.app.ctx.settings, ticket, request.ctx.staff, body.text,
                            client_id=body.client_id)
    if sent is None:
        return error("no_customer_address", 409)
    commit_then_deliver(request)
    return response.json(sent.as_json(), status=201 if sent.new else 200)


async def _chat_reply(request: Request, ticket: m.Ticket, body: schemas.TicketReply) -> response.HTTPResponse:
    staff, settings = request.ctx.staff, request.app.ctx.settings
    actor = access.actor(staff)
    earlier = desk.chat_reply_sent(ticket, actor, body.client_id)
    if earlier is not None:
        return response.json(earlier.as_json(), status=200)
    conversation = ticket.conversation_id
    if conversation is None or not desk.chat_open(ticket, settings.secret, utcnow(), _is_call(request, ticket)):
        return error("no_chat", 409)
    try:
        await send_agent_message(request, conversation, body.text, staff["name"],
                                 key=desk.reply_key(ticket, actor, body.client_id))
    except RASA_ERRORS as exc:
        log.warning("agent message not delivered to %s: %s", ticket.ref, type(exc).__name__)
        return error("chat_unreachable", 502)
    sent = desk.record_chat_reply(request.ctx.db, ticket, actor=actor, text=body.text, client_id=body.client_id)
    request.ctx.db.commit()
    return response.json(sent.as_json(), status=201)
