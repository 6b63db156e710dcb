"""Many web worker processes under uvicorn's supervisor (`facegan serve --workers N`).

uvicorn starts N processes on one listening socket, and replaces a worker that dies. Each worker
builds its own app from the same `WebSettings`, passed through the environment as JSON (uvicorn
imports the app factory by name in each process). With more than one worker the game's state lives
in the database (`WebSettings.shared`): any worker can serve the images of, and take the answer
to, a round another one handed out, and the rate limits count across all of them.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

from facegan.web.ratelimit import Limit, RateLimits
from facegan.web.settings import WebSettings

ENV = "FACEGAN_WEB_SETTINGS"


def settings_to_json(settings: WebSettings) -> str:
    def plain(value):
        if isinstance(value, Path):
            return str(value)
        if isinstance(value, tuple):
            return [plain(v) for v in value]
        if dataclasses.is_dataclass(value):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return value

    return json.dumps(plain(settings))


def settings_from_json(text: str) -> WebSettings:
    values = json.loads(text)
    limits = values.pop("rate_limits")
    enabled = limits.pop("enabled")
    values["rate_limits"] = RateLimits(**{k: Limit(**v) for k, v in limits.items()}, enabled=enabled)
    for name in ("psi_range", "allowed_hosts"):
        if values.get(name) is not None:
            values[name] = tuple(values[name])
    return WebSettings(**values)


def app_from_env():
    """The app factory uvicorn calls in each worker process."""
    import torch

    from facegan.web.app import create_app

    settings = settings_from_json(os.environ[ENV])
    # N workers share the cores: keep each one's intra-op threads from oversubscribing them.
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // settings.workers))
    return create_app(settings)


def run(settings: WebSettings, log_level: str = "info", held=None) -> None:
    """Serve `settings.workers` processes on settings.host:settings.port until stopped. `held` is a
    socket already bound to that address (the CLI's early port check): it stays bound through the
    checks below, so no other program can take the port meanwhile, and is closed just before
    uvicorn binds it again (SO_REUSEADDR) for its workers."""
    import uvicorn

    import facegan
    from facegan.data.archive import Archive
    from facegan.web.db import open_storage

    # Check the inputs once, here, so that a bad file or an unreachable database is one line of
    # error rather than N workers failing to start; then create or migrate the database once.
    facegan.load(settings.network, device="cpu")  # (dropped at once; each worker loads its own)
    Archive(settings.data).close()
    open_storage(settings.db).close()
    os.environ[ENV] = settings_to_json(settings)
    if held is not None:
        held.close()
    uvicorn.run("facegan.web.workers:app_from_env", factory=True, workers=settings.workers, host=settings.host,
                port=settings.port, log_level=log_level, proxy_headers=False, server_header=False,
                date_header=True, timeout_graceful_shutdown=10)
