"""Alerts raised by playbooks (seed 002). The rule engine over every message
(emotion, themes, segment) builds on this: see the alerts issue."""
from __future__ import annotations

from typing import Any, Dict

from numi.db import models as m


def raise_from_playbook(env, frame: Dict[str, Any], pb, rule: str, note: str = "") -> m.Alert:
    transcript = env.transcript()
    last_customer = next((t["text"] for t in reversed(transcript) if t.get("from") == "customer"), "")
    alert = m.Alert(rule=rule, conversation_id=env.conversation_id, customer_id=env.customer_id,
                    message=last_customer or note, created_at=env.now,
                    signals={"scenario": pb.id, "step": frame.get("step"), "note": note, "mood": env.mood()},
                    recipients=[])
    env.session.add(alert)
    env.session.flush()
    return alert
