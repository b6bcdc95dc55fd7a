"""The audit trail: every denied attempt and every sensitive read or action. It names who,
what, when, from where and the target's id; never personal data, never a token.

A request's audit events are kept aside and written when the request ends, after its own
commit or rollback, so that a refusal (rolled back) still leaves its trace (numi/service/app.py)."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Dict, List, Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from numi.db import models as m

OUTCOMES = ("allowed", "denied", "unauthenticated")


def event(at: datetime, action: str, outcome: str, actor: Optional[str] = None, role: Optional[str] = None,
          target: Optional[str] = None, address: Optional[str] = None,
          details: Optional[Dict[str, Any]] = None) -> m.AuditEvent:
    if outcome not in OUTCOMES:
        raise ValueError(outcome)
    return m.AuditEvent(at=at, actor=(actor or None) and actor[:100], role=role, action=action[:80],
                        target=(target or None) and str(target)[:128], outcome=outcome,
                        address=(address or None) and address[:64], details=details or {})


def recent(session: Session, limit: int = 100, outcome: Optional[str] = None,
           actor: Optional[str] = None, target: Optional[str] = None) -> List[Dict[str, Any]]:
    q = select(m.AuditEvent).order_by(m.AuditEvent.id.desc()).limit(limit)
    if outcome:
        q = q.where(m.AuditEvent.outcome == outcome)
    if actor:
        q = q.where(m.AuditEvent.actor == actor)
    if target:
        q = q.where(m.AuditEvent.target == target)
    return [{"id": e.id, "at": m.as_iso(e.at), "actor": e.actor, "role": e.role, "action": e.action,
             "target": e.target, "outcome": e.outcome, "address": e.address, "details": e.details}
            for e in session.scalars(q)]
