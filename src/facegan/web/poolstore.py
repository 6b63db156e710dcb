"""The shared pool of fakes: generated ahead by `facegan pool fill` processes (CPU or GPU, as many as
wanted, on any host that reaches the database), served by any number of web workers.

This is thispersondoesnotexist's design: web requests only read stored images and never wait on a
generator. A face is stored once, at the game's display size (`imaging.to_display`) as a PNG, with
its seed, psi and class (reproducible in the explorer) and how often it has been served.

Taking a face is one atomic statement: the oldest face never served is marked served and returned
(PostgreSQL skips rows another worker is taking, `FOR UPDATE SKIP LOCKED`; SQLite serialises
writers). When every face has been served (the pool is drained faster than it is filled), the game
degrades instead of failing: it repeats the least-served face and counts the repeat (`/api/info`'s
pool, `/healthz`). Only a pool with no face at all answers 503, saying to run `facegan pool fill`.
"""

from __future__ import annotations

import io
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

from facegan.web.imaging import encode_png, to_display
from facegan.web.pool import Fake, default_batch
from facegan.web.render import SEED_MAX
from facegan.web.storage import Storage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PoolFace:
    seed: int
    psi: float
    class_idx: int | None
    png: bytes
    public_id: str    # Random; names the face under /faces/ (for /random), never in the game.
    repeated: bool    # Served before: the pool was drained.


@dataclass(frozen=True)
class PoolCounts:
    fresh: int    # Never served.
    total: int


class PoolStore:
    """The `pool_faces` table of one network at one display size."""

    def __init__(self, storage: Storage, network: str, display_size: int):
        self.storage = storage
        self.network = network
        self.display_size = display_size

    def add(self, faces: list[tuple[int, float, int | None, bytes]]) -> None:
        """Store (seed, psi, class, png) faces in one transaction."""
        now = time.time()
        with self.storage.write() as db:
            for seed, psi, class_idx, png in faces:
                db.execute("INSERT INTO pool_faces (network, display_size, seed, psi, class_idx, png, created_at, "
                           "public_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                           (self.network, self.display_size, seed, psi, class_idx, png, now,
                            secrets.token_urlsafe(16)))

    def take(self) -> PoolFace | None:
        """The next face (marked served); None only when the pool is empty."""
        lock = " FOR UPDATE SKIP LOCKED" if self.storage.dialect == "postgresql" else ""
        key = (self.network, self.display_size)
        with self.storage.write(durable=False) as db:  # at worst a crash lets a face be served once more
            row = db.execute(
                "UPDATE pool_faces SET served = served + 1 WHERE served = 0 AND id = (SELECT id FROM pool_faces "
                f"WHERE network = ? AND display_size = ? AND served = 0 ORDER BY id LIMIT 1{lock}) "
                "RETURNING seed, psi, class_idx, png, public_id", key).fetchone()
            repeated = row is None
            if repeated:  # drained: repeat the least-served face rather than fail
                row = db.execute(
                    "UPDATE pool_faces SET served = served + 1 WHERE id = (SELECT id FROM pool_faces "
                    "WHERE network = ? AND display_size = ? ORDER BY served, id LIMIT 1) "
                    "RETURNING seed, psi, class_idx, png, public_id", key).fetchone()
        if row is None:
            return None
        return PoolFace(int(row[0]), float(row[1]), None if row[2] is None else int(row[2]), bytes(row[3]),
                        str(row[4]), repeated)

    def png(self, public_id: str) -> bytes | None:
        """A face's PNG by its public id (any network or size)."""
        row = self.storage.read().execute("SELECT png FROM pool_faces WHERE public_id = ?", (public_id,)).fetchone()
        return None if row is None else bytes(row[0])

    def counts(self) -> PoolCounts:
        row = self.storage.read().execute(
            "SELECT COALESCE(SUM(CASE WHEN served = 0 THEN 1 ELSE 0 END), 0), COUNT(*) FROM pool_faces "
            "WHERE network = ? AND display_size = ?", (self.network, self.display_size)).fetchone()
        return PoolCounts(int(row[0]), int(row[1]))


def fill(store: PoolStore, renderer, count: int, psi_range: tuple[float, float], channels: int,
         batch: int | None = None, progress: Callable[[int], None] | None = None) -> int:
    """Generate `count` fakes with `renderer` (a facegan.web.render.Renderer) into the pool; returns
    how many were stored. Each batch is stored in one transaction, so a stopped filler leaves whole
    faces only."""
    import random

    rng = random.SystemRandom()
    batch = batch or max(default_batch(renderer.info.resolution), 1)
    c_dim = renderer.info.c_dim
    done = 0
    while done < count:
        n = min(batch, count - done)
        draws = [(secrets.randbelow(SEED_MAX + 1), round(rng.uniform(*psi_range), 3),
                  secrets.randbelow(c_dim) if c_dim else None) for _ in range(n)]
        images = renderer.fakes([d[0] for d in draws], [d[1] for d in draws], [d[2] for d in draws])
        store.add([(seed, psi, class_idx, encode_png(to_display(image, store.display_size, channels)))
                   for (seed, psi, class_idx), image in zip(draws, images)])
        done += n
        if progress is not None:
            progress(n)
    return done


class SharedFakePool:
    """The game's fake pool (`facegan.web.pool.FakePool`'s interface) read from a `PoolStore`:
    no generator thread, `take` never waits."""

    def __init__(self, store: PoolStore, counts_ttl_s: float = 1.0):
        self.store = store
        self.repeated = 0
        self._counts = PoolCounts(0, 0)
        self._counts_at = -1e9
        self._counts_ttl_s = counts_ttl_s
        self._lock = threading.Lock()

    def start(self) -> None:  # filled by `facegan pool fill`, not by the web workers
        pass

    def stop(self, timeout: float = 30.0) -> None:
        pass

    def take(self, timeout: float = 0.0) -> Fake | None:
        face = self.store.take()
        if face is None:
            return None
        if face.repeated:
            with self._lock:
                self.repeated += 1
            log.warning("face pool drained: repeating a face (run more `facegan pool fill`)")
        pixels = np.asarray(Image.open(io.BytesIO(face.png)))
        return Fake(face.seed, face.psi, face.class_idx, pixels if pixels.ndim == 3 else pixels[:, :, None])

    def _fresh_counts(self) -> PoolCounts:
        now = time.monotonic()
        if now - self._counts_at > self._counts_ttl_s:
            self._counts, self._counts_at = self.store.counts(), now
        return self._counts

    @property
    def error(self) -> str | None:
        if self._fresh_counts().total == 0:
            return (f"the shared face pool holds no face of {self.store.network} at "
                    f"{self.store.display_size} px; run `facegan pool fill`")
        return None

    @property
    def ready(self) -> int:
        return self._fresh_counts().fresh

    @property
    def capacity(self) -> int:
        return self._fresh_counts().total

    @property
    def generated(self) -> int:
        return self._fresh_counts().total
