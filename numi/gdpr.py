"""The GDPR erasure (RGPD art. 17): the only deletion numi ever does.

`erase()` first finds everything that is the customer's, then removes the
personal data of it, then sweeps for copies elsewhere.

Whose is it. The customer's conversations are those that any of these say so:
  * Rasa's tracker store (`events`): a user event whose metadata records the
    verified identity (`metadata.numi.customer_id`), a `customer_id` slot event
    (identity proved in the conversation, or set by a system event), any event
    carrying `customer_id` (system events), a conversation id signed for the
    customer as its owner (`c1.….<owner>.<MAC>`), or the customer's e-mail or
    phone number typed in it (identification before the proof, in any spelling);
  * numi's tables: tickets, handoffs, callbacks, one-time codes, message signals
    and alerts of the customer, or holding their e-mail or phone.
Their tickets are the customer's tickets and those of their conversations.
The name alone never decides whose something is (homonyms); it is only redacted.

What goes (replaced by "[effacé RGPD]", emptied, or deleted):
  * customers: first and last name, e-mail, phone, address; the « CRM émotionnel »
    (notes, satisfaction, recommendation, churn risk);
  * tickets: subject, collected answers and verbatims (`data`), `waiting_for`;
    ticket events: reason and details;
  * outbox: every message to the customer (of their tickets, their renewals,
    certificates, one-time codes, contact changes, or addressed to their e-mail
    or phone): recipient, subject, body, and the idempotency key / message id
    when they spell the address; the staff alerts about them: subject and body.
    A message not sent yet never will be (`failed`, "effacé RGPD");
  * call tasks: script and outcome; callbacks: phone, subject, context (a
    scheduled call-back is cancelled); handoffs: the packet (transcript,
    collected answers), and every message (a waiting handoff is closed);
  * one-time codes: the e-mail; alerts: the quoted message, and of the signals
    all but intent, scenario, mode, emotion, polarity, intensity, themes and
    deliveries; message signals: the text and keywords;
  * Rasa's tracker store: every event of the customer's conversations (deleted);
  * the local mailbox (settings.mailbox_dir): every message to the customer
    (deleted); staff messages about them or quoting them: redacted in place;
  * anywhere else in numi's database (a staff digest, another ticket, a note):
    the e-mail, the phone (any spelling) and the full name where they appear.

What stays: invoices, whole, in the restricted archive (`archived`; 10 years,
Code de commerce art. L123-22); subscriptions (plans and dates, no personal
data); the bare skeleton of tickets, events, outbox rows, handoffs, callbacks,
signals and alerts (numbers, dates, statuses, actors, emotions) for the audit
trail and statistics, still under the customer id, which now names nobody;
workshop attendance (status `erased`); the customer row itself, emptied, with
`erased_at` (the tombstone, with one `gdpr_erased` event per ticket).

Idempotent: every change is made only where the value differs, the tombstone is
written once, `erased_at` keeps its first date. A second run of an erased
customer changes nothing (all counts 0, `already_erased`), yet still removes
what may have been linked to the customer id since.
"""
from __future__ import annotations

import json
import os
from datetime import date, datetime
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Set, Tuple

import sqlalchemy as sa
from sqlalchemy import JSON, String, and_, bindparam, or_, select, text
from sqlalchemy.orm import Session

from numi import wording
from numi.db import models as m
from numi.gdpr_scan import Identity, like_any, like_escape
from numi.mail import message_id

REDACTED = wording.text("ticket_history.gdpr_redacted")
ACTOR = wording.text("ticket_history.actors.gdpr")
TOMBSTONE = "gdpr_erased"
ALERT_SIGNALS_KEPT = ("intent", "scenario", "mode", "emotion", "polarity", "intensity", "themes", "deliveries")
CHUNK = 400
# Tables the sweep for stray copies never touches: invoices are the restricted archive.
NOT_SWEPT = {"invoices"}
CONVERSATION_MODELS = (m.Ticket, m.Handoff, m.Callback, m.OtpChallenge, m.MessageSignal, m.Alert)
# Rasa's tracker store, as SQLTrackerStore creates it.
EVENTS = sa.table("events", sa.column("id"), sa.column("sender_id"), sa.column("type_name"), sa.column("data"))


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------
def _chunks(values: Iterable[Any], size: int = CHUNK) -> List[List[Any]]:
    items = sorted(v for v in set(values) if v is not None)
    return [items[i:i + size] for i in range(0, len(items), size)]


