"""Exactly once, for real: an SMTP server, separate processes, crashes and races."""
import os
import subprocess
import sys
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from numi.clock import to_utc_naive
from numi.db import make_engine, make_sessionmaker
from numi.db import models as m
from numi.db.migrate import upgrade
from numi.settings import Settings
from numi.tickets import service
from numi.tickets.lifecycle import Transition
from tests.smtp import SmtpServer

ROOT = Path(__file__).resolve().parent.parent
DAY0 = date(2026, 12, 1)
pytestmark = pytest.mark.slow


def prepare(url: str, tickets: int) -> None:
    settings = Settings.from_env(env={}, database_url=url, demo_data=False)
    engine = make_engine(url)
    upgrade(engine, settings)
    sessions = make_sessionmaker(engine)
    with sessions() as s, s.begin():
        for i in range(tickets):
            cid = f"CLT-9{i:04d}"
            s.add(m.Customer(id=cid, first_name=f"Client{i}", last_name="Test", email=f"client{i}@example.fr",
                             phone=None, segment="standard", perimeter="particuliers", crm_notes=[]))
            s.flush()
            t = service.open_ticket(s, scenario="tech_support", actor="test", customer_id=cid, priority="urgent",
                                    subject=f"Sujet {i}",
                                    now=to_utc_naive(datetime.combine(DAY0, time(9)), "Europe/Paris"))
            service.transition(s, t, Transition("waiting_customer", waiting_reason="feedback"), actor="test",
                               tz="Europe/Paris",
                               now=to_utc_naive(datetime.combine(DAY0, time(10)), "Europe/Paris"))
    engine.dispose()


def run_cli(url: str, smtp: SmtpServer, today: date, crash: str = "", wait: bool = True):
    env = dict(os.environ, PYTHONPATH=str(ROOT), NUMI_DATABASE_URL=url, NUMI_DEMO_DATA="0", **smtp.env())
    if crash:
        env["NUMI_CRASH_AT"] = crash
    cmd = [sys.executable, "-m", "numi.cli", "reminders", "run", "--today", today.isoformat()]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if wait:
        proc.wait(timeout=120)
    return proc


def outbox_status(url: str):
    engine = make_engine(url)
    with engine.connect() as c:
        rows = c.execute(select(m.OutboxMessage.status, func.count()).group_by(m.OutboxMessage.status)).all()
    engine.dispose()
    return dict(rows)


def test_reminders_arrive_by_smtp(database_url, tmp_path):
    prepare(database_url, 2)
    with SmtpServer() as smtp:
        proc = run_cli(database_url, smtp, DAY0 + timedelta(days=1))
        assert proc.returncode == 0, proc.stderr.read().decode()
        subjects = sorted(msg["Subject"] for msg in smtp.messages)
        assert len(subjects) == 2 and all("Vous allez bien ?" in s for s in subjects)
        body = smtp.messages[0].get_content()
        assert "CE QU'ON ATTENDAIT DE VOUS" in body and "Client" in body


def test_running_the_same_day_twice_sends_nothing_new(database_url):
    prepare(database_url, 3)
    with SmtpServer() as smtp:
        run_cli(database_url, smtp, DAY0 + timedelta(days=1))
        run_cli(database_url, smtp, DAY0 + timedelta(days=1))
        assert len(smtp.messages) == 3


def test_two_racing_runs_send_each_message_once(database_url):
    prepare(database_url, 30)
    with SmtpServer() as smtp:
        a = run_cli(database_url, smtp, DAY0 + timedelta(days=1), wait=False)
        b = run_cli(database_url, smtp, DAY0 + timedelta(days=1), wait=False)
        assert a.wait(timeout=180) == 0 and b.wait(timeout=180) == 0, (a.stderr.read(), b.stderr.read())
        ids = [msg["Message-ID"] for msg in smtp.messages]
        assert len(ids) == 30 and len(set(ids)) == 30


@pytest.mark.parametrize("crash", ["before_commit", "after_commit", "after_send"])
def test_a_killed_run_does_not_send_twice_on_restart(database_url, crash):
    prepare(database_url, 1)
    with SmtpServer() as smtp:
        killed = run_cli(database_url, smtp, DAY0 + timedelta(days=1), crash=crash)
        assert killed.returncode == 86  # killed at the crash point
        at_crash = len(smtp.messages)
        restarted = run_cli(database_url, smtp, DAY0 + timedelta(days=1))
        assert restarted.returncode == 0, restarted.stderr.read().decode()
        if crash == "before_commit":
            assert at_crash == 0  # the server dropped the unfinished DATA...
            assert len(smtp.messages) == 1  # ...and the restart sent it once
        elif crash == "after_send":
            assert at_crash == 1 and len(smtp.messages) == 1  # delivered and never sent again
        else:
            assert len(smtp.messages) <= 1  # recorded before the final dot: never twice
        assert outbox_status(database_url).get("sending", 0) == 0


def test_a_run_for_another_day_leaves_a_live_claim_alone(database_url):
    """The race CI found: run B, started for a later day, took run A's in-flight row back
    to pending (its lease was measured on B's business clock) and the message left twice."""
    from numi.clock import utcnow
    from numi.reminders import outbox

    prepare(database_url, 0)
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    with sessions() as s, s.begin():
        s.add(m.OutboxMessage(key="k-live", kind="gentle", channel="email", recipient="a@example.fr",
                              subject="s", body="b", message_id="<live@numi.support>", status="sending",
                              claimed_by=outbox._me(), claimed_at=utcnow(), attempts=1))
        s.add(m.OutboxMessage(key="k-dead", kind="gentle", channel="email", recipient="b@example.fr",
                              subject="s", body="b", message_id="<dead@numi.support>", status="sending",
                              claimed_by=f"{outbox.socket.gethostname()}:999999999", claimed_at=utcnow(),
                              attempts=1))
    assert outbox.recover(sessions) == 1  # only the dead process's row goes back
    with sessions() as s:
        status = dict(s.execute(select(m.OutboxMessage.key, m.OutboxMessage.status)).all())
    engine.dispose()
    assert status == {"k-live": "sending", "k-dead": "pending"}
