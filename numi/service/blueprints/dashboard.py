"""The reminders' dashboard: the daily list of the desk and the KPIs (seed 001)."""
from __future__ import annotations

from typing import Optional

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


def _weeks(raw: Optional[str]) -> Optional[int]:
    """`?weeks=` as a number of weeks (1 to dashboard.MAX_WEEKS), None when absent; ValueError otherwise."""
    if raw is None:
        return None
    if not raw.isdigit() or len(raw) > 3 or not 1 <= int(raw) <= dashboard.MAX_WEEKS:
        raise ValueError(raw)
    return int(raw)


@bp.get("/reminders/kpis")
@require(KPI_READERS)
async def reminders_kpis(request: Request) -> response.HTTPResponse:
    """The KPIs of 001 §9; with `?weeks=N`, also their weekly trends over the last N weeks."""
    try:
        today = parse_today(request)
    except ValueError:
        return bad(message("invalid_today"))
    try:
        weeks = _weeks(request.args.get("weeks"))
    except ValueError:
        return bad(message("invalid_weeks", max=dashboard.MAX_WEEKS))
    return response.json(dashboard.report(request.ctx.db, today, request.app.ctx.settings.timezone, weeks=weeks))
