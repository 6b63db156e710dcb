"""The app factory: `create_app(settings)` loads the generator and the archive, opens the database,
and wires the game, the pool, the middleware and the routes into a FastAPI app.

    from facegan.web import WebSettings, create_app
    app = create_app(WebSettings(network="net.safetensors", data="faces.zip"))
    # serve with any ASGI server, e.g. uvicorn.run(app, host="127.0.0.1", port=8000)

The fake pool's thread runs while the app is running (started and stopped by its lifespan).
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from facegan import __version__
from facegan.data.archive import Archive
from facegan.web.api import router as api_router
from facegan.web.db import open_storage
from facegan.web.detector import MachineJudge
from facegan.web.game import Game
from facegan.web.pages import error_response, install_error_pages
from facegan.web.pages import router as pages_router
from facegan.web.players import PlayerCookie, PlayerIds
from facegan.web.pool import FakePool
from facegan.web.ratelimit import RateLimiter
from facegan.web.reals import RealSampler
from facegan.web.render import Renderer
from facegan.web.security import BodyLimit, HostCheck, SecurityHeaders
from facegan.web.services import Services
from facegan.web.settings import WebSettings
from facegan.web.storage import StorageError

log = logging.getLogger(__name__)
HERE = Path(__file__).parent


def create_app(settings: WebSettings, generator=None) -> FastAPI:
    """The app for `settings`; `generator` replaces loading `settings.network` (e.g. a network in memory)."""
    import facegan
    from facegan.utils.device import pick_device

    device = pick_device(settings.device)
    G = generator if generator is not None else facegan.load(settings.network, device=device)
    judge = MachineJudge.load(settings.detector, device) if settings.detector is not None else None
    renderer = Renderer(G, settings.network.name, precision=settings.precision,
                        preview_resolution=settings.preview_resolution, cache_bytes=settings.render_cache_bytes)
    display = min(renderer.info.resolution, settings.display_size)
    archive = Archive(settings.data)
    storage = open_storage(settings.db)
    if settings.shared:  # many workers: rounds, images, limits and fakes live in the database
        from facegan.web.shared import shared_parts
        reals, pool, image_store, limiters = shared_parts(settings, storage, archive, renderer, display)
    else:
        reals = RealSampler(archive, display, renderer.info.channels, storage.real_names_shown)
        pool = FakePool(renderer, settings.pool_size, settings.psi_range, display)
        limits = settings.rate_limits
        limiters = {name: RateLimiter(getattr(limits, name))
                    for name in ("game", "render", "general", "new_players")} if limits.enabled else {}
    game = Game(storage, pool, reals, renderer.info, settings.round_ttl_s, settings.max_open_rounds,
                settings.pool_wait_s, settings.image_store_bytes, judge)
    if settings.shared:
        game.images = image_store
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.globals.update(version=__version__, network=renderer.info)
    services = Services(settings, renderer, pool, storage, game, templates, limiters)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        pool.start()
        try:
            yield
        finally:
            pool.stop()
            storage.close()
            archive.close()

    app = FastAPI(
        title="facegan: Which Face Is Real",
        version=__version__,
        description=("The Which Face Is Real game, the six tells of generated faces, a fresh face per visit and "
                     "a latent explorer, served from one generator and an archive of real photos."),
        docs_url=None, redoc_url=None,  # Swagger UI and ReDoc load from CDNs; /api renders the schema instead
        lifespan=lifespan,
    )
    app.state.services = services

    app.include_router(api_router)
    app.include_router(pages_router)
    if settings.shared:  # /random from the shared pool, at URLs a CDN can cache
        from facegan.web.faces import router as faces_router
        app.include_router(faces_router)
    install_error_pages(app)

    @app.exception_handler(sqlite3.Error)
    @app.exception_handler(StorageError)
    async def database_unavailable(request, exc):
        log.error("game database error: %s", exc)
        return error_response(request, 503, "the game database cannot be used right now", {"Retry-After": "5"})
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    # Outermost last: headers on every response, then the Host check, the body limit, the player.
    app.add_middleware(PlayerCookie, ids=PlayerIds(storage.secret()), general=limiters.get("general"),
                       new_players=limiters.get("new_players"), secure=settings.cookie_secure)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(HostCheck, hosts=settings.hosts_accepted)
    app.add_middleware(SecurityHeaders)
    return app
