"""Webhook delivery of alerts: a signed JSON POST, retried with exponential backoff.

Rows live in the outbox (channel `webhook`), so an alert is queued exactly once.
HTTP cannot promise exactly-once delivery, so every attempt carries the same
`X-Numi-Delivery` id for the receiver to deduplicate, and
`X-Numi-Signature: sha256=<HMAC of timestamp.body>` to check where it came from."""
from __future__ import annotations

import hashlib
import hmac
import logging
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta
from typing import Callable, Dict, Optional, Tuple

from sqlalchemy import select, update
from sqlalchemy.orm import sessionmaker

from numi.clock import utcnow
from numi.db import models as m

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 8
BASE_DELAY = timedelta(seconds=30)
MAX_DELAY = timedelta(hours=2)

Post = Callable[[str, bytes, Dict[str, str]], Tuple[int, str]]


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, 4 min … capped at 2 h."""
    return min(MAX_DELAY, BASE_DELAY * (2 ** max(0, attempts - 1)))


def signature(secret: str, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def http_post(url: str, body: bytes, headers: Dict[str, str], timeout: float = 10) -> Tuple[int, str]:
    req = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read(2000).decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(2000).decode(errors="replace")


def flush(sessions: sessionmaker, secret: str, now: Optional[datetime] = None, post: Post = http_post,
          limit: int = 200) -> Dict[str, int]:
    now = now or utcnow()
    stats = {"sent": 0, "retry": 0, "failed": 0}
    with sessions() as s:
        ids = list(s.scalars(select(m.OutboxMessage.id).where(
            m.OutboxMessage.channel == "webhook", m.OutboxMessage.status == "pending",
            (m.OutboxMessage.not_before.is_(None)) | (m.OutboxMessage.not_before <= now))
            .order_by(m.OutboxMessage.id).limit(limit)))
    for row_id in ids:
        with sessions() as s, s.begin():
            claimed = s.execute(update(m.OutboxMessage).where(m.OutboxMessage.id == row_id,
                                                              m.OutboxMessage.status == "pending")
                                .values(status="sending", attempts=m.OutboxMessage.attempts + 1,
                                        claimed_at=utcnow())).rowcount
            if not claimed:
                continue
            row = s.get(m.OutboxMessage, row_id)
            url, body, key, attempts = row.recipient, row.body.encode(), row.key, row.attempts
        stamp = str(int(time.time()))
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "numi-alerts/1",
                   "X-Numi-Delivery": key, "X-Numi-Timestamp": stamp, "X-Numi-Attempt": str(attempts),
                   "X-Numi-Signature": signature(secret, stamp, body)}
        try:
            status, text = post(url, body, headers)
            error = None if 200 <= status < 300 else f"HTTP {status}: {text[:200]}"
        except Exception as exc:  # connection refused, timeout, DNS …
            error = f"{type(exc).__name__}: {exc}"
        with sessions() as s, s.begin():
            if error is None:
                s.execute(update(m.OutboxMessage).where(m.OutboxMessage.id == row_id)
                          .values(status="sent", sent_at=utcnow(), last_error=None))
                stats["sent"] += 1
            else:
                final = attempts >= MAX_ATTEMPTS
                s.execute(update(m.OutboxMessage).where(m.OutboxMessage.id == row_id)
                          .values(status="failed" if final else "pending", last_error=error[:500],
                                  not_before=None if final else now + backoff(attempts)))
                stats["failed" if final else "retry"] += 1
                log.warning("webhook %s attempt %s: %s", key, attempts, error)
    return stats
