"""Conversation ids signed by numi, and the identity a conversation may trust.

A conversation id is a bearer credential: whoever holds it speaks in that
conversation. So numi alone issues them (`POST /chat/conversations`, the
prompter's calls), and the Rasa channels refuse any other:

    c1.<random, 128 bits>.<expiry, base 36>.<channel>.<owner>.<MAC>

* the random part makes it unguessable;
* the expiry bounds how long a leaked id is worth anything;
* the channel (`rest` or `socketio`) keeps a widget's id off the REST webhook
  and the other way round;
* the owner is the customer id the website vouched for (a customer token) when
  the conversation was opened, or empty;
* the MAC (HMAC-SHA256 with NUMI_SECRET, truncated to 128 bits) binds them all.

Identity. An action trusts a customer id only from:
1. what the channel verified for the latest message (the conversation's owner,
   a valid customer token, a hotliner's call token), recorded by Rasa in the
   message's metadata; or
2. a proof made in this conversation (one-time code by e-mail), recorded by Rasa
   as a `customer_id` slot event, and only while the conversation never stayed
   idle longer than the idle limit since: `proved_identity`.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping, Optional

VERSION = "c1"
CHANNELS = ("rest", "socketio")
CUSTOMER_ID = re.compile(r"^[A-Z0-9-]{1,16}$")
MAX_LENGTH = 128


@dataclass(frozen=True)
class Conversation:
    id: str
    channel: str
    owner: Optional[str]
    expires_at: datetime


def _mac(secret: str, body: str) -> str:
    digest = hmac.new(secret.encode(), f"conversation:{body}".encode(), hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


def issue(secret: str, now: datetime, ttl_seconds: int, channel: str = "rest",
          owner: Optional[str] = None) -> Conversation:
    """A new conversation id for `channel`, owned by `owner` (a verified customer id) or nobody.
    `now` is timezone-aware (as in `check`)."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    if owner is not None and not CUSTOMER_ID.match(owner):
        raise ValueError("invalid owner")
    expires = int(now.timestamp()) + int(ttl_seconds)
    body = ".".join((VERSION, secrets.token_urlsafe(16), _base36(expires), channel, owner or ""))
    return Conversation(id=f"{body}.{_mac(secret, body)}", channel=channel, owner=owner,
                        expires_at=datetime.fromtimestamp(expires, tz=timezone.utc))


def check(value: Any, secret: str, now: datetime, channel: Optional[str] = None) -> Optional[Conversation]:
    """The conversation `value` names, if numi issued it, it has not expired, and it is for
    `channel` (when given). Never raises."""
    if not isinstance(value, str) or len(value) > MAX_LENGTH or not value.isascii():
        return None
    parts = value.split(".")
    if len(parts) != 6 or parts[0] != VERSION:
        return None
    body, mac = ".".join(parts[:5]), parts[5]
    if not hmac.compare_digest(mac, _mac(secret, body)):
        return None
    _, _, expiry, chan, owner = parts[:5]
    try:
        expires = int(expiry, 36)
    except ValueError:
        return None
    if expires <= now.timestamp() or chan not in CHANNELS or (channel is not None and chan != channel):
        return None
    return Conversation(id=value, channel=chan, owner=owner or None,
                        expires_at=datetime.fromtimestamp(expires, tz=timezone.utc))


def proved_identity(events: Iterable[Mapping[str, Any]], idle_seconds: float) -> Optional[str]:
    """The customer id proved in this conversation (a `customer_id` slot event written by an
    action), unless the conversation stayed idle longer than `idle_seconds` since: a proof does
    not outlive the session it was made in. Works on Rasa's event dicts, oldest first."""
    proved: Optional[str] = None
    last_at: Optional[float] = None
    for event in events:
        at = event.get("timestamp")
        kind = event.get("event")
        if kind == "user" and isinstance(at, (int, float)):
            if proved is not None and last_at is not None and at - last_at > idle_seconds:
                proved = None  # idle too long: the proof has expired
            last_at = at
        elif kind == "session_started":
            proved = None  # a new session proves itself again
        elif kind == "slot" and event.get("name") == "customer_id":
            value = event.get("value")
            proved = value if isinstance(value, str) and CUSTOMER_ID.match(value) else None
            if isinstance(at, (int, float)):
                last_at = at
    return proved
