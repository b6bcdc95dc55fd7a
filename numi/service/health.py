from sanic import Blueprint, response
from sqlalchemy import text

bp = Blueprint("health")


@bp.get("/health")
async def health(request):
    request.ctx.db.execute(text("SELECT 1"))
    return response.json({"status": "ok", "service": "numi", "playbooks": len(request.app.ctx.services.library)})