def _in(col: Any, values: Iterable[Any]):
    """`col IN values`, in chunks (SQLite's limit on bound parameters); false when empty."""
    parts = [col.in_(chunk) for chunk in _chunks(values)]
    return or_(*parts) if parts else sa.false()


def _set(obj: Any, **values: Any) -> bool:
    """Set the attributes that differ; True when something changed."""
    changed = False
    for name, value in values.items():
        if getattr(obj, name) != value:
            setattr(obj, name, value)
            changed = True
    return changed


def _marker(value: Any, now: datetime) -> Dict[str, str]:
    """What a personal JSON document becomes: the date of the erasure (the first one)."""
    if isinstance(value, dict) and set(value) == {"erased_at"}:
        return value
    return {"erased_at": now.isoformat()}


def owner_of(conversation_id: Optional[str]) -> Optional[str]:
    """The customer a signed conversation id was issued for (numi.conversations:
    c1.<random>.<expiry>.<channel>.<owner>.<MAC>), or None."""
    parts = (conversation_id or "").split(".")
    if len(parts) == 6 and parts[0] == "c1" and parts[4]:
        return parts[4]
    return None


def _owner_like(col: Any, customer_id: str):
    return and_(col.like("c1.%", escape="!"), col.like(f"%.{like_escape(customer_id)}.%", escape="!"))


def _mine(model: Any, customer_id: str, conversations: Set[str]):
    """Rows of the customer, or of their conversations and nobody else's."""
    return or_(model.customer_id == customer_id,
               and_(model.customer_id.is_(None), _in(model.conversation_id, conversations)))


def _text_columns(table: sa.Table) -> List[sa.Column]:
    return [c for c in table.columns if not c.primary_key and isinstance(c.type, (String, JSON))]


def _matching_rows(session: Session, table: sa.Table, identity: Identity, names: bool,
                   columns: Optional[List[sa.Column]] = None) -> List[Any]:
    """Rows of `table` where some text or JSON column holds one of the identifiers."""
    columns = columns if columns is not None else _text_columns(table)
    cond = like_any(columns, identity.like_patterns(names))
    if cond is None or identity.empty:
        return []
    rows = session.execute(select(table).where(cond)).mappings().all()
    return [r for r in rows if any(identity.contains_value(r[c.name], names) for c in columns)]


# ---------------------------------------------------------------------------
# whose is it
# ---------------------------------------------------------------------------
def customers_said(value: Any) -> Set[str]:
    """The customer ids a Rasa event (as a dict) records: metadata.numi.customer_id, a
    `customer_id` slot, or any `customer_id` it carries (a system event)."""
    found: Set[str] = set()
    if isinstance(value, dict):
        if isinstance(value.get("customer_id"), str):
            found.add(value["customer_id"])
        if value.get("name") == "customer_id" and isinstance(value.get("value"), str):
            found.add(value["value"])
        for v in value.values():
            found |= customers_said(v)
    elif isinstance(value, list):
        for v in value:
            found |= customers_said(v)
    return found


def _loads(data: Any) -> Any:
    if not isinstance(data, str):
        return data
    try:
        return json.loads(data)
    except ValueError:
        return data


def _has_events(tracker_engine) -> bool:
    return tracker_engine is not None and sa.inspect(tracker_engine).has_table("events")


def _tracker_search(tracker_engine, customer_id: str, identity: Identity) -> Tuple[Set[str], Set[str]]:
    """(conversations whose events say they are the customer's, conversations where their
    e-mail or phone number was typed) in Rasa's tracker store."""
    identified: Set[str] = set()
    mentioned: Set[str] = set()
    if not _has_events(tracker_engine):
        return identified, mentioned
    with tracker_engine.connect() as conn:
        quoted = like_escape(json.dumps(customer_id))
        for sender, data in conn.execute(select(EVENTS.c.sender_id, EVENTS.c.data)
                                         .where(EVENTS.c.data.like(f"%{quoted}%", escape="!"))):
            if sender not in identified and customer_id in customers_said(_loads(data)):
                identified.add(sender)
        for (sender,) in conn.execute(select(EVENTS.c.sender_id).distinct()
                                      .where(_owner_like(EVENTS.c.sender_id, customer_id))):
            if owner_of(sender) == customer_id:
                identified.add(sender)
        if identity.has_strong:
            cond = like_any([EVENTS.c.data], identity.like_patterns(names=False))
            for sender, data in conn.execute(select(EVENTS.c.sender_id, EVENTS.c.data).where(cond)):
                if sender not in mentioned and identity.contains_value(_loads(data), names=False):
                    mentioned.add(sender)
    return identified, mentioned - identified


