"""The JSON API under /api: the game (rounds, images, answers, tells, score), rendering, statistics.

Every body and parameter is validated (unknown fields refused, numbers bounded, tokens shaped);
POST bodies must be JSON. The schema is served at /openapi.json and rendered at /api.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from facegan.errors import ConfigError
from facegan.web.app import Services
from facegan.web.game import GameError
from facegan.web.ratelimit import retry_after
from facegan.web.render import SEED_MAX, RenderParams
from facegan.web.tells import MARKABLE, TELLS, explain_answer

TOKEN = r"^[A-Za-z0-9_-]{16,64}$"
Seed = Annotated[int, Field(ge=0, le=SEED_MAX)]
Psi = Annotated[float, Field(ge=-2.0, le=2.0, allow_inf_nan=False)]

router = APIRouter()


# -- shared dependencies ----------------------------------------------------------------------
def services(request: Request) -> Services:
    return request.app.state.services


def player(request: Request) -> str:
    return request.state.player


Svc = Annotated[Services, Depends(services)]
Me = Annotated[str, Depends(player)]


def limited(kind: str):
    """A dependency taking one token from the player's `kind` bucket (429 when empty)."""
    def check(request: Request) -> None:
        limiter = request.app.state.services.limiters.get(kind)
        if limiter is None:
            return
        wait = limiter.take(request.state.player)
        if wait:
            raise HTTPException(429, f"too many {kind} requests; slow down", headers={"Retry-After": retry_after(wait)})
    return Depends(check)


