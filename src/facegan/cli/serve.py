"""`facegan serve`: the Which Face Is Real app under uvicorn (a thin layer over facegan.web)."""

from __future__ import annotations

from pathlib import Path

import click

from facegan.cli._common import FloatList
from facegan.cli._network import NETWORK_PATH


@click.command()
@click.option("--network", required=True, type=NETWORK_PATH,
              help="Generator: our .safetensors or an official NVIDIA pickle.")
@click.option("--data", required=True, type=click.Path(exists=True, path_type=Path),
              help="Archive (zip or folder) of real photos.")
@click.option("--db", default="game.sqlite", show_default=True,
              help="SQLite file of rounds and answers (created if missing), or a postgresql://user@host/db URL.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 256),
              help="Web worker processes. Above 1 (or on PostgreSQL) the game's state lives in the database "
                   "and the fakes come from the shared pool (`facegan pool fill`).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but loopback exposes the game to the network.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--pool-size", default=32, show_default=True, type=click.IntRange(1, 100_000),
              help="Fakes generated ahead of the rounds.")
@click.option("--psi", "psi", default="0.5,1.0", show_default=True, type=FloatList(),
              help="Truncation psi of the game's fakes: MIN,MAX (drawn uniformly) or one value.")
@click.option("--random-psi", default=0.7, show_default=True, type=float, help="Default psi of /random.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:1, mps.")
@click.option("--precision", type=click.Choice(["fp32", "bf16"]), default="fp32", show_default=True,
              help="bf16 renders faster on AVX-512 BF16/AMX CPUs and recent GPUs (slower elsewhere).")
@click.option("--display-size", default=512, show_default=True, type=click.IntRange(16, 4096),
              help="Largest side of the game's images.")
@click.option("--round-ttl", default=600.0, show_default=True, type=click.FloatRange(1, 86400),
              help="Seconds a round can be answered.")
@click.option("--rate-limit-scale", default=1.0, show_default=True, type=click.FloatRange(0),
              help="Multiply every rate limit (0 switches rate limiting off).")
@click.option("--allowed-host", "allowed_hosts", multiple=True,
              help="Host header to accept (repeatable). Default: loopback names when bound to loopback, else any.")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]))
def serve(network, data, db, host, port, pool_size, psi, random_psi, device, precision, display_size, round_ttl,
          rate_limit_scale, allowed_hosts, log_level, workers):
    """Serve the Which Face Is Real game, the lesson, /random, the explorer and the statistics."""
    import uvicorn

    from facegan.errors import ConfigError
    from facegan.web import WebSettings, create_app
    from facegan.web.ratelimit import RateLimits
    from facegan.web.settings import is_loopback

    if len(psi) not in (1, 2):
        raise ConfigError(f"--psi takes MIN,MAX or one value, got {len(psi)} values")
    settings = WebSettings(
        network=network, data=data, db=db, host=host, port=port, device=device, precision=precision,
        pool_size=pool_size, psi_range=(min(psi), max(psi)), random_psi=random_psi, display_size=display_size,
        round_ttl_s=round_ttl, rate_limits=RateLimits().scaled(rate_limit_scale),
        allowed_hosts=tuple(allowed_hosts) or None, workers=workers)
    app = create_app(settings) if workers == 1 else None  # N workers build their own (facegan.web.workers)
    if not is_loopback(host):
        click.secho(f"warning: listening on {host}: the game is reachable from other machines", fg="yellow", err=True)
    click.echo(f"Which Face Is Real on http://{'[' + host + ']' if ':' in host else host}:{port}/  (Ctrl-C stops)")
    if app is None:
        from facegan.web.workers import run

        return run(settings, log_level)
    uvicorn.run(app, host=host, port=port, log_level=log_level, proxy_headers=False, server_header=False,
                date_header=True, timeout_graceful_shutdown=10)
