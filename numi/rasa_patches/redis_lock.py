"""A conversation lock on Redis that several Rasa processes can share safely.

Rasa 3.6's `RedisLockStore` reads the lock, changes it in Python and writes it back: two
replicas that do so at once both get a ticket, and both handle one conversation's messages
(rasa#9213; the fix was reverted upstream). Its key has no TTL either. Here every step is
one Lua script, so Redis runs it atomically:

* `issue`: the next ticket number of the conversation (INCR), queued in a sorted set with
  its expiry (now + lifetime, by Redis' own clock), and the keys' TTL set to the lifetime;
* `try`: drop the expired tickets; 1 when the caller's ticket is first in line, 0 when it
  must wait, -1 when its own ticket expired while it waited (an error, never a wait forever);
* `release`: remove the ticket; the keys go when nobody else is queued.

Tickets are served in the order they were issued: a conversation's messages keep their
order whichever replica received them.
"""
from __future__ import annotations

import asyncio
from collections import deque
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Optional

import redis
from rasa.core.lock import Ticket, TicketLock
from rasa.core.lock_store import LockError, LockStore

_NOW_MS = "local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) "

# KEYS: counter, queue (zset ticket -> number), expiries (hash ticket -> ms); ARGV: lifetime ms
ISSUE = _NOW_MS + """
local n = redis.call('INCR', KEYS[1])
redis.call('ZADD', KEYS[2], n, n)
redis.call('HSET', KEYS[3], n, now + tonumber(ARGV[1]))
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ARGV[1]) end
return n
"""

# KEYS: queue, expiries; ARGV: ticket
TRY = _NOW_MS + """
local all = redis.call('HGETALL', KEYS[2])
for i = 1, #all, 2 do
  if tonumber(all[i + 1]) < now then
    redis.call('ZREM', KEYS[1], all[i])
    redis.call('HDEL', KEYS[2], all[i])
  end
end
if not redis.call('HGET', KEYS[2], ARGV[1]) then return -1 end
local first = redis.call('ZRANGE', KEYS[1], 0, 0)[1]
if first == ARGV[1] then return 1 end
return 0
"""

# KEYS: counter, queue, expiries; ARGV: ticket
RELEASE = """
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
if redis.call('ZCARD', KEYS[2]) == 0 then redis.call('DEL', KEYS[1], KEYS[2], KEYS[3]) end
return 1
"""


class AtomicRedisLockStore(LockStore):  # type: ignore[misc]  # Rasa is untyped
    """Rasa's `LockStore` interface over the three scripts above."""

    def __init__(self, client: "redis.Redis[bytes]", lock_lifetime: float, key_prefix: str = "numi") -> None:
        super().__init__()
        self.red = client
        self.lock_lifetime = lock_lifetime
        self.prefix = f"{key_prefix}:lock2:"
        self._issue = client.register_script(ISSUE)
        self._try = client.register_script(TRY)
        self._release = client.register_script(RELEASE)

    def _keys(self, conversation_id: str) -> list[str]:
        base = self.prefix + conversation_id
        return [base + ":n", base + ":queue", base + ":expires"]

    def issue_ticket(self, conversation_id: str, lock_lifetime: Optional[float] = None) -> int:
        lifetime_ms = int((lock_lifetime or self.lock_lifetime) * 1000)
        try:
            return int(self._issue(keys=self._keys(conversation_id), args=[lifetime_ms]))
        except redis.RedisError as exc:
            raise LockError(f"Error while acquiring lock. Error:\n{exc}") from exc

    def try_acquire(self, conversation_id: str, ticket: int) -> int:
        """1: the caller holds the lock; 0: someone is before it; -1: its ticket expired."""
        return int(self._try(keys=self._keys(conversation_id)[1:], args=[ticket]))

    def release(self, conversation_id: str, ticket: int) -> None:
        self._release(keys=self._keys(conversation_id), args=[ticket])

    @asynccontextmanager
    async def lock(self, conversation_id: str, lock_lifetime: Optional[float] = None,
                   wait_time_in_seconds: float = 1) -> AsyncIterator[TicketLock]:
        ticket = self.issue_ticket(conversation_id, lock_lifetime)
        try:
            while True:
                state = self.try_acquire(conversation_id, ticket)
                if state == 1:
                    break
                if state == -1:
                    raise LockError(f"Could not acquire lock for conversation_id '{conversation_id}'.")
                await asyncio.sleep(wait_time_in_seconds)
            yield self.get_lock(conversation_id) or TicketLock(conversation_id)
        finally:
            self.release(conversation_id, ticket)

    # Rasa's storage interface, for what reads a lock (nothing in Rasa 3.6 writes one but lock())
    def get_lock(self, conversation_id: str) -> Optional[TicketLock]:
        _, queue, expires = self._keys(conversation_id)
        numbers = [int(n) for n in self.red.zrange(queue, 0, -1)]
        if not numbers:
            return None
        ends = self.red.hgetall(expires)
        return TicketLock(conversation_id, deque(
            Ticket(n, int(ends.get(str(n).encode(), 0)) / 1000) for n in numbers))

    def delete_lock(self, conversation_id: str) -> None:
        self.red.delete(*self._keys(conversation_id))

    def save_lock(self, lock: TicketLock) -> None:
        raise NotImplementedError("AtomicRedisLockStore changes its locks only through its scripts")

    def ttl_ms(self, conversation_id: str) -> Any:
        """The queue key's remaining lifetime (tests, monitoring)."""
        return self.red.pttl(self._keys(conversation_id)[1])
