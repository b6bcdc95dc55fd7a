"""The staff API of ../shared/contract/http-api.md: tickets, handoffs, reminders, calls.

Every body is checked by its schema (numi/service/schemas.py); every ticket and handoff
read or action is checked against the caller's scope (numi/access.py)."""
from __future__ import annotations

from datetime import date, datetime

from sanic import Blueprint, response
from sqlalchemy import select

from numi import access
from numi.access import DESK, KPI_READERS
from numi.clock import local_date, utcnow
from numi.db import models as m
from numi.handoff import service as handoffs
from numi.rasa_client import RasaClient
from numi.reminders import dashboard, engine, renewals
from numi.reminders.policy import load_default
from numi.service import schemas
from numi.service.auth import audit_request, deny, require
from numi.service.http import body_of, error
from numi.tickets import lifecycle, service
from numi.tickets.lifecycle import Transition, TransitionError

bp = Blueprint("api", url_prefix="/api")
ADMIN_ONLY_FIELDS = ("id", "status", "waiting_reason", "waiting_since", "created_at")


def _bad(message: str, status: int = 400):
    return response.json({"error": message}, status=status)


def _dt(value):
    if value is None:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).replace(tzinfo=None)


def scoped_ticket(request, ref: str):
    """(ticket, refusal): the ticket `ref` if the caller may see it."""
    ticket = service.get_by_ref(request.ctx.db, ref)
    if ticket is None:
        return None, _bad("ticket introuvable", 404)
    if not access.ticket_visible(request.ctx.db, request.ctx.staff, ticket):
        return None, deny(request, "out_of_scope", target=ticket.ref)
    return ticket, None


@bp.get("/me")
@require(*access.ROLES)
async def me(request):
    """Who the bearer token belongs to (the console's sign-in)."""
    return response.json(request.ctx.staff)


@bp.get("/tickets")
@require(*DESK)
async def list_tickets(request):
    q = select(m.Ticket)
    for field in ("conversation_id", "customer_id", "status", "scenario"):
        value = request.args.get(field)
        if value:
            q = q.where(getattr(m.Ticket, field) == value[:128])
    scope = access.ticket_scope(request.ctx.staff)
    if scope is not None:
        q = q.where(scope)
    items = request.ctx.db.scalars(q.order_by(m.Ticket.number.desc()).limit(500))
    return response.json({"tickets": [m.ticket_json(t, with_history=False) for t in items]})


@bp.get("/tickets/<ref>")
@require(*DESK)
async def get_ticket(request, ref: str):
    ticket, refusal = scoped_ticket(request, ref)
    return refusal or response.json(m.ticket_json(ticket))


@bp.post("/tickets")
@require("hotliner", "level2", "supervisor", "cs")
async def create_ticket(request):
    body = body_of(request, schemas.TicketCreate)
    staff = request.ctx.staff
    if body.scenario not in request.app.ctx.services.library:
        return _bad("« scenario » doit être un scénario connu", 422)
    given = body.__fields_set__
    if staff["role"] != "admin" and any(k in given for k in ADMIN_ONLY_FIELDS):
        return deny(request)
    if body.queue is not None and not access.queue_allowed(staff, body.queue):
        return deny(request, "queue_out_of_scope")
    if body.customer_id is not None and request.ctx.db.get(m.Customer, body.customer_id) is None:
        return _bad("client inconnu", 422)
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
        return _bad(str(exc), 409)
    return response.json(m.ticket_json(ticket), status=201)


def _import_status(request, ticket, body: schemas.TicketCreate, staff) -> None:
    """An admin imports a ticket from another helpdesk in a given state."""
    if body.status == "waiting_customer" and body.waiting_reason is None:
        raise TransitionError("une mise en attente client exige un motif d'attente")
    ticket.status = body.status
    ticket.waiting_reason = body.waiting_reason
    ticket.waiting_since = _dt(body.waiting_since) or (utcnow() if body.status == "waiting_customer" else None)
    if body.status == "waiting_customer":
        ticket.next_reminder_due = load_default().first_due(ticket)
    service.record(request.ctx.db, ticket, actor=f"admin:{staff['name']}", event="imported", to_status=body.status,
                   details={"waiting_reason": ticket.waiting_reason})


