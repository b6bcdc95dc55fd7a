"""Alerts raised by playbooks (seed 002). A playbook names a rule of
config/alerts/rules.yml; the alert goes through the rule engine like one the rule
raises on a message (numi.alerts.engine.raise_rule): same recipients, same
deliveries through the outbox, and the same once-per scope, so whichever of the
playbook and the rule comes first, the other adds nothing (issue 14)."""
from __future__ import annotations

import logging
from typing import Any, Dict

from numi.alerts import engine
from numi.db import models as m

log = logging.getLogger(__name__)


def raise_from_playbook(env, frame: Dict[str, Any], pb, rule: str, note: str = "") -> m.Alert:
    transcript = env.transcript()
    last_customer = next((t["text"] for t in reversed(transcript) if t.get("from") == "customer"), "")
    playbook = {"playbook": {"scenario": pb.id, "step": frame.get("step"), "note": note}}
    msg = engine.IncomingMessage(text=last_customer or note, conversation_id=env.conversation_id,
                                 customer_id=env.customer_id, at=env.now, scenario=pb.id, mode=env.mode)
    alert = engine.raise_rule(env.session, env.settings, rule, msg, now=env.now, context=playbook)
    if alert is not None:
        return alert
    # a rule the rules file does not name: kept for the record, but it has nobody to reach
    log.warning("playbook %s, step %s: alert rule '%s' is not in the alert rules; nobody is told",
                pb.id, frame.get("step"), rule)
    alert = m.Alert(rule=rule, conversation_id=env.conversation_id, customer_id=env.customer_id,
                    message=last_customer or note, created_at=env.now,
                    signals={"scenario": pb.id, "step": frame.get("step"), "note": note, "mood": env.mood()},
                    recipients=[])
    env.session.add(alert)
    env.session.flush()
    return alert
