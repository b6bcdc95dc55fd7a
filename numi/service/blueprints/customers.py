"""Customers: the CRM import (PUT), the customer tokens the website mints, the GDPR
erasure and the emotional CRM (seed 002). Every read of a customer's record and every
action on it is audited."""
from __future__ import annotations

import re
from datetime import timedelta
from typing import Any, Dict, List, Optional, Union

from sanic import Blueprint, response
from sanic.request import Request
from sqlalchemy import create_engine, select

from numi import access, auth, continuity, customer_file, gdpr
from numi.alerts.engine import ruleset
from numi.clock import utcnow
from numi.db import models as m
from numi.prompter import calls
from numi.rasa_patches.stores import tracker_url
from numi.replay.recorded import tracker_engine
from numi.service import schemas
from numi.service.http import audit_request, body_of, deny, error, require
from numi.vocab import ADMIN, ALERT_READERS, DESK, WEBSITE

bp = Blueprint("customers", url_prefix="/api")
NULLABLE = ("email", "phone", "satisfaction", "recommendation")
CUSTOMER_FIELDS = ("first_name", "last_name", "email", "phone", "segment", "perimeter", "satisfaction",
                   "recommendation")


def customer_json(c: m.Customer) -> Dict[str, Any]:
    return {"id": c.id, **{f: getattr(c, f) for f in CUSTOMER_FIELDS}, "created_at": m.as_iso(c.created_at),
            "email_failing": c.email_failing_at is not None}  # a bounce came back from the address


@bp.put("/customers/<customer_id>")
@require(ADMIN)
async def put_customer(request: Request, customer_id: str) -> response.HTTPResponse:
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
    if "email" in body.__fields_set__ and (body.email or "").lower() != (customer.email or "").lower():
        customer.email_failing_at = None  # a new address: not known to bounce
    for field in body.__fields_set__ | {"first_name", "last_name"}:
        if getattr(body, field) is not None or field in NULLABLE:  # segment and perimeter have defaults
            setattr(customer, field, getattr(body, field))
    request.ctx.db.flush()
    audit_request(request, "allowed", target=customer_id, action="customer_created" if created else "customer_updated",
                  fields=sorted(body.__fields_set__))
    return response.json(customer_json(customer), status=201 if created else 200)


@bp.post("/customer-tokens")
@require(WEBSITE)
async def mint_customer_token(request: Request) -> response.HTTPResponse:
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
@require(ADMIN)
async def erase_customer(request: Request, customer_id: str) -> response.HTTPResponse:
    """Carry out a GDPR erasure now (the scheduler does it when a confirmed request is due)."""
    tracker_engine = create_engine(tracker_url(request.app.ctx.settings), hide_parameters=True)
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
@require(DESK)
async def customer_crm(request: Request, customer_id: str) -> response.HTTPResponse:
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


# --- the customer's file and their last interactions (the console's page /console/client) ---------
CALL_TOKEN_HEADER = "x-numi-call-token"  # the prompter's call token: the customer on the line


def _call_on_line(request: Request) -> Optional[Dict[str, Any]]:
    """The caller's own prompter call named by the request's call token, if any."""
    token = request.headers.get(CALL_TOKEN_HEADER)
    return calls.call_of(token, request.ctx.staff, request.app.ctx.settings.secret) if token else None


def visible_customer(request: Request, customer_id: str) -> Union[m.Customer, response.HTTPResponse]:
    """The customer if the caller may see them (numi/access.py, or a call with them), else
    the refusal: 404 unknown or erased, 403 out of scope (audited, nothing of the customer)."""
    customer: Optional[m.Customer] = request.ctx.db.get(m.Customer, customer_id.strip().upper()[:16])
    if customer is None or customer.erased_at is not None:
        return error("unknown_customer", 404)
    call = _call_on_line(request)
    on_the_line = call is not None and call.get("cust") == customer.id
    if not on_the_line and not access.customer_visible(request.ctx.db, request.ctx.staff, customer.id):
        return deny(request, "customer_out_of_scope", target=customer.id)
    return customer


def _alert_titles(request: Request) -> Optional[Dict[str, str]]:
    """The alert rules' titles for a role that reads the alerts, else None (no alerts shown)."""
    role = request.ctx.staff["role"]
    if role != "admin" and role not in ALERT_READERS:
        return None
    return {r.id: r.title for r in ruleset(request.app.ctx.settings).rules}


@bp.get("/customers/<customer_id>")
@require(DESK)
async def customer_record(request: Request, customer_id: str) -> response.HTTPResponse:
    """The customer's file: contact, subscriptions, invoices, tickets and (alert readers) alerts."""
    customer = visible_customer(request, customer_id)
    if isinstance(customer, response.HTTPResponse):
        return customer
    audit_request(request, "allowed", target=customer.id, action="read_customer_record")
    body = customer_file.record(request.ctx.db, customer, request.ctx.staff, alert_titles=_alert_titles(request))
    return response.json({"customer": customer_json(customer), **body})


@bp.get("/customers/<customer_id>/continuity")
@require(DESK)
async def customer_continuity(request: Request, customer_id: str) -> response.HTTPResponse:
    """Open tickets and the last interactions, whatever the channel (seed 003). The conversation
    on screen is left out: the handoff's (`?exclude_handoff=<id>`) or the call's (its token)."""
    customer = visible_customer(request, customer_id)
    if isinstance(customer, response.HTTPResponse):
        return customer
    exclude: List[str] = []
    call = _call_on_line(request)
    if call is not None:
        exclude.append(call["conv"])
    handoff_id = request.args.get("exclude_handoff", "")
    if handoff_id.isdigit() and len(handoff_id) < 12:
        handoff = request.ctx.db.get(m.Handoff, int(handoff_id))
        if handoff is not None and handoff.customer_id == customer.id:
            exclude.append(handoff.conversation_id)
    audit_request(request, "allowed", target=customer.id, action="read_customer_continuity")
    with tracker_engine(request.app.ctx.settings.tracker_url) as tracker:
        body = continuity.continuity(request.ctx.db, customer, request.ctx.staff, tracker, exclude=exclude)
    return response.json(body)
