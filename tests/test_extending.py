"""The README's « How to add … » paths, walked for real: a scenario, a reminder step kind.
(The endpoint path is in tests/test_service_inprocess.py.)"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from numi.playbooks.effects import EffectEnv
from numi.playbooks.engine import Parsed, Walker, new_state
from numi.playbooks.library import DEFAULT_DIR, domain_intents, load_library
from numi.playbooks.model import PlaybookError
from numi.reminders import dashboard, policy
from numi.service.app import PRIVATE
from numi.settings import ROOT
from numi.vocab import REMINDER_KINDS

NEW = Path(__file__).parent / "extending" / "password_reset.yml"


def _library_with_new_scenario(tmp_path: Path, intents):
    shutil.copytree(DEFAULT_DIR, tmp_path / "playbooks")
    shutil.copy(NEW, tmp_path / "playbooks" / NEW.name)
    return load_library(tmp_path / "playbooks", intents=intents)


def test_a_new_scenario_is_one_playbook_file_and_its_intent(tmp_path, db, settings):
    lib = _library_with_new_scenario(tmp_path, domain_intents() | {"forgot_password"})
    assert lib.playbook_for_intent("forgot_password").id == "password_reset"
    for mode in ("customer", "agent"):
        env = EffectEnv(session=db, settings=settings, conversation_id=f"new-{mode}", customer_id="CLT-00321",
                        mode=mode, library=lib)
        walker = Walker(lib, env, mode=mode)
        out = walker.start(new_state(mode), "password_reset")
        out = Walker(lib, env, mode=mode).handle(out.state, Parsed("mon Gmail", "inform", 0.9))
        said = json.dumps([o.as_dict() for o in out.outputs], ensure_ascii=False)  # a chat text, or a prompter card
        assert "TK-" in said and "Gmail" in said, said
        assert not out.state.get("stack"), "the scenario ended"


def test_a_scenario_on_an_intent_the_assistant_does_not_know_is_refused(tmp_path):
    """Forget to declare the intent in domain/ (and to train it): the library refuses to load."""
    with pytest.raises(PlaybookError, match="forgot_password"):
        _library_with_new_scenario(tmp_path, domain_intents())


def test_every_reminder_kind_has_its_policy_mail_and_label():
    """A reminder step kind is named in numi/vocab.py, and each place that needs it has it."""
    words = dashboard.words()
    for kind in REMINDER_KINDS:
        assert kind in words["steps"], kind
        assert (ROOT / "templates" / "mail" / f"reminder_{kind}.txt.j2").exists(), kind
    assert policy.KINDS == REMINDER_KINDS
    loaded = policy.load_default()
    used = {step.kind for priority in ("urgent", "high", "normal", None)
            for step in loaded.effective_timeline(priority, "feedback")}
    assert used == set(REMINDER_KINDS), "every kind is used by the default policy"


def test_a_reminder_kind_without_its_label_fails_loudly(tmp_path):
    """Adding a kind to numi.vocab without its dashboard label is refused at load, never dropped."""
    data = yaml.safe_load(dashboard.WORDS_PATH.read_text(encoding="utf-8"))
    del data["steps"]["firm"]
    broken = tmp_path / "dashboard.yml"
    broken.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ValueError, match="firm"):
        dashboard.words(broken)


def test_a_policy_step_of_an_unknown_kind_is_refused(tmp_path):
    raw = yaml.safe_load(policy.DEFAULT_PATH.read_text(encoding="utf-8"))
    text = yaml.safe_dump(raw, allow_unicode=True).replace("kind: firm", "kind: nudge", 1)
    path = tmp_path / "policy.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(policy.PolicyError, match="nudge"):
        policy.load(path)


# Routes anyone may call: the pages, the chat's public entry points, the health check. Any
# other route of the service (a new endpoint included) must refuse a request without a token.
PUBLIC_PREFIXES = ("/health", "/chat/", "/static/", "/favicon", "/console/")
PUBLIC_PAGES = {"/", "/console", "/prompter", "/trainer", "/queues"}


async def test_every_route_refuses_a_caller_without_a_token(service):
    """The « How to add an endpoint » safety net: each route the app registers, called without a
    token, answers 401 or 403 (never 2xx, never 5xx), unless it is one of the public ones."""
    private = {f"{service.app.name}.{bp.name}." for bp in PRIVATE}
    routes, hidden = [], []
    for route in service.app.router.routes:
        path = "/" + route.path.lstrip("/")
        if path.startswith(PUBLIC_PREFIXES) or path in PUBLIC_PAGES:
            continue
        concrete = "/".join("1" if part.startswith("<") else part for part in path.split("/"))
        for method in sorted(route.methods - {"OPTIONS", "HEAD"}):
            (hidden if route.name.startswith(tuple(private)) else routes).append((method, concrete))
    assert len(routes) >= 20, routes
    answers = {}
    for method, path in routes:
        status, _ = await service.call(method, path, {} if method != "GET" else None)
        answers[f"{method} {path}"] = status
    wrong = {k: v for k, v in answers.items() if v not in (401, 403)}
    assert wrong == {}, wrong
    for method, path in hidden:  # the custom actions' routes do not exist on the public listener
        status, _ = await service.call(method, path, {} if method != "GET" else None)
        assert status == 404, (method, path, status)
    assert hidden, "the private listener's routes are known"
