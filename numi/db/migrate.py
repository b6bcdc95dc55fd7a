"""Schema migrations (Alembic, migrations/ at the repository root) and demo data."""
from __future__ import annotations


from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

from numi.db.demo import load_demo
from numi.settings import ROOT, Settings


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.attributes["connection"] = None
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, settings: Settings) -> None:
    """Bring the schema to the latest revision, in place; load demo data once."""
    with engine.begin() as conn:
        cfg = alembic_config(engine)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    if settings.demo_data:
        # the demo history of past customers loads when the churn model first needs it
        load_demo(engine, settings.timezone)
