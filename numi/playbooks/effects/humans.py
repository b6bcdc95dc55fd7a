"""Effects that reach humans: the handoff to a queue, call-backs, alerts."""
from __future__ import annotations

from typing import Any, Dict

from numi import hours

from numi.alerts import service as alerts
from numi.clock import datetime_fr
from numi.db import models as m
from numi.handoff import service as handoff_service
from numi.playbooks.effects.env import EffectEnv
from numi.playbooks.effects.registry import Frame, Params, effect
from numi.playbooks.model import Playbook
from numi.reminders import callbacks

@effect("handoff", params=("queue", "reason"), required=("queue",),
        outputs=("handoff_open", "handoff_who", "handoff_when", "handoff_message", "@ticket", "ticket_id"))
def handoff(env: EffectEnv, params: Params, frame: Frame, pb: Playbook) -> Dict[str, Any]:
    """Hand the conversation to a human queue with a full packet; say who and when, true to the hours."""
    ticket = env.require_ticket(frame, pb)
    queue, reason = params["queue"], params.get("reason") or pb.title
    packet = {
        "situation": reason,
        "scenario": pb.id,
        "scenario_title": pb.title,
        "step_reached": frame.get("step"),
        "tried": list(dict.fromkeys(frame.get("visited", []))),
        "collected": {k: v for k, v in frame.get("slots", {}).items() if not k.startswith("_")},
        "mood": env.mood(),
        "transcript": env.transcript()[-50:],
        "ticket": ticket.ref,
        "customer_id": env.customer_id,
        "mode": env.mode,
    }
    queued = handoff_service.request(env.session, ticket, packet, queue, conversation_id=env.conversation_id,
                                     customer_id=env.customer_id, actor=env.actor, now=env.now, reason=reason)
    return {**_announcement(env, queued), "ticket_id": ticket.ref}


def _announcement(env: EffectEnv, queued: m.Handoff) -> Dict[str, Any]:
    """What the playbook tells the customer about their place in the queue."""
    text = env.texts().system_text
    local_now = env.local_now()
    is_open = hours.is_open(env.settings.opening_hours, local_now)
    ref = m.ticket_ref(queued.ticket_number) if queued.ticket_number else None
    who = text(f"queue_{queued.queue}", "customer", {})
    if is_open:
        when = text("handoff_when_open", "customer", {"minutes": env.settings.handoff_pickup_minutes})
        message = text("handoff_announce_open", "customer", {"who": who, "when": when})
    else:
        reopen = datetime_fr(hours.next_open(env.settings.opening_hours, local_now))
        when = text("handoff_when_closed", "customer", {"reopen": reopen, "ticket": ref})
        message = text("handoff_announce_closed", "customer", {"who": who, "reopen": reopen, "ticket": ref})
    return {"handoff_open": is_open, "handoff_who": who, "handoff_when": when, "handoff_message": message,
            "_signal": {"handoff": {"id": queued.id, "queue": queued.queue, "open": is_open}}}


@effect("schedule_callback", params=("when", "subject", "phone"), required=("when", "subject"),
        outputs=("callback_ok", "callback_when", "callback_alternatives", "callback_phone"))
def schedule_callback(env: EffectEnv, params: Params, frame: Frame, pb: Playbook) -> Dict[str, Any]:
    """Book a call-back slot within opening hours, or propose the next free slots."""
    booked = callbacks.book(env, frame, pb, when=params["when"], subject=params["subject"],
                            phone=params.get("phone"))
    return {**booked, "callback_phone": params.get("phone") or ""}


@effect("alert", params=("rule", "note"), required=("rule",))
def raise_alert(env: EffectEnv, params: Params, frame: Frame, pb: Playbook) -> Dict[str, Any]:
    """Raise a named alert (rules of seed 002) with the conversation's context."""
    alerts.raise_from_playbook(env, frame, pb, rule=params["rule"], note=params.get("note", ""))
    return {}
