"""Effects on tickets: open, update, record, find, list; the CSM risk task."""
from __future__ import annotations

from typing import Any, Dict

from numi.playbooks.effects.env import EffectEnv
from numi.playbooks.effects.registry import Frame, Params, effect
from numi.playbooks.model import Playbook
from numi.tickets import service
from numi.tickets.lifecycle import Transition

@effect("open_ticket", params=("subject", "priority", "queue"), outputs=("@ticket", "ticket_id"))
def open_ticket(env: EffectEnv, params: Params, frame: Frame, pb: Playbook) -> Dict[str, Any]:
    """Open a ticket for this scenario (priority from the playbook unless given)."""
    existing = env.ticket(frame)
    if existing is not None and existing.scenario == pb.id:
        return {"ticket_id": existing.ref}
    ticket = env.open_ticket(frame, pb, params)
    return {"ticket_id": ticket.ref}


@effect("update_ticket", params=("status", "waiting_reason", "waiting_for", "note", "close_reason",
                                 "priority", "queue"), outputs=("@ticket", "ticket_id"))
def update_ticket(env: EffectEnv, params: Params, frame: Frame, pb: Playbook) -> Dict[str, Any]:
    """Change status (lifecycle-checked), priority or queue; note what happened."""
    ticket = env.require_ticket(frame, pb)
    if params.get("priority") and params["priority"] != ticket.priority:
        ticket.priority = params["priority"]
        service.record(env.session, ticket, actor=env.actor, event="priority_changed", at=env.now,
                       details={"priority": params["priority"]})
    if params.get("queue"):
        ticket.queue = params["queue"]
    status = params.get("status")
    if status and status != ticket.status:
        service.transition(env.session, ticket, Transition(
            status, reason=params.get("note"), waiting_reason=params.get("waiting_reason"),
            close_reason=params.get("close_reason"), note=params.get("note")),
            actor=env.actor, now=env.now, waiting_for=params.get("waiting_for"), tz=env.settings.timezone)
    elif params.get("note"):
        service.record(env.session, ticket, actor=env.actor, event="note", at=env.now, reason=params["note"])
    return {"ticket_id": ticket.ref}


@effect("record", params=("field", "value"), required=("field", "value"), outputs=("@ticket", "ticket_id"))
def record_on_ticket(env: EffectEnv, params: Params, frame: Frame, pb: Playbook) -> Dict[str, Any]:
    """Store a value on the ticket (e.g. the customer's words, verbatim)."""
    ticket = env.require_ticket(frame, pb)
    data = dict(ticket.data or {})
    data[params["field"]] = params["value"]
    ticket.data = data
    service.record(env.session, ticket, actor=env.actor, event="recorded", at=env.now,
                   details={"field": params["field"], "value": str(params["value"])[:2000]})
    return {"ticket_id": ticket.ref}


@effect("customer_replied", params=("outcome",), outputs=("@ticket", "ticket_id", "reply_outcome"))
def customer_replied(env: EffectEnv, params: Params, frame: Frame, pb: Playbook) -> Dict[str, Any]:
    """The customer answered a reminder: stop the clock (or reopen), note the outcome."""
    ticket = env.require_ticket(frame, pb)
    service.customer_replied(env.session, ticket, actor="client", now=env.now)
    if params.get("outcome"):
        service.record(env.session, ticket, actor="client", event="reminder_answer", at=env.now,
                       details={"outcome": params["outcome"]})
    return {"ticket_id": ticket.ref, "reply_outcome": params.get("outcome", "")}


@effect("find_ticket", params=("ref",), required=("ref",), outputs=("ticket_found", "@ticket", "ticket_id"))
def find_ticket(env: EffectEnv, params: Params, frame: Frame, pb: Playbook) -> Dict[str, Any]:
    """Look up the customer's own ticket; someone else's looks exactly like a missing one."""
    ticket = service.find_own_ticket(env.session, params["ref"], env.customer_id)
    if ticket is None:
        return {"ticket_found": False, "ticket_id": ""}
    frame["ticket"] = ticket.ref
    return {"ticket_found": True, "ticket_id": ticket.ref}


@effect("list_tickets", outputs=("tickets", "tickets_count"))
def list_tickets(env: EffectEnv, params: Params, frame: Frame, pb: Playbook) -> Dict[str, Any]:
    """The identified customer's open (or recently closed) tickets."""
    if not env.customer_id:
        return {"tickets": [], "tickets_count": 0}
    items = service.tickets_of(env.session, env.customer_id)[:5]
    listing = [{"id": t.ref, "subject": t.subject, "status": t.status} for t in items]
    return {"tickets": listing, "tickets_count": len(listing)}


@effect("risk_task", params=("analysis", "quotes", "plan"), required=("analysis",), outputs=("@ticket", "ticket_id"))
def risk_task(env: EffectEnv, params: Params, frame: Frame, pb: Playbook) -> Dict[str, Any]:
    """Open the « CSM - Risque » task of 004 with quotes, analysis and action plan."""
    ticket = env.require_ticket(frame, pb)
    data = dict(ticket.data or {})
    data["risque_client"] = {"quotes": params.get("quotes", ""), "analysis": params["analysis"],
                             "plan": params.get("plan", ""), "assigned": ["strategist", "sales", "expert"]}
    ticket.data = data
    ticket.queue = "cs"
    service.record(env.session, ticket, actor=env.actor, event="risk_task", at=env.now,
                   details=data["risque_client"])
    return {"ticket_id": ticket.ref}
