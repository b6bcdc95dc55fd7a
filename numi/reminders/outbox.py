"""The persisted outbox: every outgoing message once, with an idempotency key.

enqueue*() inserts a row (unique key: a second insert of the same key is a
no-op). flush() delivers pending rows: each row is claimed in its own
transaction, the message is sent, and the row is marked `committed` at the last
moment before the send becomes final (see numi.mail), then `sent`. A crash
before the commit leaves nothing at the server and the row pending; a crash
after it never sends again. (An SMS has no such point: it is recorded right after the
gateway's 2xx answer, and one sent again after a crash carries the same Idempotency-Key, which
the gateway dedupes; see numi.mail and numi.sms.)
"""
from __future__ import annotations

import logging
import os
import smtplib
import socket
from datetime import datetime, timedelta
from typing import Any, Dict, Mapping, Optional

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from numi import wording
from numi.clock import utcnow
from numi.db import models as m
from numi.inbox import signing
from numi.mail import Mail, Mailer
from numi.mail import message_id as plain_message_id
from numi.settings import ROOT
from numi.playbooks.render import text_env
from numi.reminders import crashpoints
from numi.sms import DeliveryError, PermanentDeliveryError

log = logging.getLogger(__name__)
TEMPLATES = ROOT / "templates" / "mail"
MAX_ATTEMPTS = 5
LEASE = timedelta(minutes=10)


