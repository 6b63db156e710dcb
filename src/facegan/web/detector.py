"""The machine's side of the game: a detector (`facegan serve --detector FILE`) judges both faces of
every round, as the player sees them, before the round is handed out; its guess is revealed with the
answer and stored with the round, so the statistics can set humans against the machine.

The detector gives each face a probability of being generated, p_left and p_right. Like the player,
the machine must say which one is real: it picks the face it finds less likely generated. Its
confidence is the probability that this pick is right given that exactly one face is generated:

    P(the other face is the fake) = p_other (1 - p_pick) / (p_other (1 - p_pick) + p_pick (1 - p_other))

so the pick needs no threshold (a ranking of the two, as AP measures), and the confidence is 50 % when
both faces look alike to it.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

import numpy as np

from facegan.detection import Detector, load_detector


@dataclass(frozen=True)
class MachineGuess:
    p_generated: tuple[float, float]   # The detector's probability that the left, right face is generated.

    @property
    def choice(self) -> int:
        """The face the machine calls real: 0 = left, 1 = right (left on a tie)."""
        return 0 if self.p_generated[0] <= self.p_generated[1] else 1

    @property
    def confidence(self) -> float:
        """The probability that its pick is the real face, if exactly one of the two is generated."""
        pick, other = self.p_generated[self.choice], self.p_generated[1 - self.choice]
        right, wrong = other * (1 - pick), pick * (1 - other)
        return 0.5 if right + wrong <= 0 else right / (right + wrong)

    def correct(self, real_position: int) -> bool:
        return self.choice == real_position


class MachineJudge:
    """A loaded detector, shared by the request threads (one judgement at a time)."""

    def __init__(self, detector: Detector, name: str):
        self.detector = detector
        self.name = name
        self._lock = threading.Lock()

    @classmethod
    def load(cls, path: str | os.PathLike, device="cpu") -> MachineJudge:
        return cls(load_detector(path, device=device), os.path.basename(path))

    def judge(self, pixels: list[np.ndarray]) -> MachineGuess:
        """The guess on a round's two faces (uint8 HWC, left then right)."""
        with self._lock:
            p = self.detector.probabilities(pixels)
        return MachineGuess((float(p[0]), float(p[1])))
