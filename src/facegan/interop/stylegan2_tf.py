"""TensorFlow StyleGAN2 and StyleGAN2-ADA pickles -> our StyleGAN2 networks.

Which networks: (G, D, Gs) with state version 4 whose generator is `G_main` with a `G_mapping` and
one of these synthesis networks, and one of these discriminators:

    G_synthesis_stylegan2          StyleGAN2 configs E and F (architecture orig, skip or resnet)
    G_synthesis_stylegan_revised   StyleGAN2 configs B-D (progressive growing; at lod 0 it is 'orig')
    G_synthesis                    StyleGAN2-ADA (TF)
    D_stylegan2 / D_stylegan / D_main   the matching discriminators

The layout rules (facts of the file formats, as stylegan2-ada-pytorch's converter also applies
them): dense weights are [in, out] (transposed), conv weights [kh, kw, in, out]; the TF graph
up-samples with a transposed convolution of the spatially flipped weight, so the stored up-sampling
conv and skip weights are flipped relative to ours; the style bias ('mod_bias') is stored without
the +1 the graph adds at run time; noise maps are `synthesis/noise{k}` with k = 2·log2(R) − 5 for a
block's first conv and − 4 for its second; `fmap_base` is half of our `channel_base`; progressive
names (`ToRGB_lod{n}`, `FromRGB_lod{n}`) mean architecture 'orig'.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection
from typing import Any

import numpy as np

from facegan.errors import NetworkFormatError
from facegan.interop.tf_network import (
    KwargReader,
    build_func,
    check_build_functions,
    components,
    fill_module,
    oihw,
    static_kwargs,
    tf_kwargs,
    tf_variables,
    tracked,
)
from facegan.interop.unpickler import TFNetwork
from facegan.networks.io import NETWORK_NAMES
from facegan.networks.stylegan2 import StyleGAN2Config, StyleGAN2Discriminator, StyleGAN2Generator

GENERATOR_BUILD = "G_main"
MAPPING_BUILDS = ("G_mapping",)
SYNTHESIS_BUILDS = {  # build function -> the architecture it implies (None: from the kwargs)
    "G_synthesis_stylegan2": None,
    "G_synthesis": None,
    "G_synthesis_stylegan_revised": "orig",
}
DISCRIMINATOR_BUILDS = {  # build function -> (architecture implied, TF default mbstd_group_size)
    "D_stylegan2": (None, 4),
    "D_main": (None, None),
    "D_stylegan": ("orig", 4),
}

# TF kwargs that only steer the TF graph at run time or in training.
_G_RUNTIME = ("truncation_psi", "truncation_cutoff", "truncation_psi_val", "truncation_cutoff_val",
              "style_mixing_prob", "structure", "is_training", "is_validation", "is_template_graph",
              "force_clean_graph", "randomize_noise", "return_dlatents", "components", "dtype", "fused_modconv",
              "dlatent_broadcast", "num_layers")
_D_RUNTIME = ("structure", "is_template_graph", "dtype", "components", "freeze_layers", "augment_strength")


def _renamed_lods(variables: dict[str, np.ndarray], resolution: int, kind: str) -> bool:
    """Rename 'ToRGB_lod{n}/x' (or FromRGB) to '{R}x{R}/ToRGB/x'; returns whether any existed."""
    found = False
    for name in list(variables):
        m = re.fullmatch(rf"(.*?){kind}_lod(\d+)/(.*)", name)
        if m:
            r = resolution // 2 ** int(m.group(2))
            variables[f"{m.group(1)}{r}x{r}/{kind}/{m.group(3)}"] = variables[name]
            found = True
    return found


def _check_fmaps(k: KwargReader, context: str) -> None:
    """fmap_decay must be 1 (our channel formula); fmap_min may only be a no-op lower bound."""
    if k("fmap_decay", 1.0) != 1.0:
        raise NetworkFormatError(f"{context}: fmap_decay {k('fmap_decay')} is not supported (only 1)")
    fewest = min(int(k("fmap_base", 16 << 10)) // (int(k("resolution", 1024)) // 2), int(k("fmap_max", 512)))
    if int(k("fmap_min", 1)) > fewest:
        raise NetworkFormatError(f"{context}: fmap_min {k('fmap_min')} raises some layers' channels above "
                                 "fmap_base / 2^stage, which facegan's networks cannot express")


def _resample_filter(k: KwargReader) -> tuple[int, ...]:
    """`resample_kernel`: default [1,3,3,1]; None (given explicitly) means the box filter [1, 1]."""
    k.ignore("resample_kernel")
    if "resample_kernel" in k.kwargs and k.kwargs["resample_kernel"] is None:
        return (1, 1)
    return tuple(k("resample_kernel", [1, 3, 3, 1]))


def generator_config(net: TFNetwork, context: str) -> dict[str, Any]:
    k = KwargReader(tf_kwargs(net, context), context)
    k.ignore(*_G_RUNTIME)
    _check_fmaps(k, context)
    for name in ("mapping_nonlinearity", "nonlinearity"):
        if k(name, "lrelu") != "lrelu":
            raise NetworkFormatError(f"{context}: {name} {k(name)!r} is not supported (only lrelu)")
    if not k("normalize_latents", True):
        raise NetworkFormatError(f"{context}: normalize_latents=False is not supported")
    mapping = components(net, context)["mapping"]
    synthesis = components(net, context)["synthesis"]
    for key, comp in (("mapping_func", mapping), ("synthesis_func", synthesis)):
        if k(key, build_func(comp)) != build_func(comp):
            raise NetworkFormatError(f"{context}: kwarg {key}={k(key)!r} disagrees with the component's build "
                                     f"function {build_func(comp)!r}")
    beta = k("w_avg_beta", k("dlatent_avg_beta", 0.995))
    z_dim, w_dim = int(k("latent_size", 512)), int(k("dlatent_size", 512))
    # Widths as the TF code defaults them: the label embedding has latent_size features (ADA), the
    # hidden mapping layers 512 (StyleGAN2) or dlatent_size (ADA); ours default both to w_dim.
    ada = build_func(synthesis) == "G_synthesis"
    embed = int(k("label_fmaps", z_dim))
    hidden = int(k("mapping_fmaps", None if ada else 512) or w_dim)
    c_dim = int(k("label_size", 0))
    cfg = dict(
        z_dim=z_dim, c_dim=c_dim, w_dim=w_dim,
        resolution=int(k("resolution", 1024)), img_channels=int(k("num_channels", 3)),
        mapping_layers=int(k("mapping_layers", 8)), mapping_lr_multiplier=float(k("mapping_lrmul", 0.01)),
        mapping_embed_features=None if not c_dim or embed == w_dim else embed,
        mapping_layer_features=None if hidden == w_dim else hidden,
        w_avg_beta=float(beta), channel_base=int(k("fmap_base", 16 << 10)) * 2, channel_max=int(k("fmap_max", 512)),
        num_fp16_res=int(k("num_fp16_res", 0)), conv_clamp=k("conv_clamp", None),
        g_architecture=str(k("architecture", "skip")), resample_filter=_resample_filter(k),
        use_noise=bool(k("use_noise", True)))
    k.check_unknown()
    return cfg


def discriminator_config(net: TFNetwork, d_build: str, context: str) -> dict[str, Any]:
    k = KwargReader(static_kwargs(net, context), context)
    k.ignore(*_D_RUNTIME)
    _check_fmaps(k, context)
    if k("nonlinearity", "lrelu") != "lrelu":
        raise NetworkFormatError(f"{context}: nonlinearity {k('nonlinearity')!r} is not supported (only lrelu)")
    for name in ("use_pagan", "use_spectral_norm", "adaptive_dropout"):  # the ADA paper's comparison methods
        if k(name, False):
            raise NetworkFormatError(f"{context}: {name} (a comparison method of the ADA paper) is not supported")
    if k("score_max", 1) != 1:
        raise NetworkFormatError(f"{context}: score_max {k('score_max')} (auxrot, a comparison method of the ADA "
                                 "paper) is not supported")
    k.ignore("pagan_num", "pagan_fade", "score_size")
    architecture, default_group = DISCRIMINATOR_BUILDS[d_build]
    group = k("mbstd_group_size", default_group)
    features = int(k("mbstd_num_features", 1))
    if d_build != "D_main" and group is not None and group <= 1:
        features = 0  # D_stylegan2 / D_stylegan: the layer exists only for a group size > 1
    # TF's last dense layer has nf(0) = min(fmap_base, fmap_max) features; ours (and
    # stylegan2-ada-pytorch's) as many as the 4x4 convolution, nf(1). Official networks cap both at 512.
    fmap_base, fmap_max = int(k("fmap_base", 16 << 10)), int(k("fmap_max", 512))
    nf0, nf1 = min(fmap_base, fmap_max), min(fmap_base // 2, fmap_max)
    if nf0 != nf1:
        raise NetworkFormatError(f"{context}: a discriminator whose Dense0 ({nf0}) is wider than its 4x4 conv "
                                 f"({nf1}) cannot be expressed (fmap_base {fmap_base}, fmap_max {fmap_max})")
    cmap = int(k("mapping_fmaps", nf0))  # the conditional D's label embedding (ADA), TF default nf(0)
    cfg = dict(
        c_dim=int(k("label_size", 0)), resolution=int(k("resolution", 1024)), img_channels=int(k("num_channels", 3)),
        d_architecture=architecture or str(k("architecture", "resnet")), channel_base=fmap_base * 2,
        channel_max=fmap_max, num_fp16_res=int(k("num_fp16_res", 0)), conv_clamp=k("conv_clamp", None),
        d_cmap_dim=None if cmap == nf1 else cmap, resample_filter=_resample_filter(k),
        d_mapping_layers=int(k("mapping_layers", 0)), d_mapping_lr_multiplier=float(k("mapping_lrmul", 0.1)),
        mbstd_group_size=None if group is None else int(group), mbstd_num_channels=features)
    k.check_unknown()
    return cfg


def merge_configs(g: dict[str, Any] | None, d: dict[str, Any] | None, context: str) -> StyleGAN2Config:
    """One StyleGAN2Config from the generator's and the discriminator's kwargs (shared fields must agree)."""
    merged: dict[str, Any] = {}
    for part in (g, d):
        for key, value in (part or {}).items():
            if key in merged and merged[key] != value:
                raise NetworkFormatError(f"{context}: G and D disagree on {key} ({merged[key]!r} vs {value!r}); "
                                         "facegan networks share it")
            merged[key] = value
    # The official code accepts more float16 resolutions than a network has (they all run in float16
    # from 8x8 up then); our config counts at most log2(resolution) - 1, which means the same.
    if "num_fp16_res" in merged and "resolution" in merged:
        merged["num_fp16_res"] = min(int(merged["num_fp16_res"]), int(math.log2(merged["resolution"])) - 1)
    return StyleGAN2Config(**merged)


def generator_rules(v: dict[str, np.ndarray]) -> list:
    def noise(r: str, offset: int) -> np.ndarray:
        return v[f"synthesis/noise{int(math.log2(int(r))) * 2 + offset}"][0, 0]

    def flip(w: np.ndarray) -> np.ndarray:
        return w[::-1, ::-1]

    return [
        (r"mapping\.w_avg", lambda: v["dlatent_avg"]),
        (r"mapping\.embed\.weight", lambda: v["mapping/LabelEmbed/weight"].T),
        (r"mapping\.embed\.bias", lambda: v["mapping/LabelEmbed/bias"]),
        (r"mapping\.fc(\d+)\.weight", lambda i: v[f"mapping/Dense{i}/weight"].T),
        (r"mapping\.fc(\d+)\.bias", lambda i: v[f"mapping/Dense{i}/bias"]),
        (r"synthesis\.b4\.const", lambda: v["synthesis/4x4/Const/const"][0]),
        (r"synthesis\.b4\.conv1\.weight", lambda: oihw(v["synthesis/4x4/Conv/weight"])),
        (r"synthesis\.b4\.conv1\.bias", lambda: v["synthesis/4x4/Conv/bias"]),
        (r"synthesis\.b4\.conv1\.noise_const", lambda: v["synthesis/noise0"][0, 0]),
        (r"synthesis\.b4\.conv1\.noise_strength", lambda: v["synthesis/4x4/Conv/noise_strength"]),
        (r"synthesis\.b4\.conv1\.affine\.weight", lambda: v["synthesis/4x4/Conv/mod_weight"].T),
        (r"synthesis\.b4\.conv1\.affine\.bias", lambda: v["synthesis/4x4/Conv/mod_bias"] + 1),
        (r"synthesis\.b(\d+)\.conv0\.weight", lambda r: oihw(flip(v[f"synthesis/{r}x{r}/Conv0_up/weight"]))),
        (r"synthesis\.b(\d+)\.conv0\.bias", lambda r: v[f"synthesis/{r}x{r}/Conv0_up/bias"]),
        (r"synthesis\.b(\d+)\.conv0\.noise_const", lambda r: noise(r, -5)),
        (r"synthesis\.b(\d+)\.conv0\.noise_strength", lambda r: v[f"synthesis/{r}x{r}/Conv0_up/noise_strength"]),
        (r"synthesis\.b(\d+)\.conv0\.affine\.weight", lambda r: v[f"synthesis/{r}x{r}/Conv0_up/mod_weight"].T),
        (r"synthesis\.b(\d+)\.conv0\.affine\.bias", lambda r: v[f"synthesis/{r}x{r}/Conv0_up/mod_bias"] + 1),
        (r"synthesis\.b(\d+)\.conv1\.weight", lambda r: oihw(v[f"synthesis/{r}x{r}/Conv1/weight"])),
        (r"synthesis\.b(\d+)\.conv1\.bias", lambda r: v[f"synthesis/{r}x{r}/Conv1/bias"]),
        (r"synthesis\.b(\d+)\.conv1\.noise_const", lambda r: noise(r, -4)),
        (r"synthesis\.b(\d+)\.conv1\.noise_strength", lambda r: v[f"synthesis/{r}x{r}/Conv1/noise_strength"]),
        (r"synthesis\.b(\d+)\.conv1\.affine\.weight", lambda r: v[f"synthesis/{r}x{r}/Conv1/mod_weight"].T),
        (r"synthesis\.b(\d+)\.conv1\.affine\.bias", lambda r: v[f"synthesis/{r}x{r}/Conv1/mod_bias"] + 1),
        (r"synthesis\.b(\d+)\.torgb\.weight", lambda r: oihw(v[f"synthesis/{r}x{r}/ToRGB/weight"])),
        (r"synthesis\.b(\d+)\.torgb\.bias", lambda r: v[f"synthesis/{r}x{r}/ToRGB/bias"]),
        (r"synthesis\.b(\d+)\.torgb\.affine\.weight", lambda r: v[f"synthesis/{r}x{r}/ToRGB/mod_weight"].T),
        (r"synthesis\.b(\d+)\.torgb\.affine\.bias", lambda r: v[f"synthesis/{r}x{r}/ToRGB/mod_bias"] + 1),
        (r"synthesis\.b(\d+)\.skip\.weight", lambda r: oihw(flip(v[f"synthesis/{r}x{r}/Skip/weight"]))),
        (r".*\.resample_filter", None),
    ]


def discriminator_rules(v: dict[str, np.ndarray]) -> list:
    def conv_name(r: str, i: str) -> str:
        return f"{r}x{r}/Conv{i}{'_down' if i == '1' else ''}"

    return [
        (r"b(\d+)\.fromrgb\.weight", lambda r: oihw(v[f"{r}x{r}/FromRGB/weight"])),
        (r"b(\d+)\.fromrgb\.bias", lambda r: v[f"{r}x{r}/FromRGB/bias"]),
        (r"b(\d+)\.conv(\d)\.weight", lambda r, i: oihw(v[f"{conv_name(r, i)}/weight"])),
        (r"b(\d+)\.conv(\d)\.bias", lambda r, i: v[f"{conv_name(r, i)}/bias"]),
        (r"b(\d+)\.skip\.weight", lambda r: oihw(v[f"{r}x{r}/Skip/weight"])),
        (r"mapping\.embed\.weight", lambda: v["LabelEmbed/weight"].T),
        (r"mapping\.embed\.bias", lambda: v["LabelEmbed/bias"]),
        (r"mapping\.fc(\d+)\.weight", lambda i: v[f"Mapping{i}/weight"].T),
        (r"mapping\.fc(\d+)\.bias", lambda i: v[f"Mapping{i}/bias"]),
        (r"b4\.conv\.weight", lambda: oihw(v["4x4/Conv/weight"])),
        (r"b4\.conv\.bias", lambda: v["4x4/Conv/bias"]),
        (r"b4\.fc\.weight", lambda: v["4x4/Dense0/weight"].T),
        (r"b4\.fc\.bias", lambda: v["4x4/Dense0/bias"]),
        (r"b4\.out\.weight", lambda: v["Output/weight"].T),
        (r"b4\.out\.bias", lambda: v["Output/bias"]),
        (r".*\.resample_filter", None),
    ]


def convert_stylegan2_tf(G: TFNetwork, D: TFNetwork, Gs: TFNetwork, source: str,
                         names: Collection[str] = NETWORK_NAMES):
    """(G, D, Gs) TF networks -> (config, {'G': ..., 'D': ..., 'G_ema': ...}), building only the
    networks in `names` (the config is always read from all three)."""
    builds, d_build = check_build_functions(G, D, Gs, source, "StyleGAN2", GENERATOR_BUILD,
                                            {"mapping": MAPPING_BUILDS, "synthesis": tuple(SYNTHESIS_BUILDS)},
                                            tuple(DISCRIMINATOR_BUILDS))
    implied = SYNTHESIS_BUILDS[builds["synthesis"]]
    g_cfg = generator_config(Gs, f"{source} [Gs]")
    d_cfg = discriminator_config(D, d_build, f"{source} [D]")
    gv, gsv, dv = tf_variables(G), tf_variables(Gs), tf_variables(D)
    if _renamed_lods(gv, g_cfg["resolution"], "ToRGB") | _renamed_lods(gsv, g_cfg["resolution"], "ToRGB") \
            or implied is not None:
        g_cfg["g_architecture"] = "orig"
    if _renamed_lods(dv, d_cfg["resolution"], "FromRGB"):
        d_cfg["d_architecture"] = "orig"
    if g_cfg["c_dim"] and "mapping/LabelConcat/weight" in gsv:
        raise NetworkFormatError(f"{source}: a conditional StyleGAN2 generator with LabelConcat (the original TF "
                                 "StyleGAN2 code) is not supported; only StyleGAN2-ADA's label embedding is")
    if d_cfg["c_dim"] and "LabelEmbed/weight" not in dv:
        raise NetworkFormatError(f"{source}: a conditional discriminator with a label switch (the original TF "
                                 "StyleGAN2 code) is not supported; only StyleGAN2-ADA's projection discriminator is")
    config = merge_configs(g_cfg, d_cfg, source)
    nets = {}
    for name, variables in (("G", gv), ("D", dv), ("G_ema", gsv)):
        if name not in names:
            continue
        v = tracked(variables)
        if name == "D":
            net, rules = StyleGAN2Discriminator(config), discriminator_rules(v)
        else:
            net, rules = StyleGAN2Generator(config), generator_rules(v)
        fill_module(net.eval(), rules, v, f"{source} [{name}]")
        nets[name] = net
    return config, nets
