"""The staff member's own identity (the console's sign-in) and the audit trail (admin)."""
from __future__ import annotations

from sanic import Blueprint, response
from sanic.request import Request

from numi import audit
from numi.service.http import error, require
from numi.vocab import ADMIN, ROLES

bp = Blueprint("staff", url_prefix="/api")


@bp.get("/me")
@require(ROLES)
async def me(request: Request) -> response.HTTPResponse:
    """Who the bearer token belongs to (the console's sign-in)."""
    return response.json(request.ctx.staff)


@bp.get("/audit")
@require(ADMIN)
async def audit_trail(request: Request) -> response.HTTPResponse:
    """The audit trail, newest first (?outcome=denied&actor=&target=&limit=)."""
    raw = request.args.get("limit", "100")
    outcome = request.args.get("outcome")
    if outcome is not None and outcome not in audit.OUTCOMES:
        return error("invalid_field", 422, field="outcome", problem=", ".join(audit.OUTCOMES))
    return response.json({"events": audit.recent(
        request.ctx.db, limit=min(1000, int(raw)) if raw.isdigit() and len(raw) < 6 else 100, outcome=outcome,
        actor=(request.args.get("actor") or "")[:100] or None,
        target=(request.args.get("target") or "")[:128] or None)})
