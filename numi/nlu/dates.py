"""French dates and times → datetimes, with python-dateutil (no Duckling server).

Understands: « aujourd'hui », « demain matin », « après-demain », « lundi
prochain vers 14h », « jeudi après-midi », « le 22/12 », « le 22 décembre à
10h30 », « 22/12/2026 », « dans 3 jours », « ce soir », « à 9h ». Returns the
start of the moment meant, in local time (naive), or None.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Optional, Tuple

from dateutil.relativedelta import relativedelta, MO, TU, WE, TH, FR, SA, SU

from numi.text import fold

WEEKDAYS = {"lundi": MO, "mardi": TU, "mercredi": WE, "jeudi": TH, "vendredi": FR, "samedi": SA, "dimanche": SU}
MONTHS = {
    "janvier": 1, "janv": 1, "fevrier": 2, "fev": 2, "mars": 3, "avril": 4, "avr": 4, "mai": 5,
    "juin": 6, "juillet": 7, "juil": 7, "aout": 8, "septembre": 9, "sept": 9, "octobre": 10,
    "oct": 10, "novembre": 11, "nov": 11, "decembre": 12, "dec": 12,
}
PARTS_OF_DAY = {"matin": time(9, 0), "midi": time(12, 0), "apres midi": time(14, 0),
                "aprem": time(14, 0), "soir": time(18, 0), "fin de matinee": time(11, 0),
                "debut d apres midi": time(14, 0), "fin d apres midi": time(16, 0)}


def _fold(text: str) -> str:
    return fold(re.sub(r"['’\-]", " ", text))  # apostrophes first: folding to ASCII drops « ’ »


@dataclass(frozen=True)
class Found:
    value: datetime
    start: int
    end: int
    has_time: bool
    text: str


_TIME = r"(?P<h>[01]?\d|2[0-3])\s?(?:h|:|heures?)\s?(?P<m>[0-5]\d)?"
_PATTERNS = [
    ("dmy", re.compile(r"\b(?P<d>[0-3]?\d)[/.](?P<mo>[01]?\d)(?:[/.](?P<y>(?:20)?\d\d))?\b")),
    ("d_month", re.compile(r"\b(?P<d>1er|[0-3]?\d)\s+(?P<month>" + "|".join(sorted(MONTHS, key=len, reverse=True))
                           + r")\.?(?:\s+(?P<y>20\d\d))?\b")),
    ("rel_day", re.compile(r"\b(?P<rel>apres demain|avant hier|aujourd hui|demain|ce soir|ce matin"
                           r"|cet apres midi|hier)\b")),
    ("weekday", re.compile(r"\b(?P<wd>lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche)"
                           r"(?:\s+(?P<next>prochain|qui vient|d apres))?\b")),
    ("in_days", re.compile(r"\bdans\s+(?P<n>\d+|un|une|deux|trois|quatre|cinq|huit|quinze)"
                           r"\s+(?P<unit>jours?|semaines?|heures?)\b")),
    ("next_week", re.compile(r"\b(?:la\s+)?semaine\s+prochaine\b")),
]
_NUM = {"un": 1, "une": 1, "deux": 2, "trois": 3, "quatre": 4, "cinq": 5, "huit": 8, "quinze": 15}


def find(text: str, now: datetime) -> Optional[Found]:
    """The first date/time expression in `text`, resolved against `now` (local, naive)."""
    folded = _fold(text or "")
    if len(folded) != len(text or ""):
        # folding changed lengths (rare ligatures); offsets become approximate
        pass
    day: Optional[datetime] = None
    span: Optional[Tuple[int, int]] = None
    for kind, pattern in _PATTERNS:
        m = pattern.search(folded)
        if not m:
            continue
        try:
            day = _resolve_day(kind, m, now)
        except ValueError:
            day = None
        if day is not None:
            span = m.span()
            break
    t, tspan = _find_time(folded)
    if day is None and t is None:
        return None
    has_time = t is not None
    if day is None:
        assert t is not None and tspan is not None  # a time was found, since no day was
        day = now
        span = tspan
        candidate = datetime.combine(day.date(), t)
        if candidate < now:
            candidate += timedelta(days=1)
        value = candidate
    else:
        value = datetime.combine(day.date(), t or day.time())
        assert span is not None  # set with the day
        if tspan:
            span = (min(span[0], tspan[0]), max(span[1], tspan[1]))
    start, end = span
    return Found(value=value, start=start, end=end, has_time=has_time, text=(text or "")[start:end])


def parse(text: str, now: datetime) -> Optional[datetime]:
    found = find(text, now)
    return found.value if found else None


def _find_time(folded: str) -> Tuple[Optional[time], Optional[Tuple[int, int]]]:
    m = re.search(r"\b(?:vers|a|avant|apres|entre|pour|des)?\s*" + _TIME, folded)
    if m and m.group("h") is not None:
        return time(int(m.group("h")), int(m.group("m") or 0)), m.span()
    for words, t in sorted(PARTS_OF_DAY.items(), key=lambda kv: -len(kv[0])):
        m = re.search(rf"\b{words}\b", folded)
        if m:
            return t, m.span()
    return None, None


def _resolve_day(kind: str, m: re.Match[str], now: datetime) -> Optional[datetime]:
    base = now.replace(hour=9, minute=0, second=0, microsecond=0)
    if kind == "dmy":
        d, mo = int(m.group("d")), int(m.group("mo"))
        y = m.group("y")
        year = (2000 + int(y) if len(y) == 2 else int(y)) if y else now.year
        value = base.replace(year=year, month=mo, day=d)
        if not y and value.date() < now.date():
            value = value.replace(year=year + 1)
        return value
    if kind == "d_month":
        d = 1 if m.group("d") == "1er" else int(m.group("d"))
        mo = MONTHS[m.group("month")]
        year = int(m.group("y")) if m.group("y") else now.year
        value = base.replace(year=year, month=mo, day=d)
        if not m.group("y") and value.date() < now.date():
            value = value.replace(year=year + 1)
        return value
    if kind == "rel_day":
        rel = m.group("rel")
        offset = {"aujourd hui": 0, "ce soir": 0, "ce matin": 0, "cet apres midi": 0, "demain": 1,
                  "apres demain": 2, "hier": -1, "avant hier": -2}[rel]
        value = base + timedelta(days=offset)
        if rel == "ce soir":
            value = value.replace(hour=18)
        elif rel == "cet apres midi":
            value = value.replace(hour=14)
        return value
    if kind == "weekday":
        wd = WEEKDAYS[m.group("wd")]
        value = base + relativedelta(days=+1, weekday=wd(+1))
        if m.group("next") == "d apres":
            value += timedelta(days=7)
        return value
    if kind == "in_days":
        n_raw = m.group("n")
        n = int(n_raw) if n_raw.isdigit() else _NUM[n_raw]
        unit = m.group("unit")
        if unit.startswith("semaine"):
            return base + timedelta(weeks=n)
        if unit.startswith("heure"):
            return now + timedelta(hours=n)
        return base + timedelta(days=n)
    if kind == "next_week":
        return base + relativedelta(days=+1, weekday=MO(+1))
    return None


_MONTH = "|".join(sorted(MONTHS, key=len, reverse=True))
_RANGE = re.compile(rf"\b(?:de|d|entre)?\s*(?P<a>{_MONTH})\b(?:\s+(?P<ya>20\d\d))?\s*(?:a|au|et|jusqu a|-)\s*"
                    rf"(?P<b>{_MONTH})\b(?:\s+(?P<yb>20\d\d))?")
_ONE = re.compile(rf"\b(?P<m>{_MONTH})\b(?:\s+(?P<y>20\d\d))?")
_YEAR = re.compile(r"\b(?P<y>20\d\d)\b")
_LAST_N = re.compile(r"\b(?P<n>\d{1,2}|deux|trois|quatre|cinq|six|douze) derniers mois\b")
_EVERYTHING = re.compile(r"\b(toutes?|tout|l ensemble|l historique)\b")
_N_WORDS = {"deux": 2, "trois": 3, "quatre": 4, "cinq": 5, "six": 6, "douze": 12}


def _ym(d: date) -> str:
    return f"{d.year}-{d.month:02d}"


def _latest(month: int, now: datetime) -> int:
    """The year of the latest such month, this one included."""
    return now.year if month <= now.month else now.year - 1


def month_range(text: str, now: datetime) -> Optional[Tuple[str, str]]:
    """The months a French phrase names, as an inclusive range of « YYYY-MM »:
    « mars », « mars 2024 », « le mois dernier », « de janvier à mars », « l'année 2024 »,
    « cette année », « l'année dernière », « les 3 derniers mois ». « toutes » gives the widest
    range. None when the phrase names no period."""
    t = " ".join(_fold(text).split())
    if not t:
        return None
    m = _RANGE.search(t)
    if m:
        a, b = MONTHS[m.group("a")], MONTHS[m.group("b")]
        yb = int(m.group("yb") or m.group("ya") or _latest(b, now))
        ya = int(m.group("ya") or (yb if a <= b else yb - 1))
        return f"{ya}-{a:02d}", f"{yb}-{b:02d}"
    m = _LAST_N.search(t)
    if m:
        n = _N_WORDS.get(m.group("n")) or int(m.group("n"))
        first = (now.date().replace(day=1) - relativedelta(months=max(1, n)))
        last = now.date().replace(day=1) - relativedelta(months=1)
        return _ym(first), _ym(last)
    if re.search(r"\bmois dernier\b|\bdernier mois\b", t):
        previous = _ym(now.date().replace(day=1) - relativedelta(months=1))
        return previous, previous
    if re.search(r"\bce mois ci\b|\bce mois\b", t):
        return _ym(now.date()), _ym(now.date())
    m = _ONE.search(t)
    if m:
        month = MONTHS[m.group("m")]
        year = int(m.group("y") or _latest(month, now))
        return f"{year}-{month:02d}", f"{year}-{month:02d}"
    m = _YEAR.search(t)
    whole_year = int(m.group("y")) if m else (now.year if re.search(r"\bcette annee\b", t) else
                                              now.year - 1 if re.search(r"\bannee (derniere|passee)\b", t) else None)
    if whole_year is not None:
        return f"{whole_year}-01", f"{whole_year}-12"
    if _EVERYTHING.search(t):
        return "0000-01", "9999-12"
    return None
