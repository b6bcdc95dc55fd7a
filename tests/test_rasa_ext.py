"""numi.rasa_ext: the tracker store's cache and plain-SQL turn, the graph runner without dask,
and the kept action-server connections, each against the real thing (database, model, server)."""
from __future__ import annotations

import asyncio

import pytest
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from numi import rasa_ext
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
        made.append(rasa_ext.NumiTrackerStore(domain=DOMAIN))
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
    dask_run = rasa_ext.ORIGINALS["DaskGraphRunner.run"]

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
    full = rasa_ext.ORIGINALS["RulePolicy._get_possible_keys"]
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


async def test_action_server_calls_share_a_connection_and_survive_its_close():
    """A real HTTP server: five calls use one TCP connection; after the server drops it,
    the next call opens a new one and succeeds."""
    from aiohttp import web
    from rasa.utils.endpoints import EndpointConfig

    rasa_ext.speed_up_rasa()
    peers = []

    async def handler(request):
        peers.append(request.transport.get_extra_info("peername"))
        return web.json_response({"events": [], "responses": []})

    app = web.Application()
    app.router.add_post("/webhook", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        endpoint = EndpointConfig(url=f"http://127.0.0.1:{port}/webhook")
        for _ in range(5):
            assert await endpoint.request(json={"next_action": "x"}, method="post") == {"events": [], "responses": []}
        assert len(set(peers)) == 1
        for conn in list(runner.server.connections):  # the server closes its idle connection
            conn.force_close()
        await asyncio.sleep(0.05)
        assert await endpoint.request(json={"next_action": "x"}, method="post") == {"events": [], "responses": []}
        assert len(set(peers)) == 2
    finally:
        await runner.cleanup()
