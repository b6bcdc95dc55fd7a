"""Effects on the customer's data: invoices, workshops, certificates, contact details,
erasure, renewal, profile."""
from __future__ import annotations

import re
from datetime import timedelta
from typing import Any, Dict

from sqlalchemy import select

from numi.clock import datetime_fr, to_local
from numi.db import models as m
from numi.nlu.dates import month_range
from numi.playbooks.effects.env import EffectEnv
from numi.playbooks.effects.registry import Frame, Params, effect
from numi.playbooks.model import Playbook
from numi.reminders import outbox
from numi.text import words
from numi.tickets import service

MAX_INVOICES = 12  # a year of monthly invoices in one answer


@effect("find_invoices", params=("period",), outputs=("invoices", "invoice_found"))
def find_invoices(env: EffectEnv, params: Params, frame: Frame, pb: Playbook) -> Dict[str, Any]:
    """The identified customer's invoices, for the period named if any (« mars », « de janvier
    à mars », « l'année 2024 », « toutes »: numi.nlu.dates.month_range), the latest first."""
    if not env.customer_id:
        return {"invoices": [], "invoice_found": False}
    query = select(m.Invoice).where(m.Invoice.customer_id == env.customer_id).order_by(m.Invoice.issued_on.desc())
    items = list(env.session.scalars(query))
    months = month_range(str(params.get("period") or ""), env.local_now())
    if months:
        items = [i for i in items if months[0] <= i.period <= months[1]]
    listing = [{"id": i.id, "period": i.period, "label": i.label, "amount": f"{i.amount_eur:.2f}"}
               for i in items[:MAX_INVOICES]]
    return {"invoices": listing, "invoice_found": bool(listing)}


@effect("send_invoices", outputs=("invoice_sent",))
def send_invoices(env: EffectEnv, params: Params, frame: Frame, pb: Playbook) -> Dict[str, Any]:
    """Send the invoices found to the address on file, and only there."""
    customer = env.customer()
    invoices = frame["slots"].get("invoices") or []
    if customer is None or not customer.email or not invoices:
        return {"invoice_sent": False}
    key = "invoice:" + env.conversation_id + ":" + ",".join(i["id"] for i in invoices)
    outbox.enqueue_template(env.session, key=key[:200], kind="invoice", channel="email", recipient=customer.email,
                            template="invoice", context={"customer": customer, "invoices": invoices}, now=env.now)
    return {"invoice_sent": True}


@effect("match_workshops", params=("need",), outputs=("workshops", "workshop_found"))
def match_workshops(env: EffectEnv, params: Params, frame: Frame, pb: Playbook) -> Dict[str, Any]:
    """Upcoming workshops matching the customer's need (keywords, topic, title)."""
    need = set(words(str(params.get("need") or "")))
    upcoming = list(env.session.scalars(select(m.Workshop).where(m.Workshop.starts_at >= env.now)
                                        .order_by(m.Workshop.starts_at)))
    scored = []
    for w in upcoming:
        score = len(need & set(words(" ".join([w.title, w.topic, *(w.keywords or [])]))))
        scored.append((score, w))
    ranked = sorted(scored, key=lambda x: (-x[0], x[1].starts_at))
    best = [w for s, w in ranked if s > 0][:3] or [w for _, w in scored[:3]]
    tz = env.settings.timezone
    listing = [{"id": w.id, "title": w.title, "when": datetime_fr(to_local(w.starts_at, tz).replace(tzinfo=None)),
                "level": w.level} for w in best]
    return {"workshops": listing, "workshop_found": bool(listing)}


@effect("register_workshop", params=("choice",), required=("choice",),
        outputs=("workshop_registered", "workshop_title"))
def register_workshop(env: EffectEnv, params: Params, frame: Frame, pb: Playbook) -> Dict[str, Any]:
    """Register the customer's interest in the chosen workshop (by number or title)."""
    listing = frame["slots"].get("workshops") or []
    choice = str(params["choice"]).strip()
    chosen = None
    number = re.search(r"\b(\d{1,2})\b", choice)
    if number and 1 <= int(number.group(1)) <= len(listing):
        chosen = listing[int(number.group(1)) - 1]
    elif len(choice) >= 4:
        for w in listing:
            if choice.lower() in w["title"].lower() or w["title"].lower() in choice.lower():
                chosen = w
    if chosen is None:  # never guess: the playbook asks again or offers something else
        return {"workshop_registered": False, "workshop_title": ""}
    if env.customer_id:
        exists = env.session.scalars(select(m.Attendance).where(
            m.Attendance.workshop_id == chosen["id"], m.Attendance.customer_id == env.customer_id)).first()
        if exists is None:
            env.session.add(m.Attendance(workshop_id=chosen["id"], customer_id=env.customer_id, status="interested"))
    return {"workshop_registered": True, "workshop_title": chosen["title"]}


@effect("check_attendance", params=("workshop",), required=("workshop",),
        outputs=("attended", "attended_title"))