@bp.patch("/tickets/<ref>")
@require("hotliner", "level2", "supervisor", "cs")
async def patch_ticket(request, ref: str):
    body = body_of(request, schemas.TicketPatch)
    ticket, refusal = scoped_ticket(request, ref)
    if refusal:
        return refusal
    staff = request.ctx.staff
    actor = access.actor(staff)
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
                close_reason=body.close_reason, note=body.note), actor=actor, waiting_for=body.waiting_for)
    except TransitionError as exc:
        request.ctx.db.rollback()
        return _bad(str(exc), 409)
    return response.json(m.ticket_json(ticket))


@bp.get("/handoffs")
@require(*DESK)
async def list_handoffs(request):
    queue = request.args.get("queue")
    if queue is not None and queue not in lifecycle.QUEUES:
        return _bad("file inconnue")
    staff = request.ctx.staff
    if queue is not None and not access.queue_allowed(staff, queue):
        return deny(request, "queue_out_of_scope")
    now = utcnow()
    items = [h for h in handoffs.waiting(request.ctx.db, queue) if access.queue_allowed(staff, h.queue)]
    return response.json({"handoffs": [handoffs.handoff_json(h, now) for h in items]})


# ---------------------------------------------------------------------------
# Reminders (seed 001): the daily run, the daily list, the KPIs, the call list
# ---------------------------------------------------------------------------
def _today(request, raw=None) -> date:
    raw = raw or request.args.get("today")
    if raw:
        return date.fromisoformat(raw)
    return local_date(utcnow(), request.app.ctx.settings.timezone)


BAD_DATE = "« today » doit être une date AAAA-MM-JJ"


@bp.post("/reminders/run")
@require("admin")
async def reminders_run(request):
    body = body_of(request, schemas.DayRun, optional=True)
    today = _today(request, body.today)
    services = request.app.ctx.services
    actions = engine.run(services.sessions, services.settings, today, dry_run=body.dry_run, mailer=services.mailer)
    return response.json({"date": today.isoformat(), "dry_run": body.dry_run,
                          "actions": [a.as_json() for a in actions]})


@bp.get("/reminders/daily")
@require(*DESK)
async def reminders_daily(request):
    try:
        today = _today(request)
    except ValueError:
        return _bad(BAD_DATE)
    return response.json(dashboard.daily_list(request.ctx.db, today, request.app.ctx.settings.timezone))


@bp.get("/reminders/kpis")
@require(*KPI_READERS)
async def reminders_kpis(request):
    try:
        today = _today(request)
    except ValueError:
        return _bad(BAD_DATE)
    return response.json({"kpis": dashboard.kpis(request.ctx.db, today, request.app.ctx.settings.timezone)})


@bp.get("/calls")
@require("hotliner", "level2", "supervisor")
async def call_list(request):
    rows = request.ctx.db.scalars(select(m.CallTask).where(m.CallTask.done_at.is_(None))
                                  .order_by(m.CallTask.urgent.desc(), m.CallTask.due_on))
    return response.json({"calls": [
        {"id": c.id, "ticket_id": m.ticket_ref(c.ticket_number) if c.ticket_number else None,
         "customer_id": c.customer_id, "reason": c.reason, "urgent": c.urgent, "due": c.due_on.isoformat(),
         "label": "APPELER MAINTENANT" if c.urgent else "APPELER", "script": c.script} for c in rows]})


# ---------------------------------------------------------------------------
# Live handoff: claim, read the packet, reply, hand back or close
# ---------------------------------------------------------------------------
def scoped_handoff(request, handoff_id: str):
    """(handoff, refusal): the handoff if it exists and its queue is the caller's."""
    h = request.ctx.db.get(m.Handoff, int(handoff_id)) if str(handoff_id).isdigit() and len(handoff_id) < 12 else None
    if h is None:
        return None, _bad("transfert introuvable", 404)
    if not access.queue_allowed(request.ctx.staff, h.queue):
        return None, deny(request, "queue_out_of_scope", target=f"handoff:{h.id}")
    return h, None


async def _tell_rasa(request, conversation_id: str, event: dict) -> None:
    settings = request.app.ctx.settings
    await RasaClient(settings.rasa_url, settings.rasa_token).system_event(conversation_id, event)


@bp.get("/handoffs/<handoff_id>")
@require(*DESK)
async def get_handoff(request, handoff_id: str):
    h, refusal = scoped_handoff(request, handoff_id)
    if refusal:
        return refusal
    audit_request(request, "allowed", target=h.customer_id or f"handoff:{h.id}", action="read_handoff_packet")
    body = handoffs.handoff_json(h, utcnow())
    body["messages"] = handoffs.messages(request.ctx.db, h.id)
    return response.json(body)


