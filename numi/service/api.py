"""The staff API of ../shared/contract/http-api.md (tickets, handoffs)."""
from __future__ import annotations

from datetime import datetime

from sanic import Blueprint, response
from sqlalchemy import select

from numi.clock import utcnow
from numi.db import models as m
from numi.handoff import service as handoffs
from numi.service.auth import require
from numi.tickets import lifecycle, service
from numi.tickets.lifecycle import Transition, TransitionError

bp = Blueprint("api", url_prefix="/api")
STAFF = ("hotliner", "level2", "supervisor", "trainer")
ADMIN_ONLY_FIELDS = ("status", "priority", "waiting_reason", "waiting_since", "created_at")


def _bad(message: str, status: int = 400):
    return response.json({"error": message}, status=status)


def _body(request):
    try:
        body = request.json
    except Exception:
        body = None
    return body if isinstance(body, dict) else None


@bp.get("/me")
@require(*STAFF)
async def me(request):
    """Who the bearer token belongs to (the console's sign-in)."""
    return response.json(request.ctx.staff)


@bp.get("/tickets")
@require(*STAFF)
async def list_tickets(request):
    q = select(m.Ticket)
    for field in ("conversation_id", "customer_id", "status", "scenario"):
        value = request.args.get(field)
        if value:
            q = q.where(getattr(m.Ticket, field) == value)
    items = request.ctx.db.scalars(q.order_by(m.Ticket.number.desc()).limit(500))
    return response.json({"tickets": [m.ticket_json(t, with_history=False) for t in items]})


@bp.get("/tickets/<ref>")
@require(*STAFF)
async def get_ticket(request, ref: str):
    ticket = service.get_by_ref(request.ctx.db, ref)
    if ticket is None:
        return _bad("ticket introuvable", 404)
    return response.json(m.ticket_json(ticket))


@bp.post("/tickets")
@require("hotliner", "level2", "supervisor")
async def create_ticket(request):
    body = _body(request)
    if body is None:
        return _bad("corps JSON attendu")
    staff = request.ctx.staff
    scenario = body.get("scenario")
    if not isinstance(scenario, str) or scenario not in request.app.ctx.services.library:
        return _bad("« scenario » doit être un scénario connu")
    if staff["role"] != "admin" and any(k in body for k in ADMIN_ONLY_FIELDS if k != "priority"):
        return _bad("seul un administrateur peut fixer statut, attente ou dates", 403)
    customer_id = body.get("customer_id")
    if customer_id is not None and request.ctx.db.get(m.Customer, customer_id) is None:
        return _bad("client inconnu")
    try:
        ticket = service.open_ticket(
            request.ctx.db, scenario=scenario, actor=f"{staff['role']}:{staff['name']}", customer_id=customer_id,
            conversation_id=body.get("conversation_id"), priority=body.get("priority"),
            subject=str(body.get("subject") or ""), queue=body.get("queue"),
            now=_dt(body.get("created_at")) if staff["role"] == "admin" else None)
        if staff["role"] == "admin" and body.get("status") and body["status"] != "new":
            _import_status(request, ticket, body, staff)
    except (TransitionError, ValueError) as exc:
        request.ctx.db.rollback()
        return _bad(str(exc), 409 if isinstance(exc, TransitionError) else 400)
    return response.json(m.ticket_json(ticket), status=201)


def _dt(value):
    if value is None:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).replace(tzinfo=None)


def _import_status(request, ticket, body, staff) -> None:
    """An admin imports a ticket from another helpdesk in a given state."""
    from numi.reminders.policy import load_default

    status = body["status"]
    if status not in lifecycle.STATUSES:
        raise TransitionError(f"statut inconnu : {status}")
    if status == "waiting_customer" and body.get("waiting_reason") not in lifecycle.WAITING_REASONS:
        raise TransitionError("une mise en attente client exige un motif d'attente")
    ticket.status = status
    ticket.waiting_reason = body.get("waiting_reason")
    ticket.waiting_since = _dt(body.get("waiting_since")) or (utcnow() if status == "waiting_customer" else None)
    if status == "waiting_customer":
        ticket.next_reminder_due = load_default().first_due(ticket)
    service.record(request.ctx.db, ticket, actor=f"admin:{staff['name']}", event="imported", to_status=status,
                   details={"waiting_reason": ticket.waiting_reason})