def _claimed(session: Session, tracker_engine, conversations: Set[str]) -> Dict[str, Set[str]]:
    """The customers each conversation is attributed to, by numi's tables and Rasa's events."""
    claims: Dict[str, Set[str]] = {c: set() for c in conversations}
    if not conversations:
        return claims
    for conv in conversations:
        owner = owner_of(conv)
        if owner:
            claims[conv].add(owner)
    for model in CONVERSATION_MODELS:
        for conv, cust in session.execute(select(model.conversation_id, model.customer_id).where(
                _in(model.conversation_id, conversations), model.customer_id.isnot(None))):
            claims[conv].add(cust)
    if _has_events(tracker_engine):
        with tracker_engine.connect() as conn:
            for chunk in _chunks(conversations):
                for sender, data in conn.execute(select(EVENTS.c.sender_id, EVENTS.c.data).where(
                        EVENTS.c.sender_id.in_(chunk), EVENTS.c.data.like('%"customer!_id"%', escape="!"))):
                    claims[sender] |= customers_said(_loads(data))
    return claims


def find_conversations(session: Session, customer_id: str, identity: Optional[Identity] = None,
                       tracker_engine=None) -> Tuple[Set[str], Set[str]]:
    """(the customer's conversations, other customers' conversations that spell the
    customer's e-mail or phone). A conversation where the e-mail or phone was typed is the
    customer's unless it is attributed to somebody else (see the module docstring)."""
    identity = identity or Identity()
    identified: Set[Optional[str]] = set()
    mentioned: Set[Optional[str]] = set()
    for model in CONVERSATION_MODELS:
        identified |= set(session.scalars(select(model.conversation_id).where(model.customer_id == customer_id)))
        for conv in session.scalars(select(model.conversation_id).distinct()
                                    .where(_owner_like(model.conversation_id, customer_id))):
            if owner_of(conv) == customer_id:
                identified.add(conv)
        if identity.has_strong:
            mentioned |= {r["conversation_id"] for r in _matching_rows(session, model.__table__, identity, names=False)}
    if identity.has_strong:
        handoff_ids = {r["handoff_id"] for r in _matching_rows(session, m.HandoffMessage.__table__, identity,
                                                               names=False)}
        if handoff_ids:
            mentioned |= set(session.scalars(select(m.Handoff.conversation_id).where(_in(m.Handoff.id, handoff_ids))))
    tracked, typed = _tracker_search(tracker_engine, customer_id, identity)
    identified |= tracked
    mentioned |= typed
    known: Set[str] = {c for c in identified if c}
    unclaimed: Set[str] = {c for c in mentioned if c} - known
    claims = _claimed(session, tracker_engine, unclaimed)
    others = {c for c in unclaimed if claims[c] - {customer_id}}
    return known | (unclaimed - others), others


def conversations_of(session: Session, customer_id: str, identity: Optional[Identity] = None,
                     tracker_engine=None) -> Set[str]:
    """Every conversation that is the customer's (see the module docstring)."""
    return find_conversations(session, customer_id, identity, tracker_engine)[0]


