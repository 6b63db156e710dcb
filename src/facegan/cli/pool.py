"""`facegan pool fill`: generation workers that keep the web app's shared face pool topped up."""

from __future__ import annotations

import time

import click

from facegan.cli._common import aliased, device_option
from facegan.cli._network import NETWORK_PATH
from facegan.cli.types import PSI_MAX, PSI_MIN, Database, Float, FloatList, Int


@click.group()
def pool() -> None:
    """The shared pool of fakes that `facegan serve --workers N` (or on PostgreSQL) serves.

    \b
    Example:
    facegan pool fill --network ffhq.pkl --db game.sqlite --count 500
    """


@pool.command()
@click.option("--network", required=True, type=NETWORK_PATH, help="The generator `facegan serve` runs.")
@click.option("--db", default="game.sqlite", show_default=True, type=Database(),
              help="SQLite file or postgresql:// URL of the game.")
@click.option("--count", default=100, show_default=True, type=Int(1, 10_000_000),
              help="Faces to add (with --keep: the most to add per round of topping up).")
@click.option("--keep", default=None, type=Int(1, 10_000_000), help="Run until stopped, keeping at least this many "
              "unserved faces in the pool (checked every --interval seconds).")
@click.option("--interval", default=2.0, show_default=True, type=Float(0.1, 3600),
              help="Seconds between checks of the pool (with --keep).")
@aliased("--trunc", "psi", aliases=("--psi",), default="0.5,1.0", show_default=True, type=FloatList(PSI_MIN, PSI_MAX),
         help="Truncation psi of the fakes: MIN,MAX (drawn uniformly) or one value.")
@click.option("--display-size", default=512, show_default=True, type=Int(16, 4096),
              help="As `facegan serve --display-size` (faces are stored at min(resolution, this)).")
@click.option("--batch", default=None, type=Int(1, 1024), help="Images per generator call.")
@device_option
@click.option("--precision", type=click.Choice(["fp32", "bf16"]), default="fp32", show_default=True,
              help="bf16 renders faster on AVX-512 BF16/AMX CPUs and recent GPUs (slower elsewhere).")
def fill(network, db, count, keep, interval, psi, display_size, batch, device, precision):
    """Generate fakes into the shared pool: COUNT once, or forever with --keep.

    \b
    Examples:
    facegan pool fill --network ffhq.pkl --db postgresql://facegan@db/facegan --count 5000
    facegan pool fill --network ffhq.pkl --db postgresql://facegan@db/facegan --keep 2000
    """
    import facegan
    from facegan.errors import ConfigError
    from facegan.utils.device import pick_device
    from facegan.web.db import open_storage
    from facegan.web.poolstore import PoolStore
    from facegan.web.poolstore import fill as fill_pool
    from facegan.web.render import Renderer

    if len(psi) not in (1, 2) or not -2.0 <= min(psi) <= max(psi) <= 2.0:
        raise ConfigError("--psi takes MIN,MAX or one value within [-2, 2]")
    renderer = Renderer(facegan.load(network, device=pick_device(device)), network.name, precision=precision)
    size = min(renderer.info.resolution, display_size)
    storage = open_storage(db)
    store = PoolStore(storage, network.name, size)
    psi_range = (min(psi), max(psi))
    try:
        if keep is None:
            start = time.perf_counter()
            done = fill_pool(store, renderer, count, psi_range, renderer.info.channels, batch)
            seconds = time.perf_counter() - start
            counts = store.counts()
            click.echo(f"added {done} faces of {network.name} at {size} px in {seconds:.1f} s "
                       f"({done / max(seconds, 1e-9):.1f} faces/s); the pool holds {counts.fresh} unserved "
                       f"of {counts.total}")
            return
        click.echo(f"keeping at least {keep} unserved faces of {network.name} at {size} px in the pool (Ctrl-C stops)")
        while True:
            missing = keep - store.counts().fresh
            if missing > 0:
                fill_pool(store, renderer, min(missing, count), psi_range, renderer.info.channels, batch)
            else:
                time.sleep(interval)
    except KeyboardInterrupt:
        pass
    finally:
        storage.close()