def check_attendance(env: EffectEnv, params: Params, frame: Frame, pb: Playbook) -> Dict[str, Any]:
    """Did the identified customer attend the named workshop?"""
    if not env.customer_id:
        return {"attended": False, "attended_title": ""}
    named = set(words(str(params["workshop"]))) - {"l", "le", "la", "de", "du", "atelier", "d"}
    rows = env.session.execute(select(m.Attendance, m.Workshop)
                               .join(m.Workshop, m.Workshop.id == m.Attendance.workshop_id)
                               .where(m.Attendance.customer_id == env.customer_id)).all()
    for att, w in rows:
        text = set(words(" ".join([w.title, w.topic, *(w.keywords or [])])))
        if att.status == "attended" and (named & text):
            frame["slots"]["_attendance_id"] = att.id
            return {"attended": True, "attended_title": w.title}
    return {"attended": False, "attended_title": ""}


@effect("issue_certificate", outputs=("certificate_sent",))
def issue_certificate(env: EffectEnv, params: Params, frame: Frame, pb: Playbook) -> Dict[str, Any]:
    """Send the attendance certificate (only after check_attendance succeeded)."""
    att_id = frame["slots"].get("_attendance_id")
    customer = env.customer()
    if not att_id or customer is None or not customer.email:
        return {"certificate_sent": False}
    att = env.session.get(m.Attendance, att_id)
    workshop = env.session.get(m.Workshop, att.workshop_id)
    att.certificate_sent_at = env.now
    outbox.enqueue_template(env.session, key=f"certificate:{att.id}", kind="certificate", channel="email",
                            recipient=customer.email, template="certificate",
                            context={"customer": customer, "workshop": workshop}, now=env.now)
    return {"certificate_sent": True}


@effect("update_contact", params=("field", "value"), required=("field", "value"), outputs=("contact_updated",))
def update_contact(env: EffectEnv, params: Params, frame: Frame, pb: Playbook) -> Dict[str, Any]:
    """Change e-mail, phone or address; confirm on the old and the new contact."""
    customer = env.customer()
    field_name = {"email": "email", "phone": "phone", "telephone": "phone", "address": "address",
                  "adresse": "address"}.get(str(params["field"]).lower())
    if customer is None or field_name is None:
        return {"contact_updated": False}
    if field_name == "email":
        taken = env.session.scalars(select(m.Customer.id).where(m.Customer.email == str(params["value"]).lower(),
                                                                m.Customer.id != customer.id)).first()
        if taken is not None:  # never move an address that belongs to another account
            return {"contact_updated": False}
    old = getattr(customer, field_name)
    setattr(customer, field_name, str(params["value"]))
    for target in {x for x in (customer.email, old if field_name == "email" else None) if x}:
        outbox.enqueue_template(env.session, key=f"contact:{customer.id}:{field_name}:{env.now.isoformat()}:{target}",
                                kind="contact_change", channel="email", recipient=target, template="contact_change",
                                context={"customer": customer, "field": field_name,
                                         "hotline": env.settings.hotline_phone}, now=env.now)
    return {"contact_updated": True}


@effect("schedule_erasure", outputs=("erasure_date",))
def schedule_erasure(env: EffectEnv, params: Params, frame: Frame, pb: Playbook) -> Dict[str, Any]:
    """Schedule the GDPR erasure (done within one month, RGPD art. 12)."""
    ticket = env.require_ticket(frame, pb)
    due = (env.local_now() + timedelta(days=30)).date()
    data = dict(ticket.data or {})
    data["erasure_due"] = due.isoformat()
    ticket.data = data
    service.record(env.session, ticket, actor=env.actor, event="erasure_scheduled", at=env.now,
                   details={"due": due.isoformat()})
    return {"erasure_date": due.isoformat()}


@effect("renewal_outcome", params=("outcome",), required=("outcome",))
def renewal_outcome(env: EffectEnv, params: Params, frame: Frame, pb: Playbook) -> Dict[str, Any]:
    """Record the renewal outcome: renewed, declined or undecided."""
    sub = env.subscription(frame)
    if sub is not None and params["outcome"] in ("renewed", "declined", "undecided"):
        sub.renewal_outcome = params["outcome"]
    return {}


@effect("customer_profile", outputs=("is_regular", "is_satisfied", "segment"))
def customer_profile(env: EffectEnv, params: Params, frame: Frame, pb: Playbook) -> Dict[str, Any]:
    """Whether the customer is a satisfied regular (upsell only for them)."""
    c = env.customer()
    if c is None:
        return {"is_regular": False, "is_satisfied": False, "segment": ""}
    open_complaints = env.session.scalars(select(m.Ticket).where(
        m.Ticket.customer_id == c.id, m.Ticket.scenario.in_(["negative_feedback", "frustrated_customer"]),
        m.Ticket.status != "closed")).first()
    tickets = env.session.scalars(select(m.Ticket.number).where(m.Ticket.customer_id == c.id)).all()
    return {"is_regular": len(tickets) >= 2 or c.segment == "vip",
            "is_satisfied": (c.satisfaction or 0) >= 4 and open_complaints is None,
            "segment": c.segment}
