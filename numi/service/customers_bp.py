"""Customers: the CRM import (PUT), the customer tokens the website mints, the GDPR
erasure, the emotional CRM and alerts (seed 002), and the audit trail (admin).
Every read of a customer's record and every action on it is audited."""
from __future__ import annotations

import re
from datetime import timedelta

from sanic import Blueprint, response
from sqlalchemy import create_engine, select

from numi import access, audit, auth, gdpr
from numi.access import ALERT_READERS, DESK
from numi.clock import utcnow
from numi.db import models as m
from numi.rasa_ext import tracker_url
from numi.service import schemas
from numi.service.auth import audit_request, deny, require
from numi.service.http import body_of, error

bp = Blueprint("customers", url_prefix="/api")
NULLABLE = ("email", "phone", "satisfaction", "recommendation")
CUSTOMER_FIELDS = ("first_name", "last_name", "email", "phone", "segment", "perimeter", "satisfaction",
                   "recommendation")


def customer_json(c: m.Customer) -> dict:
    return {"id": c.id, **{f: getattr(c, f) for f in CUSTOMER_FIELDS}, "created_at": m.as_iso(c.created_at)}


@bp.put("/customers/<customer_id>")
@require("admin")
async def put_customer(request, customer_id: str):
    """Create or update a customer, as an import from the CRM does."""
    if not re.fullmatch(schemas.CUSTOMER_ID, customer_id):
        return error("invalid_field", 422, field="customer_id", problem="CLT-…")
    body = body_of(request, schemas.CustomerUpsert)
    customer = request.ctx.db.get(m.Customer, customer_id)
    if customer is not None and customer.erased_at is not None:
        return error("customer_erased", 409)
    created = customer is None
    if created:
        customer = m.Customer(id=customer_id, created_at=utcnow())
        request.ctx.db.add(customer)
    for field in body.__fields_set__ | {"first_name", "last_name"}:
        if getattr(body, field) is not None or field in NULLABLE:  # segment and perimeter have defaults
            setattr(customer, field, getattr(body, field))
    request.ctx.db.flush()
    audit_request(request, "allowed", target=customer_id, action="customer_created" if created else "customer_updated",
                  fields=sorted(body.__fields_set__))
    return response.json(customer_json(customer), status=201 if created else 200)


@bp.post("/customer-tokens")
@require("website")
async def mint_customer_token(request):
    """What the website's back end calls after its own login: a signed token for the widget."""
    body = body_of(request, schemas.CustomerTokenRequest)
    customer = request.ctx.db.get(m.Customer, body.customer_id)
    if customer is None or customer.erased_at is not None:
        audit_request(request, "denied", target=body.customer_id, action="customer_token")
        return error("unknown_customer", 404)
    settings = request.app.ctx.settings
    ttl = settings.customer_token_ttl_minutes * 60
    token = auth.customer_token(customer.id, settings.secret, ttl_seconds=ttl)
    audit_request(request, "allowed", target=customer.id, action="customer_token")
    return response.json({"customer_token": token, "expires_at": (utcnow() + timedelta(seconds=ttl)).isoformat() + "Z"},
                         status=201)


@bp.post("/customers/<customer_id>/erase")
@require("admin")
async def erase_customer(request, customer_id: str):
    """Carry out a GDPR erasure now (the scheduler does it when a confirmed request is due)."""
    tracker_engine = create_engine(tracker_url(), hide_parameters=True)
    try:
        counts = gdpr.erase(request.ctx.db, customer_id[:16], utcnow(), tracker_engine=tracker_engine,
                            mailbox_dir=request.app.ctx.settings.mailbox_dir)
    except ValueError:
        audit_request(request, "denied", target=customer_id[:16], action="erase_customer")
        return error("unknown_customer", 404)
    finally:
        tracker_engine.dispose()
    audit_request(request, "allowed", target=customer_id[:16], action="erase_customer")
    return response.json({"customer_id": customer_id[:16], "erased": counts})