@bp.get("/handoffs/<handoff_id>/messages")
@require(*DESK)
async def handoff_messages(request, handoff_id: str):
    h, refusal = scoped_handoff(request, handoff_id)
    if refusal:
        return refusal
    after = request.args.get("after", "0")
    return response.json({"status": h.status, "messages": handoffs.messages(
        request.ctx.db, h.id, int(after) if after.isdigit() and len(after) < 12 else 0)})


@bp.post("/handoffs/<handoff_id>/claim")
@require(*DESK)
async def claim_handoff(request, handoff_id: str):
    h, refusal = scoped_handoff(request, handoff_id)
    if refusal:
        return refusal
    try:
        handoffs.claim(request.ctx.db, h, request.ctx.staff, utcnow())
    except handoffs.HandoffError as exc:
        return _bad(str(exc), exc.status)
    request.ctx.db.commit()
    await _tell_rasa(request, h.conversation_id, {"type": "handoff_claimed", "author": request.ctx.staff["name"]})
    return response.json(handoffs.handoff_json(h, utcnow()))


@bp.post("/handoffs/<handoff_id>/messages")
@require(*DESK)
async def reply_handoff(request, handoff_id: str):
    body = body_of(request, schemas.AgentMessage)
    h, refusal = scoped_handoff(request, handoff_id)
    if refusal:
        return refusal
    staff = request.ctx.staff
    if h.status != "claimed" or (h.claimed_by != staff["name"] and not access.sees_all(staff)):
        return _bad("prenez d'abord la conversation", 409)
    handoffs.record_message(request.ctx.db, h.id, "agent", body.text, staff["name"], utcnow())
    request.ctx.db.commit()
    await _tell_rasa(request, h.conversation_id, {"type": "agent_message", "text": body.text, "author": staff["name"]})
    return response.json({"ok": True}, status=201)


async def _end_handoff(request, handoff_id: str, close: bool):
    body = body_of(request, schemas.HandoffEnd, optional=True)
    h, refusal = scoped_handoff(request, handoff_id)
    if refusal:
        return refusal
    if close and (body.close_reason is None or not body.note):
        return _bad("clôturer demande « close_reason » (" + ", ".join(lifecycle.CLOSE_REASONS) + ") et « note »", 422)
    try:
        handoffs.end(request.ctx.db, h, request.ctx.staff, utcnow(), close_reason=body.close_reason if close else None,
                     note=body.note)
    except (handoffs.HandoffError, TransitionError) as exc:
        request.ctx.db.rollback()
        return _bad(str(exc), getattr(exc, "status", 409))
    request.ctx.db.commit()
    await _tell_rasa(request, h.conversation_id, {"type": "handoff_closed" if close else "handback"})
    return response.json(handoffs.handoff_json(h, utcnow()))


@bp.post("/handoffs/<handoff_id>/handback")
@require(*DESK)
async def handback(request, handoff_id: str):
    return await _end_handoff(request, handoff_id, close=False)


@bp.post("/handoffs/<handoff_id>/close")
@require(*DESK)
async def close_handoff(request, handoff_id: str):
    return await _end_handoff(request, handoff_id, close=True)


@bp.post("/renewals/run")
@require("admin")
async def renewals_run(request):
    """Start the renewal reminders due on `today` (7–30 days before expiry), each once."""
    body = body_of(request, schemas.DayRun, optional=True)
    today = _today(request, body.today)
    request.ctx.db.commit()  # no lock held while Rasa calls the actions back
    settings = request.app.ctx.settings
    started = await renewals.run(request.app.ctx.services, today, utcnow(),
                                 RasaClient(settings.rasa_url, settings.rasa_token))
    return response.json({"date": today.isoformat(), "started": started})


@bp.get("/callbacks")
@require("hotliner", "level2", "supervisor")
async def callbacks_list(request):
    """The specialists' call-back list (seed 003), with the conversation's context to read first."""
    from numi.clock import datetime_fr, to_local

    tz = request.app.ctx.settings.timezone
    rows = request.ctx.db.scalars(select(m.Callback).where(m.Callback.status == "scheduled")
                                  .order_by(m.Callback.slot_start))
    return response.json({"callbacks": [
        {"id": c.id, "when": m.as_iso(c.slot_start), "when_fr": datetime_fr(to_local(c.slot_start, tz).replace(tzinfo=None)),
         "customer_id": c.customer_id, "phone": c.phone, "subject": c.subject,
         "ticket_id": m.ticket_ref(c.ticket_number) if c.ticket_number else None, "context": c.context}
        for c in rows]})
