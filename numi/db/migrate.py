"""Schema migrations (Alembic, migrations/ at the repository root) and demo data."""
from __future__ import annotations


from contextlib import contextmanager
from typing import Iterator

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Engine

from numi.db.demo import load_demo
from numi.settings import ROOT, Settings


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.attributes["connection"] = None
    cfg.attributes["engine"] = engine
    return cfg


# PostgreSQL advisory lock held while one process upgrades: numi's processes (and their alerts
# workers) start together in a cluster; the others wait, then find the work done.
UPGRADE_LOCK = 0x6E756D69  # "numi"


def upgrade(engine: Engine, settings: Settings) -> None:
    """Bring the schema to the latest revision, in place; load demo data once."""
    with _one_at_a_time(engine):
        with engine.begin() as conn:
            cfg = alembic_config(engine)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
        if settings.demo_data:
            # the demo history of past customers loads when the churn model first needs it
            load_demo(engine, settings.timezone)


@contextmanager
def _one_at_a_time(engine: Engine) -> Iterator[None]:
    if engine.dialect.name != "postgresql":  # SQLite serialises its writers by itself
        yield
        return
    with engine.connect() as lock:
        lock.execute(text("SELECT pg_advisory_lock(:k)"), {"k": UPGRADE_LOCK})
        try:
            yield
        finally:
            lock.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": UPGRADE_LOCK})
