"""Public: new conversations for the website's chat (REST or socket.io), signed by numi."""
from __future__ import annotations

from datetime import datetime, timezone

from sanic import Blueprint, response
from sanic.request import Request

from numi import auth, conversations
from numi.service import schemas
from numi.service.http import body_of, client_address, error

bp = Blueprint("chat", url_prefix="/chat")


@bp.post("/conversations")
async def new_conversation(request: Request) -> response.HTTPResponse:
    """`{}` or `{"customer_token": …}` (and `"channel": "socketio"` for the widget) → a signed
    conversation id. With a valid customer token, the conversation belongs to that customer."""
    app = request.app
    if not app.ctx.limiter.hit("public", client_address(request)):
        return error("rate_limited", 429)
    body = body_of(request, schemas.NewConversation, optional=True)
    settings = app.ctx.settings
    owner = None
    if body.customer_token is not None:
        claims = auth.verify(body.customer_token, settings.secret, kind="customer")
        if not claims or not isinstance(claims.get("sub"), str):
            return error("invalid_customer_token", 403)
        owner = claims["sub"]
    now = datetime.now(timezone.utc)
    conv = conversations.issue(settings.secret, now, settings.conversation_ttl_hours * 3600,
                               channel=body.channel, owner=owner)
    return response.json({"conversation_id": conv.id, "expires_at": conv.expires_at.isoformat().replace("+00:00", "Z"),
                          "channel": conv.channel}, status=201)
