"""What every endpoint shares: request bodies validated by a declared schema (pydantic),
errors worded in templates/web/texts.yml, the client's address."""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Dict, Type, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from sanic import response
from sanic.exceptions import SanicException

from numi.settings import ROOT

T = TypeVar("T", bound=BaseModel)


@lru_cache(maxsize=1)
def texts() -> Dict[str, Any]:
    """templates/web/texts.yml: the pages' labels and the API's error messages, read once."""
    return yaml.safe_load((ROOT / "templates" / "web" / "texts.yml").read_text(encoding="utf-8"))


def message(key: str, **values: Any) -> str:
    return texts()["api_errors"][key].format(**values)


def error(key: str, status: int, **values: Any) -> response.HTTPResponse:
    return response.json({"error": message(key, **values), "code": key}, status=status)


class InvalidBody(SanicException):
    """A body that is not JSON, or does not match its schema: 400 / 422 naming the field."""

    def __init__(self, key: str, status: int, field: str = "", problem: str = "") -> None:
        super().__init__(message(key, field=field, problem=problem), status_code=status)
        self.key, self.field = key, field


def invalid_body_response(request, exc: InvalidBody) -> response.HTTPResponse:
    body = {"error": str(exc), "code": exc.key}
    if exc.field:
        body["field"] = exc.field
    return response.json(body, status=exc.status_code)


def raw_json(request) -> Any:
    try:
        return request.json
    except Exception:  # Sanic raises InvalidUsage on malformed JSON
        raise InvalidBody("invalid_json", 400)


def body_of(request, schema: Type[T], optional: bool = False) -> T:
    """The request's JSON body checked against `schema`; an empty body is {} when `optional`."""
    data = raw_json(request) if request.body else ({} if optional else None)
    if not isinstance(data, dict):
        raise InvalidBody("invalid_json", 400)
    try:
        return schema.parse_obj(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first.get("loc", ())) or "body"
        raise InvalidBody("invalid_field", 422, field=field, problem=first.get("msg", "invalide"))


def client_address(request) -> str:
    """The client's address: the socket's peer, or what the configured proxies forwarded."""
    return (request.remote_addr or request.ip or "")[:64]