@bp.patch("/tickets/<ref>")
@require("hotliner", "level2", "supervisor")
async def patch_ticket(request, ref: str):
    body = _body(request)
    if body is None:
        return _bad("corps JSON attendu")
    ticket = service.get_by_ref(request.ctx.db, ref)
    if ticket is None:
        return _bad("ticket introuvable", 404)
    staff = request.ctx.staff
    actor = f"{staff['role']}:{staff['name']}"
    try:
        if "assignee" in body or "queue" in body:
            if body.get("queue") is not None and body["queue"] not in lifecycle.QUEUES:
                return _bad("file inconnue")
            ticket.assignee = body.get("assignee", ticket.assignee)
            ticket.queue = body.get("queue", ticket.queue)
            service.record(request.ctx.db, ticket, actor=actor, event="assigned",
                           details={"assignee": ticket.assignee, "queue": ticket.queue})
        if "priority" in body:
            if body["priority"] is not None and body["priority"] not in lifecycle.PRIORITIES:
                return _bad("priorité inconnue")
            ticket.priority = body["priority"]
            service.record(request.ctx.db, ticket, actor=actor, event="priority_changed",
                           details={"priority": ticket.priority})
        if body.get("status") and body["status"] != ticket.status:
            service.transition(request.ctx.db, ticket, Transition(
                body["status"], reason=body.get("reason"), waiting_reason=body.get("waiting_reason"),
                close_reason=body.get("close_reason"), note=body.get("note")), actor=actor,
                waiting_for=body.get("waiting_for"))
    except TransitionError as exc:
        request.ctx.db.rollback()
        return _bad(str(exc), 409)
    return response.json(m.ticket_json(ticket))


@bp.get("/handoffs")
@require("hotliner", "level2", "supervisor")
async def list_handoffs(request):
    queue = request.args.get("queue")
    if queue is not None and queue not in lifecycle.QUEUES:
        return _bad("file inconnue")
    now = utcnow()
    return response.json({"handoffs": [handoffs.handoff_json(h, now) for h in handoffs.waiting(request.ctx.db, queue)]})


# ---------------------------------------------------------------------------
# Reminders (seed 001): the daily run, the daily list, the KPIs, the call list
# ---------------------------------------------------------------------------
def _today(request):
    from datetime import date

    from numi.clock import local_date

    raw = request.args.get("today")
    if raw:
        return date.fromisoformat(raw)
    return local_date(utcnow(), request.app.ctx.settings.timezone)


def _body_today(request):
    """(body, today) from a JSON body with an optional « today »; today is None if invalid."""
    from datetime import date

    body = _body(request) or {}
    try:
        return body, (date.fromisoformat(str(body["today"])) if body.get("today") else _today(request))
    except ValueError:
        return body, None


BAD_DATE = "« today » doit être une date AAAA-MM-JJ"


@bp.post("/reminders/run")
@require("admin")
async def reminders_run(request):
    from numi.reminders import engine

    body, today = _body_today(request)
    if today is None:
        return _bad(BAD_DATE)
    dry_run = body.get("dry_run", False)
    if not isinstance(dry_run, bool):
        return _bad("« dry_run » doit être true ou false")
    services = request.app.ctx.services
    actions = engine.run(services.sessions, services.settings, today, dry_run=dry_run, mailer=services.mailer)
    return response.json({"date": today.isoformat(), "dry_run": dry_run,
                          "actions": [a.as_json() for a in actions]})


@bp.get("/reminders/daily")
@require(*STAFF)
async def reminders_daily(request):
    from numi.reminders import dashboard

    try:
        today = _today(request)
    except ValueError:
        return _bad(BAD_DATE)
    return response.json(dashboard.daily_list(request.ctx.db, today, request.app.ctx.settings.timezone))


@bp.get("/reminders/kpis")
@require("supervisor", "level2", "hotliner", "trainer")
async def reminders_kpis(request):
    from numi.reminders import dashboard

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
def _handoff(request, handoff_id: str):
    if not str(handoff_id).isdigit():
        return None
    return request.ctx.db.get(m.Handoff, int(handoff_id))


async def _tell_rasa(request, conversation_id: str, event: dict) -> None:
    from numi.rasa_client import RasaClient

    settings = request.app.ctx.settings
    await RasaClient(settings.rasa_url, settings.rasa_token).system_event(conversation_id, event)


