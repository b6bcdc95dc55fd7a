"""One received mail, read with the standard library (``email.policy.default``).

What numi needs of a mail: who sent it, what it answers (Message-IDs, subject, addresses), the
customer's own words (HTML turned into sanitised text; quoted history and signature stripped by
``mail-parser-reply``, French and English), its attachments within limits, and what kind of
sender it is: a person, or a robot that must never be answered (auto-reply, out-of-office,
bounce, mailing list, a loop of numi's own mail).
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from email.utils import getaddresses, parseaddr
from typing import List, Optional, Sequence, Tuple

import nh3
from inscriptis import get_text
from mailparser_reply import EmailReplyParser

from numi.settings import InboundSettings

# The attachment types kept (others are listed in the history, not stored).
ACCEPTED_TYPES = frozenset({
    "image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf", "text/plain", "text/csv",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.oasis.opendocument.text", "application/vnd.oasis.opendocument.spreadsheet",
    "application/msword", "application/vnd.ms-excel", "message/rfc822",
})
# HTML tags kept before conversion to text (their structure gives line breaks; everything else,
# script and style with their content included, is dropped by nh3).
TEXT_TAGS = {"p", "br", "div", "span", "ul", "ol", "li", "blockquote", "b", "i", "strong", "em", "u", "a",
             "table", "thead", "tbody", "tr", "td", "th", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "hr"}
MAX_TEXT = 20_000  # characters of a mail's text kept in the history (the original is kept whole)

# Out-of-office subjects, when the headers say nothing (Exchange, Gmail, Zimbra, in French too)
_AWAY = re.compile(r"^\s*(r[ée]ponse automatique|absen(ce|t)|out of (the )?office|automatic reply|"
                   r"auto(matic)?[- ]?reply|abwesend|autoreply|en cong[ée]s?)\b", re.IGNORECASE)
_BOUNCE_FROM = re.compile(r"^(mailer-daemon|postmaster)@", re.IGNORECASE)
_MSGID = re.compile(r"<[^<>\s]+>")


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    size: int
    data: bytes = field(repr=False)
    refused: Optional[str] = None  # why it is not stored: type, size, count

    def as_json(self) -> dict:
        return {"name": self.filename, "type": self.content_type, "size": self.size,
                **({"refused": self.refused} if self.refused else {})}


@dataclass(frozen=True)
class Parsed:
    digest: str
    size: int
    message_id: Optional[str]
    sender: str  # the address, lower case ("" when none)
    sender_name: str
    subject: str
    recipients: Tuple[str, ...]  # To, Cc, Delivered-To, X-Original-To (where the plus address shows)
    in_reply_to: Tuple[str, ...]
    references: Tuple[str, ...]
    text: str  # the whole text (HTML converted and sanitised)
    reply: str  # the customer's own words: quoted history and signature stripped
    attachments: Tuple[Attachment, ...]
    robot: Optional[str]  # auto_reply | bounce | list | loop | None (a person wrote it)
    bounced: Tuple[str, ...] = ()  # the addresses a bounce says are failing
    returned_ids: Tuple[str, ...] = ()  # Message-IDs of numi's mail a bounce returns

    @property
    def thread_ids(self) -> List[str]:
        """In-Reply-To first, then References from the right (the nearest first), then a bounce's."""
        seen: List[str] = []
        for mid in [*self.in_reply_to, *reversed(self.references), *self.returned_ids]:
            if mid not in seen:
                seen.append(mid)
        return seen


