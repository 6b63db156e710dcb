"""The API's request and response models, shared by the JSON routes (api.py) and the pages (pages.py).

Every body and parameter is validated: unknown fields refused, numbers bounded and finite, tokens shaped.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from facegan.web.render import ROTATE_MAX, SEED_MAX, TRANSLATE_MAX, RenderParams
from facegan.web.tells import MARKABLE

TOKEN = r"^[A-Za-z0-9_-]{16,64}$"
Seed = Annotated[int, Field(ge=0, le=SEED_MAX)]
Psi = Annotated[float, Field(ge=-2.0, le=2.0, allow_inf_nan=False)]
Translate = Annotated[float, Field(ge=-TRANSLATE_MAX, le=TRANSLATE_MAX, allow_inf_nan=False)]
Rotate = Annotated[float, Field(ge=-ROTATE_MAX, le=ROTATE_MAX, allow_inf_nan=False)]


class Problem(BaseModel):
    """Every error but a validation error (422): {"detail": "what went wrong"}."""

    detail: str


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Score(Strict):
    answered: int
    correct: int
    streak: int = Field(description="Correct answers in a row, up to now.")
    best_streak: int
    accuracy: float | None


class RoundOut(Strict):
    round: str = Field(description="Single-use token; send it back with the answer.")
    images: list[str] = Field(description="The two faces, left then right, under opaque ids.")
    expires_in: float = Field(description="Seconds until the round can no longer be answered.")
    reals_exhausted: bool = Field(description="You have seen every real photo once; repeats are possible now.")


class AnswerIn(Strict):
    round: str = Field(pattern=TOKEN)
    choice: int = Field(ge=0, le=1, strict=True, description="0 = left, 1 = right: the face you think is real.")


class FakeOut(Strict):
    seed: int
    psi: float
    class_: int | None = Field(None, alias="class")


class MachineOut(Strict):
    choice: int = Field(description="The face the detector calls real: 0 = left, 1 = right.")
    correct: bool
    confidence: float = Field(description="Its probability that its pick is the real face.")
    p_generated: tuple[float, float] = Field(description="Its probability that the left, right face is generated.")


def machine_out(guess, real_position: int) -> MachineOut | None:
    if guess is None:
        return None
    return MachineOut(choice=guess.choice, correct=guess.correct(real_position), confidence=round(guess.confidence, 4),
                      p_generated=tuple(round(p, 4) for p in guess.p_generated))


class AnswerOut(Strict):
    round_id: int
    correct: bool
    real: int = Field(description="Where the real photo was: 0 = left, 1 = right.")
    fake: FakeOut
    real_photo: str = Field(description="The real photo's name in the archive.")
    time_ms: int
    explanation: str
    score: Score
    machine: MachineOut | None = Field(None, description="The detector's guess (facegan serve --detector).")


class TellIn(Strict):
    round: str = Field(pattern=TOKEN)
    tell: Literal[MARKABLE] = Field(description="What gave the fake away.")  # type: ignore[valid-type]


class RenderIn(Strict):
    seed: Seed = 0
    psi: Psi = 0.7
    cutoff: Annotated[int, Field(ge=1, le=64)] | None = Field(None, description="Truncate only layers below it.")
    mix_seed: Seed | None = Field(None, description="Seed whose styles replace those of mix_group.")
    mix_group: Literal["coarse", "middle", "fine"] | None = None
    noise: Literal["const", "random", "none"] = "const"
    class_: Annotated[int, Field(ge=0)] | None = Field(None, alias="class", description="Conditional networks.")
    preview: bool = Field(False, description="Low resolution, for networks above the preview resolution.")
    translate_x: Translate = Field(0.0, description="StyleGAN3 only: translate the image right by this many image "
                                                    "widths, as `facegan generate --translate X,Y`.")
    translate_y: Translate = Field(0.0, description="StyleGAN3 only: translate the image down, in image widths.")
    rotate: Rotate = Field(0.0, description="StyleGAN3 only: rotate the image by this many degrees "
                                            "(counter-clockwise), as `facegan generate --rotate`.")

    def params(self) -> RenderParams:
        return RenderParams(seed=self.seed, psi=self.psi, cutoff=self.cutoff, mix_seed=self.mix_seed,
                            mix_group=self.mix_group, noise_mode=self.noise, class_idx=self.class_,
                            preview=self.preview, translate_x=self.translate_x, translate_y=self.translate_y,
                            rotate=self.rotate)


class RenderQuery(RenderIn):
    download: bool = Field(False, description="Send as an attachment named after the seed and psi.")


class TellOut(Strict):
    key: str
    name: str
    summary: str


class InfoOut(Strict):
    network: str
    architecture: str
    resolution: int
    channels: int
    num_ws: int
    c_dim: int
    has_noise: bool
    style_mixing: bool
    transform: bool = Field(description="StyleGAN3: renders take translate_x, translate_y and rotate.")
    groups: dict[str, list[int]]
    display_size: int
    preview_resolution: int | None
    psi_range: tuple[float, float]
    random_psi: float
    pool: dict[str, int]
    real_photos: int
    tells: list[TellOut]


class Group(Strict):
    answered: int
    fooled: int
    fooled_rate: float | None


class DayGroup(Group):
    day: str


class PsiGroup(Group):
    psi_min: float
    psi_max: float


class TellGroup(Group):
    tell: str


class VersusGroup(Group):
    machine_fooled: int
    machine_fooled_rate: float | None


class VersusPsiGroup(VersusGroup):
    psi_min: float
    psi_max: float


class VersusTellGroup(VersusGroup):
    tell: str


class VersusOut(VersusGroup):
    by_psi: list[VersusPsiGroup]
    by_tell: list[VersusTellGroup]


class StatsOut(Strict):
    answered: int
    fooled: int
    fooled_rate: float | None = Field(description="Share of answers where the player picked the fake.")
    players: int
    mean_time_ms: int | None
    rounds_issued: int
    rounds_open: int
    rounds_skipped: int = Field(description="Handed out, never answered, expired or replaced.")
    by_day: list[DayGroup]
    by_psi: list[PsiGroup]
    by_tell: list[TellGroup]
    versus: VersusOut | None = Field(None, description="Humans against the detector, on the rounds it judged.")


