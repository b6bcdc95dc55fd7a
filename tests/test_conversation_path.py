"""One conversation path (numi/playbooks/conversation.py), two callers: the Rasa actions
(actions/playbooks.py) and the trainer's offline replay (numi/replay/offline.py). A story
replayed offline shows what the actions say, turn by turn, for the same messages."""
from __future__ import annotations

import re
from typing import Any, Dict, List

import pytest

from numi.playbooks import conversation
from numi.playbooks.effects import EffectEnv
from numi.playbooks.engine import Outcome, Parsed, new_state
from numi.playbooks.library import default_library
from numi.replay import load_story
from numi.replay.offline import FORM, START
from numi.replay.yaml_stories import yaml_stories
from numi.settings import ROOT
from tests.test_walker import Conversation

TICKET = re.compile(r"TK-\d+")


def _shown(message: Dict[str, Any]) -> str:
    """A message as the trainer sees it (numi/replay/steps.py), ticket numbers masked."""
    if message.get("custom"):  # the dispatcher sends an empty one with every text
        body: Dict[str, Any] = {"custom": message["custom"]}
    else:
        body = {"text": message.get("text") or ""}
        if message.get("buttons"):
            body["buttons"] = message["buttons"]
    return TICKET.sub("TK-…", repr(body))


def _walked_by_the_actions() -> List[str]:
    """Test stories the actions can be driven through as they are: a playbook opened by the
    first turn, every later turn an answer to its form, no ticket in context needed."""
    lib = default_library()
    ids = []
    for story in yaml_stories("tests", ROOT):
        first, rest = story.turns[0], story.turns[1:]
        if (("action", START) in first.actions and not conversation.needs_ticket(lib, first.intent)
                and all(("action", FORM) in t.actions and ("action", START) not in t.actions for t in rest)
                and all(name == START or name == FORM or kind == "action" and not name.startswith("utter_")
                        for t in story.turns for kind, name in t.actions)):
            ids.append(story.id)
    return ids


WALKED = _walked_by_the_actions()


def test_there_are_stories_to_compare():
    assert len(WALKED) >= 20
    assert any(s.endswith("-client") for s in WALKED) and any(s.endswith("-hotliner") for s in WALKED)


@pytest.mark.parametrize("story_id", WALKED)
async def test_the_replay_shows_what_the_actions_say(story_id, db, settings):
    replayed = load_story(story_id, settings=settings)
    agent = replayed["mode"] == "agent"
    conv = Conversation(db, sender="path-" + str(abs(hash(story_id))),
                        metadata={"numi": {"mode": "agent", "agent_name": ""}} if agent else None)
    story = next(s for s in yaml_stories("tests", ROOT) if s.id == story_id)
    for turn, step in zip(story.turns, replayed["steps"]):
        said = await conv.say(turn.text, turn.intent, confidence=1.0, entities=turn.entities)
        assert [_shown(m) for m in said] == [_shown(m) for m in step["bot"]], (story_id, step["index"])
        frame = conv.frame
        if frame is not None:  # the playbook waits at the same step (else it ended in both)
            assert step["playbook"] is not None
            assert (frame["id"], frame["step"]) == (step["playbook"]["scenario"], step["playbook"]["step"])


def test_the_opening_message_prefills_in_the_replay_as_in_the_actions():
    """« je n'ai pas utilisé le service » said when asking for a refund is the reason: not asked again."""
    story = load_story("tests:refund_request-via-request_refund-client")
    first = story["steps"][0]
    assert first["playbook"]["step"] == "details_non_utilise"
    assert not any(m.get("buttons") for m in first["bot"])


def test_an_intent_that_opens_no_playbook_starts_nothing(db, settings):
    lib = default_library()
    env = EffectEnv(session=db, settings=settings, conversation_id="path-none", library=lib)
    assert conversation.open_for_intent(lib, env, new_state(), Parsed(text="bonjour", intent="greet")) is None
    assert conversation.playbook_for_intent(lib, "greet") == (None, None)


def test_a_playbook_about_a_ticket_without_one_says_so_and_keeps_nothing(db, settings):
    lib = default_library()
    intent = next(i for i in lib.triggers if conversation.needs_ticket(lib, i))
    env = EffectEnv(session=db, settings=settings, conversation_id="path-anon", library=lib)
    state = new_state()
    opened = conversation.open_for_intent(lib, env, state, Parsed(text="oui", intent=intent, confidence=1.0))
    assert opened is not None and not opened.started and opened.ticket is None
    assert opened.outcome.state == state
    assert [o.text for o in opened.outcome.outputs] == [lib.system_text(conversation.NO_TICKET, "customer", {})]


def test_signals_identify_the_customer_and_ask_for_a_human(db, settings):
    lib = default_library()
    env = EffectEnv(session=db, settings=settings, conversation_id="path-sig", library=lib)
    outcome = Outcome(state=new_state(), signals=[{"identified": "CLT-00321"}, {"handoff": {"id": 7}}])
    assert conversation.apply_signals(env, outcome) == {"customer_id": "CLT-00321",
                                                        "handoff": {"id": 7, "status": "waiting"}}
    assert env.customer_id == "CLT-00321"
