"""Benchmark of the daily reminder run (issue: "the run touches only the tickets that are due").

100,000 waiting tickets of which about 1,000 are due today, on SQLite and (if
NUMI_TEST_POSTGRES_URL is set) PostgreSQL: time of the dry run, of the real run,
and of a second, no-op run the same day. Writes results/bench_reminders.json.

    make bench-reminders
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402

from numi.db import make_engine, make_sessionmaker  # noqa: E402
from numi.db import models as m  # noqa: E402
from numi.db.migrate import upgrade  # noqa: E402
from numi.reminders import engine  # noqa: E402
from numi.settings import Settings  # noqa: E402

TOTAL, DUE = 100_000, 1_000
TODAY = date(2027, 3, 10)


def fill(url: str) -> None:
    settings = Settings.from_env(env={}, database_url=url, demo_data=False)
    eng = make_engine(url)
    upgrade(eng, settings)
    rows = []
    base = datetime(2027, 3, 1, 9, 0)
    for i in range(TOTAL):
        due = i < DUE
        waiting_since = datetime(2027, 3, 5, 9, 0) if due else base + timedelta(days=7)  # normal: due at J+5
        rows.append({"number": i + 1, "scenario": "tech_support", "subject": f"Sujet {i}", "priority": "normal",
                     "status": "waiting_customer", "waiting_reason": "feedback", "waiting_since": waiting_since,
                     "next_reminder_due": (waiting_since + timedelta(days=5)).date(), "reopen_count": 0,
                     "data": "{}", "created_at": base, "updated_at": waiting_since})
    with eng.begin() as conn:
        conn.execute(m.Ticket.__table__.insert(), rows)
    eng.dispose()


def measure(url: str) -> dict:
    fill(url)
    settings = Settings.from_env(env={}, database_url=url, demo_data=False)
    eng = make_engine(url)
    sessions = make_sessionmaker(eng)
    out = {}
    t = time.perf_counter()
    preview = engine.run(sessions, settings, TODAY, dry_run=True)
    out["dry_run_s"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    done = engine.run(sessions, settings, TODAY)
    out["run_s"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    again = engine.run(sessions, settings, TODAY)
    out["noop_run_s"] = round(time.perf_counter() - t, 3)
    out.update({"tickets": TOTAL, "due": len(preview), "done": len(done), "second_run": len(again)})
    eng.dispose()
    return out


def main() -> None:
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["sqlite"] = measure(f"sqlite:///{tmp}/bench.db")
    pg = os.environ.get("NUMI_TEST_POSTGRES_URL")
    if pg:
        name = f"numi_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(pg, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            results["postgresql"] = measure(pg.rsplit("/", 1)[0] + "/" + name)
        finally:
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    else:
        results["postgresql"] = "skipped: NUMI_TEST_POSTGRES_URL is not set"
    (ROOT / "results").mkdir(exist_ok=True)
    (ROOT / "results" / "bench_reminders.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
