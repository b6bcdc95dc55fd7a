"""Staff bearer tokens and roles for the /api endpoints; every refusal is audited."""
from __future__ import annotations

import hmac
from functools import wraps
from typing import Optional

from sqlalchemy import select

from numi import audit, auth
from numi.clock import utcnow
from numi.db import models as m
from numi.service.http import client_address, error


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


def audit_request(request, outcome: str, target: Optional[str] = None, action: Optional[str] = None,
                  **details) -> None:
    """Who tried what on this request: written when the request ends, whatever its outcome."""
    staff = getattr(request.ctx, "staff", None) or {}
    pending = getattr(request.ctx, "audit", None)
    if pending is None:
        pending = request.ctx.audit = []
    pending.append(audit.event(utcnow(), action or f"{request.method} {request.path}", outcome,
                               actor=f"{staff['role']}:{staff['name']}" if staff else None, role=staff.get("role"),
                               target=target, address=client_address(request), details=details))


def deny(request, key: str = "forbidden", status: int = 403, target: Optional[str] = None):
    """Refuse (403 by default) and leave a trace."""
    audit_request(request, "denied", target=target)
    return error(key, status)


def require(*roles: str):
    """401 without a valid token, 403 with a role not in `roles` (admin always passes);
    both are audited."""

    def deco(handler):
        @wraps(handler)
        async def wrapped(request, *args, **kwargs):
            staff = staff_from_request(request)
            if staff is None:
                audit_request(request, "unauthenticated")
                return error("unauthenticated", 401)
            request.ctx.staff = staff
            if staff["role"] != "admin" and staff["role"] not in roles:
                return deny(request)
            return await handler(request, *args, **kwargs)

        return wrapped

    return deco
