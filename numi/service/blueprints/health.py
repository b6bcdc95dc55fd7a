"""GET /health: for a load balancer's checks."""
from __future__ import annotations

from sanic import Blueprint, response
from sanic.request import Request
from sqlalchemy import text

bp = Blueprint("health")


@bp.get("/health")
async def health(request: Request) -> response.HTTPResponse:
    """200 once the database answers; 503 while it does not (for a load balancer's checks)."""
    try:
        request.ctx.db.execute(text("SELECT 1"))
    except Exception as exc:
        return response.json({"status": "unavailable", "service": "numi", "database": type(exc).__name__}, status=503)
    return response.json({"status": "ok", "service": "numi", "playbooks": len(request.app.ctx.services.library)})
