"""The tracker store cut mid-conversation (issue 13, point 1), on PostgreSQL behind a TCP
proxy: the conversation is never reset or forked, nothing said is lost, and when the
database is back the next message continues where the conversation was."""
import time

import pytest
from sqlalchemy import create_engine, text

from numi.devstack import signed_conversation
from tests.faults.conftest import texts

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def stored_user_texts(stack, conv):
    engine = create_engine(stack.direct_tracker_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT type_name, data FROM events WHERE sender_id = :s ORDER BY id"),
                                {"s": conv}).all()
    finally:
        engine.dispose()
    import json

    return ([json.loads(d).get("text") for t, d in rows if t == "user"],
            sum(1 for t, _ in rows if t == "session_started"))


def test_a_ten_second_cut_loses_nothing_and_restarts_nothing(postgres_proxy_stack):
    stack, proxy = postgres_proxy_stack
    conv = signed_conversation()
    status, reply = stack.say(conv, "je veux supprimer mon compte et mes données")
    assert "identité" in texts(reply)
    proxy.cut()
    cut_at = time.time()
    try:
        status, reply = stack.say(conv, "paul.martin@example.fr")  # during the cut
        assert status == 200 and "souci technique" not in texts(reply)
        assert "code" in texts(reply)  # the playbook went on: the next step, not its first question
        stranger = signed_conversation()
        status, reply = stack.say(stranger, "bonjour")  # a conversation the process does not hold
        assert status == 200 and "souci technique" in texts(reply) and "réessayez" in texts(reply).lower()
        time.sleep(max(0.0, 10 - (time.time() - cut_at)))
    finally:
        proxy.restore()
    status, reply = stack.say(conv, "000000")  # a wrong code, after the cut
    assert status == 200 and "souci technique" not in texts(reply) and "code" in texts(reply)
    users, sessions = stored_user_texts(stack, conv)
    assert users == ["je veux supprimer mon compte et mes données", "paul.martin@example.fr", "000000"]
    assert sessions == 1  # never restarted
    assert stack.tracker(conv)["active_loop"]["name"] == "playbook_form"
    status, reply = stack.say(stranger, "bonjour")
    assert status == 200 and "souci technique" not in texts(reply)
