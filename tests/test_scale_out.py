"""Scale-out configuration: Redis lock store and PostgreSQL tracker store, same code."""
import os
import socket

import pytest

from numi.devstack import Stack, signed_conversation

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.postgres]


def redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def scaled(tmp_path_factory):
    if not redis_up():
        pytest.skip("Redis does not answer on 127.0.0.1:6379")
    if not os.environ.get("NUMI_TEST_POSTGRES_URL"):
        pytest.skip("PostgreSQL tests need NUMI_TEST_POSTGRES_URL (set by .ci/run when a server answers)")
    from tests.conftest import _drop_postgres_database, _postgres_database

    numi_db, tracker_db = _postgres_database(), _postgres_database()
    stack = Stack(tmp_path_factory.mktemp("scaled"), extra_env={
        "NUMI_DATABASE_URL": numi_db, "NUMI_TRACKER_URL": tracker_db,
        "NUMI_REDIS_URL": "redis://127.0.0.1:6379/3"}).start()
    yield stack
    stack.stop()
    _drop_postgres_database(numi_db)
    _drop_postgres_database(tracker_db)


def test_a_conversation_on_postgres_with_redis_locks(scaled):
    import threading

    import redis

    commands = []
    monitor_client = redis.Redis(host="127.0.0.1", port=6379, db=3)
    ready = threading.Event()

    def watch():
        with monitor_client.monitor() as monitor:
            ready.set()
            for command in monitor.listen():
                commands.append(command["command"])
                if len(commands) > 200 or "stop-watching" in command["command"]:
                    return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    ready.wait(5)
    conv = signed_conversation()
    status, reply = scaled.say(conv, "bonjour")
    assert status == 200 and "assistant virtuel" in " ".join(m.get("text", "") for m in reply)
    status, reply = scaled.say(conv, "je veux supprimer mon compte et mes données")
    assert "vérifier votre identité" in " ".join(m.get("text", "") for m in reply)
    redis.Redis(host="127.0.0.1", port=6379, db=3).get("stop-watching")
    watcher.join(5)
    assert any(conv in c for c in commands), commands[:10]  # the conversation's lock went through Redis
    tracker = scaled.tracker(conv)  # and its events through PostgreSQL
    assert tracker["active_loop"]["name"] == "playbook_form"
    assert len([e for e in tracker["events"] if e.get("event") == "user"]) == 2
