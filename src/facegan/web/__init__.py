"""Which Face Is Real: the web game, the lesson on the six tells, a fresh face per visit, the latent
explorer and the statistics of how often players are fooled.

    from facegan.web import WebSettings, create_app
    app = create_app(WebSettings(network="net.safetensors", data="faces.zip", db="game.sqlite"))

`facegan serve` runs it with uvicorn; see docs/web.md.
"""

from facegan.web.settings import WebSettings

__all__ = ["WebSettings", "create_app"]


def create_app(settings: WebSettings, generator=None):
    """The FastAPI app (imported lazily: the web stack is an optional extra)."""
    from facegan.web.app import create_app as _create_app

    return _create_app(settings, generator)
