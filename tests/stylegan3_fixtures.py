"""Tiny StyleGAN3 networks and their snapshots in the official layout (stylegan3's train.py records
the synthesis arguments flat in the Generator's `_init_kwargs`), for the tests."""

from __future__ import annotations

import torch

from facegan.networks import StyleGAN3Generator, build_discriminator, stylegan3_preset
from interop_fixtures import write_snapshot

# What the official pickles embed as module_src: code that would leave a marker if it ever ran.
SG3_SRC = "import os\nos.system('touch PWNED_BY_SG3_SRC')\n"


def tiny_config(cfg: str = "stylegan3-t", resolution: int = 32, **overrides):
    """-T or -R at 32x32 with 4 layers (2 critical), 8-wide latents and few channels: every kind of
    layer (up 2 and 4, margins, critical sampling, radial down filters, ToRGB) in milliseconds."""
    small = dict(z_dim=8, w_dim=8, num_layers=4, channel_base=128 if cfg == "stylegan3-t" else 256,
                 channel_max=8 if cfg == "stylegan3-t" else 16, d_channel_base=128, d_channel_max=8)
    return stylegan3_preset(cfg, resolution, **{**small, **overrides})


def randomized(cfg, seed: int) -> StyleGAN3Generator:
    """A generator with every parameter random and the buffers a trained network has: a tracked w_avg,
    magnitude EMAs that differ from layer to layer, a non-trivial input affine (so that its rotation
    and translation matter)."""
    with torch.random.fork_rng():  # freqs and phases too: the same seed, the same network
        torch.manual_seed(seed)
        G = StyleGAN3Generator(cfg).eval()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in G.named_parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.5 + (1.0 if name.endswith("affine.bias") else 0.0))
        G.synthesis.input.affine.weight.mul_(0.3)
        G.synthesis.input.affine.bias.copy_(torch.tensor([1.0, 0.3, 0.05, -0.04]))
        G.mapping.w_avg.copy_(torch.randn(cfg.w_dim, generator=gen) * 0.3)
        # As training leaves them: each layer's EMA near the mean square of its input (times 0.5-2).
        ws = G.mapping(torch.randn([4, cfg.z_dim], generator=gen), None)
        x = G.synthesis.input(ws[:, 0])
        for i, name in enumerate(G.synthesis.layer_names):
            layer = getattr(G.synthesis, name)
            layer.bias.mul_(0.2)
            layer.magnitude_ema.fill_(float(x.square().mean()) * 2 ** float(torch.rand([], generator=gen) * 2 - 1))
            x = layer(x, ws[:, i + 1])
        getattr(G.synthesis, G.synthesis.layer_names[-1]).weight.mul_(3)  # images across the grey range
    return G


def init_kwargs(cfg) -> dict:
    """The Generator and Discriminator constructor arguments as stylegan3's train.py records them."""
    G = dict(z_dim=cfg.z_dim, c_dim=cfg.c_dim, w_dim=cfg.w_dim, img_resolution=cfg.resolution,
             img_channels=cfg.img_channels, mapping_kwargs=dict(num_layers=cfg.mapping_layers),
             channel_base=cfg.channel_base, channel_max=cfg.channel_max,
             magnitude_ema_beta=cfg.magnitude_ema_beta, num_layers=cfg.num_layers)
    if cfg.use_radial_filters:
        G.update(conv_kernel=1, use_radial_filters=True)
    D = dict(c_dim=cfg.c_dim, img_resolution=cfg.resolution, img_channels=cfg.img_channels,
             channel_base=cfg.d_channel_base, channel_max=cfg.d_channel_max, block_kwargs=dict(freeze_layers=0),
             mapping_kwargs={}, epilogue_kwargs=dict(mbstd_group_size=4))
    return {"G": G, "G_ema": G, "D": D}


def write_sg3_snapshot(path, cfg, seed: int = 0, with_d: bool = True) -> dict:
    """A network-snapshot pickle of random tiny StyleGAN3 networks; returns the networks written."""
    nets = {"G": randomized(cfg, seed), "G_ema": randomized(cfg, seed + 1)}
    if with_d:
        nets["D"] = build_discriminator(cfg)
    write_snapshot(path, nets, init_kwargs(cfg), SG3_SRC)
    return nets
