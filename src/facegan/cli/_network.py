"""NETWORK: the click type of every --network option (and `convert`'s SRC, `train --resume`).

It accepts a path, an http(s) URL, `hf://owner/repo/file` or the name of a pretrained network
(`facegan pretrained list`) and gives the command a local file: URLs and names are downloaded into the
cache first (facegan.interop.registry.resolve_network). Offline (`facegan --offline`,
FACEGAN_OFFLINE=1) only what the cache holds is used.
"""

from __future__ import annotations

from pathlib import Path

import click


class NetworkParam(click.ParamType):
    """A network file: path, URL, hf://owner/repo/file or registry name -> an existing local path."""

    name = "NETWORK"

    def __init__(self, dir_okay: bool = False, path_type: type = str):
        self.dir_okay = dir_okay
        self.path_type = path_type

    def convert(self, value, param, ctx):
        from facegan.errors import NetworkFormatError
        from facegan.interop.registry import resolve_network

        if value is None:
            return None
        try:
            path = resolve_network(Path(value) if isinstance(value, Path) else str(value), dir_okay=self.dir_okay)
        except NetworkFormatError as exc:  # not a file, not a name, not a network: a bad value (exit 2)
            self.fail(str(exc), param, ctx)
        return self.path_type(path)


NETWORK = NetworkParam()
NETWORK_PATH = NetworkParam(path_type=Path)
RESUME = NetworkParam(dir_okay=True)  # train --resume: also a run directory