@bp.get("/handoffs/<handoff_id>")
@require("hotliner", "level2", "supervisor")
async def get_handoff(request, handoff_id: str):
    h = _handoff(request, handoff_id)
    if h is None:
        return _bad("transfert introuvable", 404)
    body = handoffs.handoff_json(h, utcnow())
    body["messages"] = handoffs.messages(request.ctx.db, h.id)
    return response.json(body)


@bp.get("/handoffs/<handoff_id>/messages")
@require("hotliner", "level2", "supervisor")
async def handoff_messages(request, handoff_id: str):
    h = _handoff(request, handoff_id)
    if h is None:
        return _bad("transfert introuvable", 404)
    after = request.args.get("after", "0")
    return response.json({"status": h.status,
                          "messages": handoffs.messages(request.ctx.db, h.id, int(after) if after.isdigit() else 0)})


@bp.post("/handoffs/<handoff_id>/claim")
@require("hotliner", "level2", "supervisor")
async def claim_handoff(request, handoff_id: str):
    h = _handoff(request, handoff_id)
    if h is None:
        return _bad("transfert introuvable", 404)
    try:
        handoffs.claim(request.ctx.db, h, request.ctx.staff, utcnow())
    except handoffs.HandoffError as exc:
        return _bad(str(exc), exc.status)
    request.ctx.db.commit()
    await _tell_rasa(request, h.conversation_id, {"type": "handoff_claimed", "author": request.ctx.staff["name"]})
    return response.json(handoffs.handoff_json(h, utcnow()))


@bp.post("/handoffs/<handoff_id>/messages")
@require("hotliner", "level2", "supervisor")
async def reply_handoff(request, handoff_id: str):
    h = _handoff(request, handoff_id)
    body = _body(request)
    if h is None:
        return _bad("transfert introuvable", 404)
    text = (body or {}).get("text")
    if not isinstance(text, str) or not text.strip() or len(text) > 4000:
        return _bad("« text » : un message de 1 à 4000 caractères")
    staff = request.ctx.staff
    if h.status != "claimed" or (h.claimed_by != staff["name"] and staff["role"] not in ("supervisor", "admin")):
        return _bad("prenez d'abord la conversation", 409)
    handoffs.record_message(request.ctx.db, h.id, "agent", text.strip(), staff["name"], utcnow())
    request.ctx.db.commit()
    await _tell_rasa(request, h.conversation_id, {"type": "agent_message", "text": text.strip(), "author": staff["name"]})
    return response.json({"ok": True}, status=201)


async def _end_handoff(request, handoff_id: str, close: bool):
    h = _handoff(request, handoff_id)
    if h is None:
        return _bad("transfert introuvable", 404)
    body = _body(request) or {}
    reason, note = body.get("close_reason"), body.get("note")
    if close and (reason not in lifecycle.CLOSE_REASONS or not isinstance(note, str) or not note.strip()):
        return _bad("clôturer demande « close_reason » (" + ", ".join(lifecycle.CLOSE_REASONS) + ") et « note »")
    try:
        handoffs.end(request.ctx.db, h, request.ctx.staff, utcnow(), close_reason=reason if close else None,
                     note=note)
    except (handoffs.HandoffError, TransitionError) as exc:
        request.ctx.db.rollback()
        return _bad(str(exc), getattr(exc, "status", 409))
    request.ctx.db.commit()
    await _tell_rasa(request, h.conversation_id, {"type": "handoff_closed" if close else "handback"})
    return response.json(handoffs.handoff_json(h, utcnow()))


@bp.post("/handoffs/<handoff_id>/handback")
@require("hotliner", "level2", "supervisor")
async def handback(request, handoff_id: str):
    return await _end_handoff(request, handoff_id, close=False)


@bp.post("/handoffs/<handoff_id>/close")
@require("hotliner", "level2", "supervisor")
async def close_handoff(request, handoff_id: str):
    return await _end_handoff(request, handoff_id, close=True)


@bp.post("/renewals/run")
@require("admin")
async def renewals_run(request):
    """Start the renewal reminders due on `today` (7–30 days before expiry), each once."""
    from numi.rasa_client import RasaClient
    from numi.reminders import renewals

    _, today = _body_today(request)
    if today is None:
        return _bad(BAD_DATE)
    request.ctx.db.commit()  # no lock held while Rasa calls the actions back
    settings = request.app.ctx.settings
    started = await renewals.run(request.app.ctx.services, today, utcnow(),
                                 RasaClient(settings.rasa_url, settings.rasa_token))
    return response.json({"date": today.isoformat(), "started": started})


