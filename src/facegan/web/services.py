"""What the routes use: the `Services` of one app, and the dependencies that hand them to a route.

app.py builds the Services; api.py and pages.py read them through `Svc` and `Me`. Nothing here
imports the routes, so the modules form no cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates

from facegan.web.game import Game
from facegan.web.pool import FakePool
from facegan.web.ratelimit import RateLimiter
from facegan.web.render import Renderer
from facegan.web.settings import WebSettings
from facegan.web.storage import Storage


@dataclass
class Services:
    """Everything the routes use, kept on `app.state.services`."""

    settings: WebSettings
    renderer: Renderer
    pool: FakePool
    storage: Storage
    game: Game
    templates: Jinja2Templates
    limiters: dict[str, RateLimiter]


def services(request: Request) -> Services:
    return request.app.state.services


def player(request: Request) -> str:
    return request.state.player


Svc = Annotated[Services, Depends(services)]
Me = Annotated[str, Depends(player)]


