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


@pytest.fixture(scope="module")
def numi_db_proxy_stack(tmp_path_factory):
    """numi's own database on PostgreSQL through a proxy, with the scheduler (and its outage
    watch) ticking every second."""
    import os

    from numi.devstack import Stack
    from tests.faults.proxy import Proxy

    if not os.environ.get("NUMI_TEST_POSTGRES_URL"):
        pytest.skip("needs PostgreSQL (NUMI_TEST_POSTGRES_URL, set by .ci/run when a server answers)")
    from tests.conftest import _drop_postgres_database, _postgres_database

    url = _postgres_database()
    proxy = Proxy(5432)
    stack = Stack(tmp_path_factory.mktemp("numidb"), extra_env={
        "NUMI_DATABASE_URL": url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}"), "NUMI_SCHEDULER": "1",
        "NUMI_SCHEDULER_TICK": "1", "NUMI_ALERTS": "0"}).start()
    yield stack, proxy
    stack.stop()
    proxy.stop()
    _drop_postgres_database(url)


def on_call_mails(stack):
    from numi.mail import read_mailbox

    return [m for m in read_mailbox(stack.tmp / "mailbox", limit=10_000)
            if m["to"] == "astreinte-technique@numi.support"]


def test_numis_database_cut_is_said_to_the_customer_and_to_the_on_call_person(numi_db_proxy_stack):
    from numi.devstack import http

    stack, proxy = numi_db_proxy_stack
    conv = signed_conversation()
    assert "assistant virtuel" in texts(stack.say(conv, "bonjour")[1])
    proxy.cut()
    try:
        status, reply = stack.say(conv, "je veux supprimer mon compte et mes données")
        # said, nothing promised
        assert status == 200 and "Réessayez" in texts(reply) and "conseiller" not in texts(reply)
        assert http("GET", f"{stack.numi}/health")[0] == 503
        for _ in range(30):
            if on_call_mails(stack):
                break
            time.sleep(0.5)
        mails = on_call_mails(stack)
        assert len(mails) == 1 and "injoignable" in mails[0]["subject"]
    finally:
        proxy.restore()
    for _ in range(30):
        if len(on_call_mails(stack)) == 2:
            break
        time.sleep(0.5)
    assert sorted("rétabli" in m["subject"] for m in on_call_mails(stack)) == [False, True]
    status, reply = stack.say(conv, "je veux supprimer mon compte et mes données")  # the same step, again
    assert "identité" in texts(reply) and http("GET", f"{stack.numi}/health")[0] == 200