@bp.post("/customers/<customer_id>/erase")
@require("admin")
async def erase_customer(request, customer_id: str):
    """Carry out a GDPR erasure now (the scheduler does it when a confirmed request is due)."""
    from sqlalchemy import create_engine

    from numi import gdpr
    from numi.rasa_ext import tracker_url

    tracker_engine = create_engine(tracker_url())
    try:
        counts = gdpr.erase(request.ctx.db, customer_id, utcnow(), tracker_engine=tracker_engine)
    except ValueError as exc:
        return _bad(str(exc), 404)
    finally:
        tracker_engine.dispose()
    return response.json({"customer_id": customer_id, "erased": counts})


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


# ---------------------------------------------------------------------------
# Alerts and the emotional CRM (seed 002)
# ---------------------------------------------------------------------------
@bp.get("/alerts")
@require("level2", "supervisor")
async def alerts_list(request):
    raw = request.args.get("limit", "100")
    q = select(m.Alert).order_by(m.Alert.id.desc()).limit(min(500, int(raw)) if raw.isdigit() else 100)
    for field in ("rule", "customer_id", "conversation_id"):
        value = request.args.get(field)
        if value:
            q = q.where(getattr(m.Alert, field) == value)
    return response.json({"alerts": [
        {"id": a.id, "rule": a.rule, "customer_id": a.customer_id, "conversation_id": a.conversation_id,
         "message": a.message, "created_at": m.as_iso(a.created_at), "recipients": a.recipients,
         "signals": a.signals} for a in request.ctx.db.scalars(q)]})


@bp.get("/customers/<customer_id>/crm")
@require(*STAFF)
async def customer_crm(request, customer_id: str):
    """The « CRM émotionnel »: segment, scores, churn risk, notes and the mood of the last interactions."""
    customer = request.ctx.db.get(m.Customer, customer_id)
    if customer is None or customer.erased_at is not None:
        return _bad("client introuvable", 404)
    recent = request.ctx.db.scalars(select(m.MessageSignal).where(m.MessageSignal.customer_id == customer_id)
                                    .order_by(m.MessageSignal.at.desc()).limit(20))
    return response.json({
        "customer_id": customer.id, "segment": customer.segment, "perimeter": customer.perimeter,
        "satisfaction": customer.satisfaction, "recommendation": customer.recommendation,
        "churned": customer.churned, "churn_risk": customer.churn_risk, "notes": customer.crm_notes or [],
        "tags": sorted({n["tag"] for n in customer.crm_notes or [] if n.get("tag")}),
        "recent_mood": [{"at": m.as_iso(r.at), "emotion": r.emotion, "intensity": r.intensity,
                         "themes": r.themes, "scenario": r.scenario} for r in recent]})


@bp.get("/conversations/<conversation_id>/signals")
@require(*STAFF)
async def conversation_signals(request, conversation_id: str):
    """The signals of every customer message of a conversation, and the conversation's own."""
    rows = list(request.ctx.db.scalars(select(m.MessageSignal).where(m.MessageSignal.conversation_id == conversation_id)
                                       .order_by(m.MessageSignal.id)))
    if not rows:
        return _bad("aucun message analysé pour cette conversation", 404)
    emotional = [r for r in rows if r.emotion != "neutral"]
    strongest = max(emotional, key=lambda r: r.intensity) if emotional else rows[-1]
    alerts = request.ctx.db.scalars(select(m.Alert.rule).where(m.Alert.conversation_id == conversation_id))
    return response.json({
        "conversation_id": conversation_id,
        "customer_id": next((r.customer_id for r in reversed(rows) if r.customer_id), None),
        "messages": [{"at": m.as_iso(r.at), "mode": r.mode, "text": r.text, "intent": r.intent,
                      "scenario": r.scenario, "emotion": r.emotion, "polarity": r.polarity,
                      "intensity": r.intensity, "themes": r.themes, "keywords": r.keywords} for r in rows],
        "conversation": {"messages": len(rows), "strongest_emotion": strongest.emotion,
                         "strongest_intensity": strongest.intensity, "last_emotion": rows[-1].emotion,
                         "negative_share": round(sum(r.polarity == "negative" for r in rows) / len(rows), 3),
                         "themes": sorted({t for r in rows for t in r.themes}),
                         "scenarios": list(dict.fromkeys(r.scenario for r in rows if r.scenario))},
        "alerts": sorted(set(alerts))})
