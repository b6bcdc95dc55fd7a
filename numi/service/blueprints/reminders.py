"""The reminder runs (admin): the daily reminder run (seed 001) and the renewal reminders.
The scheduler (numi/service/scheduler.py) does both by itself; these run them on demand."""
from __future__ import annotations

from sanic import Blueprint, response
from sanic.request import Request

from numi.clock import utcnow
from numi.rasa_client import RasaClient
from numi.reminders import engine, renewals
from numi.service import schemas
from numi.service.http import body_of, parse_today, require
from numi.vocab import ADMIN

bp = Blueprint("reminders", url_prefix="/api")


@bp.post("/reminders/run")
@require(ADMIN)
async def reminders_run(request: Request) -> response.HTTPResponse:
    body = body_of(request, schemas.DayRun, optional=True)
    today = parse_today(request, body.today)
    services = request.app.ctx.services
    actions = engine.run(services.sessions, services.settings, today, dry_run=body.dry_run, mailer=services.mailer)
    return response.json({"date": today.isoformat(), "dry_run": body.dry_run,
                          "actions": [a.as_json() for a in actions]})


@bp.post("/renewals/run")
@require(ADMIN)
async def renewals_run(request: Request) -> response.HTTPResponse:
    """Start the renewal reminders due on `today` (7–30 days before expiry), each once."""
    body = body_of(request, schemas.DayRun, optional=True)
    today = parse_today(request, body.today)
    request.ctx.db.commit()  # no lock held while Rasa calls the actions back
    settings = request.app.ctx.settings
    started = await renewals.run(request.app.ctx.services, today, utcnow(),
                                 RasaClient(settings.rasa_url, settings.rasa_token))
    return response.json({"date": today.isoformat(), "started": started})
