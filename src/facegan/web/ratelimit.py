"""Rate limiting: token buckets per key (a player, or an address for new players).

A bucket holds up to `burst` tokens and refills at `rate` per second; a request takes one token or
is refused with the seconds until one is back (the Retry-After of the 429 answer).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Limit:
    rate: float    # Tokens per second.
    burst: float   # Bucket size: requests allowed at once after a pause.


@dataclass(frozen=True)
class RateLimits:
    game: Limit = Limit(4.0, 20.0)           # New rounds, answers and tells, per player.
    render: Limit = Limit(8.0, 40.0)         # Explorer, /random and lesson images, per player.
    general: Limit = Limit(30.0, 120.0)      # Everything else a player asks for (pages, round images).
    new_players: Limit = Limit(0.5, 60.0)    # New player ids handed to one address (30 a minute).
    enabled: bool = True

    def scaled(self, factor: float) -> RateLimits:
        """Every limit multiplied by `factor` (0 switches rate limiting off)."""
        if factor <= 0:
            return replace(self, enabled=False)
        return RateLimits(**{name: Limit(lim.rate * factor, lim.burst * factor)
                             for name, lim in self.__dict__.items() if isinstance(lim, Limit)})


class RateLimiter:
    """Token buckets for many keys; the least recently used keys are forgotten beyond `max_keys`."""

    def __init__(self, limit: Limit, max_keys: int = 100_000, clock=time.monotonic):
        self.limit = limit
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, last time)
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """Take one token for `key`: 0.0 if allowed, else the seconds to wait."""
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.pop(key, (self.limit.burst, now))
            tokens = min(self.limit.burst, tokens + (now - last) * self.limit.rate)
            if tokens >= 1.0:
                wait, tokens = 0.0, tokens - 1.0
            else:
                wait = (1.0 - tokens) / self.limit.rate
            self._buckets[key] = (tokens, now)
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        return wait


def retry_after(wait: float) -> str:
    """The Retry-After header value (whole seconds, at least 1)."""
    return str(max(1, math.ceil(wait)))
