"""Outgoing SMS: a provider-agnostic interface and one driver, an HTTP gateway.

`SmsSender.send(to_e164, text, idempotency_key)` hands one SMS to a provider and returns the
provider's message id ("" when it gives none). It raises `PermanentDeliveryError` when the
provider refused the message for good (sending it again cannot help) and
`TransientDeliveryError` when it may work later (the outbox retries with its backoff).

`HttpGatewaySender` POSTs one JSON object to the configured URL (`NUMI_SMS_URL`)::

    POST <url>
    Authorization: Bearer <token>            (NUMI_SMS_TOKEN; omitted when unset)
    Idempotency-Key: <the outbox row's key>  (the same on every attempt of a message)
    Content-Type: application/json

    {"to": "+33612345678", "text": "<the SMS>", "sender": "<NUMI_SMS_SENDER>"}

and reads the answer:

* 2xx: sent; the provider's id is the answer's JSON `id`, else "";
* 408, 429, 5xx, a timeout (`NUMI_SMS_TIMEOUT`) or a connection error: transient;
* any other status (4xx, and 3xx: redirects are never followed, so the bearer token never
  leaves for another address): permanent.

The gateway must dedupe on `Idempotency-Key`: a message whose 2xx answer was lost (a timeout
after the gateway accepted it, or a crash before the outbox recorded it) is sent again with
the same key.

Numbers are normalised to E.164 with `phonenumbers` (default region FR: "06 12 34 56 78" →
"+33612345678"); a number that is not a valid one is a permanent failure, and nothing is sent.
Neither the number nor the token appears in an exception or a log line.
"""
from __future__ import annotations

import http.client
import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from typing import IO, Optional, Protocol

import phonenumbers

from numi.settings import SmsSettings

log = logging.getLogger(__name__)

DEFAULT_REGION = "FR"
TRANSIENT_STATUSES = frozenset({408, 429})


class DeliveryError(Exception):
    """A message that did not leave; `status` is the provider's HTTP status when it answered."""

    def __init__(self, reason: str, status: Optional[int] = None) -> None:
        super().__init__(reason if status is None else f"{reason} (HTTP {status})")
        self.status = status


class PermanentDeliveryError(DeliveryError):
    """Refused for good: the outbox marks the message `failed` at once."""


class TransientDeliveryError(DeliveryError):
    """Not delivered this time: the outbox tries again after its backoff."""


class SmsSender(Protocol):
    def send(self, to_e164: str, text: str, idempotency_key: str) -> str:
        """Hand one SMS to the provider; its message id ("" if none). Raises DeliveryError."""
        ...


def to_e164(number: str, region: str = DEFAULT_REGION) -> str:
    """The number in E.164 ("+33612345678"); PermanentDeliveryError if it is not a valid number."""
    try:
        parsed = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException:
        raise PermanentDeliveryError("unparsable phone number") from None
    if not phonenumbers.is_valid_number(parsed):
        raise PermanentDeliveryError("invalid phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect becomes an HTTPError with its 3xx status (never followed with the token)."""

    def redirect_request(self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str,
                         headers: http.client.HTTPMessage, newurl: str) -> Optional[urllib.request.Request]:
        return None


def classify(status: int) -> Optional[DeliveryError]:
    """None for 2xx; else the error the status means (see the module docstring)."""
    if 200 <= status < 300:
        return None
    if status >= 500 or status in TRANSIENT_STATUSES:
        return TransientDeliveryError("gateway unavailable", status)
    return PermanentDeliveryError("gateway refused the message", status)


class HttpGatewaySender:
    """SmsSender over an HTTP gateway (the request and answer forms: the module docstring)."""

    def __init__(self, url: str, token: Optional[str], sender: str, timeout: float) -> None:
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise ValueError("NUMI_SMS_URL must be an http:// or https:// URL")
        self.url = url
        self._token = token
        self.sender = sender
        self.timeout = timeout
        self._opener = urllib.request.build_opener(_NoRedirect)

    @classmethod
    def from_settings(cls, cfg: SmsSettings) -> "HttpGatewaySender":
        return cls(url=cfg.url, token=cfg.token, sender=cfg.sender, timeout=cfg.timeout)

    def __repr__(self) -> str:  # the token stays out
        return f"HttpGatewaySender(url={self.url!r}, sender={self.sender!r}, timeout={self.timeout!r})"

    def send(self, to_e164: str, text: str, idempotency_key: str) -> str:
        body = json.dumps({"to": to_e164, "text": text, "sender": self.sender}, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json", "Accept": "application/json",
                   "Idempotency-Key": idempotency_key}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with self._opener.open(request, timeout=self.timeout) as answer:
                status = answer.status
                payload = answer.read()
        except urllib.error.HTTPError as exc:
            exc.close()
            error = classify(exc.code)
            assert error is not None  # urllib raises HTTPError for non-2xx answers only
            raise error from None
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:  # OSError: timeouts too
            raise TransientDeliveryError(f"gateway unreachable: {type(exc).__name__}") from None
        error = classify(status)
        if error is not None:
            raise error
        return _provider_id(payload)


def _provider_id(payload: bytes) -> str:
    """The answer's JSON `id`, or "" (a 2xx answer is a sent SMS whatever its body)."""
    try:
        data = json.loads(payload.decode("utf-8")) if payload else None
    except ValueError:
        log.warning("sms gateway: 2xx answer without a JSON body")
        return ""
    value = data.get("id") if isinstance(data, dict) else None
    return "" if value is None else str(value)
