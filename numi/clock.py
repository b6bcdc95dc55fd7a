"""Time helpers. Every function takes `now` explicitly so tests drive a fake clock."""
from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Optional

from dateutil import tz


def utcnow() -> datetime:
    """Naive UTC now (the database stores naive UTC datetimes)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def local_tz(name: str):
    zone = tz.gettz(name)
    if zone is None:  # pragma: no cover - depends on system tzdata
        raise ValueError(f"unknown timezone {name!r}")
    return zone


def to_local(value: datetime, tz_name: str) -> datetime:
    """A naive-UTC (or aware) datetime in local time (aware)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(local_tz(tz_name))


def to_utc_naive(value: datetime, tz_name: str) -> datetime:
    """A local naive (or aware) datetime as naive UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=local_tz(tz_name))
    return value.astimezone(timezone.utc).replace(tzinfo=None)


def local_date(value: datetime, tz_name: str) -> date:
    return to_local(value, tz_name).date()


MONTHS_FR = (
    "janvier", "février", "mars", "avril", "mai", "juin",
    "juillet", "août", "septembre", "octobre", "novembre", "décembre",
)
DAYS_FR = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")


def _coerce(value: Optional[date | datetime | str]) -> Optional[date | datetime]:
    """Collected values are ISO strings: accept them wherever a date is expected."""
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value) if "T" in value or " " in value.strip() else date.fromisoformat(value)
        except ValueError:
            return None
    return value


def date_fr(value: Optional[date | datetime | str], with_weekday: bool = False) -> str:
    """12 décembre 2025 (optionally « vendredi 12 décembre 2025 »)."""
    value = _coerce(value)
    if value is None:
        return ""
    day = "1er" if value.day == 1 else str(value.day)
    text = f"{day} {MONTHS_FR[value.month - 1]} {value.year}"
    return f"{DAYS_FR[value.weekday()]} {text}" if with_weekday else text


def datetime_fr(value: Optional[datetime | str]) -> str:
    when = _coerce(value)
    if when is None:
        return ""
    if not isinstance(when, datetime):
        return date_fr(when, with_weekday=True)
    return f"{date_fr(when, with_weekday=True)} à {when.hour}h{when.minute:02d}"


def short_date_fr(value: Optional[date | datetime | str]) -> str:
    value = _coerce(value)
    return "" if value is None else f"{value.day:02d}/{value.month:02d}"
