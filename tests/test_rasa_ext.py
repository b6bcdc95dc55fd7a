"""numi.rasa_patches: every patch applicable to the installed Rasa and compared with Rasa's
original on representative inputs (the speed-ups give the same output, the fault handling
differs only where it means to); install() explicit, idempotent, skipping a patch written
for another Rasa; the tracker store's cache and plain-SQL turn against a real database."""
from __future__ import annotations

import asyncio
import inspect
import logging

import pytest
import rasa
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction
from rasa.core.tracker_store import FailSafeTrackerStore, InMemoryTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, Event, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.utils.common import all_subclasses

from numi.rasa_patches import patch, stores
from numi.rasa_patches.faults import TrackerStoreUnavailable, action_timeout
from numi.rasa_patches.speedups import SPEED_UPS
from numi.rasa_patches.startup import all_patches, install
from numi.settings import ROOT
from tests.conftest import components_of

DOMAIN = Domain.from_yaml("""
version: "3.1"
intents: [greet]
slots:
  note:
    type: text
    mappings: [{type: custom}]
responses:
  utter_greet: [{text: "Bonjour"}]
""")


@pytest.fixture
def store(database_url, monkeypatch):
    monkeypatch.setenv("NUMI_TRACKER_URL", database_url)
    made = []

    def new():
        made.append(stores.NumiTrackerStore(domain=DOMAIN))
        return made[-1]

    yield new
    for s in made:
        s.engine.dispose()


def turn(tracker: DialogueStateTracker, text: str) -> None:
    tracker.update(UserUttered(text, {"name": "greet", "confidence": 1.0}))
    tracker.update(ActionExecuted("utter_greet"))
    tracker.update(BotUttered("Bonjour"))
    tracker.update(ActionExecuted("action_listen"))


def texts(tracker) -> list:
    return [e.text for e in tracker.events if isinstance(e, UserUttered)]


def test_a_saved_turn_reads_back_in_another_store(store):
    a = store()
    tracker = DialogueStateTracker("conv-1", DOMAIN.slots)
    turn(tracker, "bonjour {{7*7}} <script>")
    tracker.update(SlotSet("note", "é" * 10))
    asyncio.run(a.save(tracker))
    turn(tracker, "encore")
    asyncio.run(a.save(tracker))
    back = asyncio.run(store().retrieve("conv-1"))
    assert texts(back) == ["bonjour {{7*7}} <script>", "encore"]
    assert back.get_slot("note") == "é" * 10
    assert len(back.events) == len(tracker.events)  # each event stored once


def test_the_cache_serves_the_same_tracker_until_someone_else_writes(store):
    a, b = store(), store()  # two Rasa instances on one database
    tracker = DialogueStateTracker("conv-2", DOMAIN.slots)
    turn(tracker, "un")
    asyncio.run(a.save(tracker))
    assert asyncio.run(a.retrieve("conv-2")) is tracker  # cached: nobody wrote since
    other = asyncio.run(b.retrieve("conv-2"))
    turn(other, "deux")
    asyncio.run(b.save(other))
    fresh = asyncio.run(a.retrieve("conv-2"))
    assert fresh is not tracker and texts(fresh) == ["un", "deux"]
    turn(fresh, "trois")
    asyncio.run(a.save(fresh))
    assert texts(asyncio.run(b.retrieve("conv-2"))) == ["un", "deux", "trois"]


def test_unsaved_events_on_a_cached_tracker_are_not_served(store):
    a = store()
    tracker = DialogueStateTracker("conv-3", DOMAIN.slots)
    turn(tracker, "un")
    asyncio.run(a.save(tracker))
    turn(tracker, "jamais enregistré")  # a turn that failed before its save
    back = asyncio.run(a.retrieve("conv-3"))
    assert texts(back) == ["un"]


def test_rasas_own_store_reads_what_numi_wrote(store, database_url):
    from rasa.core.tracker_store import SQLTrackerStore
    from sqlalchemy.engine import make_url

    tracker = DialogueStateTracker("conv-4", DOMAIN.slots)
    turn(tracker, "bonjour")
    asyncio.run(store().save(tracker))
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        plain = SQLTrackerStore(DOMAIN, dialect="sqlite", db=url.database)
    else:
        plain = SQLTrackerStore(DOMAIN, dialect=url.drivername, host=url.host, port=url.port,
                                db=url.database, username=url.username)
    back = asyncio.run(plain.retrieve("conv-4"))
    plain.engine.dispose()
    assert texts(back) == ["bonjour"]
    assert [e.type_name for e in back.events] == [e.type_name for e in tracker.events]


