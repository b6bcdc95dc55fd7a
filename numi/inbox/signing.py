"""The references numi signs with its secret, so that a reply finds its ticket and a forged one does not.

* Message-ID of every mail about a ticket: ``<tk-00456.<nonce>.<sig>@<domain>>``, where the nonce
  comes from the outbox key (one per mail) and ``sig`` is an HMAC of ticket and nonce.
* Reply-To address: ``<local>+tk-00456.<sig>@<domain>``.

A reference with numi's shape and a wrong signature is *forged*: it is refused, never followed.
"""
from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any, Dict, Iterable, Optional, Sequence

from numi.db.models import ticket_ref
from numi.settings import SmtpSettings, Settings

_MID = re.compile(r"<?tk-(\d{1,9})\.([0-9a-f]{12})\.([0-9a-f]{20})@[^>\s]+>?", re.IGNORECASE)
_ADDR = re.compile(r"\+tk-(\d{1,9})\.([0-9a-f]{16})@", re.IGNORECASE)
_SUBJECT = re.compile(r"\[\s*TK-(\d{1,9})\s*\]", re.IGNORECASE)


def _sig(secret: str, purpose: str, value: str, length: int) -> str:
    mac = hmac.new(secret.encode(), f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()
    return mac[:length]


def message_id(secret: str, ticket_number: int, key: str, domain: str) -> str:
    """The signed Message-ID of one mail about a ticket (`key`: the outbox key, unique per mail)."""
    nonce = hashlib.sha256(key.encode()).hexdigest()[:12]
    return f"<tk-{ticket_number:05d}.{nonce}.{_sig(secret, 'mid', f'{ticket_number}.{nonce}', 20)}@{domain}>"


def reply_address(secret: str, ticket_number: int, mailbox: str) -> str:
    """support@numi.support → support+tk-00456.<sig>@numi.support: replies to it carry the ticket."""
    local, _, domain = mailbox.partition("@")
    return f"{local}+tk-{ticket_number:05d}.{_sig(secret, 'addr', str(ticket_number), 16)}@{domain}"


@dataclass(frozen=True)
class Reference:
    ticket_number: int
    valid: bool  # False: numi's shape with a wrong signature (forged)

    @property
    def ref(self) -> str:
        return ticket_ref(self.ticket_number)


def from_message_ids(secret: str, ids: Iterable[str]) -> Optional[Reference]:
    """The first of `ids` (In-Reply-To, then References from the right) in numi's shape."""
    for raw in ids:
        found = _MID.fullmatch(raw.strip())
        if found is None:
            continue
        number, nonce, sig = int(found.group(1)), found.group(2).lower(), found.group(3).lower()
        expected = _sig(secret, "mid", f"{number}.{nonce}", 20)
        return Reference(number, hmac.compare_digest(sig, expected))
    return None


def from_addresses(secret: str, addresses: Iterable[str]) -> Optional[Reference]:
    for address in addresses:
        found = _ADDR.search(address or "")
        if found is None:
            continue
        number = int(found.group(1))
        expected = _sig(secret, "addr", str(number), 16)
        return Reference(number, hmac.compare_digest(found.group(2).lower(), expected))
    return None


def from_subject(subject: str) -> Optional[int]:
    """The ticket number of a ``[TK-00456]`` in the subject (not signed: trusted from its owner only)."""
    found = _SUBJECT.search(subject or "")
    return int(found.group(1)) if found else None


def tag_subject(subject: str, ticket_number: int) -> str:
    """Every mail about a ticket carries ``[TK-00456]`` in its subject (the contract)."""
    if from_subject(subject) == ticket_number:
        return subject
    return f"{subject} [{ticket_ref(ticket_number)}]".strip()


def mailbox(settings: Settings) -> str:
    """numi's own address (the From of its mail, where replies come back)."""
    sender = settings.smtp.sender if settings.smtp is not None else SmtpSettings.sender
    return parseaddr(sender)[1] or f"support@{settings.mail_domain}"


def thread_fields(settings: Settings, ticket_number: int, key: str, in_reply_to: Optional[str] = None,
                  references: Sequence[str] = (), human: bool = False) -> Dict[str, Any]:
    """The outbox fields of a mail about a ticket: its signed Message-ID and its thread headers."""
    headers = {"Reply-To": reply_address(settings.secret, ticket_number, mailbox(settings))}
    if in_reply_to:
        headers["In-Reply-To"] = in_reply_to
        headers["References"] = " ".join([*references, in_reply_to][-10:])
    if human:
        headers["Auto-Submitted"] = "no"
    return {"message_id": message_id(settings.secret, ticket_number, key, settings.mail_domain),
            "headers": headers}
