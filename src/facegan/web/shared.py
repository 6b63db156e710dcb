"""State that many web worker processes share through the database, so that any worker can serve any
request: the encoded images of open rounds, the rate limits' token buckets, and what each player has
been shown. (The rounds, answers and the cookie secret are in the database already; the fakes come
from the shared pool, `facegan.web.poolstore`.)

Each class has the interface of its one-process counterpart (`game.ImageStore`,
`ratelimit.RateLimiter`, `reals.RealSampler`), so the game's rules are the same code either way.
"""

from __future__ import annotations

import logging
import secrets
import time

from facegan.web.ratelimit import Limit
from facegan.web.reals import PlayerHistory, RealSampler
from facegan.web.storage import Storage, StorageError

log = logging.getLogger(__name__)


class DbImageStore:
    """The images of open rounds in `round_images`, by opaque id, bound to their player. A player keeps
    the images of their newest `max_open_rounds` rounds (the same cap as one process enforces).
    Written with `durable=False`: a crash may lose the images of rounds in flight (the round cannot
    then be shown, and the player starts another), never an answer."""

    def __init__(self, storage: Storage, max_open_rounds: int, sweep_every: int = 500):
        self.storage = storage
        self.max_images = 2 * max_open_rounds
        self.sweep_every = sweep_every

    def put(self, image_id: str, data: bytes, player: str, expires_at: float) -> None:
        with self.storage.write(durable=False) as db:
            db.execute("INSERT INTO round_images (id, player, data, expires_at) VALUES (?, ?, ?, ?)",
                       (image_id, player, data, expires_at))
            db.execute("DELETE FROM round_images WHERE player = ? AND id NOT IN (SELECT id FROM round_images "
                       "WHERE player = ? ORDER BY expires_at DESC LIMIT ?)", (player, player, self.max_images))
            if secrets.randbelow(self.sweep_every) == 0:  # now and then, the images of players who left
                db.execute("DELETE FROM round_images WHERE expires_at < ?", (time.time(),))

    def get(self, image_id: str, player: str) -> bytes | None:
        row = self.storage.read().execute(
            "SELECT data FROM round_images WHERE id = ? AND player = ? AND expires_at >= ?",
            (image_id, player, time.time())).fetchone()
        return None if row is None else bytes(row[0])

    def drop(self, image_ids) -> None:
        ids = list(image_ids)
        if ids:
            with self.storage.write(durable=False) as db:
                db.execute(f"DELETE FROM round_images WHERE id IN ({', '.join('?' * len(ids))})", ids)

    def __len__(self) -> int:
        return int(self.storage.read().execute("SELECT COUNT(*) FROM round_images").fetchone()[0])


class DbRateLimiter:
    """Token buckets (`ratelimit.RateLimiter`'s rule) in `rate_buckets`, so a limit holds across every
    worker. One statement per request: the bucket is refilled and a token taken only if there is one.
    Bucket updates need not survive a crash, so they commit without waiting for the disk
    (`durable=False`). While the database cannot be reached the limiter lets requests through (they then fail
    with 503 at the database anyway) rather than failing them with a different error."""

    def __init__(self, storage: Storage, kind: str, limit: Limit, clock=time.time, sweep_every: int = 1000):
        self.storage = storage
        self.kind = kind
        self.limit = limit
        self.clock = clock
        self.sweep_every = sweep_every

    def take(self, key: str) -> float:
        """Take one token for `key`: 0.0 if allowed, else the seconds to wait."""
        now = self.clock()
        rate, burst = self.limit.rate, self.limit.burst
        refill = f"(CASE WHEN rate_buckets.tokens + (? - rate_buckets.updated_at) * {rate!r} > {burst!r} " \
                 f"THEN {burst!r} ELSE rate_buckets.tokens + (? - rate_buckets.updated_at) * {rate!r} END)"
        try:
            with self.storage.write(durable=False) as db:
                allowed = db.execute(
                    "INSERT INTO rate_buckets (kind, key, tokens, updated_at) VALUES (?, ?, ?, ?) "
                    f"ON CONFLICT (kind, key) DO UPDATE SET tokens = {refill} - 1, updated_at = ? "
                    f"WHERE {refill} >= 1 RETURNING tokens",
                    (self.kind, key, burst - 1, now, now, now, now, now, now)).fetchone() is not None
                if allowed:
                    if secrets.randbelow(self.sweep_every) == 0:  # full buckets are as good as none
                        db.execute("DELETE FROM rate_buckets WHERE kind = ? AND updated_at < ?",
                                   (self.kind, now - burst / rate))
                    return 0.0
                row = db.execute("SELECT tokens, updated_at FROM rate_buckets WHERE kind = ? AND key = ?",
                                 (self.kind, key)).fetchone()
        except StorageError as exc:
            log.warning("rate limit %s not checked: %s", self.kind, exc)
            return 0.0
        tokens = min(burst, float(row[0]) + (now - float(row[1])) * rate)
        return max(1.0 - tokens, 0.0) / rate or 1.0 / rate


class SharedRealSampler(RealSampler):
    """A `RealSampler` that reads a player's history from the database on every draw, since the
    player's previous rounds may have been handed out by other workers."""

    def _player(self, player: str) -> PlayerHistory:
        state = PlayerHistory()
        for name in self._history_of(player):
            index = self._index.get(name)
            if index is not None and index not in self._bad:
                state.add(index, self.total)
        return state


def shared_parts(settings, storage: Storage, archive, renderer, display_size: int):
    """(reals, fake pool, round image store, rate limiters) of a worker that shares its state."""
    from facegan.web.poolstore import PoolStore, SharedFakePool

    reals = SharedRealSampler(archive, display_size, renderer.info.channels, storage.real_names_shown)
    pool = SharedFakePool(PoolStore(storage, renderer.info.name, display_size))
    images = DbImageStore(storage, settings.max_open_rounds)
    limits = settings.rate_limits
    limiters = {name: DbRateLimiter(storage, name, getattr(limits, name))
                for name in ("game", "render", "general", "new_players")} if limits.enabled else {}
    return reals, pool, images, limiters