# ---------------------------------------------------------------------------
# the erasure
# ---------------------------------------------------------------------------
def erase(session: Session, customer_id: str, now: datetime, tracker_engine=None,
          mailbox_dir: Optional[Path] = None) -> Dict[str, Any]:
    """Erase everything personal about `customer_id`; keep invoices archived.

    Runs in the caller's transaction for numi's tables (the caller commits); the
    tracker store's events and the mailbox files go last, once numi's changes are
    flushed. Returns what changed (`conversations`: how many were found)."""
    customer = session.get(m.Customer, customer_id)
    if customer is None:
        raise wording.Refusal("unknown_customer", 404)
    already = customer.erased_at is not None
    identity = Identity.of(customer)
    conversations, elsewhere = find_conversations(session, customer_id, identity, tracker_engine)
    counts: Dict[str, Any] = {"already_erased": already, "conversations": len(conversations)}

    counts["customer"] = int(_set(customer, first_name=None, last_name=None, email=None, phone=None, address=None,
                                  crm_notes=[], satisfaction=None, recommendation=None, churn_risk=None))
    if customer.erased_at is None:
        customer.erased_at = now
        counts["customer"] = 1

    tickets = list(session.scalars(select(m.Ticket).where(_mine(m.Ticket, customer_id, conversations))
                                   .order_by(m.Ticket.number)))
    numbers = {t.number for t in tickets}
    counts["tickets"] = sum(_set(t, subject=REDACTED, waiting_for=None, data=_marker(t.data, now)) for t in tickets)
    counts["ticket_events"] = sum(
        _set(e, reason=None, details={})
        for e in session.scalars(select(m.TicketEvent).where(_in(m.TicketEvent.ticket_number, numbers))))

    alerts = list(session.scalars(select(m.Alert).where(_mine(m.Alert, customer_id, conversations))))
    alert_ids = {a.id for a in alerts}
    counts["alerts"] = sum(_set(a, message=REDACTED, signals={k: v for k, v in (a.signals or {}).items()
                                                              if k in ALERT_SIGNALS_KEPT}) for a in alerts)
    counts["message_signals"] = sum(
        _set(s, text=REDACTED, keywords=[])
        for s in session.scalars(select(m.MessageSignal).where(_mine(m.MessageSignal, customer_id, conversations))))

    otps = list(session.scalars(select(m.OtpChallenge).where(_mine(m.OtpChallenge, customer_id, conversations))))
    counts["otp_challenges"] = sum(_set(o, email=REDACTED) for o in otps)

    customer_mids, staff_mids, counts["outbox"] = _erase_outbox(session, customer_id, identity, numbers,
                                                                alert_ids, {o.id for o in otps})

    counts["call_tasks"] = 0
    for task in session.scalars(select(m.CallTask).where(or_(
            m.CallTask.customer_id == customer_id, _in(m.CallTask.ticket_number, numbers),
            _in(m.CallTask.key, {f"alert:{a}" for a in alert_ids})))):
        counts["call_tasks"] += _set(task, script=REDACTED, outcome=None if task.outcome is None else REDACTED)

    counts["callbacks"] = 0
    for cb in session.scalars(select(m.Callback).where(or_(_mine(m.Callback, customer_id, conversations),
                                                           _in(m.Callback.ticket_number, numbers)))):
        status = "cancelled" if cb.status == "scheduled" else cb.status
        counts["callbacks"] += _set(cb, phone=None, subject=REDACTED, context={}, status=status)

    handoffs = list(session.scalars(select(m.Handoff).where(or_(_mine(m.Handoff, customer_id, conversations),
                                                                _in(m.Handoff.ticket_number, numbers)))))
    counts["handoffs"] = 0
    for h in handoffs:
        changed = _set(h, packet=_marker(h.packet, now))
        if h.status in ("waiting", "claimed"):
            changed |= _set(h, status="closed", ended_at=now)
        counts["handoffs"] += changed
    counts["handoff_messages"] = sum(
        _set(msg, text=REDACTED)
        for msg in session.scalars(select(m.HandoffMessage).where(_in(m.HandoffMessage.handoff_id,
                                                                      {h.id for h in handoffs}))))

    counts["attendance"] = sum(_set(a, status="erased") for a in session.scalars(
        select(m.Attendance).where(m.Attendance.customer_id == customer_id)))
    counts["invoices_archived"] = sum(_set(i, archived=True) for i in session.scalars(
        select(m.Invoice).where(m.Invoice.customer_id == customer_id)))

    stamped = set(session.scalars(select(m.TicketEvent.ticket_number).where(
        m.TicketEvent.event == TOMBSTONE, _in(m.TicketEvent.ticket_number, numbers))))
    counts["tombstones"] = 0
    for t in tickets:
        if t.number not in stamped:
            session.add(m.TicketEvent(ticket_number=t.number, at=now, actor=ACTOR, event=TOMBSTONE, details={}))
            counts["tombstones"] += 1
    session.flush()

    counts["redacted_elsewhere"] = _sweep(session, identity)

    mailbox = _erase_mailbox(Path(mailbox_dir), identity, customer_mids, staff_mids) if mailbox_dir else {}
    counts["mailbox_deleted"] = mailbox.get("deleted", 0)
    counts["mailbox_redacted"] = mailbox.get("redacted", 0)

    counts["conversation_events_deleted"] = _delete_conversations(tracker_engine, conversations)
    counts["conversation_events_redacted"] = _redact_conversations(tracker_engine, elsewhere, identity)
    return counts


