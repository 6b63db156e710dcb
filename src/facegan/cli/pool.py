"""`facegan pool fill`: generation workers that keep the web app's shared face pool topped up."""

from __future__ import annotations

import time

import click

from facegan.cli._common import FloatList
from facegan.cli._network import NETWORK_PATH


@click.group()
def pool() -> None:
    """The shared pool of fakes that `facegan serve --workers N` (or on PostgreSQL) serves."""


@pool.command()
@click.option("--network", required=True, type=NETWORK_PATH, help="The generator `facegan serve` runs.")
@click.option("--db", default="game.sqlite", show_default=True, help="SQLite file or postgresql:// URL of the game.")
@click.option("--count", default=100, show_default=True, type=click.IntRange(1, 10_000_000),
              help="Faces to add (with --keep: the most to add per round of topping up).")
@click.option("--keep", default=None, type=click.IntRange(1), help="Run until stopped, keeping at least this many "
              "unserved faces in the pool (checked every --interval seconds).")
@click.option("--interval", default=2.0, show_default=True, type=click.FloatRange(0.1, 3600))
@click.option("--psi", default="0.5,1.0", show_default=True, type=FloatList(), help="MIN,MAX or one value.")
@click.option("--display-size", default=512, show_default=True, type=click.IntRange(16, 4096),
              help="As `facegan serve --display-size` (faces are stored at min(resolution, this)).")
@click.option("--batch", default=None, type=click.IntRange(1, 1024), help="Images per generator call.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:1, mps.")
@click.option("--precision", type=click.Choice(["fp32", "bf16"]), default="fp32", show_default=True)
def fill(network, db, count, keep, interval, psi, display_size, batch, device, precision):
    """Generate fakes into the shared pool: COUNT once, or forever with --keep."""
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
