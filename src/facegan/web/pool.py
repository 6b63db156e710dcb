"""The pool of fakes: a background thread keeps a bounded queue of generated faces filled, so a new
round takes a fake that is already there instead of waiting for the generator.

Each fake has a fresh random seed (from the OS's generator, so nobody can predict it) and a psi
drawn uniformly from the configured range; both are recorded with the round. Fakes use constant
noise, so (seed, psi) reproduces the face in the explorer after the round. Fakes are resized to the
game's display size here, the same way the reals are (`imaging.to_display`).
"""

from __future__ import annotations

import logging
import queue
import random
import secrets
import threading
from dataclasses import dataclass

import numpy as np

from facegan.web.imaging import to_display
from facegan.web.render import SEED_MAX, Renderer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fake:
    seed: int
    psi: float
    class_idx: int | None
    pixels: np.ndarray   # uint8 [S, S, C] at the display size


def default_batch(resolution: int) -> int:
    """Images per generator call: batches amortise small networks; large ones go one at a time so an
    interactive render never waits long behind the pool."""
    return 8 if resolution <= 64 else 4 if resolution <= 128 else 1


class FakePool:
    def __init__(self, renderer: Renderer, size: int, psi_range: tuple[float, float], display_size: int,
                 batch: int | None = None):
        self.renderer = renderer
        self.psi_range = psi_range
        self.display_size = display_size
        self.batch = batch or default_batch(renderer.info.resolution)
        self._queue: queue.Queue[Fake] = queue.Queue(maxsize=size)
        self._rng = random.SystemRandom()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.generated = 0
        self.error: str | None = None   # The last generation error, shown by the API until it recovers.

    # -- the background thread ---------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="facegan-fake-pool", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _draw(self) -> tuple[int, float, int | None]:
        lo, hi = self.psi_range
        psi = round(self._rng.uniform(lo, hi), 3)
        c_dim = self.renderer.info.c_dim
        return secrets.randbelow(SEED_MAX + 1), psi, (secrets.randbelow(c_dim) if c_dim else None)

    def _run(self) -> None:
        while not self._stop.is_set():
            room = self._queue.maxsize - self._queue.qsize()
            if room <= 0:
                self._stop.wait(0.02)
                continue
            draws = [self._draw() for _ in range(min(self.batch, room))]
            try:
                images = self.renderer.fakes([d[0] for d in draws], [d[1] for d in draws], [d[2] for d in draws])
            except Exception as exc:  # keep serving what is queued; retry after a pause
                self.error = f"the generator failed: {exc}"
                log.exception("fake pool: generation failed")
                self._stop.wait(5.0)
                continue
            self.error = None
            for (seed, psi, class_idx), image in zip(draws, images):
                pixels = to_display(image, self.display_size, self.renderer.info.channels)
                self._queue.put(Fake(seed, psi, class_idx, pixels))
                self.generated += 1

    # -- consumers ---------------------------------------------------------------------------
    def take(self, timeout: float) -> Fake | None:
        """The next fake, waiting up to `timeout` seconds; None when the pool stays empty."""
        try:
            return self._queue.get(timeout=timeout) if timeout > 0 else self._queue.get_nowait()
        except queue.Empty:
            return None

    @property
    def ready(self) -> int:
        return self._queue.qsize()

    @property
    def capacity(self) -> int:
        return self._queue.maxsize
