"""The conversation lock shared by several Rasa processes (issue 17): tickets issued atomically
and served in order, a TTL on every key, an expired waiter told so instead of waiting forever.
Real Redis, real processes."""
from __future__ import annotations

import asyncio
import multiprocessing
import time
import uuid

import pytest

pytestmark = pytest.mark.redis

redis = pytest.importorskip("redis")
URL = "redis://127.0.0.1:6379/5"


@pytest.fixture
def client():
    red = redis.Redis.from_url(URL, socket_connect_timeout=1)
    try:
        red.ping()
    except redis.exceptions.RedisError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    yield red
    red.close()


def _store(lifetime: float = 30.0):
    from numi.rasa_patches.redis_lock import AtomicRedisLockStore

    return AtomicRedisLockStore(redis.Redis.from_url(URL), lifetime, key_prefix="numitest")


def _issue_many(conv: str, count: int, out) -> None:
    store = _store()
    out.put([store.issue_ticket(conv) for _ in range(count)])


def test_tickets_issued_from_several_processes_at_once_are_all_different(client):
    """Four processes × 200 tickets on one conversation: 800 distinct numbers. (Rasa's
    get-modify-set store hands out the same number twice under this load.)"""
    conv = f"race-{uuid.uuid4().hex}"
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_issue_many, args=(conv, 200, out)) for _ in range(4)]
    for p in procs:
        p.start()
    numbers = [n for _ in procs for n in out.get(timeout=60)]
    for p in procs:
        p.join(30)
    assert len(numbers) == 800 and len(set(numbers)) == 800
    assert sorted(numbers) == list(range(1, 801))


def _turns(conv: str, name: str, count: int, log_key: str) -> None:
    """One 'Rasa process': `count` turns of one conversation, each logged start/end in Redis."""
    store = _store()
    red = redis.Redis.from_url(URL)

    async def run() -> None:
        for i in range(count):
            async with store.lock(conv, wait_time_in_seconds=0.005):
                red.rpush(log_key, f"start {name}{i}")
                await asyncio.sleep(0.01)
                red.rpush(log_key, f"end {name}{i}")

    asyncio.run(run())


def test_two_processes_never_hold_one_conversation_at_once(client):
    conv, log_key = f"turns-{uuid.uuid4().hex}", f"numitest:log:{uuid.uuid4().hex}"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_turns, args=(conv, name, 25, log_key)) for name in "ab"]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    log = [x.decode() for x in client.lrange(log_key, 0, -1)]
    client.delete(log_key)
    assert len(log) == 100
    for i in range(0, len(log), 2):  # strictly start/end pairs: nobody else inside meanwhile
        assert log[i].startswith("start ") and log[i + 1] == "end " + log[i][6:], log[i:i + 2]
    assert not client.keys(f"numitest:lock2:{conv}*"), "the lock is gone once nobody waits"


async def test_turns_are_served_in_the_order_they_arrived(client):
    store, conv = _store(), f"order-{uuid.uuid4().hex}"
    served = []

    async def turn(i: int) -> None:
        async with store.lock(conv, wait_time_in_seconds=0.01):
            served.append(i)
            await asyncio.sleep(0.02)

    tasks = []
    for i in range(6):
        tasks.append(asyncio.create_task(turn(i)))
        await asyncio.sleep(0.005)  # arrival order
    await asyncio.gather(*tasks)
    assert served == list(range(6))


def test_every_key_has_a_ttl_of_the_lifetime(client):
    store, conv = _store(lifetime=20), f"ttl-{uuid.uuid4().hex}"
    store.issue_ticket(conv)
    assert 0 < store.ttl_ms(conv) <= 20_000
    assert all(0 < client.pttl(k) <= 20_000 for k in client.keys(f"numitest:lock2:{conv}*"))
    store.delete_lock(conv)


async def test_a_waiter_whose_ticket_expires_gets_an_error_not_an_endless_wait(client):
    from rasa.core.lock_store import LockError

    store, conv = _store(lifetime=0.5), f"expire-{uuid.uuid4().hex}"
    holder = store.issue_ticket(conv, 30)  # a long turn holds the conversation
    start = time.monotonic()
    with pytest.raises(LockError):
        async with store.lock(conv, lock_lifetime=0.5, wait_time_in_seconds=0.05):
            pass
    assert time.monotonic() - start < 5
    store.release(conv, holder)


async def test_a_crashed_holder_blocks_no_longer_than_its_lifetime(client):
    store, conv = _store(lifetime=1.0), f"crash-{uuid.uuid4().hex}"
    store.issue_ticket(conv, 1.0)  # its process died holding it
    start = time.monotonic()
    async with store.lock(conv, lock_lifetime=5, wait_time_in_seconds=0.05):
        waited = time.monotonic() - start
    assert 0.5 <= waited <= 2.5
