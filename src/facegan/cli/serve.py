"""`facegan serve`: the Which Face Is Real app under uvicorn (a thin layer over facegan.web)."""

from __future__ import annotations

import errno
from pathlib import Path

import click

from facegan.cli._common import aliased, device_option
from facegan.cli._network import NETWORK_PATH
from facegan.cli.types import PSI_MAX, PSI_MIN, Database, Float, FloatList, Int


@click.command()
@click.option("--network", required=True, type=NETWORK_PATH,
              help="Generator: our .safetensors or an official NVIDIA pickle.")
@click.option("--data", required=True, type=click.Path(exists=True, path_type=Path),
              help="Archive (zip or folder) of real photos.")
@click.option("--db", default="game.sqlite", show_default=True, type=Database(),
              help="SQLite file of rounds and answers (created if missing), or a postgresql://user@host/db URL.")
@click.option("--workers", default=1, show_default=True, type=Int(1, 256),
              help="Web worker processes. Above 1 (or on PostgreSQL) the game's state lives in the database "
                   "and the fakes come from the shared pool (`facegan pool fill`).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but loopback exposes the game to the network.")
@click.option("--port", default=8000, show_default=True, type=Int(0, 65535),
              help="Port to listen on (0: any free port).")
@click.option("--pool-size", default=32, show_default=True, type=Int(1, 100_000),
              help="Fakes generated ahead of the rounds.")
@aliased("--trunc", "psi", aliases=("--psi",), default="0.5,1.0", show_default=True, type=FloatList(PSI_MIN, PSI_MAX),
         help="Truncation psi of the game's fakes: MIN,MAX (drawn uniformly) or one value.")
@aliased("--random-trunc", "random_psi", aliases=("--random-psi",), default=0.7, show_default=True,
         type=Float(PSI_MIN, PSI_MAX), help="Default truncation psi of /random.")
@device_option
@click.option("--precision", type=click.Choice(["fp32", "bf16"]), default="fp32", show_default=True,
              help="bf16 renders faster on AVX-512 BF16/AMX CPUs and recent GPUs (slower elsewhere).")
@click.option("--display-size", default=512, show_default=True, type=Int(16, 4096),
              help="Largest side of the game's images.")
@click.option("--round-ttl", default=600.0, show_default=True, type=Float(1, 86400),
              help="Seconds a round can be answered.")
@click.option("--rate-limit-scale", default=1.0, show_default=True, type=Float(0, 1000),
              help="Multiply every rate limit (0 switches rate limiting off).")
@click.option("--allowed-host", "allowed_hosts", multiple=True,
              help="Host header to accept (repeatable). Default: loopback names when bound to loopback, else any.")
@click.option("--detector", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="A detector file (facegan detect train): the machine guesses every round too.")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]), help="uvicorn's log level.")
def serve(network, data, db, host, port, pool_size, psi, random_psi, device, precision, display_size, round_ttl,
          rate_limit_scale, allowed_hosts, detector, log_level, workers):
    """Serve the Which Face Is Real game, the lesson, /random, the explorer and the statistics.

    \b
    Example:
    facegan serve --network ffhq.pkl --data ffhq.zip --trunc 0.5,1 --port 8000
    facegan serve --network ffhq.pkl --data ffhq.zip --db postgresql://facegan@db/facegan --workers 4
    """
    import uvicorn

    from facegan.errors import ConfigError
    from facegan.web import WebSettings, create_app
    from facegan.web.ratelimit import RateLimits
    from facegan.web.settings import is_loopback

    if len(psi) not in (1, 2):
        raise ConfigError(f"--trunc takes MIN,MAX or one value, got {len(psi)} values")
    settings = WebSettings(
        network=network, data=data, db=db, host=host, port=port, device=device, precision=precision,
        pool_size=pool_size, psi_range=(min(psi), max(psi)), random_psi=random_psi, display_size=display_size,
        round_ttl_s=round_ttl, rate_limits=RateLimits().scaled(rate_limit_scale),
        allowed_hosts=tuple(allowed_hosts) or None, detector=detector, workers=workers)
    sock = bind(host, port)  # before the banner and the model load: a taken port is one line, not a traceback
    if workers > 1:  # N workers build their own app (facegan.web.workers), and uvicorn binds for them
        app = None
    else:
        app = create_app(settings)
        port = sock.getsockname()[1]
    if not is_loopback(host):
        click.secho(f"warning: listening on {host}: the game is reachable from other machines", fg="yellow", err=True)
    click.echo(f"Which Face Is Real on http://{'[' + host + ']' if ':' in host else host}:{port}/  (Ctrl-C stops)")
    if app is None:
        from facegan.web.workers import run

        return run(settings, log_level, held=sock)
    config = uvicorn.Config(app, log_level=log_level, proxy_headers=False, server_header=False, date_header=True,
                            timeout_graceful_shutdown=10)
    uvicorn.Server(config).run(sockets=[sock])


def bind(host: str, port: int):
    """A listening socket on host:port, or one clear line saying why there is none."""
    import socket

    from facegan.errors import ConfigError

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ConfigError(f"--host {host}: not an address of this machine ({exc.strerror})") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        reason = "it is in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc)).lower()
        raise ConfigError(f"cannot listen on {host}:{port}: {reason} (pick another --port)") from None
    sock.set_inheritable(True)
    return sock
