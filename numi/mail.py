"""Outgoing mail: SMTP when configured, else a local mailbox the console shows.

`deliver` sends one message and calls `on_commit` at the last moment before the
message becomes final: for SMTP, after the whole DATA section is transmitted but
before the terminating "." — so a process killed before `on_commit` leaves no
message at the server (the server drops an unfinished DATA), and a process
killed after it has already recorded the send. That is what makes the outbox
exactly-once across crashes (see numi/reminders/outbox.py).
"""
from __future__ import annotations

import json
import smtplib
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Callable

from numi.settings import Settings
from numi.reminders import crashpoints


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    body: str
    message_id: str
    kind: str = "email"  # email | sms


def build(mail: Mail, sender: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = mail.to
    msg["Subject"] = mail.subject
    msg["Message-ID"] = mail.message_id
    msg["Date"] = format_datetime(datetime.now().astimezone())
    msg.set_content(mail.body)
    return msg


def message_id(key: str) -> str:
    safe = "".join(c if c.isalnum() or c in ".-_" else "." for c in key)
    return f"<{safe}@numi.support>"


class Mailer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def deliver(self, mail: Mail, on_commit: Callable[[], None]) -> None:
        if mail.kind == "email" and self.settings.smtp is not None:
            self._smtp(mail, on_commit)
        else:
            self._mailbox(mail, on_commit)

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
