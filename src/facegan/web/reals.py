"""Real photos for the rounds: drawn at random from the archive, never repeated for a player until
every photo has been shown to them (a repeated face would give itself away, since fakes never
repeat); then a new cycle starts.

What a player has seen is kept in memory and rebuilt from the database (the real photo of every
round handed to them) the first time a player is met after a restart. Photos that cannot be decoded
are left out of the draw.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable

import numpy as np

from facegan.data.archive import Archive
from facegan.errors import DatasetError
from facegan.web.imaging import to_display

log = logging.getLogger(__name__)


class PlayerHistory:
    """The photos shown to one player in the current cycle."""

    def __init__(self) -> None:
        self.seen: set[int] = set()
        self.cycles = 0            # Completed cycles through the whole archive.

    def add(self, index: int, total: int) -> None:
        self.seen.add(index)
        if len(self.seen) >= total:
            self.seen.clear()
            self.cycles += 1


class RealSampler:
    def __init__(self, archive: Archive, display_size: int, channels: int,
                 history: Callable[[str], list[str]], max_players: int = 10_000):
        if len(archive) == 0:
            raise DatasetError(f"{archive.path}: the archive holds no images")
        self.archive = archive
        self.display_size = display_size
        self.channels = channels
        self._history_of = history          # player -> real names shown, oldest first (from the database)
        self._index = {name: i for i, name in enumerate(archive.names)}
        self._bad: set[int] = set()
        self._players: OrderedDict[str, PlayerHistory] = OrderedDict()
        self._max_players = max_players
        self._lock = threading.Lock()
        self._read_lock = threading.Lock()

    @property
    def total(self) -> int:
        return len(self.archive) - len(self._bad)

    def _player(self, player: str) -> PlayerHistory:
        state = self._players.get(player)
        if state is None:
            state = PlayerHistory()
            for name in self._history_of(player):
                index = self._index.get(name)
                if index is not None and index not in self._bad:
                    state.add(index, self.total)
            self._players[player] = state
            while len(self._players) > self._max_players:
                self._players.popitem(last=False)
        else:
            self._players.move_to_end(player)
        return state

    def _pick(self, state: PlayerHistory) -> int:
        n = len(self.archive)
        excluded = len(state.seen) + len(self._bad)
        if excluded < n // 2:  # mostly unseen: rejection sampling is O(1) on average
            while True:
                i = secrets.randbelow(n)
                if i not in state.seen and i not in self._bad:
                    return i
        left = [i for i in range(n) if i not in state.seen and i not in self._bad]
        return left[secrets.randbelow(len(left))]

    def draw(self, player: str) -> tuple[str, np.ndarray, bool]:
        """(archive name, uint8 [S, S, C] pixels, whether this player has been through every photo)."""
        for _ in range(8):
            with self._lock:
                if self.total == 0:
                    raise DatasetError(f"{self.archive.path}: none of the images can be decoded")
                state = self._player(player)
                index = self._pick(state)
                state.add(index, self.total)
                exhausted = state.cycles > 0
            try:
                with self._read_lock:
                    image = self.archive.read_image(index)
                return self.archive.names[index], to_display(image, self.display_size, self.channels), exhausted
            except (DatasetError, ValueError, OSError, KeyError) as exc:
                log.warning("real photo %s left out: %s", self.archive.names[index], exc)
                with self._lock:
                    self._bad.add(index)
        raise DatasetError(f"{self.archive.path}: too many images cannot be decoded")