@pytest.mark.slow
def test_the_graph_runner_gives_what_dask_gives(agent):
    """The same model, the same inputs: the cached plan returns what dask returned."""
    from rasa.core.channels.channel import UserMessage
    from rasa.engine.runner.dask import DaskGraphRunner

    processor = agent.processor
    runner = processor.graph_runner
    assert isinstance(runner, DaskGraphRunner)
    assert "DaskGraphRunner.run" in patch.APPLIED  # the agent fixture installed the speed-ups
    dask_run = patch.ORIGINALS["DaskGraphRunner.run"]

    for text in ["bonjour", "mon imprimante ne marche plus", "ticket TK-00456 demain à 14h", "", "{{7*7}}"]:
        inputs = {"__message__": [UserMessage(text, sender_id="g")]}
        ours = runner.run(inputs=inputs, targets=[processor.model_metadata.nlu_target])
        theirs = dask_run(runner, inputs=inputs, targets=[processor.model_metadata.nlu_target])
        (ours_msg,), (their_msg,) = ours.values(), theirs.values()
        assert ours_msg[0].as_dict(only_output_properties=True) == their_msg[0].as_dict(only_output_properties=True)

    tracker = DialogueStateTracker.from_events("g", [ActionExecuted("action_listen"),
                                                     UserUttered("bonjour", {"name": "greet", "confidence": 1.0})],
                                               slots=processor.domain.slots)
    core = processor.model_metadata.core_target
    ours = runner.run(inputs={"__tracker__": tracker}, targets=[core])[core]
    theirs = dask_run(runner, inputs={"__tracker__": tracker}, targets=[core])[core]
    assert ours.max_confidence_index == theirs.max_confidence_index
    assert ours.probabilities == theirs.probabilities
    assert ours.policy_name == theirs.policy_name


@pytest.mark.slow
def test_rule_matching_stops_where_the_rules_stop_with_the_same_result(agent):
    """The trained rules, matched against conversations made of their own states (each rule
    after every other one, so every depth and every partial match occurs): the keys found
    are the ones Rasa's full walk finds."""
    from rasa.core.policies.rule_policy import RULES, RULES_FOR_LOOP_UNHAPPY_PATH, RulePolicy

    (policy,) = components_of(agent, RulePolicy)
    assert "RulePolicy._get_possible_keys" in patch.APPLIED
    full = patch.ORIGINALS["RulePolicy._get_possible_keys"]
    compared = 0
    for table in (RULES, RULES_FOR_LOOP_UNHAPPY_PATH):
        lookup = policy.lookup[table]
        rules = [policy._rule_key_to_state(k) for k in lookup]
        for before in rules:
            for rule in rules:
                states = before + rule
                assert policy._get_possible_keys(lookup, states) == full(policy, lookup, states)
                compared += 1
    assert compared > 1000


class ActionServer:
    """A real HTTP server answering like an action server; it records who called and how."""

    def __init__(self) -> None:
        self.peers, self.seen = [], []

    async def __aenter__(self) -> "ActionServer":
        from aiohttp import web

        async def handler(request):
            self.peers.append(request.transport.get_extra_info("peername"))
            self.seen.append((request.headers.get("Authorization"), await request.json()))
            return web.json_response({"events": [], "responses": [{"text": "ok"}]})

        app = web.Application()
        app.router.add_post("/webhook", handler)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/webhook"
        return self

    async def __aexit__(self, *exc) -> None:
        await self.runner.cleanup()


async def test_action_server_calls_share_a_connection_and_survive_its_close(monkeypatch):
    """Five calls use one TCP connection; after the server drops it, the next call opens a
    new one and succeeds."""
    from rasa.utils.endpoints import EndpointConfig

    kept, _ = replacement_and_original("EndpointConfig.session")
    monkeypatch.setattr(EndpointConfig, "session", kept)
    async with ActionServer() as server:
        endpoint = EndpointConfig(url=server.url)
        for _ in range(5):
            assert (await endpoint.request(json={"next_action": "x"}, method="post"))["responses"] == [{"text": "ok"}]
        assert len(set(server.peers)) == 1
        for conn in list(server.runner.server.connections):  # the server closes its idle connection
            conn.force_close()
        await asyncio.sleep(0.05)
        assert (await endpoint.request(json={"next_action": "x"}, method="post"))["responses"] == [{"text": "ok"}]
        assert len(set(server.peers)) == 2


