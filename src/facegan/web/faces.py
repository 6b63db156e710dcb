"""thispersondoesnotexist from the shared pool: a new face per request without running the generator
on the web worker, under URLs a CDN can cache (installed when the app's state is shared).

    GET /api/faces/random     303 to /faces/<id>.png (no-store): takes a face from the pool, as a
                              round does, so a face shown here is never shown in the game after
    GET /faces/<id>.png       the face (public, one year, immutable; no cookie, no player)

The id is random (128 bits), unrelated to the seed, the network or the order of generation. These
URLs are fakes by construction, which is why the game never uses them: a round's two faces are
served under per-round ids by /api/images/ with identical headers (see game.py).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request, Response
from fastapi.responses import RedirectResponse

from facegan.web.ratelimit import retry_after

router = APIRouter()
FACE_ID = r"^[A-Za-z0-9_-]{16,64}$"
PUBLIC_PREFIX = "/faces/"          # outside the player cookie (facegan.web.players.ANONYMOUS_PREFIXES)
IMMUTABLE = {"Cache-Control": "public, max-age=31536000, immutable"}


def _store(request: Request):
    return request.app.state.services.pool.store


@router.get("/api/faces/random", summary="A new face from the shared pool (a redirect to its cacheable URL)",
            status_code=303, response_class=RedirectResponse, responses={503: {"description": "The pool is empty"}})
def random_face(request: Request):
    limiter = request.app.state.services.limiters.get("render")
    if limiter is not None and (wait := limiter.take(request.state.player)):
        raise HTTPException(429, "too many render requests; slow down", headers={"Retry-After": retry_after(wait)})
    face = _store(request).take()
    if face is None:
        raise HTTPException(503, "the shared face pool is empty; run `facegan pool fill`",
                            headers={"Retry-After": "5"})
    return RedirectResponse(f"{PUBLIC_PREFIX}{face.public_id}.png", status_code=303,
                            headers={"Cache-Control": "no-store", "X-Seed": str(face.seed), "X-Psi": f"{face.psi:g}"})


@router.get(PUBLIC_PREFIX + "{face_id}.png", summary="One face of the shared pool, by its random id",
            response_class=Response, responses={200: {"content": {"image/png": {}}}, 404: {}})
def face_png(face_id: Annotated[str, Path(pattern=FACE_ID)], request: Request):
    png = _store(request).png(face_id)
    if png is None:
        raise HTTPException(404, "no such face")
    return Response(png, media_type="image/png", headers=IMMUTABLE)
