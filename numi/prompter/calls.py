"""Calls taken with the prompter (agent assist). A call is a Rasa conversation in
agent mode; its id and its signed call token are minted here for one staff member."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Dict, Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from numi import auth, conversations, wording
from numi.db import models as m
from numi.tickets import service as tickets
from numi.tickets.lifecycle import QUEUES, Transition, TransitionError, allowed

SUMMARY_FIELDS = ("situation", "actions", "resolution")
MAX_FIELD = 4000


class CallError(wording.Refusal):
    """A call operation refused: a code of texts.yml's api_errors, and the HTTP status (400)."""


def start(staff: Dict[str, str], secret: str, customer: Optional[m.Customer] = None,
          ttl_seconds: int = 4 * 3600) -> Dict[str, Any]:
    """A new call: a conversation id signed by numi (numi/conversations.py), and the call token."""
    call_id = conversations.issue(secret, datetime.now(timezone.utc), ttl_seconds, channel="rest").id
    out: Dict[str, Any] = {"call_id": call_id, "call_token": auth.agent_token(
        staff["name"], staff["role"], call_id, secret, customer_id=customer.id if customer is not None else None)}
    if customer is not None:
        out["customer_id"] = customer.id
    return out


def check_token(call_id: str, token: Any, staff: Dict[str, str], secret: str) -> Dict[str, Any]:
    """The call token must be this call's, minted for this staff member. Returns its payload."""
    payload = auth.verify(token, secret, kind="agent")
    if not payload or payload.get("conv") != call_id:
        raise CallError("call_token_invalid", 403)
    if payload.get("sub") != staff["name"] and staff["role"] not in ("supervisor", "admin"):
        raise CallError("call_of_other_staff", 403)
    return payload


def call_of(token: Any, staff: Dict[str, str], secret: str) -> Optional[Dict[str, Any]]:
    """The payload of a call token minted for this staff member (its `conv`, the call, and
    `cust`, the customer the hotliner identified), or None: what lets a hotliner read the
    record of the customer on the line."""
    payload = auth.verify(token, secret, kind="agent")
    if not payload or not isinstance(payload.get("conv"), str):
        return None
    try:
        return check_token(payload["conv"], token, staff, secret)
    except CallError:
        return None


def call_ticket(session: Session, call_id: str) -> Optional[m.Ticket]:
    ticket: Optional[m.Ticket] = session.scalars(select(m.Ticket).where(m.Ticket.conversation_id == call_id)
                                                 .order_by(m.Ticket.number.desc())).first()
    return ticket


def ensure_ticket(session: Session, call_id: str, scenario: str, actor: str, customer_id: Optional[str] = None,
                  priority: Optional[str] = None, subject: str = "") -> m.Ticket:
    ticket = call_ticket(session, call_id)
    if ticket is None:
        ticket = tickets.open_ticket(session, scenario=scenario, actor=actor, customer_id=customer_id,
                                     conversation_id=call_id, priority=priority, subject=subject)
    elif ticket.customer_id is None and customer_id:
        ticket.customer_id = customer_id
    return ticket


def escalate(session: Session, ticket: m.Ticket, queue: str, actor: str, reason: str) -> m.Ticket:
    if queue not in QUEUES:
        raise CallError("unknown_queue")
    if ticket.status != "escalated":
        if "escalated" not in allowed(ticket.status):
            raise CallError("call_cannot_escalate", 409, state=ticket.status)
        tickets.transition(session, ticket, Transition("escalated", reason=reason), actor=actor)
    ticket.queue = queue
    tickets.record(session, ticket, actor=actor, event="assigned", details={"queue": queue})
    return ticket


def clean_summary(body: Dict[str, Any]) -> Dict[str, str]:
    summary = {}
    for key in SUMMARY_FIELDS:
        value = body.get(key, "")
        if not isinstance(value, str):
            raise CallError("call_summary_not_text", field=key)
        summary[key] = value.strip()[:MAX_FIELD]
    if not any(summary.values()):
        raise CallError("call_summary_empty")
    return summary


def save_summary(session: Session, ticket: m.Ticket, summary: Dict[str, str], actor: str) -> m.Ticket:
    tickets.record(session, ticket, actor=actor, event="call_summary", details=summary)
    data = dict(ticket.data or {})
    data["call_summary"] = summary
    ticket.data = data
    return ticket


__all__ = ["CallError", "start", "check_token", "call_of", "call_ticket", "ensure_ticket", "escalate", "clean_summary",
           "save_summary", "TransitionError"]
