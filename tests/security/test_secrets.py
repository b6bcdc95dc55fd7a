"""Point 8 of the trust issue: secrets stay secret."""
import logging
import os
import re
import subprocess
import sys

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from numi.db import make_engine
from numi.devstack import ROOT, free_port
from numi.settings import REQUIRED_SECRETS, ConfigurationError, check_secrets


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMI_")}
    env.update(PYTHONPATH=str(ROOT), **extra)
    return env


@pytest.mark.parametrize("missing", REQUIRED_SECRETS)
def test_outside_local_mode_a_process_refuses_to_start_without_its_secrets(missing):
    env = {name: "a-long-random-value" for name in REQUIRED_SECRETS}
    env.pop(missing)
    with pytest.raises(ConfigurationError, match=missing):
        check_secrets(env)
    with pytest.raises(ConfigurationError, match="NUMI_SECRET"):
        check_secrets(dict(env, NUMI_SECRET="dev-secret-change-me"))
    check_secrets(dict(env, NUMI_LOCAL="1"))  # make run's local mode has defaults
    check_secrets({name: "x" * 20 for name in REQUIRED_SECRETS})


@pytest.mark.slow
def test_the_numi_service_exits_with_a_clear_message(tmp_path):
    env = clean_env(NUMI_PORT=str(free_port()), NUMI_DATABASE_URL=f"sqlite:///{tmp_path / 'n.db'}")
    proc = subprocess.run([sys.executable, "-m", "numi.service"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2 and "NUMI_SECRET" in proc.stderr and "refuse de démarrer" in proc.stderr


def test_the_rasa_channels_refuse_to_start_without_secrets(monkeypatch):
    from numi import channels

    for name in list(os.environ):
        if name.startswith("NUMI_"):
            monkeypatch.delenv(name)
    with pytest.raises(ConfigurationError):
        channels.NumiRestInput().blueprint(lambda message: None)


def test_failing_sql_statements_do_not_log_their_values(tmp_path, caplog):
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE people (email TEXT UNIQUE)"))
        conn.execute(text("INSERT INTO people VALUES ('jeanne.secret@example.fr')"))
    caplog.set_level(logging.DEBUG)
    with pytest.raises(IntegrityError) as raised:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO people VALUES (:e)"), {"e": "jeanne.secret@example.fr"})
    assert "jeanne.secret" not in str(raised.value)
    assert "jeanne.secret" not in caplog.text


def test_run_sh_shows_the_admin_token_only_on_the_terminal():
    script = (ROOT / "scripts" / "run.sh").read_text()
    lines = [line for line in script.splitlines() if "$NUMI_ADMIN_TOKEN" in line and "echo" in line]
    assert lines and all(re.search(r">\s*/dev/tty\s*$", line) for line in lines)
    assert "dev-secret-change-me" not in script
