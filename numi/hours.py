"""Opening hours: is numi open, when does it open next, free callback slots."""
from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Dict, Iterable, List, Mapping, Optional, Tuple

SLOT_MINUTES = 30

# weekday (0 = Monday) -> (opening, closing), None when closed
Hours = Mapping[int, Optional[Tuple[time, time]]]


def is_open(table: Hours, when: datetime) -> bool:
    hours = table.get(when.weekday())
    if not hours:
        return False
    return hours[0] <= when.time() < hours[1]


def next_open(table: Hours, when: datetime) -> datetime:
    """`when` if open, else the next opening moment (local, naive)."""
    if is_open(table, when):
        return when
    for days in range(0, 8):
        day = (when + timedelta(days=days)).date()
        hours = table.get(day.weekday())
        if not hours:
            continue
        opening = datetime.combine(day, hours[0])
        if opening >= when:
            return opening
    raise ValueError("no opening hours configured (Settings.opening_hours)")


def slot_ok(table: Hours, start: datetime) -> bool:
    """A callback slot must start and end within opening hours."""
    end = start + timedelta(minutes=SLOT_MINUTES)
    hours = table.get(start.weekday())
    if not hours:
        return False
    return hours[0] <= start.time() and end.time() <= hours[1] and end.date() == start.date()


def free_slots(table: Hours, after: datetime, taken: Iterable[datetime],
               capacity: int = 2, count: int = 3) -> List[datetime]:
    """The next `count` slots after `after` that are open and not full."""
    used: Dict[datetime, int] = {}
    for t in taken:
        used[t] = used.get(t, 0) + 1
    start = after.replace(second=0, microsecond=0)
    minute = (start.minute // SLOT_MINUTES + 1) * SLOT_MINUTES
    cursor = start.replace(minute=0) + timedelta(minutes=minute)
    found: List[datetime] = []
    for _ in range(24 * 2 * 14):
        if slot_ok(table, cursor) and used.get(cursor, 0) < capacity:
            found.append(cursor)
            if len(found) >= count:
                break
        cursor += timedelta(minutes=SLOT_MINUTES)
    return found
