"""Effects of identity: anonymous customers prove who they are by a code sent by e-mail."""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any, Dict

from sqlalchemy import select

from numi.db import models as m
from numi.playbooks.effects.env import EffectEnv
from numi.playbooks.effects.registry import Frame, Params, effect
from numi.playbooks.model import Playbook
from numi.reminders import outbox

def _hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


@effect("check_identity", outputs=("identity_verified",))
def check_identity(env: EffectEnv, params: Params, frame: Frame, pb: Playbook) -> Dict[str, Any]:
    """Whether this conversation's customer is already identified (signed token or code)."""
    return {"identity_verified": bool(env.customer_id)}


OTP_PER_WINDOW, OTP_WINDOW_MINUTES = 3, 15  # codes sent per conversation


@effect("send_otp", params=("email",), required=("email",), outputs=("otp_sent",))
def send_otp(env: EffectEnv, params: Params, frame: Frame, pb: Playbook) -> Dict[str, Any]:
    """Send a one-time code to the address if it belongs to a customer (never says whether)."""
    email = str(params["email"]).strip().lower()
    recent = env.session.scalars(select(m.OtpChallenge.id).where(  # codes still valid: sent in the window
        m.OtpChallenge.conversation_id == env.conversation_id, m.OtpChallenge.expires_at > env.now)).all()
    if len(recent) >= OTP_PER_WINDOW:  # « renvoyer le code » has a limit, whatever the address
        return {"otp_sent": False}
    customer = env.session.scalars(select(m.Customer).where(m.Customer.email == email,
                                                            m.Customer.erased_at.is_(None))).first()
    code = f"{secrets.randbelow(10**6):06d}"
    challenge = m.OtpChallenge(conversation_id=env.conversation_id, email=email,
                               customer_id=customer.id if customer else None, code_hash=_hash(code),
                               expires_at=env.now + timedelta(minutes=OTP_WINDOW_MINUTES))
    env.session.add(challenge)
    env.session.flush()
    if customer is not None:
        outbox.enqueue_template(env.session, key=f"otp:{challenge.id}", kind="otp", channel="email",
                                recipient=email, template="otp", context={"code": code, "customer": customer},
                                now=env.now)
    return {"otp_sent": True}


@effect("check_otp", params=("code",), required=("code",), outputs=("identity_verified",))
def check_otp(env: EffectEnv, params: Params, frame: Frame, pb: Playbook) -> Dict[str, Any]:
    """Check the code; on success the conversation is bound to the customer."""
    challenge = env.session.scalars(
        select(m.OtpChallenge).where(m.OtpChallenge.conversation_id == env.conversation_id,
                                     m.OtpChallenge.verified_at.is_(None))
        .order_by(m.OtpChallenge.id.desc())).first()
    if challenge is None or challenge.expires_at < env.now or challenge.attempts >= 5:
        return {"identity_verified": False}
    challenge.attempts += 1
    if challenge.customer_id and secrets.compare_digest(challenge.code_hash, _hash(str(params["code"]))):
        challenge.verified_at = env.now
        env.customer_id = challenge.customer_id
        return {"identity_verified": True, "_signal": {"identified": challenge.customer_id}}
    return {"identity_verified": False}
