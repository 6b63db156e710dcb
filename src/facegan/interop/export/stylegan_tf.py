"""Our StyleGAN (v1) networks -> the original TensorFlow layout (`G_style` with `G_mapping` and
`G_synthesis`, `D_basic`), that of karras2019stylegan-ffhq-1024x1024.pkl: the inverse of
facegan.interop.stylegan_tf, by the name table of docs/networks.md.

Values are stored unchanged, as the TF code keeps them (the equalised-lr scales and the style's +1
are applied at run time by both); only layouts change: dense [out, in] -> [in, out], conv
[out, in, kh, kw] -> [kh, kw, in, out], noise [r, r] -> [1, 1, r, r]. The level of detail of
progressive growing is the `lod` variable of G, its synthesis and D, so a network caught while
growing is written as it is.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from torch import nn

from facegan.interop.export.stylegan2_tf import hwio
from facegan.interop.export.tf_pickle import TFNetworkRecord, split_scopes, tf_network
from facegan.interop.stylegan_tf import _FIELDS
from facegan.networks.stylegan import StyleGANConfig

VERSION = 3  # what the StyleGAN code writes
BUILD_MODULE_SRC = "from training.networks_stylegan import *  # StyleGAN (TensorFlow); written by facegan\n"
D_FIELDS = ("num_channels", "resolution", "label_size", "fmap_base", "fmap_decay", "fmap_max", "nonlinearity",
            "mbstd_group_size", "mbstd_num_features", "fused_scale", "blur_filter")


def unsupported(cfg: StyleGANConfig) -> list[str]:
    """Every StyleGANConfig field is a G_style / D_basic kwarg: nothing is outside the layout."""
    return []


def dropped(cfg: StyleGANConfig) -> list[str]:
    return []


def _state(net: nn.Module) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().numpy() for k, v in net.state_dict().items()}


def tf_generator_variables(G: nn.Module) -> dict[str, np.ndarray]:
    """G's tensors under the official scope names ('G_mapping/Dense0/weight', 'G_synthesis/4x4/Conv/...')."""
    sd = _state(G)
    cfg = G.config
    L = cfg.resolution_log2
    v = {"lod": sd["synthesis.lod"], "dlatent_avg": sd["mapping.w_avg"]}
    if cfg.c_dim:
        v["G_mapping/LabelConcat/weight"] = sd["mapping.embed.weight"].T
    for i in range(cfg.mapping_layers):
        v[f"G_mapping/Dense{i}/weight"] = sd[f"mapping.fc{i}.weight"].T
        v[f"G_mapping/Dense{i}/bias"] = sd[f"mapping.fc{i}.bias"]
    v["G_synthesis/lod"] = sd["synthesis.lod"]
    for r in range(2, L + 1):
        R, ours = 2 ** r, f"synthesis.b{2 ** r}"
        if R == 4:
            first = "Const" if cfg.const_input_layer else "Dense"
            if cfg.const_input_layer:
                v["G_synthesis/4x4/Const/const"] = sd[f"{ours}.const"][None]
            else:
                v["G_synthesis/4x4/Dense/weight"] = sd[f"{ours}.dense.weight"].T
            layers = [(f"4x4/{first}", "conv0", 0), ("4x4/Conv", "conv1", 1)]
        else:
            layers = [(f"{R}x{R}/Conv0_up", "conv0", 2 * r - 4), (f"{R}x{R}/Conv1", "conv1", 2 * r - 3)]
        for scope, name, k in layers:
            p, s = f"{ours}.{name}", f"G_synthesis/{scope}"
            if f"{p}.weight" in sd:
                v[f"{s}/weight"] = hwio(sd[f"{p}.weight"])
            if f"{p}.noise_strength" in sd:
                v[f"{s}/Noise/weight"] = sd[f"{p}.noise_strength"]
            v[f"{s}/bias"] = sd[f"{p}.bias"]
            if f"{p}.affine.weight" in sd:
                v[f"{s}/StyleMod/weight"] = sd[f"{p}.affine.weight"].T
                v[f"{s}/StyleMod/bias"] = sd[f"{p}.affine.bias"]
            if f"{p}.noise_const" in sd:
                v[f"G_synthesis/noise{k}"] = sd[f"{p}.noise_const"][None, None]
        v[f"G_synthesis/ToRGB_lod{L - r}/weight"] = hwio(sd[f"{ours}.torgb.weight"])
        v[f"G_synthesis/ToRGB_lod{L - r}/bias"] = sd[f"{ours}.torgb.bias"]
    return v