def _erase_outbox(session: Session, customer_id: str, identity: Identity, numbers: Set[int], alert_ids: Set[int],
                  otp_ids: Set[int]) -> Tuple[Set[str], Set[str], int]:
    """Redact the customer's messages and the staff alerts about them. Returns the message
    ids (as they were) of the messages to the customer and of those to staff, and how many
    rows changed."""
    Out = m.OutboxMessage
    sub_ids = set(session.scalars(select(m.Subscription.id).where(m.Subscription.customer_id == customer_id)))
    att_ids = set(session.scalars(select(m.Attendance.id).where(m.Attendance.customer_id == customer_id)))
    to_customer = [
        _in(Out.ticket_number, numbers),
        Out.key.like(f"contact:{like_escape(customer_id)}:%", escape="!"),
        _in(Out.key, {f"certificate:{a}" for a in att_ids} | {f"otp:{o}" for o in otp_ids}),
        *[Out.key.like(f"renewal:{s}:%", escape="!") for s in sub_ids],
    ]
    about = [Out.key.like(f"alert:{a}:%", escape="!") for a in alert_ids]
    rows = {r.id: r for r in session.scalars(select(Out).where(or_(*to_customer, *about)))}
    if identity.has_strong:
        cond = like_any([Out.recipient, Out.key, Out.message_id], identity.like_patterns(names=False))
        for r in session.scalars(select(Out).where(cond)):
            if any(identity.contains(v, names=False) for v in (r.recipient, r.key, r.message_id)):
                rows[r.id] = r
    customer_mids: Set[str] = set()
    staff_mids: Set[str] = set()
    changed = 0
    for r in rows.values():
        for_staff = (r.key or "").startswith("alert:") and not identity.contains(r.recipient, names=False)
        (staff_mids if for_staff else customer_mids).add(r.message_id)
        values: Dict[str, Any] = {"subject": REDACTED, "body": REDACTED}
        if not for_staff:
            values["recipient"] = None
        if identity.contains(r.key, names=False) or identity.contains(r.message_id, names=False):
            values["key"] = f"rgpd:{r.id}"
            values["message_id"] = message_id(values["key"])
        if r.status == "pending":
            values.update(status="failed", last_error=REDACTED)
        changed += _set(r, **values)
    return {x for x in customer_mids if x}, {x for x in staff_mids if x}, changed


def _sweep(session: Session, identity: Identity) -> int:
    """The e-mail, phone and full name wherever else they are in numi's database."""
    if identity.empty:
        return 0
    changed = 0
    for table in m.Base.metadata.sorted_tables:
        if table.name in NOT_SWEPT:
            continue
        columns = _text_columns(table)
        pk = list(table.primary_key.columns)
        for row in _matching_rows(session, table, identity, names=True, columns=columns):
            values = {}
            for col in columns:
                old = row[col.name]
                if not identity.contains_value(old, names=True):
                    continue
                new = identity.redact_value(old, REDACTED)
                if isinstance(new, str) and new.strip() == REDACTED and col.nullable:
                    new = None  # the whole value was the identifier (a recipient, a phone)
                elif isinstance(new, str) and col.unique:
                    new = "rgpd:" + ":".join(str(row[c.name]) for c in pk)
                if new != old:
                    values[col.name] = new
            if values:
                session.execute(table.update().where(and_(*[c == row[c.name] for c in pk])).values(**values))
                changed += 1
    if changed:
        session.expire_all()  # the ORM objects loaded above are read again from the database
    return changed


