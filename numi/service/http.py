"""What every endpoint shares: request bodies validated by a declared schema (pydantic),
errors worded in templates/web/texts.yml, the `today` a request asks about, the client's
address, and the staff's bearer tokens and role checks (every refusal is audited).

The role sets the checks take are numi/vocab.py's; what each role may see within its set
(queues, tickets) is numi/access.py's."""
from __future__ import annotations

import hmac
from datetime import date
from functools import wraps
from typing import Any, Callable, Collection, Coroutine, Dict, Optional, Type, TypeVar

from pydantic import BaseModel, ValidationError
from sanic import response
from sanic.exceptions import SanicException
from sanic.request import Request
from sqlalchemy import select

from numi import audit, auth, wording
from numi.clock import local_date, utcnow
from numi.db import models as m

T = TypeVar("T", bound=BaseModel)
Handler = Callable[..., Coroutine[Any, Any, response.HTTPResponse]]


# --- errors -------------------------------------------------------------------
def texts() -> Dict[str, Any]:
    """templates/web/texts.yml: the pages' labels and the API's error messages (numi/wording.py reads it once)."""
    return wording.texts()


def message(key: str, **values: Any) -> str:
    return wording.api_error(key, **values)


def error(key: str, status: int, **values: Any) -> response.HTTPResponse:
    """`{"error": <the message of texts.yml>, "code": key}`."""
    return response.json({"error": message(key, **values), "code": key}, status=status)


def bad(text: str, status: int = 400) -> response.HTTPResponse:
    """`{"error": text}`: a refusal worded in texts.yml (`message(key)`, or a domain error's str())."""
    return response.json({"error": text}, status=status)


# --- bodies -------------------------------------------------------------------
class InvalidBody(SanicException):
    """A body that is not JSON, or does not match its schema: 400 / 422 naming the field."""

    def __init__(self, key: str, status: int, field: str = "", problem: str = "") -> None:
        super().__init__(message(key, field=field, problem=problem), status_code=status)
        self.key, self.field = key, field


def invalid_body_response(request: Request, exc: InvalidBody) -> response.HTTPResponse:
    body = {"error": str(exc), "code": exc.key}
    if exc.field:
        body["field"] = exc.field
    return response.json(body, status=exc.status_code)


def raw_json(request: Request) -> Any:
    try:
        return request.json
    except Exception as exc:  # Sanic raises InvalidUsage on malformed JSON
        raise InvalidBody("invalid_json", 400) from exc


def body_of(request: Request, schema: Type[T], optional: bool = False) -> T:
    """The request's JSON body checked against `schema`; an empty body is {} when `optional`."""
    data = raw_json(request) if request.body else ({} if optional else None)
    if not isinstance(data, dict):
        raise InvalidBody("invalid_json", 400)
    try:
        return schema.parse_obj(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first.get("loc", ())) or "body"
        raise InvalidBody("invalid_field", 422, field=field, problem=first.get("msg", "invalide")) from exc


def parse_today(request: Request, raw: Optional[str] = None) -> date:
    """The day a request is about: `raw` (a body's `today`), else `?today=`, else today in
    the service's time zone. ValueError when the given day is not YYYY-MM-DD."""
    raw = raw or request.args.get("today")
    if raw:
        return date.fromisoformat(raw)
    return local_date(utcnow(), request.app.ctx.settings.timezone)


def client_address(request: Request) -> str:
    """The client's address: the socket's peer, or what the configured proxies forwarded."""
    return (request.remote_addr or request.ip or "")[:64]


# --- staff tokens and roles -------------------------------------------------------
def staff_from_request(request: Request) -> Optional[dict]:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("bearer "):
        return None
    token = header[7:].strip()
    if not token or len(token) > 512:
        return None
    admin = request.app.ctx.settings.admin_token
    if admin and hmac.compare_digest(token, admin):
        return {"name": "admin", "role": "admin"}
    row = request.ctx.db.scalars(select(m.StaffToken).where(m.StaffToken.token_hash == auth.hash_token(token),
                                                            m.StaffToken.revoked_at.is_(None))).first()
    return {"name": row.name, "role": row.role} if row else None


def audit_request(request: Request, outcome: str, target: Optional[str] = None, action: Optional[str] = None,
                  **details: Any) -> None:
    """Who tried what on this request: written when the request ends, whatever its outcome."""
    staff = getattr(request.ctx, "staff", None) or {}
    pending = getattr(request.ctx, "audit", None)
    if pending is None:
        pending = request.ctx.audit = []
    pending.append(audit.event(utcnow(), action or f"{request.method} {request.path}", outcome,
                               actor=f"{staff['role']}:{staff['name']}" if staff else None, role=staff.get("role"),
                               target=target, address=client_address(request), details=details))


def deny(request: Request, key: str = "forbidden", status: int = 403,
         target: Optional[str] = None) -> response.HTTPResponse:
    """Refuse (403 by default) and leave a trace."""
    audit_request(request, "denied", target=target)
    return error(key, status)


def require(roles: Collection[str]) -> Callable[[Handler], Handler]:
    """401 without a valid token, 403 with a role not in `roles` (a role set of numi/vocab.py;
    admin always passes); both are audited."""
    if isinstance(roles, str):
        raise TypeError("require() takes a role set of numi/vocab.py, not one role's name")
    allowed = frozenset(roles)

    def deco(handler: Handler) -> Handler:
        @wraps(handler)
        async def wrapped(request: Request, *args: Any, **kwargs: Any) -> response.HTTPResponse:
            staff = staff_from_request(request)
            if staff is None:
                audit_request(request, "unauthenticated")
                return error("unauthenticated", 401)
            request.ctx.staff = staff
            if staff["role"] != "admin" and staff["role"] not in allowed:
                return deny(request)
            return await handler(request, *args, **kwargs)

        return wrapped

    return deco
