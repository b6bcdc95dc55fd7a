"""Every customer message, read from Rasa's tracker store (the `events` table that
SQLTrackerStore writes, on SQLite or PostgreSQL), goes through the alert engine
once: a cursor in numi_meta, and the event id as idempotency key."""
from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any, Callable, Dict, Optional, Sequence

from sqlalchemy import select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from numi.alerts import engine as alerts
from numi.db import models as m

log = logging.getLogger(__name__)
CURSOR = "alerts_tracker_cursor"


def _cursor(session) -> int:
    row = session.get(m.Meta, CURSOR)
    return int(row.value) if row is not None else 0


def _set_cursor(session, value: int) -> None:
    row = session.get(m.Meta, CURSOR)
    if row is None:
        session.add(m.Meta(key=CURSOR, value=str(value)))
    else:
        row.value = str(value)


def _message(row: Any, library, scenarios: Dict[str, Optional[str]], customers: Dict[str, Optional[str]],
             session) -> Optional[alerts.IncomingMessage]:
    try:
        data = json.loads(row.data) if isinstance(row.data, str) else (row.data or {})
    except ValueError:
        return None
    words = data.get("text")
    if not isinstance(words, str) or not words.strip():
        return None
    parse = data.get("parse_data") or {}
    intent = (parse.get("intent") or {}).get("name")
    confidence = (parse.get("intent") or {}).get("confidence")
    numi = (data.get("metadata") or {}).get("numi") or {}
    conv = row.sender_id
    pb = library.playbook_for_intent(intent) if intent else None
    if pb is not None:
        scenarios[conv] = pb.id
    elif conv not in scenarios:
        last = session.scalars(select(m.MessageSignal.scenario).where(
            m.MessageSignal.conversation_id == conv, m.MessageSignal.scenario.is_not(None))
            .order_by(m.MessageSignal.id.desc())).first()
        scenarios[conv] = last
    customer = numi.get("customer_id") or customers.get(conv)
    if not customer and conv not in customers:
        customer = session.scalars(select(m.MessageSignal.customer_id).where(
            m.MessageSignal.conversation_id == conv, m.MessageSignal.customer_id.is_not(None))
            .order_by(m.MessageSignal.id.desc())).first()
    customers[conv] = customer
    return alerts.IncomingMessage(
        text=words, conversation_id=conv, customer_id=customer,
        at=datetime.utcfromtimestamp(float(row.timestamp)) if row.timestamp else None,
        intent=intent, intent_confidence=float(confidence) if confidence is not None else None,
        scenario=scenarios[conv], mode="agent" if numi.get("mode") == "agent" else "customer",
        event_key=f"tracker:{row.id}")


def run(services, tracker: Engine, limit: int = 500) -> int:
    """Process the customer messages not seen yet. Returns how many were read.

    The emotions and themes of the whole batch are predicted at once, outside any database
    transaction; then one transaction writes the signals, alerts and deliveries,
    so that the conversation's own writes wait for the lock as little as possible."""
    with services.sessions() as s:
        cursor = _cursor(s)
    with tracker.connect() as conn:
        rows = conn.execute(text("SELECT id, sender_id, timestamp, data FROM events "
                                 "WHERE type_name = 'user' AND id > :cursor ORDER BY id LIMIT :limit"),
                            {"cursor": cursor, "limit": limit}).fetchall()
    if not rows:
        return 0
    scenarios: Dict[str, Optional[str]] = {}
    customers: Dict[str, Optional[str]] = {}  # known for the rest of the conversation
    with services.sessions() as s:
        messages = [_message(row, services.library, scenarios, customers, s) for row in rows]
    analyse(services, messages, then=lambda s: _set_cursor(s, rows[-1].id))
    return len(rows)


def analyse(services, messages: Sequence[Optional[alerts.IncomingMessage]],
            then: Optional[Callable[[Session], None]] = None) -> None:
    """Signals and alerts for these messages (the emotion and theme models predict them as one
    batch), in one transaction, each in its savepoint: one bad message does not block the
    others. `then(session)` runs last, in the same transaction (the poller's cursor)."""
    todo = [msg for msg in messages if msg is not None]
    if todo:
        alerts.predict(todo)
    with services.sessions() as s, s.begin():
        for msg in todo:
            try:
                with s.begin_nested():
                    alerts.process(s, services.settings, msg)
            except Exception as exc:  # logged without the message: it may hold personal data
                log.error("alerts: event %s not analysed (%s)", msg.event_key, type(exc).__name__)
        if then is not None:
            then(s)
