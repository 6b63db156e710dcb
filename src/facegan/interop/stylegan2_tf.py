"""TensorFlow StyleGAN2 (configs E/F) and StyleGAN2-ADA pickles -> our StyleGAN2 networks.

The layout rules (facts of the official file formats, as stylegan2-ada-pytorch's converter
documents them): dense weights are [in, out] (transposed), conv weights [kh, kw, in, out]; the
up-sampling conv and skip weights of the generator are stored flipped in both spatial axes; the
style bias ('mod_bias') is stored without the +1 that the TF graph adds at run time; noise maps
are `synthesis/noise{k}` with k = 2·log2(R) − 5 for a block's first conv and − 4 for its second;
`fmap_base` is half of our `channel_base`. Progressive-style names (`ToRGB_lod{n}`,
`FromRGB_lod{n}`) mean architecture 'orig'.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from facegan.errors import NetworkFormatError
from facegan.interop.tf_network import KwargReader, fill_module, oihw, tf_kwargs, tf_variables
from facegan.interop.unpickler import TFNetwork
from facegan.networks.stylegan2 import StyleGAN2Config, StyleGAN2Discriminator, StyleGAN2Generator

# TF kwargs that only steer the TF graph at run time or in training.
_G_RUNTIME = ("truncation_psi", "truncation_cutoff", "truncation_psi_val", "truncation_cutoff_val",
              "style_mixing_prob", "structure", "is_training", "is_validation", "is_template_graph",
              "force_clean_graph", "randomize_noise", "return_dlatents", "components", "dtype", "fused_modconv",
              "dlatent_broadcast", "num_layers", "fmap_min")
_D_RUNTIME = ("structure", "is_template_graph", "dtype", "components", "fmap_min")


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


def generator_config(net: TFNetwork, context: str) -> dict[str, Any]:
    k = KwargReader(tf_kwargs(net), context)
    k.ignore(*_G_RUNTIME)
    if k("fmap_decay", 1.0) != 1.0:
        raise NetworkFormatError(f"{context}: fmap_decay {k('fmap_decay')} is not supported (only 1)")
    for name in ("mapping_nonlinearity", "nonlinearity"):
        if k(name, "lrelu") != "lrelu":
            raise NetworkFormatError(f"{context}: {name} {k(name)!r} is not supported (only lrelu)")
    beta = k("w_avg_beta", k("dlatent_avg_beta", 0.995))
    cfg = dict(
        z_dim=int(k("latent_size", 512)), c_dim=int(k("label_size", 0)), w_dim=int(k("dlatent_size", 512)),
        resolution=int(k("resolution", 1024)), img_channels=int(k("num_channels", 3)),
        mapping_layers=int(k("mapping_layers", 8)), mapping_lr_multiplier=float(k("mapping_lrmul", 0.01)),
        mapping_embed_features=k("label_fmaps", None), mapping_layer_features=k("mapping_fmaps", None),
        w_avg_beta=float(beta), channel_base=int(k("fmap_base", 16 << 10)) * 2, channel_max=int(k("fmap_max", 512)),
        num_fp16_res=int(k("num_fp16_res", 0)), conv_clamp=k("conv_clamp", None),
        g_architecture=str(k("architecture", "skip")), resample_filter=tuple(k("resample_kernel", [1, 3, 3, 1])),
        use_noise=bool(k("use_noise", True)))
    k.check_unknown()
    return cfg


def discriminator_config(net: TFNetwork, context: str) -> dict[str, Any]:
    k = KwargReader(tf_kwargs(net), context)
    k.ignore(*_D_RUNTIME)
    if k("fmap_decay", 1.0) != 1.0:
        raise NetworkFormatError(f"{context}: fmap_decay {k('fmap_decay')} is not supported (only 1)")
    if k("nonlinearity", "lrelu") != "lrelu":
        raise NetworkFormatError(f"{context}: nonlinearity {k('nonlinearity')!r} is not supported (only lrelu)")
    mbstd = k("mbstd_group_size", 4)  # the TF default of D_stylegan2 and of the ADA D
    cfg = dict(
        c_dim=int(k("label_size", 0)), resolution=int(k("resolution", 1024)), img_channels=int(k("num_channels", 3)),
        d_architecture=str(k("architecture", "resnet")), channel_base=int(k("fmap_base", 16 << 10)) * 2,
        channel_max=int(k("fmap_max", 512)), num_fp16_res=int(k("num_fp16_res", 0)), conv_clamp=k("conv_clamp", None),
        d_cmap_dim=k("mapping_fmaps", None), resample_filter=tuple(k("resample_kernel", [1, 3, 3, 1])),
        d_mapping_layers=int(k("mapping_layers", 0)), d_mapping_lr_multiplier=float(k("mapping_lrmul", 0.1)),
        mbstd_group_size=int(mbstd) if mbstd else None, mbstd_num_channels=int(k("mbstd_num_features", 1)))
    k("freeze_layers", 0)
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


def convert_stylegan2_tf(G: TFNetwork, D: TFNetwork, Gs: TFNetwork, source: str):
    """(G, D, Gs) TF networks -> (config, {'G': ..., 'D': ..., 'G_ema': ...})."""
    g_cfg = generator_config(Gs, f"{source} [Gs]")
    d_cfg = discriminator_config(D, f"{source} [D]")
    gv, gsv, dv = tf_variables(G), tf_variables(Gs), tf_variables(D)
    if _renamed_lods(gv, g_cfg["resolution"], "ToRGB") | _renamed_lods(gsv, g_cfg["resolution"], "ToRGB"):
        g_cfg["g_architecture"] = "orig"
    if _renamed_lods(dv, d_cfg["resolution"], "FromRGB"):
        d_cfg["d_architecture"] = "orig"
    if d_cfg["c_dim"] and "LabelEmbed/weight" not in dv:
        raise NetworkFormatError(f"{source}: a conditional TF StyleGAN2 discriminator without a label embedding "
                                 "(config E/F's label switch) is not supported; only the ADA-style projection D")
    config = merge_configs(g_cfg, d_cfg, source)
    nets = {}
    for name, variables in (("G", gv), ("G_ema", gsv)):
        net = StyleGAN2Generator(config).eval()
        fill_module(net, generator_rules(variables), variables, f"{source} [{name}]")
        nets[name] = net
    D_net = StyleGAN2Discriminator(config).eval()
    fill_module(D_net, discriminator_rules(dv), dv, f"{source} [D]")
    nets["D"] = D_net
    return config, nets
