"""Seed 002 read by the desk: the alerts raised, and the signals (emotion, themes) of a
conversation's customer messages. Reads of a conversation are checked against the
caller's scope (numi/access.py) and audited."""
from __future__ import annotations

from sanic import Blueprint, response
from sanic.request import Request
from sqlalchemy import select

from numi import access
from numi.db import models as m
from numi.service.http import audit_request, bad, deny, message, require
from numi.vocab import ALERT_READERS, DESK

bp = Blueprint("alerts", url_prefix="/api")
FILTERS = ("rule", "customer_id", "conversation_id")


@bp.get("/alerts")
@require(ALERT_READERS)
async def alerts_list(request: Request) -> response.HTTPResponse:
    raw = request.args.get("limit", "100")
    q = select(m.Alert).order_by(m.Alert.id.desc()).limit(min(500, int(raw)) if raw.isdigit() and len(raw) < 6 else 100)
    for field in FILTERS:
        value = request.args.get(field)
        if value:
            q = q.where(getattr(m.Alert, field) == value[:128])
    return response.json({"alerts": [
        {"id": a.id, "rule": a.rule, "customer_id": a.customer_id, "conversation_id": a.conversation_id,
         "message": a.message, "created_at": m.as_iso(a.created_at), "recipients": a.recipients,
         "signals": a.signals} for a in request.ctx.db.scalars(q)]})


@bp.get("/conversations/<conversation_id>/signals")
@require(DESK)
async def conversation_signals(request: Request, conversation_id: str) -> response.HTTPResponse:
    """The signals of every customer message of a conversation, and the conversation's own."""
    if not access.conversation_visible(request.ctx.db, request.ctx.staff, conversation_id[:128]):
        return deny(request, "out_of_scope", target=conversation_id[:128])
    rows = list(request.ctx.db.scalars(select(m.MessageSignal).where(
        m.MessageSignal.conversation_id == conversation_id[:128]).order_by(m.MessageSignal.id)))
    if not rows:
        return bad(message("no_signals"), 404)
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