def _me() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _alive(claimer: str) -> bool:
    """Is the process that claimed a row still running? (Unknown host: assume yes.)"""
    host, _, pid = (claimer or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def render_mail(template: str, context: Mapping[str, Any]) -> tuple:
    """(subject, body) from templates/mail/<template>.txt.j2 (blocks subject and body)."""
    source = (TEMPLATES / f"{template}.txt.j2").read_text(encoding="utf-8")
    tpl = text_env().from_string(source)
    ctx = tpl.new_context(dict(context))
    subject = "".join(tpl.blocks["subject"](ctx)).strip()
    body = "".join(tpl.blocks["body"](ctx)).strip() + "\n"
    return subject, body


def enqueue(session: Session, *, key: str, kind: str, channel: str, recipient: Optional[str], subject: str,
            body: str, ticket_number: Optional[int] = None, due_on=None, not_before: Optional[datetime] = None,
            now: Optional[datetime] = None, message_id: Optional[str] = None,
            headers: Optional[Dict[str, str]] = None) -> Optional[m.OutboxMessage]:
    """Insert the message unless its key exists. Returns the new row or None.

    A mail about a ticket carries ``[TK-00456]`` in its subject; with `message_id` and `headers`
    (numi.inbox.signing.thread_fields) it is signed and threaded, so that a reply finds its ticket."""
    if session.scalars(select(m.OutboxMessage.id).where(m.OutboxMessage.key == key)).first() is not None:
        return None
    if channel == "email" and ticket_number is not None:
        subject = signing.tag_subject(subject, ticket_number)
    row = m.OutboxMessage(key=key, kind=kind, channel=channel, recipient=recipient, subject=subject, body=body,
                          ticket_number=ticket_number, due_on=due_on, not_before=not_before,
                          created_at=now or utcnow(), message_id=message_id or plain_message_id(key),
                          headers=headers or None)
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:  # a concurrent writer inserted the same key
        return None
    session.info["outbox_pending"] = True  # the request delivers after commit (see numi/service/blueprints/actions.py)
    return row


def enqueue_template(session: Session, *, key: str, kind: str, channel: str, recipient: Optional[str],
                     template: str, context: Mapping[str, Any], **kwargs: Any) -> Optional[m.OutboxMessage]:
    subject, body = render_mail(template, context)
    return enqueue(session, key=key, kind=kind, channel=channel, recipient=recipient, subject=subject,
                   body=body, **kwargs)


def flush(sessions: sessionmaker, mailer: Mailer, now: Optional[datetime] = None, limit: int = 500) -> Dict[str, int]:
    """Deliver pending e-mail/SMS rows whose time has come. Safe to run concurrently."""
    now = now or utcnow()
    recover(sessions)
    stats = {"sent": 0, "failed": 0, "skipped": 0}
    with sessions() as s:
        ids = list(s.scalars(select(m.OutboxMessage.id).where(
            m.OutboxMessage.status == "pending", m.OutboxMessage.channel.in_(["email", "sms"]),
            (m.OutboxMessage.not_before.is_(None)) | (m.OutboxMessage.not_before <= now),
        ).order_by(m.OutboxMessage.id).limit(limit)))
    for row_id in ids:
        stats[_deliver_one(sessions, mailer, row_id, now)] += 1
    return stats


def _deliver_one(sessions: sessionmaker, mailer: Mailer, row_id: int, now: datetime) -> str:
    # claim: pending -> sending (one winner among concurrent flushers)
    with sessions() as s, s.begin():
        claimed = s.execute(update(m.OutboxMessage).where(m.OutboxMessage.id == row_id,
                                                          m.OutboxMessage.status == "pending")
                            .values(status="sending", attempts=m.OutboxMessage.attempts + 1,
                                    claimed_by=_me(), claimed_at=utcnow())).rowcount
        if not claimed:
            return "skipped"
        row = s.get(m.OutboxMessage, row_id)
        mail = Mail(to=row.recipient or "", subject=row.subject or "", body=row.body, message_id=row.message_id,
                    kind="sms" if row.channel == "sms" else "email", key=row.key, headers=dict(row.headers or {}))
        attempts = row.attempts

    def commit() -> None:
        with sessions() as s2, s2.begin():
            s2.execute(update(m.OutboxMessage).where(m.OutboxMessage.id == row_id)
                       .values(status="committed", sent_at=now))
        crashpoints.hit("after_commit")

    try:
        if not mail.to:
            raise ValueError("no recipient")
        mailer.deliver(mail, commit)
    except Exception as exc:  # the message did not become final: retry later, unless it never can
        return _failed(sessions, row_id, attempts, exc, now)
    with sessions() as s, s.begin():
        s.execute(update(m.OutboxMessage).where(m.OutboxMessage.id == row_id).values(status="sent"))
    return "sent"


def backoff(attempts: int) -> timedelta:
    """1, 2, 4, 8 … minutes after the n-th failed attempt (at most an hour)."""
    return timedelta(minutes=min(60, 2 ** max(0, attempts - 1)))


def _answered(exc: Exception) -> Optional[int]:
    """The SMTP server's reply code, when it answered (it refused: nothing was delivered)."""
    return exc.smtp_code if isinstance(exc, smtplib.SMTPResponseException) else (
        min(code for code, _ in exc.recipients.values()) if isinstance(exc, smtplib.SMTPRecipientsRefused)
        and exc.recipients else None)


def _failed(sessions: sessionmaker, row_id: int, attempts: int, exc: Exception, now: datetime) -> str:
    """A failed attempt: `pending` again after a backoff; `failed` for good when the server said
    so (SMTP 5xx, a PermanentDeliveryError: an SMS gateway's refusal or an invalid number), there
    is no recipient, or the attempts are spent — then it shows on the ticket."""
    code = _answered(exc)
    permanent = (code is not None and code >= 500) or isinstance(exc, (ValueError, PermanentDeliveryError)) \
        or attempts >= MAX_ATTEMPTS
    # A reply after the commit point means the server refused the message: safe to send again.
    states = ["sending", "committed"] if code is not None else ["sending"]
    status = exc.status if isinstance(exc, DeliveryError) else None  # an SMS gateway's HTTP status
    error = f"{type(exc).__name__} {code or status or ''}".strip()
    log.warning("outbox %s: attempt %d failed (%s)%s", row_id, attempts, error, ", for good" if permanent else "")
    with sessions() as s, s.begin():
        changed = s.execute(update(m.OutboxMessage).where(m.OutboxMessage.id == row_id,
                                                          m.OutboxMessage.status.in_(states))
                            .values(status="failed" if permanent else "pending", last_error=error[:500],
                                    not_before=None if permanent else now + backoff(attempts))).rowcount
        row = s.get(m.OutboxMessage, row_id)
        if changed and permanent and row.ticket_number is not None:
            s.add(m.TicketEvent(ticket_number=row.ticket_number, at=now, event="delivery_failed",
                                actor=wording.text("ticket_history.actors.outbox"),
                                details={"channel": row.channel, "kind": row.kind, "error": error[:200],
                                         "attempts": attempts}))
    return "failed"


def recover(sessions: sessionmaker) -> int:
    """After a crash. A row `sending` whose process is dead (or whose lease ran out)
    never reached its commit point, so the server dropped it: it goes back to
    pending. A row `committed` was delivered: it is marked sent, never resent.

    The lease is wall-clock time, as `claimed_at` is, whatever day the run is for: a run
    for another day (`reminders run --today`) must not take a live process's row."""
    wall = utcnow()
    back = 0
    with sessions() as s, s.begin():
        for row in s.scalars(select(m.OutboxMessage).where(m.OutboxMessage.status == "sending")):
            if not _alive(row.claimed_by or "") or (row.claimed_at and wall - row.claimed_at > LEASE):
                row.status, row.claimed_by = "pending", None
                back += 1
        s.execute(update(m.OutboxMessage).where(m.OutboxMessage.status == "committed").values(status="sent"))
    return back
