"""The reminders' dashboard: the daily list of the desk and the KPIs (seed 001)."""
from __future__ import annotations

from sanic import Blueprint, response
from sanic.request import Request

from numi.reminders import dashboard
from numi.service.http import bad, message, parse_today, require
from numi.vocab import DESK, KPI_READERS

bp = Blueprint("dashboard", url_prefix="/api")


@bp.get("/reminders/daily")
@require(DESK)
async def reminders_daily(request: Request) -> response.HTTPResponse:
    try:
        today = parse_today(request)
    except ValueError:
        return bad(message("invalid_today"))
    return response.json(dashboard.daily_list(request.ctx.db, today, request.app.ctx.settings.timezone))


@bp.get("/reminders/kpis")
@require(KPI_READERS)
async def reminders_kpis(request: Request) -> response.HTTPResponse:
    try:
        today = parse_today(request)
    except ValueError:
        return bad(message("invalid_today"))
    return response.json({"kpis": dashboard.kpis(request.ctx.db, today, request.app.ctx.settings.timezone)})
