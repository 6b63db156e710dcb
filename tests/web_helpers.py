"""Shared set-up of the web tests: tiny networks and archives of real LFW faces, built by the tests,
and the app served by a real uvicorn on loopback."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from facegan.data.archive import ArchiveWriter
from facegan.data.sources import lfw_subset
from facegan.networks import (
    DCGANConfig,
    StyleGAN2Config,
    StyleGANConfig,
    build_generator,
    save_networks,
    stylegan3_preset,
)


def build_network(path: Path, arch: str = "dcgan", resolution: int = 32, channels: int = 1) -> Path:
    """A small untrained generator of the given architecture, saved in our format."""
    torch.manual_seed(0)
    if arch == "dcgan":
        cfg = DCGANConfig(resolution=resolution, ngf=8, ndf=8, img_channels=channels)
    elif arch == "stylegan2":
        cfg = StyleGAN2Config(resolution=resolution, img_channels=channels, z_dim=32, w_dim=32, mapping_layers=2,
                              channel_base=512, channel_max=32)
    elif arch == "stylegan":
        cfg = StyleGANConfig(resolution=resolution, img_channels=channels, z_dim=32, w_dim=32, mapping_layers=2,
                             mapping_fmaps=32, fmap_base=512, fmap_max=32)
    elif arch == "stylegan3":  # -T with 4 layers, as the network contract tests build it
        cfg = stylegan3_preset("stylegan3-t", resolution, img_channels=channels, z_dim=8, w_dim=8, num_layers=4,
                               channel_base=128, channel_max=8, d_channel_base=128, d_channel_max=8)
    else:
        raise ValueError(arch)
    G = build_generator(cfg)
    if arch != "dcgan":  # a non-zero w_avg, so truncation moves the image
        with torch.no_grad():
            G.mapping.w_avg.normal_()
    save_networks(path, {"G_ema": G}, cfg)
    return path


def build_archive(path: Path, count: int = 12) -> Path:
    """An archive of the first `count` real LFW faces scikit-image ships (25x25 grayscale)."""
    faces = lfw_subset()
    with ArchiveWriter(path) as writer:
        for face in faces[:count]:
            writer.add(np.asarray(face)[:, :, None])
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve_in_thread(app, port: int | None = None) -> Iterator[str]:
    """Run `app` under uvicorn on 127.0.0.1 in a background thread; yields the base URL."""
    import uvicorn

    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


def wait_for_fakes(client, minimum: int = 1, timeout: float = 30.0) -> None:
    """Poll /healthz until the pool holds `minimum` fakes."""
    deadline = time.monotonic() + timeout
    while client.get("/healthz").json()["fakes_ready"] < minimum:
        if time.monotonic() > deadline:
            raise TimeoutError("the fake pool did not fill")
        time.sleep(0.02)


def play_round(client, choice: int = 0) -> tuple[dict, dict]:
    """One full round through the API: (the round as handed out, the answer)."""
    issued = client.post("/api/rounds")
    assert issued.status_code == 200, issued.text
    round_ = issued.json()
    for url in round_["images"]:
        assert client.get(url).status_code == 200
    answer = client.post("/api/answer", json={"round": round_["round"], "choice": choice})
    assert answer.status_code == 200, answer.text
    return round_, answer.json()