def tf_discriminator_variables(D: nn.Module) -> dict[str, np.ndarray]:
    sd = _state(D)
    L = D.config.resolution_log2
    v = {"lod": sd["lod"]}
    for r in range(L, 1, -1):
        R = 2 ** r
        v[f"FromRGB_lod{L - r}/weight"] = hwio(sd[f"b{R}.fromrgb.weight"])
        v[f"FromRGB_lod{L - r}/bias"] = sd[f"b{R}.fromrgb.bias"]
        if R > 4:
            for tf_name, ours in ((f"{R}x{R}/Conv0", "conv0"), (f"{R}x{R}/Conv1_down", "conv1")):
                v[f"{tf_name}/weight"] = hwio(sd[f"b{R}.{ours}.weight"])
                v[f"{tf_name}/bias"] = sd[f"b{R}.{ours}.bias"]
    v["4x4/Conv/weight"], v["4x4/Conv/bias"] = hwio(sd["b4.conv.weight"]), sd["b4.conv.bias"]
    v["4x4/Dense0/weight"], v["4x4/Dense0/bias"] = sd["b4.fc.weight"].T, sd["b4.fc.bias"]
    v["4x4/Dense1/weight"], v["4x4/Dense1/bias"] = sd["b4.out.weight"].T, sd["b4.out.bias"]
    return v


def tf_kwargs(cfg: StyleGANConfig) -> dict[str, Any]:
    """Every config field under its TF name (G_style's and its components' kwargs)."""
    ours_to_tf = {ours: tf for tf, ours in _FIELDS.items()}
    kw: dict[str, Any] = {"num_channels": cfg.img_channels, "resolution": cfg.resolution, "label_size": cfg.c_dim}
    for ours, tf in ours_to_tf.items():
        value = getattr(cfg, ours)
        kw[tf] = list(value) if isinstance(value, tuple) else value
    # Ours: None = every layer, 0 = none; G_style: None (or <= 0) = none.
    kw["truncation_cutoff"] = cfg.num_ws if cfg.truncation_cutoff is None else (cfg.truncation_cutoff or None)
    return kw


def _stored(v: dict[str, np.ndarray]) -> dict[str, Any]:
    """As TF stores variables: float32, C order, 0-d values as NumPy scalars."""
    v = {k: np.array(x, dtype=np.float32, order="C") for k, x in v.items()}
    return {k: (x[()] if x.ndim == 0 else x) for k, x in v.items()}


def generator_record(G: nn.Module, name: str, cfg: StyleGANConfig) -> TFNetworkRecord:
    own, parts = split_scopes(_stored(tf_generator_variables(G)), {"mapping": "G_mapping", "synthesis": "G_synthesis"})
    kw = {k: x for k, x in tf_kwargs(cfg).items() if k not in ("mbstd_group_size", "mbstd_num_features")}
    comps = {"synthesis": tf_network("G_synthesis", "G_synthesis", parts["synthesis"], kw, VERSION,
                                     build_module_src=BUILD_MODULE_SRC),
             "mapping": tf_network("G_mapping", "G_mapping", parts["mapping"], {**kw, "dlatent_broadcast": cfg.num_ws},
                                   VERSION, build_module_src=BUILD_MODULE_SRC)}
    return tf_network(name, "G_style", own, kw, VERSION, comps, build_module_src=BUILD_MODULE_SRC)


def discriminator_record(D: nn.Module, cfg: StyleGANConfig) -> TFNetworkRecord:
    kw = {k: x for k, x in tf_kwargs(cfg).items() if k in D_FIELDS}
    return tf_network("D", "D_basic", _stored(tf_discriminator_variables(D)), kw, VERSION,
                      build_module_src=BUILD_MODULE_SRC)


def records(G: nn.Module, D: nn.Module, Gs: nn.Module, cfg: StyleGANConfig) -> tuple[TFNetworkRecord, ...]:
    return generator_record(G, "G", cfg), discriminator_record(D, cfg), generator_record(Gs, "Gs", cfg)
