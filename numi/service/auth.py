"""Staff bearer tokens and roles for the /api endpoints."""
from __future__ import annotations

import hmac
from functools import wraps
from typing import Optional

from sanic import response
from sqlalchemy import select

from numi import auth
from numi.db import models as m


def staff_from_request(request) -> Optional[dict]:
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


def require(*roles: str):
    """401 without a valid token, 403 with a role not in `roles` (admin always passes)."""

    def deco(handler):
        @wraps(handler)
        async def wrapped(request, *args, **kwargs):
            staff = staff_from_request(request)
            if staff is None:
                return response.json({"error": "authentification requise"}, status=401)
            if staff["role"] != "admin" and staff["role"] not in roles:
                return response.json({"error": "accès refusé"}, status=403)
            request.ctx.staff = staff
            return await handler(request, *args, **kwargs)

        return wrapped

    return deco
