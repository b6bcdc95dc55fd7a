"""The domain, the actions package and the playbooks agree with each other and the contract."""
from pathlib import Path

import yaml
from rasa_sdk.executor import ActionExecutor

from numi.playbooks.library import load_library
from numi.playbooks.validate import contract_intents

ROOT = Path(__file__).resolve().parent.parent
CONTRACT = ROOT.parent / "shared" / "contract"


def domain():
    merged = {}
    for f in sorted((ROOT / "domain").glob("*.yml")):
        for k, v in (yaml.safe_load(f.read_text()) or {}).items():
            if isinstance(v, list):
                merged.setdefault(k, []).extend(v)
            else:
                merged.setdefault(k, v)
    return merged


def test_every_custom_action_of_the_domain_is_registered():
    executor = ActionExecutor()
    executor.register_package("actions")
    custom = {a for a in domain()["actions"]}
    assert custom <= set(executor.actions), custom - set(executor.actions)


def test_the_domain_has_every_contract_intent():
    assert contract_intents(CONTRACT) <= set(domain()["intents"])


def test_every_trigger_intent_opens_a_playbook_rule():
    rules = (ROOT / "data" / "rules.yml").read_text()
    lib = load_library(ROOT / "playbooks")
    for intent in lib.triggers:
        if not intent.startswith("EXTERNAL_"):
            assert f"- intent: {intent}\n" in rules, intent
    for pb in lib.values():
        for intent in pb.entry:
            assert f"- intent: {intent}\n" in rules, intent


def test_generated_playbook_stories_are_up_to_date(tmp_path):
    import subprocess
    import sys

    stories = ROOT / "tests" / "stories" / "playbooks.yml"
    before = stories.read_text()
    subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_test_stories.py")], check=True, capture_output=True)
    assert stories.read_text() == before, "run scripts/gen_test_stories.py and commit tests/stories/playbooks.yml"


def test_an_existing_database_upgrades_in_place(tmp_path):
    """A database created at the first revision reaches the latest one, data kept."""
    from alembic import command
    from sqlalchemy import inspect, text

    from numi.db import make_engine
    from numi.db.migrate import alembic_config, upgrade
    from numi.settings import Settings

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    with engine.begin() as conn:
        cfg = alembic_config(engine)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO customers (id, segment, perimeter, churned, crm_notes, created_at) "
                          "VALUES ('CLT-04242', 'standard', 'particuliers', 0, '[]', '2026-01-01')"))
    assert "claimed_by" not in {c["name"] for c in inspect(engine).get_columns("outbox")}
    upgrade(engine, Settings.from_env(env={}, database_url=url, demo_data=False))
    assert "claimed_by" in {c["name"] for c in inspect(engine).get_columns("outbox")}
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM customers WHERE id='CLT-04242'")).scalar() == 1