async def test_a_kept_connection_sends_and_receives_what_rasas_new_one_does(monkeypatch):
    from rasa.utils.endpoints import EndpointConfig

    kept, rasas = replacement_and_original("EndpointConfig.session")
    answers = {}
    async with ActionServer() as server:
        for name, session in (("rasa", rasas), ("numi", kept)):
            monkeypatch.setattr(EndpointConfig, "session", session)
            endpoint = EndpointConfig(url=server.url, headers={"Authorization": "Bearer s3cret"})
            answers[name] = [await endpoint.request(json={"next_action": f"a{i}", "tracker": {"é": i}}, method="post")
                             for i in range(3)]
    assert answers["numi"] == answers["rasa"]
    assert server.seen[:3] == server.seen[3:]  # the same header and bodies reached the server
    assert server.seen[0][0] == "Bearer s3cret"


# --- each patch against Rasa's original -------------------------------------------------------

PATCHES = {p.name: p for p in all_patches()}


def replacement_and_original(name: str):
    """The patch's replacement, made beside Rasa's original (nothing installed), and the original."""
    chosen = PATCHES[name]
    owner, _ = chosen.locate()
    original = chosen.rasa_original()
    return chosen.implementation(owner, original), original


def test_every_patch_was_written_for_the_installed_rasa():
    """Upgrading Rasa fails here until every patch is reviewed (and its `written_for` updated)."""
    assert set(SPEED_UPS) <= set(all_patches())
    for each in all_patches():
        assert rasa.__version__ in each.written_for, f"{each.name} was written for Rasa {each.written_for}"
        each.locate()  # the target exists in this Rasa
        assert each.why, f"{each.name}: its implementation says why"
    assert len(PATCHES) == len(all_patches())  # one patch per name


def outcome(call, *args):
    try:
        return ("returned", call(*args))
    except Exception as exc:  # noqa: BLE001 - the error is part of what is compared
        return ("raised", type(exc), str(exc))


ACTION_RESULTS = [
    {}, {"events": [], "responses": []},
    {"events": [{"event": "slot", "name": "pb_state", "value": {"stack": []}}, {"event": "followup", "name": "x"}],
     "responses": [{"text": "Bonjour", "buttons": []}]},
    {"events": [{"event": "bot", "text": "é", "metadata": {"numi": {}}}], "responses": [], "extra": 1},
    {"events": "pas une liste"}, {"responses": {"text": "x"}}, {"events": [{"event": "inconnu"}]},
    {"events": [{}]}, {"events": [{"event": "slot", "timestamp": "hier"}]}, [], "texte", None,
]


def test_the_compiled_schema_accepts_and_refuses_what_rasa_does():
    compiled, rasas = replacement_and_original("RemoteAction._validate_action_result")
    action = RemoteAction("action_x", None)
    for result in ACTION_RESULTS:
        ours, theirs = outcome(compiled, action, result), outcome(rasas, action, result)
        assert ours == theirs, result
    assert outcome(compiled, action, {"events": "x"})[:2] == ("raised", ValidationError)


def test_event_types_are_resolved_as_rasa_resolves_them():
    memo, rasas = replacement_and_original("Event.resolve_by_type")
    names = sorted({cls.type_name for cls in all_subclasses(Event)}) + ["topic", "inconnu", ""]
    for _ in range(2):  # the second time from the memo
        for name in names:
            for default in (None, UserUttered):
                assert outcome(memo, name, default) == outcome(rasas, name, default), (name, default)


def test_a_domain_is_asked_whether_it_is_empty_once_with_rasas_answer():
    _, rasas = replacement_and_original("Domain.is_empty")
    calls = []

    def counted(domain):
        calls.append(domain)
        return rasas(domain)

    once = PATCHES["Domain.is_empty"].implementation(Domain, counted)
    answers = []
    for domain in (Domain.empty(), DOMAIN, Domain.from_yaml("version: '3.1'\nintents: []"),
                   Domain.load(str(ROOT / "domain"))):
        domain.__dict__.pop("_numi_is_empty", None)  # answered by the installed patch already
        answers.append(once(domain))
        assert answers[-1] == rasas(domain)
        assert once(domain) == rasas(domain)
        assert sum(d is domain for d in calls) == 1
    assert answers == [True, False, True, False]  # no intents: as empty as Domain.empty()


