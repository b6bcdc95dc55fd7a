"""What every endpoint shares: request bodies (and query strings) validated by a declared
schema (pydantic), errors worded in templates/web/texts.yml, the `today` a request asks about,
the client's address, the staff's bearer tokens and role checks (every refusal is audited),
telling a conversation on the Rasa server, and delivering the outbox once a request committed.

The role sets the checks take are numi/vocab.py's; what each role may see within its set
(queues, tickets) is numi/access.py's."""
from __future__ import annotations

import asyncio
import hmac
import logging
from datetime import date
from functools import wraps
from typing import Any, Callable, Collection, Coroutine, Dict, Optional, Type, TypeVar

import aiohttp
from pydantic import BaseModel, ValidationError
from sanic import Sanic, response
from sanic.exceptions import SanicException
from sanic.request import Request
from sqlalchemy import select

from numi import audit, auth, wording
from numi.clock import local_date, utcnow
from numi.db import models as m
from numi.rasa_client import RasaClient, RasaError
from numi.reminders import outbox

log = logging.getLogger(__name__)
# What reaching the Rasa server may raise: its refusal, the connection's failure, the timeout.
RASA_ERRORS = (RasaError, aiohttp.ClientError, asyncio.TimeoutError, OSError)
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


def query_of(request: Request, schema: Type[T]) -> T:
    """The query string's parameters that `schema` declares (the first value of each; others
    are left to the handler), checked against it: 422 naming the parameter and what it takes
    (texts.yml `api_parameters`)."""
    data = {name: request.args.get(name) for name in schema.__fields__ if name in request.args}
    try:
        return schema.parse_obj(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first.get("loc", ())[:1]) or "query"
        expected = texts().get("api_parameters", {}).get(field) or first.get("msg", "")
        raise InvalidBody("invalid_parameter", 422, field=field, problem=expected) from exc


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


# --- after the request's work -------------------------------------------------------
async def tell_rasa(request: Request, conversation_id: str, event: Dict[str, Any]) -> None:
    """A system event to the conversation on the Rasa server (`action_system_event` runs it:
    an agent's message is shown live to the customer and recorded in the tracker)."""
    settings = request.app.ctx.settings
    await RasaClient(settings.rasa_url, settings.rasa_token).system_event(conversation_id, event)


async def send_agent_message(request: Request, conversation_id: str, text: str, author: str,
                             key: Optional[str] = None) -> None:
    """A human agent's message, shown live in the customer's chat and recorded in its tracker (a
    handoff's reply, a reply from the ticket page). With `key`, a retry is said once
    (actions/session.py). Raises one of RASA_ERRORS when the Rasa server cannot be reached."""
    event: Dict[str, Any] = {"type": "agent_message", "text": text, "author": author}
    if key:
        event["key"] = key
    await tell_rasa(request, conversation_id, event)


async def deliver_outbox(app: Sanic) -> None:
    """Send what the outbox holds now (the scheduler retries every minute what fails here)."""
    services = app.ctx.services
    try:
        await asyncio.get_running_loop().run_in_executor(None, outbox.flush, services.sessions, services.mailer)
    except Exception:
        log.exception("outbox delivery failed")


def commit_then_deliver(request: Request) -> None:
    """Commit the request's session; what it put in the outbox leaves now, not at the next tick."""
    pending = request.ctx.db.info.pop("outbox_pending", False)
    request.ctx.db.commit()
    if pending:
        request.app.add_task(deliver_outbox(request.app))
