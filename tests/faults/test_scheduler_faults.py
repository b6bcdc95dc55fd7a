"""Scheduler and workers killed at any point: on restart each job resumes and does each
thing exactly once; two schedulers never both run (issue 13, point 3)."""
import subprocess
import sys
from datetime import datetime, time, timedelta

from sqlalchemy import func, select

from numi import leases
from numi.clock import to_utc_naive
from numi.db import models as m
from numi.devstack import ROOT
from numi.service.scheduler import LAST_RUN, reminder_tick
from tests.test_reminders import START, waiting_ticket

KILLED = 86
DAY = START + timedelta(days=1)
AT_TEN = to_utc_naive(datetime.combine(DAY, time(10, 0)), "Europe/Paris")

SCHEDULER = """
import sys
from datetime import datetime
from pathlib import Path
from numi import runtime
from numi.service.scheduler import reminder_tick
from numi.settings import Settings
services = runtime.init(Settings.from_env(env={}, database_url=sys.argv[1], secret="test-secret",
                                          mailbox_dir=Path(sys.argv[2]), scheduler_enabled=False))
reminder_tick(services, datetime.fromisoformat(sys.argv[3]))
"""


def killed_scheduler(settings, crash_at: str) -> int:
    env = {"PYTHONPATH": str(ROOT), "NUMI_CRASH_AT": crash_at, "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-c", SCHEDULER, settings.database_url, str(settings.mailbox_dir),
                           AT_TEN.isoformat()], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    return proc.returncode


def test_a_daily_run_killed_half_way_finishes_the_same_day_exactly_once(db, services):
    tickets = [waiting_ticket(db, "urgent", customer="CLT-00321") for _ in range(14)]
    db.rollback()
    assert killed_scheduler(services.settings, "after_reminder#4") == KILLED
    sent_before = db.scalar(select(func.count()).select_from(m.OutboxMessage).where(m.OutboxMessage.kind == "gentle"))
    assert 0 < sent_before < 14  # it was cut half-way
    assert db.get(m.Meta, LAST_RUN) is None  # and the day is not marked done
    db.rollback()  # (a SQLite reader of this test holds no lock while the scheduler writes)
    assert reminder_tick(services, AT_TEN + timedelta(minutes=1)) is True  # the restart, the same day
    db.expire_all()
    numbers = [r.ticket_number for r in db.scalars(select(m.OutboxMessage).where(m.OutboxMessage.kind == "gentle"))]
    assert len(numbers) == len(set(numbers))  # nothing twice
    assert sorted(n for n in numbers if n in {t.number for t in tickets}) == sorted(t.number for t in tickets)
    assert db.get(m.Meta, LAST_RUN).value == DAY.isoformat()
    db.rollback()
    assert reminder_tick(services, AT_TEN + timedelta(hours=1)) is False


def test_one_scheduler_across_processes_and_a_takeover_when_it_dies(services):
    sessions, now = services.sessions, datetime(2026, 12, 1, 10, 0)
    assert leases.acquire(sessions, "scheduler", "numi-a", now, 60)
    assert not leases.acquire(sessions, "scheduler", "numi-b", now + timedelta(seconds=20), 60)
    assert leases.acquire(sessions, "scheduler", "numi-a", now + timedelta(seconds=20), 60)  # renewed
    # numi-a dies: its lease runs out, numi-b takes over within the lease's length
    assert not leases.acquire(sessions, "scheduler", "numi-b", now + timedelta(seconds=79), 60)
    assert leases.acquire(sessions, "scheduler", "numi-b", now + timedelta(seconds=81), 60)
    assert not leases.acquire(sessions, "scheduler", "numi-a", now + timedelta(seconds=90), 60)


def test_two_schedulers_racing_for_a_new_lease_get_one_winner(services):
    import threading

    wins, now = [], datetime(2026, 12, 2, 10, 0)

    def race(holder):
        if leases.acquire(services.sessions, "race", holder, now, 60):
            wins.append(holder)

    threads = [threading.Thread(target=race, args=(f"numi-{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1
