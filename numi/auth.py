"""Signed tokens (customer identity, agent-assist sessions) and staff bearer tokens
(stored hashed, with roles: numi/access.py). Conversation ids: numi/conversations.py."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any, Dict, Optional

def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(payload: Dict[str, Any], secret: str, ttl_seconds: Optional[int] = 3600 * 12) -> str:
    body = dict(payload)
    if ttl_seconds is not None:
        body.setdefault("exp", int(time.time()) + ttl_seconds)
    raw = _b64(json.dumps(body, separators=(",", ":"), sort_keys=True).encode())
    mac = _b64(hmac.new(secret.encode(), raw.encode(), hashlib.sha256).digest())
    return f"{raw}.{mac}"


def verify(token: Any, secret: str, kind: Optional[str] = None) -> Optional[Dict[str, Any]]:
    """The payload of a valid, unexpired token (of `kind`), else None. Never raises."""
    if not isinstance(token, str) or token.count(".") != 1 or len(token) > 4096:
        return None
    raw, mac = token.split(".")
    expected = _b64(hmac.new(secret.encode(), raw.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(mac, expected):
        return None
    try:
        payload = json.loads(_unb64(raw))
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(payload, dict):
        return None
    if "exp" in payload and (not isinstance(payload["exp"], int) or payload["exp"] < time.time()):
        return None
    if kind is not None and payload.get("kind") != kind:
        return None
    return payload


def customer_token(customer_id: str, secret: str, ttl_seconds: int = 3600 * 12) -> str:
    return sign({"kind": "customer", "sub": customer_id}, secret, ttl_seconds)


def agent_token(staff_name: str, role: str, conversation_id: str, secret: str, ttl_seconds: int = 3600 * 4,
                customer_id: Optional[str] = None) -> str:
    """Proof, minted by the numi service for a signed-in hotliner, that a conversation is agent-assist
    (and, when the hotliner identified the caller, whose call it is)."""
    payload = {"kind": "agent", "sub": staff_name, "role": role, "conv": conversation_id}
    if customer_id:
        payload["cust"] = customer_id
    return sign(payload, secret, ttl_seconds)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_staff_token() -> str:
    return "numi_" + secrets.token_urlsafe(24)
