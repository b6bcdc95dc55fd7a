"""A customer's file for the staff console (`GET /api/customers/<id>`, the page
/console/client): subscriptions, invoices, the summary of their tickets and their alerts.

Plain functions over a session; the caller checked that the staff member may see the
customer (numi/access.py `customer_visible`) and audits the read. Texts customers wrote (a
ticket's subject, an alert's quoted message) are returned as they are stored: the page
shows them as text."""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Set

from sqlalchemy import select
from sqlalchemy.orm import Session

from numi import access
from numi.db import models as m

OPEN_STATUSES = ("new", "in_progress", "waiting_customer", "escalated")
MAX_TICKETS = 100
MAX_INVOICES = 24
MAX_ALERTS = 50


def tickets_in_scope(session: Session, staff: Mapping[str, str], customer_id: str) -> Set[int]:
    """The numbers of the customer's tickets that this staff member may open (numi/access.py)."""
    query = select(m.Ticket.number).where(m.Ticket.customer_id == customer_id)
    scope = access.ticket_scope(staff)
    return set(session.scalars(query if scope is None else query.where(scope)))


def ticket_summary(ticket: m.Ticket, in_scope: bool) -> Dict[str, Any]:
    """One line of a ticket list; `in_scope`: the staff member may open the ticket itself."""
    return {"id": ticket.ref, "subject": ticket.subject, "scenario": ticket.scenario, "status": ticket.status,
            "open": ticket.status in OPEN_STATUSES, "priority": ticket.priority, "queue": ticket.queue,
            "waiting_for": ticket.waiting_for, "created_at": m.as_iso(ticket.created_at),
            "updated_at": m.as_iso(ticket.updated_at), "in_scope": in_scope}


def customer_tickets(session: Session, customer_id: str, open_only: bool = False) -> List[m.Ticket]:
    """The customer's tickets, the most recently updated first."""
    query = select(m.Ticket).where(m.Ticket.customer_id == customer_id)
    if open_only:
        query = query.where(m.Ticket.status.in_(OPEN_STATUSES))
    return list(session.scalars(query.order_by(m.Ticket.updated_at.desc(), m.Ticket.number.desc())
                                .limit(MAX_TICKETS)))


def subscription_json(s: m.Subscription) -> Dict[str, Any]:
    return {"plan": s.plan, "status": s.status, "started_on": m.as_iso(s.started_on),
            "expires_on": m.as_iso(s.expires_on), "renewal_outcome": s.renewal_outcome}


def invoice_json(i: m.Invoice) -> Dict[str, Any]:
    return {"id": i.id, "issued_on": m.as_iso(i.issued_on), "period": i.period, "amount_eur": str(i.amount_eur),
            "label": i.label, "archived": i.archived}


def alert_json(a: m.Alert, titles: Mapping[str, str]) -> Dict[str, Any]:
    signals = a.signals if isinstance(a.signals, dict) else {}
    return {"id": a.id, "rule": a.rule, "title": titles.get(a.rule, a.rule), "message": a.message,
            "created_at": m.as_iso(a.created_at), "emotion": signals.get("emotion"),
            "intensity": signals.get("intensity")}


def record(session: Session, customer: m.Customer, staff: Mapping[str, str],
           alert_titles: Optional[Mapping[str, str]] = None) -> Dict[str, Any]:
    """Subscriptions, invoices (the latest first), tickets and, when `alert_titles` is given
    (a role that reads the alerts), the customer's alerts with their rule's title."""
    scoped = tickets_in_scope(session, staff, customer.id)
    subscriptions = session.scalars(select(m.Subscription).where(m.Subscription.customer_id == customer.id)
                                    .order_by(m.Subscription.started_on.desc()))
    invoices = session.scalars(select(m.Invoice).where(m.Invoice.customer_id == customer.id)
                               .order_by(m.Invoice.issued_on.desc()).limit(MAX_INVOICES))
    out: Dict[str, Any] = {
        "subscriptions": [subscription_json(s) for s in subscriptions],
        "invoices": [invoice_json(i) for i in invoices],
        "tickets": [ticket_summary(t, t.number in scoped) for t in customer_tickets(session, customer.id)],
    }
    if alert_titles is not None:
        alerts = session.scalars(select(m.Alert).where(m.Alert.customer_id == customer.id)
                                 .order_by(m.Alert.id.desc()).limit(MAX_ALERTS))
        out["alerts"] = [alert_json(a, alert_titles) for a in alerts]
    return out
