"""Rate limits (the `limits` library): moving windows per conversation and per client
address, counted in memory for one process, or in Redis (NUMI_REDIS_URL) so that several
processes share the counts. Used by the Rasa channels and the numi service's public endpoints.
"""
from __future__ import annotations

import logging
from typing import Dict, List, Optional, Sequence, Tuple

from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage, RedisStorage, Storage
from limits.strategies import MovingWindowRateLimiter

from numi.settings import RateLimits

log = logging.getLogger(__name__)


def _storage(redis_url: Optional[str]) -> Storage:
    if redis_url:
        return RedisStorage(redis_url)
    return MemoryStorage()


class Limiter:
    """`hit(scope, key)` counts one event and says whether it is still within the limits."""

    def __init__(self, limits: RateLimits, redis_url: Optional[str] = None) -> None:
        self._storage = _storage(redis_url)  # the strategy holds it by a weak reference only
        self._limiter = MovingWindowRateLimiter(self._storage)
        self._rules: Dict[str, List[RateLimitItem]] = {
            "conversation": parse_many(limits.conversation) if limits.conversation else [],
            "address": parse_many(limits.address) if limits.address else [],
            "public": parse_many(limits.public) if limits.public else [],
        }

    def hit(self, scope: str, key: str) -> bool:
        return all(self._hit_one(item, scope, key) for item in self._rules[scope])

    def hit_all(self, checks: Sequence[Tuple[str, str]]) -> bool:
        """Every (scope, key) pair counts once; False if any is over its limit."""
        ok = True
        for scope, key in checks:
            ok = self.hit(scope, key) and ok
        return ok

    def _hit_one(self, item: RateLimitItem, scope: str, key: str) -> bool:
        try:
            return bool(self._limiter.hit(item, "numi", scope, key))
        except Exception:  # the shared counter is unreachable: serve rather than refuse everyone
            log.warning("rate limit storage unavailable; request let through")
            return True
