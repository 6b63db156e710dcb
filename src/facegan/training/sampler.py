"""The order in which training sees the dataset: deterministic, resumable, and the same whatever
the number of processes.

The global stream is the concatenation of per-epoch permutations, epoch e shuffled by
RandomState(seed + e). Training consumes it position by position; a step with a global batch of B
takes the next B positions, and process r of W takes its contiguous share. The only state is the
position (how many samples were consumed), saved in checkpoints.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch


class GlobalStream:
    def __init__(self, length: int, seed: int = 0):
        if length < 1:
            raise ValueError("empty dataset")
        self.length, self.seed = length, seed
        self._cache: tuple[int, np.ndarray] | None = None

    def _epoch(self, e: int) -> np.ndarray:
        if self._cache is None or self._cache[0] != e:
            self._cache = (e, np.random.RandomState((self.seed + e) % 2**32).permutation(self.length))
        return self._cache[1]

    def indices(self, pos: int, count: int) -> np.ndarray:
        """The dataset indices at stream positions [pos, pos + count)."""
        out = np.empty(count, dtype=np.int64)
        filled = 0
        while filled < count:
            e, offset = divmod(pos + filled, self.length)
            take = min(count - filled, self.length - offset)
            out[filled:filled + take] = self._epoch(e)[offset:offset + take]
            filled += take
        return out


class RankBatchSampler(torch.utils.data.Sampler):
    """Yields, step after step, this process's share of each global batch, starting at `pos`."""

    def __init__(self, stream: GlobalStream, pos: int, global_batch: int, rank: int, world: int):
        if global_batch % world:
            raise ValueError(f"global batch {global_batch} is not divisible by {world} processes")
        self.stream, self.pos, self.batch, self.rank, self.world = stream, pos, global_batch, rank, world

    def __iter__(self) -> Iterator[list[int]]:
        pos, share = self.pos, self.batch // self.world
        while True:
            idx = self.stream.indices(pos, self.batch)
            yield idx[self.rank * share:(self.rank + 1) * share].tolist()
            pos += self.batch
