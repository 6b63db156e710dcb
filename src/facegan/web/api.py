"""The JSON API under /api: the game (rounds, images, answers, tells, score), rendering, statistics.

Every body and parameter is validated (unknown fields refused, numbers bounded, tokens shaped);
POST bodies must be strict JSON (no NaN, Infinity or overflowing numbers: 422). The schema, served at
/openapi.json and rendered at /api, lists every status a route can answer.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError

from facegan.errors import ConfigError
from facegan.web.game import GameError
from facegan.web.models import (
    TOKEN,
    AnswerIn,
    AnswerOut,
    FakeOut,
    InfoOut,
    Problem,
    RenderIn,
    RenderQuery,
    RoundOut,
    Score,
    StatsOut,
    TellIn,
    TellOut,
    machine_out,
)
from facegan.web.ratelimit import retry_after
from facegan.web.render import SEED_MAX, RenderParams
from facegan.web.services import Me, Svc
from facegan.web.strictjson import StrictJSONRoute
from facegan.web.tells import TELLS, explain_answer


def problem(description: str) -> dict:
    return {"description": description, "model": Problem}


# Answers any route can give, from the middleware (Host, body size, the per-player limit) or the database.
COMMON = {400: problem("Invalid Host or Content-Length header"),
          413: problem("Request body too large"),
          429: problem("Too many requests; see Retry-After"),
          503: problem("The game database cannot be used right now; see Retry-After")}
POST_JSON = {415: problem("The body is not application/json")}

router = APIRouter(route_class=StrictJSONRoute, responses=COMMON)



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
# Answering or marking a round checks, in order: 404, 403, 409, 410 (game.py).
ROUND_ERRORS = {403: problem("The round was handed to another player"), 404: problem("Unknown round"),
                409: problem("The round was already answered (or marked)"), 410: problem("The round has expired")}


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
        transform=net.transform,
        display_size=svc.game.reals.display_size,
        preview_resolution=s.preview_resolution if net.resolution > s.preview_resolution else None,
        psi_range=s.psi_range, random_psi=s.random_psi,
        pool={"ready": svc.pool.ready, "capacity": svc.pool.capacity, "generated": svc.pool.generated},
        real_photos=svc.game.reals.total,
        tells=[TellOut(key=t.key, name=t.name, summary=t.summary) for t in TELLS])


@router.post("/api/rounds", response_model=RoundOut, summary="Start a round: two faces, one real",
             dependencies=[limited("game")], responses={503: problem("No fake ready yet, or the database is busy; "
                                                                    "see Retry-After")})
def new_round(response: Response, svc: Svc, me: Me):
    try:
        issued = svc.game.new_round(me)
    except GameError as exc:
        raise game_errors(exc) from None
    response.headers.update(NO_STORE)
    return RoundOut(round=issued.token, images=[f"/api/images/{i}" for i in issued.image_ids],
                    expires_in=issued.expires_in, reals_exhausted=issued.reals_exhausted)


@router.get("/api/images/{image_id}", summary="One face of one of your open rounds",
            response_class=Response, responses={200: {"content": {"image/png": {}}}, 404: problem("No such image")})
def round_image(image_id: Annotated[str, Path(pattern=TOKEN)], svc: Svc, me: Me):
    data = svc.game.image(image_id, me)
    if data is None:
        raise HTTPException(404, "no such image")
    # The same headers for both faces: nothing here says which one is real.
    return Response(data, media_type="image/png", headers={"Cache-Control": "no-store, private"})


@router.post("/api/answer", response_model=AnswerOut, summary="Answer a round: which face is real",
             dependencies=[Depends(json_body), limited("game")], responses={**ROUND_ERRORS, **POST_JSON})
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
             dependencies=[Depends(json_body), limited("game")], responses={**ROUND_ERRORS, **POST_JSON})
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
def _render(svc, params: RenderParams, download: bool = False, where: str = "query") -> Response:
    try:
        out = svc.renderer.render_png(params)
    except ConfigError as exc:  # settings that do not fit this network: a validation error like the others
        raise RequestValidationError([{"type": "value_error", "loc": (where,),
                                       "msg": str(exc), "input": None}]) from None
    headers = {"X-Render-Ms": f"{out.ms:.1f}", "X-Seed": str(params.seed), "X-Psi": f"{params.psi:g}",
               "Cache-Control": "no-store" if params.noise_mode == "random" else "private, max-age=3600"}
    if download:
        moved = (f"-tx{params.translate_x:g}-ty{params.translate_y:g}-rot{params.rotate:g}"
                 if params.transformed else "")
        headers["Content-Disposition"] = (f'attachment; filename="facegan-seed{params.seed}-psi{params.psi:g}'
                                          f'{moved}.png"')
    return Response(out.png, media_type="image/png", headers=headers)


PNG = {200: {"content": {"image/png": {}}}}


@router.get("/api/render.png", summary="Render one face (explorer, lesson, /random)", response_class=Response,
            dependencies=[limited("render")], responses=PNG)
def render_get(q: Annotated[RenderQuery, Query()], svc: Svc):
    return _render(svc, q.params(), q.download)


@router.post("/api/render", summary="Render one face from a JSON description", response_class=Response,
              dependencies=[Depends(json_body), limited("render")], responses={**PNG, **POST_JSON})
def render_post(body: RenderIn, svc: Svc):
    return _render(svc, body.params(), where="body")


@router.get("/api/random.png", summary="A new face on every request (seed and psi in X-Seed, X-Psi)",
            response_class=Response, dependencies=[limited("render")], responses=PNG)
def random_png(svc: Svc):
    params = RenderParams(seed=secrets.randbelow(SEED_MAX + 1), psi=svc.settings.random_psi)
    response = _render(svc, params)
    response.headers["Cache-Control"] = "no-store"
    return response