def _erase_mailbox(box: Path, identity: Identity, customer_mids: Set[str], staff_mids: Set[str]) -> Dict[str, int]:
    """The local mailbox (numi.mail): one JSON file per message. A message to the customer
    is deleted, a staff message about them redacted in place; any other file spelling
    their e-mail, phone or name is redacted (a JSON message) or deleted."""
    stats = {"deleted": 0, "redacted": 0}
    if not box.is_dir():
        return stats
    for path in sorted(p for p in box.rglob("*") if p.is_file()):
        data = path.read_bytes()
        try:
            raw, readable = data.decode("utf-8"), True
        except UnicodeDecodeError:
            raw, readable = data.decode("utf-8", "replace"), False
        try:
            mail = json.loads(raw) if readable else None
        except ValueError:
            mail = None
        in_name = identity.contains(path.name, names=True)
        if not isinstance(mail, dict):  # not numi's format (an .eml, a note): to them, or naming them
            if (in_name or identity.contains(raw, names=False)
                    or (path.suffix.lower() == ".eml" or not readable) and identity.contains(raw, names=True)):
                path.unlink()
                stats["deleted"] += 1
            elif identity.contains(raw, names=True):
                _rewrite_text(path, identity.redact(raw, REDACTED))
                stats["redacted"] += 1
            continue
        mid = mail.get("message_id")
        if mid in customer_mids or in_name or identity.contains(mail.get("to"), names=False) \
                or identity.contains(mid, names=False):
            path.unlink()
            stats["deleted"] += 1
            continue
        new = dict(mail)
        if mid in staff_mids:
            new.update(subject=REDACTED, body=REDACTED)
        new = identity.redact_value(new, REDACTED)
        if new != mail:
            _rewrite(path, new)
            stats["redacted"] += 1
    return stats


def _rewrite(path: Path, mail: Dict[str, Any]) -> None:
    _rewrite_text(path, json.dumps(mail, ensure_ascii=False))


def _rewrite_text(path: Path, content: str) -> None:
    """Replace a mailbox file atomically, keeping its date (the console sorts by it)."""
    stat = path.stat()
    tmp = path.with_name(f".{path.name}.rgpd.tmp")
    tmp.write_text(content, encoding="utf-8")
    os.utime(tmp, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    tmp.replace(path)


def _delete_conversations(tracker_engine, conversations: Set[str]) -> int:
    if tracker_engine is None or not conversations or not sa.inspect(tracker_engine).has_table("events"):
        return 0
    deleted = 0
    stmt = text("DELETE FROM events WHERE sender_id IN :ids").bindparams(bindparam("ids", expanding=True))
    with tracker_engine.begin() as conn:
        for chunk in _chunks(conversations):
            deleted += conn.execute(stmt, {"ids": chunk}).rowcount
    return deleted


def _redact_conversations(tracker_engine, conversations: Set[str], identity: Identity) -> int:
    """Other customers' conversations that spell this customer's identifiers: redact the
    events in place (written back as Rasa writes them: json.dumps of the event dict)."""
    if not conversations or identity.empty or not _has_events(tracker_engine):
        return 0
    changed = 0
    with tracker_engine.begin() as conn:
        for chunk in _chunks(conversations):
            cond = and_(EVENTS.c.sender_id.in_(chunk), like_any([EVENTS.c.data], identity.like_patterns()))
            for event_id, data in conn.execute(select(EVENTS.c.id, EVENTS.c.data).where(cond)).all():
                doc = _loads(data)
                if not identity.contains_value(doc):
                    continue
                red = identity.redact_value(doc, REDACTED)
                new = json.dumps(red) if not isinstance(red, str) else red
                if new != data:
                    conn.execute(EVENTS.update().where(EVENTS.c.id == event_id).values(data=new))
                    changed += 1
    return changed


def due_erasures(session: Session, today: date) -> List[str]:
    """Customers whose confirmed erasure request (account_deletion_gdpr) is due."""
    due = []
    for t in session.scalars(select(m.Ticket).where(m.Ticket.scenario == "account_deletion_gdpr",
                                                    m.Ticket.customer_id.isnot(None))):
        when = (t.data or {}).get("erasure_due")
        customer = session.get(m.Customer, t.customer_id)
        if when and customer is not None and customer.erased_at is None and date.fromisoformat(when) <= today:
            due.append(t.customer_id)
    return sorted(set(due))