@bp.get("/customers/<customer_id>/crm")
@require(*DESK)
async def customer_crm(request, customer_id: str):
    """The « CRM émotionnel »: segment, scores, churn risk, notes and the mood of the last interactions."""
    customer = request.ctx.db.get(m.Customer, customer_id[:16])
    if customer is None or customer.erased_at is not None:
        return error("unknown_customer", 404)
    audit_request(request, "allowed", target=customer.id, action="read_customer_crm")
    recent = request.ctx.db.scalars(select(m.MessageSignal).where(m.MessageSignal.customer_id == customer.id)
                                    .order_by(m.MessageSignal.at.desc()).limit(20))
    return response.json({
        "customer_id": customer.id, "segment": customer.segment, "perimeter": customer.perimeter,
        "satisfaction": customer.satisfaction, "recommendation": customer.recommendation,
        "churned": customer.churned, "churn_risk": customer.churn_risk, "notes": customer.crm_notes or [],
        "tags": sorted({n["tag"] for n in customer.crm_notes or [] if n.get("tag")}),
        "recent_mood": [{"at": m.as_iso(r.at), "emotion": r.emotion, "intensity": r.intensity,
                         "themes": r.themes, "scenario": r.scenario} for r in recent]})


@bp.get("/alerts")
@require(*ALERT_READERS)
async def alerts_list(request):
    raw = request.args.get("limit", "100")
    q = select(m.Alert).order_by(m.Alert.id.desc()).limit(min(500, int(raw)) if raw.isdigit() and len(raw) < 6 else 100)
    for field in ("rule", "customer_id", "conversation_id"):
        value = request.args.get(field)
        if value:
            q = q.where(getattr(m.Alert, field) == value[:128])
    return response.json({"alerts": [
        {"id": a.id, "rule": a.rule, "customer_id": a.customer_id, "conversation_id": a.conversation_id,
         "message": a.message, "created_at": m.as_iso(a.created_at), "recipients": a.recipients,
         "signals": a.signals} for a in request.ctx.db.scalars(q)]})


@bp.get("/conversations/<conversation_id>/signals")
@require(*DESK)
async def conversation_signals(request, conversation_id: str):
    """The signals of every customer message of a conversation, and the conversation's own."""
    if not access.conversation_visible(request.ctx.db, request.ctx.staff, conversation_id[:128]):
        return deny(request, "out_of_scope", target=conversation_id[:128])
    rows = list(request.ctx.db.scalars(select(m.MessageSignal).where(
        m.MessageSignal.conversation_id == conversation_id[:128]).order_by(m.MessageSignal.id)))
    if not rows:
        return response.json({"error": "aucun message analysé pour cette conversation"}, status=404)
    customer_id = next((r.customer_id for r in reversed(rows) if r.customer_id), None)
    audit_request(request, "allowed", target=customer_id or conversation_id[:128], action="read_conversation_signals")
    emotional = [r for r in rows if r.emotion != "neutral"]
    strongest = max(emotional, key=lambda r: r.intensity) if emotional else rows[-1]
    alerts = request.ctx.db.scalars(select(m.Alert.rule).where(m.Alert.conversation_id == conversation_id[:128]))
    return response.json({
        "conversation_id": conversation_id,
        "customer_id": customer_id,
        "messages": [{"at": m.as_iso(r.at), "mode": r.mode, "text": r.text, "intent": r.intent,
                      "scenario": r.scenario, "emotion": r.emotion, "polarity": r.polarity,
                      "intensity": r.intensity, "themes": r.themes, "keywords": r.keywords} for r in rows],
        "conversation": {"messages": len(rows), "strongest_emotion": strongest.emotion,
                         "strongest_intensity": strongest.intensity, "last_emotion": rows[-1].emotion,
                         "negative_share": round(sum(r.polarity == "negative" for r in rows) / len(rows), 3),
                         "themes": sorted({t for r in rows for t in r.themes}),
                         "scenarios": list(dict.fromkeys(r.scenario for r in rows if r.scenario))},
        "alerts": sorted(set(alerts))})


@bp.get("/audit")
@require("admin")
async def audit_trail(request):
    """The audit trail, newest first (?outcome=denied&actor=&target=&limit=)."""
    raw = request.args.get("limit", "100")
    outcome = request.args.get("outcome")
    if outcome is not None and outcome not in audit.OUTCOMES:
        return error("invalid_field", 422, field="outcome", problem=", ".join(audit.OUTCOMES))
    return response.json({"events": audit.recent(
        request.ctx.db, limit=min(1000, int(raw)) if raw.isdigit() and len(raw) < 6 else 100, outcome=outcome,
        actor=(request.args.get("actor") or "")[:100] or None, target=(request.args.get("target") or "")[:128] or None)})
