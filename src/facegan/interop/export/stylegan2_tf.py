"""Our StyleGAN2 networks -> the TensorFlow StyleGAN2-ADA layout (the inverse of
facegan.interop.stylegan2_tf, which states the layout rules).

The networks are written as StyleGAN2-ADA's TensorFlow code builds them (training/networks.py:
G_main with G_mapping and G_synthesis, D_main), whose variables and options are exactly those of
our StyleGAN2 (label embedding, conv clamp, float16 resolutions), in the version-4 state layout.
The kwargs are the ones NVIDIA's PyTorch converter (stylegan2-ada-pytorch `legacy.py`) knows; it
refuses any other with "Unknown TensorFlow kwarg". Where the converter's default differs from the
TF code's (mapping widths, minibatch-stddev group, box filter) the value is written explicitly, so
both read the same network.

One deviation from the TF files: `mod_bias` (our style bias minus the 1 the graph adds at run time)
is stored in float64, because in float32 `b - 1 + 1` does not give back every `b`; every reader
adds the 1 and casts to float32, which then gives back our value bit for bit.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from facegan.interop.export.tf_pickle import TFNetworkRecord, tf_network
from facegan.networks.stylegan2 import StyleGAN2Config

VERSION = 4
BUILD_MODULE_SRC = "from training.networks import *  # StyleGAN2-ADA (TensorFlow); written by facegan\n"
DEFAULT_FILTER = (1, 3, 3, 1)


def unsupported(cfg: StyleGAN2Config) -> list[str]:
    """The options of `cfg` that the TF layout cannot express (empty: it can)."""
    problems = []
    if cfg.channel_base % 2:
        problems.append(f"channel_base {cfg.channel_base} is odd (the TF layout stores fmap_base = channel_base / 2)")
    nf0, nf1 = min(cfg.channel_base // 2, cfg.channel_max), cfg.channels(4)
    if nf0 != nf1:
        problems.append(f"the discriminator's last dense layer has {nf1} features, but the TF graph gives it "
                        f"min(fmap_base, fmap_max) = {nf0} (raise channel_base to {4 * cfg.channel_max} or more)")
    return problems


def dropped(cfg: StyleGAN2Config) -> list[str]:
    """Run-time options of `cfg` that the file does not record (the networks are not affected)."""
    return ["fp16_channels_last (a memory-layout choice)"] if cfg.fp16_channels_last else []


def generator_kwargs(cfg: StyleGAN2Config) -> dict[str, Any]:
    kw: dict[str, Any] = dict(num_channels=cfg.img_channels, resolution=cfg.resolution, label_size=cfg.c_dim,
                              latent_size=cfg.z_dim, dlatent_size=cfg.w_dim, mapping_layers=cfg.mapping_layers,
                              mapping_lrmul=cfg.mapping_lr_multiplier, fmap_base=cfg.channel_base // 2,
                              fmap_max=cfg.channel_max, architecture=cfg.g_architecture)
    if cfg.mapping_layer_features is not None:
        kw["mapping_fmaps"] = cfg.mapping_layer_features
    if cfg.c_dim:  # TF default: latent_size; the PyTorch converter's: w_dim
        kw["label_fmaps"] = cfg.mapping_embed_features or cfg.w_dim
    if cfg.w_avg_beta != 0.995:
        kw["w_avg_beta"] = cfg.w_avg_beta
    kw.update(_common_kwargs(cfg))
    if not cfg.use_noise:
        kw["use_noise"] = False
    return kw


def discriminator_kwargs(cfg: StyleGAN2Config) -> dict[str, Any]:
    kw: dict[str, Any] = dict(num_channels=cfg.img_channels, resolution=cfg.resolution, label_size=cfg.c_dim,
                              fmap_base=cfg.channel_base // 2, fmap_max=cfg.channel_max,
                              architecture=cfg.d_architecture, mbstd_group_size=cfg.mbstd_group_size,
                              mbstd_num_features=cfg.mbstd_num_channels, mapping_layers=cfg.d_mapping_layers,
                              mapping_lrmul=cfg.d_mapping_lr_multiplier)
    if cfg.d_cmap_dim is not None:
        kw["mapping_fmaps"] = cfg.d_cmap_dim
    kw.update(_common_kwargs(cfg))
    return kw


def _common_kwargs(cfg: StyleGAN2Config) -> dict[str, Any]:
    kw: dict[str, Any] = {}
    if cfg.num_fp16_res:
        kw["num_fp16_res"] = cfg.num_fp16_res
    if cfg.conv_clamp is not None:
        kw["conv_clamp"] = cfg.conv_clamp
    if tuple(cfg.resample_filter) != DEFAULT_FILTER:  # a list, never None (the PyTorch converter reads None as [1])
        kw["resample_kernel"] = list(cfg.resample_filter)
    return kw


# ------------------------------------------------------------------------------------------------
# Our tensor -> (TF variable, value) by the first rule that matches; None: a tensor the format does not
# store (FIR filters).

Rule = tuple[str, Callable[..., tuple[str, np.ndarray]] | None]


def hwio(w: np.ndarray, flip: bool = False) -> np.ndarray:
    """PyTorch conv weight [out, in, kh, kw] -> TF [kh, kw, in, out] (flipped spatially if asked)."""
    w = w.transpose(2, 3, 1, 0)
    return w[::-1, ::-1] if flip else w


def _layer_tensor(scope: str, tensor: str, t: np.ndarray, flip: bool = False) -> tuple[str, np.ndarray]:
    if tensor == "weight":
        return f"{scope}/weight", hwio(t, flip)
    if tensor == "affine.weight":
        return f"{scope}/mod_weight", t.T
    if tensor == "affine.bias":
        return f"{scope}/mod_bias", t.astype(np.float64) - 1  # see the module docstring
    return f"{scope}/{tensor}", t  # bias, noise_strength


def _noise_index(r: str, conv: str) -> int:
    return 0 if r == "4" else int(math.log2(int(r))) * 2 - (5 if conv == "0" else 4)


def _synthesis_layer(r: str, conv: str, tensor: str, t: np.ndarray) -> tuple[str, np.ndarray]:
    if tensor == "noise_const":
        return f"synthesis/noise{_noise_index(r, conv)}", t[None, None]
    scope = "synthesis/4x4/Conv" if r == "4" else f"synthesis/{r}x{r}/" + ("Conv0_up" if conv == "0" else "Conv1")
    return _layer_tensor(scope, tensor, t, flip=conv == "0" and r != "4")


GENERATOR_RULES: list[Rule] = [
    (r".*\.resample_filter", None),
    (r"mapping\.w_avg", lambda t: ("dlatent_avg", t)),
    (r"mapping\.embed\.(weight|bias)", lambda t, p: (f"mapping/LabelEmbed/{p}", t.T if p == "weight" else t)),
    (r"mapping\.fc(\d+)\.(weight|bias)", lambda t, i, p: (f"mapping/Dense{i}/{p}", t.T if p == "weight" else t)),
    (r"synthesis\.b4\.const", lambda t: ("synthesis/4x4/Const/const", t[None])),
    (r"synthesis\.b(\d+)\.conv(\d)\.(.+)", lambda t, r, i, p: _synthesis_layer(r, i, p, t)),
    (r"synthesis\.b(\d+)\.torgb\.(.+)", lambda t, r, p: _layer_tensor(f"synthesis/{r}x{r}/ToRGB", p, t)),
    (r"synthesis\.b(\d+)\.skip\.weight", lambda t, r: (f"synthesis/{r}x{r}/Skip/weight", hwio(t, flip=True))),
]


def _d_conv(r: str, i: str) -> str:
    return f"{r}x{r}/Conv0" if i == "0" else f"{r}x{r}/Conv1_down"


DISCRIMINATOR_RULES: list[Rule] = [
    (r".*\.resample_filter", None),
    (r"b(\d+)\.fromrgb\.(weight|bias)", lambda t, r, p: (f"{r}x{r}/FromRGB/{p}", hwio(t) if p == "weight" else t)),
    (r"b(\d+)\.conv(\d)\.(weight|bias)", lambda t, r, i, p: (f"{_d_conv(r, i)}/{p}", hwio(t) if p == "weight" else t)),
    (r"b(\d+)\.skip\.weight", lambda t, r: (f"{r}x{r}/Skip/weight", hwio(t))),
    (r"b4\.conv\.(weight|bias)", lambda t, p: (f"4x4/Conv/{p}", hwio(t) if p == "weight" else t)),
    (r"b4\.fc\.(weight|bias)", lambda t, p: (f"4x4/Dense0/{p}", t.T if p == "weight" else t)),
    (r"b4\.out\.(weight|bias)", lambda t, p: (f"Output/{p}", t.T if p == "weight" else t)),
    (r"mapping\.embed\.(weight|bias)", lambda t, p: (f"LabelEmbed/{p}", t.T if p == "weight" else t)),
    (r"mapping\.fc(\d+)\.(weight|bias)", lambda t, i, p: (f"Mapping{i}/{p}", t.T if p == "weight" else t)),
]


def tf_variables(net: nn.Module, rules: list[Rule]) -> dict[str, np.ndarray]:
    """Every tensor of `net` under its TF name and layout (0-d values as NumPy scalars, like TF's)."""
    compiled = [(re.compile(p), fn) for p, fn in rules]
    out: dict[str, Any] = {}
    for name, tensor in net.state_dict().items():
        fn, m = next((fn, m) for pattern, fn in compiled if (m := pattern.fullmatch(name)))
        if fn is None:
            continue
        t = tensor.detach().to("cpu", torch.float32).numpy()
        key, value = fn(t, *m.groups())
        value = np.array(value, dtype=value.dtype, order="C")
        out[key] = value[()] if value.ndim == 0 else value
    return out


def generator_record(G: nn.Module, name: str, cfg: StyleGAN2Config) -> TFNetworkRecord:
    v = tf_variables(G, GENERATOR_RULES)
    kw = generator_kwargs(cfg)
    parts = {p: {k[len(p) + 1:]: x for k, x in v.items() if k.startswith(p + "/")} for p in ("mapping", "synthesis")}
    comps = {"synthesis": tf_network("G_synthesis", "G_synthesis", parts["synthesis"], kw, VERSION,
                                     build_module_src=BUILD_MODULE_SRC),
             "mapping": tf_network("G_mapping", "G_mapping", parts["mapping"], {**kw, "dlatent_broadcast": cfg.num_ws},
                                   VERSION, build_module_src=BUILD_MODULE_SRC)}
    own = {k: x for k, x in v.items() if "/" not in k}
    return tf_network(name, "G_main", own, kw, VERSION, comps, build_module_src=BUILD_MODULE_SRC)


def discriminator_record(D: nn.Module, cfg: StyleGAN2Config) -> TFNetworkRecord:
    return tf_network("D", "D_main", tf_variables(D, DISCRIMINATOR_RULES), discriminator_kwargs(cfg), VERSION,
                      build_module_src=BUILD_MODULE_SRC)


def records(G: nn.Module, D: nn.Module, Gs: nn.Module, cfg: StyleGAN2Config) -> tuple[TFNetworkRecord, ...]:
    """(G, D, Gs) as TF network records."""
    return generator_record(G, "G", cfg), discriminator_record(D, cfg), generator_record(Gs, "Gs", cfg)