def test_an_unreachable_store_is_said_and_any_other_error_is_what_rasa_does():
    class Failing(InMemoryTrackerStore):
        error: Exception = RuntimeError("panne")

        async def retrieve(self, sender_id):
            if self.error:
                raise self.error
            return await super().retrieve(sender_id)

        async def retrieve_full_tracker(self, sender_id):
            return await self.retrieve(sender_id)

    for name in ("FailSafeTrackerStore.retrieve", "FailSafeTrackerStore.retrieve_full_tracker"):
        ours, rasas = replacement_and_original(name)
        inner = Failing(DOMAIN)
        errors = []
        store = FailSafeTrackerStore(inner, on_tracker_store_error=errors.append)
        tracker = DialogueStateTracker("conv-f", DOMAIN.slots)
        turn(tracker, "bonjour")
        inner.error = None
        asyncio.run(inner.save(tracker))
        assert texts(asyncio.run(ours(store, "conv-f"))) == texts(asyncio.run(rasas(store, "conv-f"))) == ["bonjour"]
        inner.error = RuntimeError("panne")
        assert asyncio.run(ours(store, "conv-f")) is None and asyncio.run(rasas(store, "conv-f")) is None
        assert [str(e) for e in errors] == ["panne", "panne"]
        inner.error = TrackerStoreUnavailable("tracker store unreachable")
        assert asyncio.run(rasas(store, "conv-f")) is None  # Rasa: an empty conversation
        with pytest.raises(TrackerStoreUnavailable):  # numi: said to the customer
            asyncio.run(ours(store, "conv-f"))


# --- install() ---------------------------------------------------------------------------------

@pytest.fixture
def isolated(monkeypatch):
    """install() inside a test, undone after it: every target and the records restored."""
    for each in all_patches():
        owner, attribute = each.locate()
        monkeypatch.setattr(owner, attribute, inspect.getattr_static(owner, attribute))
    monkeypatch.setattr(patch, "APPLIED", dict(patch.APPLIED))
    monkeypatch.setattr(patch, "ORIGINALS", dict(patch.ORIGINALS))


def targets() -> dict:
    return {each.name: inspect.getattr_static(*each.locate()) for each in all_patches()}


def test_install_applies_every_patch_once(isolated):
    applied = install()
    assert applied == [each.name for each in all_patches()]
    after = targets()
    assert install() == applied  # a second install changes nothing: no patch wraps itself
    assert targets() == after
    assert isinstance(after["Event.resolve_by_type"], staticmethod)
    assert Event.resolve_by_type("user") is UserUttered
    from rasa.core.actions import action

    assert action.DEFAULT_REQUEST_TIMEOUT == action_timeout()


def test_a_patch_written_for_another_rasa_is_skipped_with_a_warning(isolated, monkeypatch, caplog):
    monkeypatch.setattr(rasa, "__version__", "3.7.0")
    monkeypatch.setattr(patch, "APPLIED", {})  # as in a process where nothing is applied yet
    before = targets()
    with caplog.at_level(logging.WARNING, logger="numi.rasa_patches.patch"):
        assert install() == []
    assert targets() == before  # Rasa's own behaviour stays
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == len(all_patches()) and all("written for Rasa 3.6.21" in w for w in warned)


def test_a_patch_whose_target_is_gone_is_skipped(isolated, caplog):
    gone = patch.Patch("RemoteAction.gone", "rasa.core.actions.action:RemoteAction._numi_no_such_thing",
                       lambda owner, original: original)
    with caplog.at_level(logging.WARNING, logger="numi.rasa_patches.patch"):
        assert install([gone]) == []
    assert "not found" in caplog.text


def test_constructing_a_store_patches_nothing(store, isolated, monkeypatch, caplog):
    monkeypatch.setattr(patch, "APPLIED", {})
    before = targets()
    with caplog.at_level(logging.WARNING, logger="numi.rasa_patches.stores"):
        store()
    assert targets() == before
    assert "not installed" in caplog.text
