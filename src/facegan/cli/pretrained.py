"""`facegan pretrained list | download | verify`: NVIDIA's networks by name (facegan.interop.registry)."""

from __future__ import annotations

import click

from facegan.cli._common import global_quiet


@click.group(epilog="\b\nExamples:\n  facegan pretrained list\n  facegan pretrained download stylegan2-ffhq")
def pretrained() -> None:
    """NVIDIA's released networks: list them, fetch them ahead of time, re-hash the cache.

    Every --network option takes these names too (`facegan generate --network stylegan-ffhq ...`).
    The cache is $FACEGAN_CACHE (default ~/.cache/facegan); FACEGAN_MIRROR=URL fetches every file
    from URL/<file name>; FACEGAN_OFFLINE=1 (or `facegan --offline`) never touches the network."""


@pretrained.command("list", epilog="\b\nExample:\n  facegan pretrained list")
def list_() -> None:
    """The registry: name, family, resolution, dataset, licence, and whether it is cached."""
    from facegan.interop.download import read_index
    from facegan.interop.registry import PRETRAINED

    index = read_index()
    rows = [("name", "family", "res", "dataset", "licence", "cached", "also")]
    for entry in PRETRAINED:
        remote = entry.remote
        cached = "-"
        if remote.path.is_file():
            cached = _size(remote.path.stat().st_size) + ("" if remote.key in index else " (unchecked)")
        rows.append((entry.name, entry.family, str(entry.resolution), entry.dataset, entry.licence, cached,
                     ", ".join(entry.aliases)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())


@pretrained.command(epilog="\b\nExamples:\n  facegan pretrained download stylegan2-ffhq\n"
                            "  facegan pretrained download all")
@click.argument("names", nargs=-1, required=True)
@click.option("--force", is_flag=True, help="Download again even if cached.")
@click.option("--quiet", is_flag=True, hidden=True, default=global_quiet, help="No progress bar (facegan -q).")
def download(names: tuple[str, ...], force: bool, quiet: bool) -> None:
    """Fetch networks into the cache ahead of time (names from `facegan pretrained list`, or 'all')."""
    from facegan.interop.download import check_entry
    from facegan.interop.registry import PRETRAINED, download_pretrained, lookup

    if "all" in names:
        names = tuple(entry.name for entry in PRETRAINED)
    for name in names:
        path = download_pretrained(name, progress=not quiet, force=force)
        entry = lookup(name)
        click.echo(f"{entry.name}: {path}  sha256 {check_entry(entry.remote)}")


@pretrained.command(epilog="\b\nExample:\n  facegan pretrained verify")
def verify() -> None:
    """Re-hash every file of the cache's index and compare with the recorded SHA-256."""
    from facegan.errors import FaceganError
    from facegan.interop.download import cache_dir, read_index, sha256_of
    from facegan.interop.registry import PRETRAINED

    known = {entry.remote.key: entry.sha256 for entry in PRETRAINED}
    index = read_index()
    bad = 0
    for key, record in sorted(index.items()):
        path = cache_dir() / key
        if not path.is_file():
            click.echo(f"missing   {key}")
            continue
        digest = sha256_of(path)
        expected = known.get(key) or record.get("sha256")
        if digest != expected:
            bad += 1
            click.echo(f"MISMATCH  {key}: sha256 {digest}, expected {expected}")
        else:
            click.echo(f"ok        {key}  {digest}")
    if not index:
        click.echo(f"the cache ({cache_dir()}) holds no recorded files")
    if bad:
        raise FaceganError(f"{bad} cached file(s) do not match their recorded SHA-256: delete them, or run "
                           "`facegan pretrained download --force NAME`")


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)
