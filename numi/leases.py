"""Leases: one holder at a time for a named job across numi processes (the scheduler), on
SQLite and PostgreSQL alike. A holder renews its lease at every tick; when it dies, the lease
expires and another process takes over."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from numi.db import models as m


def acquire(sessions: sessionmaker, name: str, holder: str, now: datetime, ttl_seconds: float) -> bool:
    """Take or renew `name` for `holder` until now + ttl; False while another holder has it."""
    until = now + timedelta(seconds=ttl_seconds)
    with sessions() as s, s.begin():
        taken = s.execute(update(m.Lease).where(m.Lease.name == name, or_(m.Lease.holder == holder,
                                                                          m.Lease.expires_at < now))
                          .values(holder=holder, expires_at=until)).rowcount
        if taken:
            return True
        if s.get(m.Lease, name) is not None:
            return False
    try:
        with sessions() as s, s.begin():
            s.add(m.Lease(name=name, holder=holder, expires_at=until))
        return True
    except IntegrityError:  # another process created it first
        return False


def release(sessions: sessionmaker, name: str, holder: str) -> None:
    with sessions() as s, s.begin():
        s.execute(update(m.Lease).where(m.Lease.name == name, m.Lease.holder == holder)
                  .values(expires_at=datetime(1970, 1, 1)))
