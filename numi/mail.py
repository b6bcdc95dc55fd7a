"""Outgoing mail: SMTP when configured, else a local mailbox the console shows.

`deliver` sends one message and calls `on_commit` at the last moment before the
message becomes final: for SMTP, after the whole DATA section is transmitted but
before the terminating "." — so a process killed before `on_commit` leaves no
message at the server (the server drops an unfinished DATA), and a process
killed after it has already recorded the send. That is what makes the outbox
exactly-once across crashes (see numi/reminders/outbox.py).

SMS (`kind == "sms"`) go through the SMS gateway when one is configured (NUMI_SMS_URL,
numi/sms.py), else to the local mailbox as well. HTTP has no "before final" point: `on_commit`
is called right after the gateway's 2xx answer. A process killed between that answer and
`on_commit` leaves the row unrecorded, so the outbox sends it again on recovery with the same
`Idempotency-Key` (the outbox row's key), and the gateway dedupes it: once at the phone.
An invalid number, or a refusal of the gateway (4xx), raises `PermanentDeliveryError`; a 5xx,
408, 429, timeout or connection error raises `TransientDeliveryError` (retried with backoff).
"""
from __future__ import annotations

import json
import logging
import smtplib
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Callable, Mapping, Optional

from numi.settings import Settings
from numi.reminders import crashpoints
from numi.sms import HttpGatewaySender, SmsSender, to_e164

log = logging.getLogger(__name__)
THREAD_HEADERS = ("Reply-To", "In-Reply-To", "References")


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    body: str
    message_id: str
    kind: str = "email"  # email | sms
    key: str = ""  # the outbox row's idempotency key ("" for a message sent outside the outbox)
    headers: Mapping[str, str] = field(default_factory=dict)  # Reply-To, In-Reply-To, References (threads)


def build(mail: Mail, sender: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = mail.to
    msg["Subject"] = mail.subject
    msg["Message-ID"] = mail.message_id
    msg["Date"] = format_datetime(datetime.now().astimezone())
    # RFC 3834: robots must not answer numi's automatic mail (a staff member's reply says "no")
    msg["Auto-Submitted"] = mail.headers.get("Auto-Submitted") or "auto-generated"
    for name in THREAD_HEADERS:
        if mail.headers.get(name):
            msg[name] = mail.headers[name]
    msg.set_content(mail.body)
    return msg


def message_id(key: str) -> str:
    safe = "".join(c if c.isalnum() or c in ".-_" else "." for c in key)
    return f"<{safe}@numi.support>"


class Mailer:
    def __init__(self, settings: Settings, sms: Optional[SmsSender] = None) -> None:
        self.settings = settings
        # the SMS gateway: the one given (tests), else the configured one, else none (local mailbox)
        self.sms = sms if sms is not None else (
            HttpGatewaySender.from_settings(settings.sms) if settings.sms is not None else None)

    def deliver(self, mail: Mail, on_commit: Callable[[], None]) -> None:
        if mail.kind == "email" and self.settings.smtp is not None:
            self._smtp(mail, on_commit)
        elif mail.kind == "sms" and self.sms is not None:
            self._sms(mail, self.sms, on_commit)
        else:
            self._mailbox(mail, on_commit)

    def _sms(self, mail: Mail, sms: SmsSender, on_commit: Callable[[], None]) -> None:
        """Through the gateway; on_commit right after its 2xx answer (see the module docstring)."""
        number = to_e164(mail.to)  # PermanentDeliveryError before any request
        provider_id = sms.send(number, mail.body.strip(), idempotency_key=mail.key or mail.message_id)
        crashpoints.hit("before_commit")  # accepted but not recorded: resent, deduped by the gateway
        on_commit()
        log.info("sms %s accepted by the gateway (provider id %s)", mail.message_id, provider_id or "-")
        crashpoints.hit("after_send")

    def _mailbox(self, mail: Mail, on_commit: Callable[[], None]) -> None:
        box = Path(self.settings.mailbox_dir)
        box.mkdir(parents=True, exist_ok=True)
        name = mail.message_id.strip("<>").replace("@", "_at_")
        tmp = box / f".{name}.tmp"
        tmp.write_text(json.dumps({"to": mail.to, "subject": mail.subject, "body": mail.body,
                                   "kind": mail.kind, "message_id": mail.message_id,
                                   "at": datetime.now().isoformat()}, ensure_ascii=False),
                       encoding="utf-8")
        on_commit()
        tmp.replace(box / f"{name}.json")  # idempotent: same key, same file

    def _smtp(self, mail: Mail, on_commit: Callable[[], None]) -> None:
        cfg = self.settings.smtp
        assert cfg is not None
        msg = build(mail, cfg.sender)
        smtp = smtplib.SMTP(cfg.host, cfg.port, timeout=30)
        try:
            smtp.ehlo()
            if cfg.starttls:
                smtp.starttls()
                smtp.ehlo()
            if cfg.username:
                smtp.login(cfg.username, cfg.password or "")
            code, resp = smtp.mail(_addr(cfg.sender))
            if code != 250:
                raise smtplib.SMTPSenderRefused(code, resp, cfg.sender)
            code, resp = smtp.rcpt(mail.to)
            if code not in (250, 251):
                raise smtplib.SMTPRecipientsRefused({mail.to: (code, resp)})
            code, resp = smtp.docmd("DATA")
            if code != 354:
                raise smtplib.SMTPDataError(code, resp)
            payload = smtplib._quote_periods(msg.as_bytes(policy=SMTP_POLICY))  # type: ignore[attr-defined]
            if not payload.endswith(b"\r\n"):
                payload += b"\r\n"
            smtp.send(payload)
            crashpoints.hit("before_commit")
            on_commit()
            smtp.send(b".\r\n")
            code, resp = smtp.getreply()
            if code != 250:
                raise smtplib.SMTPDataError(code, resp)
            crashpoints.hit("after_send")
        except BaseException:
            smtp.close()  # never QUIT in the middle of DATA: the server drops the message
            raise
        try:
            smtp.quit()
        except smtplib.SMTPException:
            smtp.close()


def _addr(sender: str) -> str:
    if "<" in sender:
        return sender.split("<", 1)[1].rstrip(">").strip()
    return sender


def read_mailbox(directory: Path, limit: int = 200) -> list:
    box = Path(directory)
    if not box.exists():
        return []
    items = sorted(box.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)[:limit]
    return [json.loads(p.read_text(encoding="utf-8")) for p in items]


def new_message_id() -> str:
    return make_msgid(domain="numi.support")