def json_body(request: Request) -> None:
    """POST bodies must be JSON: a cross-site form cannot send this content type without a preflight."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise HTTPException(415, "the request body must be application/json")


def game_errors(exc: GameError) -> HTTPException:
    headers = {"Retry-After": retry_after(exc.retry_after)} if exc.retry_after else None
    return HTTPException(exc.status, str(exc), headers=headers)


NO_STORE = {"Cache-Control": "no-store"}


# -- models -----------------------------------------------------------------------------------
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

    def params(self) -> RenderParams:
        return RenderParams(seed=self.seed, psi=self.psi, cutoff=self.cutoff, mix_seed=self.mix_seed,
                            mix_group=self.mix_group, noise_mode=self.noise, class_idx=self.class_,
                            preview=self.preview)


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


def score_out(score) -> Score:
    return Score(answered=score.answered, correct=score.correct, streak=score.streak, best_streak=score.best_streak,
                 accuracy=None if score.accuracy is None else round(score.accuracy, 4))


# -- the game ---------------------------------------------------------------------------------
@router.get("/healthz", include_in_schema=False)
def healthz(response: Response, svc: Svc):
    response.headers.update(NO_STORE)
    return {"status": "ok", "fakes_ready": svc.pool.ready}


@router.get("/api/info", response_model=InfoOut, summary="The network, the game's settings and the tells")
def info(svc: Svc):
    net, s = svc.renderer.info, svc.settings
    return InfoOut(
        network=net.name, architecture=net.arch, resolution=net.resolution, channels=net.channels,
        num_ws=net.num_ws, c_dim=net.c_dim, has_noise=net.has_noise, style_mixing=net.mixing, groups=net.groups,
        display_size=svc.game.reals.display_size,
        preview_resolution=s.preview_resolution if net.resolution > s.preview_resolution else None,
        psi_range=s.psi_range, random_psi=s.random_psi,
        pool={"ready": svc.pool.ready, "capacity": svc.pool.capacity, "generated": svc.pool.generated},
        real_photos=svc.game.reals.total,
        tells=[TellOut(key=t.key, name=t.name, summary=t.summary) for t in TELLS])


@router.post("/api/rounds", response_model=RoundOut, summary="Start a round: two faces, one real",
             dependencies=[limited("game")], responses={503: {"description": "No fake ready yet; retry"}})
def new_round(response: Response, svc: Svc, me: Me):
    try:
        issued = svc.game.new_round(me)
    except GameError as exc:
        raise game_errors(exc) from None
    response.headers.update(NO_STORE)
    return RoundOut(round=issued.token, images=[f"/api/images/{i}" for i in issued.image_ids],
                    expires_in=issued.expires_in, reals_exhausted=issued.reals_exhausted)


@router.get("/api/images/{image_id}", summary="One face of one of your open rounds",
            response_class=Response, responses={200: {"content": {"image/png": {}}}, 404: {}})
def round_image(image_id: Annotated[str, Path(pattern=TOKEN)], svc: Svc, me: Me):
    data = svc.game.image(image_id, me)
    if data is None:
        raise HTTPException(404, "no such image")
    # The same headers for both faces: nothing here says which one is real.
    return Response(data, media_type="image/png", headers={"Cache-Control": "no-store, private"})


@router.post("/api/answer", response_model=AnswerOut, summary="Answer a round: which face is real",
             dependencies=[Depends(json_body), limited("game")],
             responses={403: {}, 404: {}, 409: {}, 410: {}})
def answer(body: AnswerIn, response: Response, svc: Svc, me: Me):
    try:
        result = svc.game.answer(body.round, me, body.choice)
    except GameError as exc:
        raise game_errors(exc) from None
    explanation = explain_answer(result.correct, result.real_position, result.fake_seed, result.fake_psi,
                                 svc.renderer.info.arch)
    response.headers.update(NO_STORE)
    return AnswerOut(round_id=result.round_id, correct=result.correct, real=result.real_position,
                     fake=FakeOut(seed=result.fake_seed, psi=result.fake_psi, **{"class": result.fake_class}),
                     real_photo=result.real_name, time_ms=result.time_ms, explanation=explanation,
                     score=score_out(result.score), machine=machine_out(result.machine, result.real_position))


@router.post("/api/tell", status_code=204, summary="After answering: mark what gave the fake away",
             dependencies=[Depends(json_body), limited("game")], responses={403: {}, 404: {}, 409: {}, 410: {}})
def tell(body: TellIn, svc: Svc, me: Me):
    try:
        svc.game.mark_tell(body.round, me, body.tell)
    except GameError as exc:
        raise game_errors(exc) from None
    return Response(status_code=204)


@router.get("/api/me", response_model=Score, summary="Your score, streak and accuracy")
def me_score(response: Response, svc: Svc, me: Me):
    response.headers.update(NO_STORE)
    return score_out(svc.storage.player_score(me))


@router.get("/api/stats", response_model=StatsOut, summary="How often players are fooled")
def stats(response: Response, svc: Svc):
    response.headers.update(NO_STORE)
    return svc.storage.stats()


# -- rendering --------------------------------------------------------------------------------
def _render(svc, params: RenderParams, download: bool = False) -> Response:
    try:
        out = svc.renderer.render_png(params)
    except ConfigError as exc:
        raise HTTPException(422, str(exc)) from None
    headers = {"X-Render-Ms": f"{out.ms:.1f}", "X-Seed": str(params.seed), "X-Psi": f"{params.psi:g}",
               "Cache-Control": "no-store" if params.noise_mode == "random" else "private, max-age=3600"}
    if download:
        headers["Content-Disposition"] = f'attachment; filename="facegan-seed{params.seed}-psi{params.psi:g}.png"'
    return Response(out.png, media_type="image/png", headers=headers)


PNG = {200: {"content": {"image/png": {}}}, 422: {}}


@router.get("/api/render.png", summary="Render one face (explorer, lesson, /random)", response_class=Response,
            dependencies=[limited("render")], responses=PNG)
def render_get(q: Annotated[RenderQuery, Query()], svc: Svc):
    return _render(svc, q.params(), q.download)


@router.post("/api/render", summary="Render one face from a JSON description", response_class=Response,
             dependencies=[Depends(json_body), limited("render")], responses=PNG)
def render_post(body: RenderIn, svc: Svc):
    return _render(svc, body.params())


@router.get("/api/random.png", summary="A new face on every request (seed and psi in X-Seed, X-Psi)",
            response_class=Response, dependencies=[limited("render")], responses=PNG)
def random_png(svc: Svc):
    params = RenderParams(seed=secrets.randbelow(SEED_MAX + 1), psi=svc.settings.random_psi)
    response = _render(svc, params)
    response.headers["Cache-Control"] = "no-store"
    return response