def digest_of(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def _ids(value: Optional[str]) -> Tuple[str, ...]:
    return tuple(_MSGID.findall(str(value or "")))[:50]


def html_to_text(html: str) -> str:
    """HTML mail → plain text: sanitised first (nh3 drops scripts, styles, attributes), then laid out."""
    clean = nh3.clean(html, tags=TEXT_TAGS, attributes={}, clean_content_tags={"script", "style", "head", "title"},
                      link_rel=None)
    return get_text(clean).strip()


def body_text(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        content = part.get_content()
    except (LookupError, ValueError, AssertionError):  # an unknown charset, a broken encoding
        payload = part.get_payload(decode=True) or b""
        content = payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else str(payload)
    if part.get_content_type() == "text/html":
        content = html_to_text(content)
    return content.replace("\r\n", "\n").strip()


def strip_quotes(text: str) -> str:
    """The reply without the quoted history and the signature (mail-parser-reply, fr + en)."""
    if not text.strip():
        return ""
    try:
        reply = EmailReplyParser(languages=["fr", "en"]).read(text)
        mine = reply.replies[0].body if reply.replies else text
    except Exception:  # the parser's regexes on hostile text: keep the whole text rather than lose it
        mine = text
    mine = "\n".join(line for line in mine.splitlines() if not line.startswith(">")).strip()
    return mine or text.strip()


def _attachments(msg: EmailMessage, limits: InboundSettings) -> Tuple[Attachment, ...]:
    found: List[Attachment] = []
    for part in msg.iter_attachments():
        ctype = part.get_content_type()
        name = (part.get_filename() or "piece-jointe").replace("/", "_").replace("\\", "_")[:200]
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else (str(part.get_payload()).encode())
        refused = None
        if ctype not in ACCEPTED_TYPES:
            refused = "type"
        elif len(data) > limits.max_attachment_bytes:
            refused = "size"
        elif sum(1 for a in found if a.refused is None) >= limits.max_attachments:
            refused = "count"
        found.append(Attachment(name, ctype, len(data), b"" if refused else data, refused))
    return tuple(found)


def _bounce(msg: EmailMessage) -> Tuple[bool, Tuple[str, ...], Tuple[str, ...]]:
    """(is a bounce, the failing addresses, the Message-IDs of the returned mail)."""
    sender = parseaddr(str(msg.get("From", "")))[1]
    is_report = msg.get_content_type() == "multipart/report" and \
        str(msg.get_param("report-type", "")).lower() == "delivery-status"
    failed = [a.strip().lower() for a in str(msg.get("X-Failed-Recipients", "")).split(",") if "@" in a]
    returned: List[str] = []
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype == "message/delivery-status":
            blocks = part.get_payload()
            for block in blocks if isinstance(blocks, list) else []:
                if not isinstance(block, Message):
                    continue
                final = str(block.get("Final-Recipient", "") or block.get("Original-Recipient", ""))
                action = str(block.get("Action", "")).lower()
                if "@" in final and action in ("failed", ""):
                    failed.append(final.split(";")[-1].strip().lower())
        elif ctype in ("message/rfc822", "text/rfc822-headers"):
            inner = part.get_payload()
            inner_msg = inner[0] if isinstance(inner, list) and inner else None
            if isinstance(inner_msg, Message):
                returned += list(_ids(inner_msg.get("Message-ID")))
            elif ctype == "text/rfc822-headers":
                returned += list(_MSGID.findall(str(part.get_content())))[:5]
    null_path = str(msg.get("Return-Path", "")).strip() == "<>"
    is_bounce = is_report or bool(failed) or (bool(_BOUNCE_FROM.match(sender)) and (null_path or bool(returned)))
    return is_bounce, tuple(dict.fromkeys(failed)), tuple(dict.fromkeys(returned))


def robot_kind(msg: EmailMessage, own_domain: str, is_bounce: bool) -> Optional[str]:
    """What kind of robot sent `msg`, or None for a person (osTicket's, Zammad's, FreeScout's checks)."""
    if is_bounce:
        return "bounce"
    sender = parseaddr(str(msg.get("From", "")))[1].lower()
    mid = str(msg.get("Message-ID", "")).lower()
    if str(msg.get("X-Loop", "")).strip() or sender.endswith("@" + own_domain) or mid.endswith("@" + own_domain + ">"):
        return "loop"
    auto = str(msg.get("Auto-Submitted", "no")).strip().lower()
    precedence = str(msg.get("Precedence", "") or msg.get("X-Precedence", "")).strip().lower()
    if (auto and auto != "no") or str(msg.get("X-Autoreply", "")).strip() or str(msg.get("X-Autorespond", "")).strip() \
            or precedence == "auto_reply" or str(msg.get("X-Auto-Response-Suppress", "")).strip().lower() == "all" \
            or _AWAY.match(str(msg.get("Subject", ""))):
        return "auto_reply"
    if msg.get("List-Id") or msg.get("List-Unsubscribe") or precedence in ("bulk", "list", "junk"):
        return "list"
    return None


def parse(raw: bytes, limits: InboundSettings, own_domain: str) -> Parsed:
    """Read one mail. Never raises on a malformed mail: what cannot be read is left empty."""
    msg = message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    name, sender = parseaddr(str(msg.get("From", "")))
    recipients = [a for _, a in getaddresses([str(msg.get(h, "")) for h in
                                              ("To", "Cc", "Delivered-To", "X-Original-To", "Envelope-To")]) if a]
    try:
        text = body_text(msg)
    except Exception:  # a broken MIME structure: the original is kept, the text is empty
        text = ""
    text = text[:MAX_TEXT]
    is_bounce, bounced, returned = _bounce(msg)
    return Parsed(
        digest=digest_of(raw), size=len(raw),
        message_id=(_ids(msg.get("Message-ID")) or (None,))[0],
        sender=sender.lower()[:254], sender_name=name[:120], subject=str(msg.get("Subject", "") or "")[:300],
        recipients=tuple(r.lower() for r in recipients[:20]),
        in_reply_to=_ids(msg.get("In-Reply-To")), references=_ids(msg.get("References")),
        text=text, reply=strip_quotes(text)[:MAX_TEXT], attachments=_attachments(msg, limits),
        robot=robot_kind(msg, own_domain, is_bounce), bounced=bounced, returned_ids=returned)


def headers_only(raw: bytes, own_domain: str) -> Tuple[str, Optional[str], str, Sequence[str]]:
    """(sender, Message-ID, subject, thread ids) of a mail too large to read whole."""
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0][:64_000]
    msg = message_from_bytes(head, policy=policy.default)
    return (parseaddr(str(msg.get("From", "")))[1].lower()[:254], (_ids(msg.get("Message-ID")) or (None,))[0],
            str(msg.get("Subject", "") or "")[:300], [*_ids(msg.get("In-Reply-To")), *_ids(msg.get("References"))])
