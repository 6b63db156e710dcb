"""TensorFlow StyleGAN (v1) pickles -> our StyleGAN networks.

These are the five official networks (FFHQ and CelebA-HQ at 1024², LSUN bedrooms and cats at
256², cars at 512²) and anything trained with the official StyleGAN code: (G, D, Gs) of
`dnnlib.tflib.network.Network` with state version 2 or 3 and build functions G_style /
G_mapping / G_synthesis / D_basic. Variables are read under TensorFlow's own scope names
('G_mapping/Dense0/weight', 'G_synthesis/4x4/Const/const', ...), see docs/networks.md for the table.
Stored values are copied unchanged (our StyleGAN applies the equalised-lr scales and the style's
+1 at run time, as the TF graph did); only layouts change (dense [in, out] -> [out, in], conv
[kh, kw, in, out] -> [out, in, kh, kw], noise [1, 1, r, r] -> [r, r]).
"""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Any

from facegan.errors import NetworkFormatError
from facegan.interop.tf_network import (
    KwargReader,
    check_build_functions,
    fill_module,
    oihw,
    tf_kwargs,
    tf_variables,
    tracked,
)
from facegan.interop.unpickler import TFNetwork
from facegan.networks.io import NETWORK_NAMES
from facegan.networks.stylegan import StyleGANConfig, StyleGANDiscriminator, StyleGANGenerator

# TF kwarg -> our StyleGANConfig field.
_FIELDS = {
    "latent_size": "z_dim", "dlatent_size": "w_dim", "label_size": "c_dim", "num_channels": "img_channels",
    "resolution": "resolution", "mapping_layers": "mapping_layers", "mapping_fmaps": "mapping_fmaps",
    "mapping_lrmul": "mapping_lr_multiplier", "mapping_nonlinearity": "mapping_nonlinearity",
    "normalize_latents": "normalize_latents", "dlatent_avg_beta": "w_avg_beta", "truncation_psi": "truncation_psi",
    "truncation_cutoff": "truncation_cutoff", "fmap_base": "fmap_base", "fmap_decay": "fmap_decay",
    "fmap_max": "fmap_max", "use_styles": "use_styles", "const_input_layer": "const_input_layer",
    "use_noise": "use_noise", "nonlinearity": "nonlinearity", "use_pixel_norm": "use_pixel_norm",
    "use_instance_norm": "use_instance_norm", "fused_scale": "fused_scale", "blur_filter": "blur_filter",
    "mbstd_group_size": "mbstd_group_size", "mbstd_num_features": "mbstd_num_features",
}
# Kwargs that steer only the TF graph at run time or in training.
_RUNTIME = ("dlatent_broadcast", "randomize_noise", "dtype", "structure", "is_template_graph", "force_clean_graph",
            "truncation_psi_val", "truncation_cutoff_val", "style_mixing_prob", "is_training", "is_validation",
            "components")


# Build functions of the official code (training/networks_stylegan.py, also in the StyleGAN2
# repository as its config A).
GENERATOR_BUILD = "G_style"
COMPONENT_BUILDS = {"synthesis": ("G_synthesis",), "mapping": ("G_mapping",)}
DISCRIMINATOR_BUILDS = ("D_basic",)


def _config_fields(net: TFNetwork, context: str) -> dict[str, Any]:
    k = KwargReader(tf_kwargs(net, context), context)
    k.ignore(*_RUNTIME)
    if not k("use_wscale", True):
        raise NetworkFormatError(f"{context}: use_wscale=False networks are not supported")
    fields: dict[str, Any] = {}
    for tf_name, ours in _FIELDS.items():
        if tf_name in k.kwargs:
            value = k(tf_name)
            fields[ours] = tuple(value) if ours == "blur_filter" else value
        else:
            k.ignore(tf_name)
    if "truncation_cutoff" in k.kwargs:
        # G_style: a cutoff of None or <= 0 turns truncation off (ours: 0 layers; None would mean all).
        cutoff = k.kwargs["truncation_cutoff"]
        fields["truncation_cutoff"] = 0 if cutoff is None or cutoff <= 0 else cutoff
    k.check_unknown()
    return fields


def generator_rules(v: dict, cfg: StyleGANConfig) -> list:
    L = cfg.resolution_log2

    def scope(r: str, i: str) -> str:
        R = int(r)
        if R == 4:
            return "G_synthesis/4x4/" + (("Const" if cfg.const_input_layer else "Dense") if i == "0" else "Conv")
        return f"G_synthesis/{R}x{R}/" + ("Conv0_up" if i == "0" else "Conv1")

    def noise_index(r: str, i: str) -> int:
        return 2 * int(math.log2(int(r))) - 4 + int(i)

    return [
        (r"mapping\.w_avg", lambda: v["dlatent_avg"]),
        (r"mapping\.fc(\d+)\.weight", lambda i: v[f"G_mapping/Dense{i}/weight"].T),
        (r"mapping\.fc(\d+)\.bias", lambda i: v[f"G_mapping/Dense{i}/bias"]),
        (r"mapping\.embed\.weight", lambda: v["G_mapping/LabelConcat/weight"].T),
        (r"synthesis\.lod", lambda: v["lod"] if "lod" in v else v["G_synthesis/lod"]),
        (r"synthesis\.b4\.const", lambda: v["G_synthesis/4x4/Const/const"][0]),
        (r"synthesis\.b4\.dense\.weight", lambda: v["G_synthesis/4x4/Dense/weight"].T),
        (r"synthesis\.b(\d+)\.conv(\d)\.weight", lambda r, i: oihw(v[f"{scope(r, i)}/weight"])),
        (r"synthesis\.b(\d+)\.conv(\d)\.bias", lambda r, i: v[f"{scope(r, i)}/bias"]),
        (r"synthesis\.b(\d+)\.conv(\d)\.noise_strength", lambda r, i: v[f"{scope(r, i)}/Noise/weight"]),
        (r"synthesis\.b(\d+)\.conv(\d)\.noise_const", lambda r, i: v[f"G_synthesis/noise{noise_index(r, i)}"][0, 0]),
        (r"synthesis\.b(\d+)\.conv(\d)\.affine\.weight", lambda r, i: v[f"{scope(r, i)}/StyleMod/weight"].T),
        (r"synthesis\.b(\d+)\.conv(\d)\.affine\.bias", lambda r, i: v[f"{scope(r, i)}/StyleMod/bias"]),
        (r"synthesis\.b(\d+)\.torgb\.weight",
         lambda r: oihw(v[f"G_synthesis/ToRGB_lod{L - int(math.log2(int(r)))}/weight"])),
        (r"synthesis\.b(\d+)\.torgb\.bias", lambda r: v[f"G_synthesis/ToRGB_lod{L - int(math.log2(int(r)))}/bias"]),
    ]


def discriminator_rules(v: dict, cfg: StyleGANConfig) -> list:
    L = cfg.resolution_log2

    def conv(r: str, i: str) -> str:
        return f"{r}x{r}/" + ("Conv0" if i == "0" else "Conv1_down")

    return [
        (r"lod", lambda: v["lod"]),
        (r"b(\d+)\.fromrgb\.weight", lambda r: oihw(v[f"FromRGB_lod{L - int(math.log2(int(r)))}/weight"])),
        (r"b(\d+)\.fromrgb\.bias", lambda r: v[f"FromRGB_lod{L - int(math.log2(int(r)))}/bias"]),
        (r"b(\d+)\.conv(\d)\.weight", lambda r, i: oihw(v[f"{conv(r, i)}/weight"])),
        (r"b(\d+)\.conv(\d)\.bias", lambda r, i: v[f"{conv(r, i)}/bias"]),
        (r"b4\.conv\.weight", lambda: oihw(v["4x4/Conv/weight"])),
        (r"b4\.conv\.bias", lambda: v["4x4/Conv/bias"]),
        (r"b4\.fc\.weight", lambda: v["4x4/Dense0/weight"].T),
        (r"b4\.fc\.bias", lambda: v["4x4/Dense0/bias"]),
        (r"b4\.out\.weight", lambda: v["4x4/Dense1/weight"].T),
        (r"b4\.out\.bias", lambda: v["4x4/Dense1/bias"]),
    ]


def convert_stylegan_tf(G: TFNetwork, D: TFNetwork, Gs: TFNetwork, source: str,
                        names: Collection[str] = NETWORK_NAMES):
    """(G, D, Gs) TF StyleGAN networks -> (config, {'G': ..., 'D': ..., 'G_ema': ...}), building
    only the networks in `names` (the config is always read from all three)."""
    check_build_functions(G, D, Gs, source, "StyleGAN (v1)", GENERATOR_BUILD, COMPONENT_BUILDS, DISCRIMINATOR_BUILDS)
    fields = _config_fields(Gs, f"{source} [Gs]")
    for key, value in _config_fields(D, f"{source} [D]").items():
        if key in fields and fields[key] != value:
            raise NetworkFormatError(f"{source}: G and D disagree on {key} ({fields[key]!r} vs {value!r})")
        fields[key] = value
    config = StyleGANConfig(**fields)
    nets = {}
    for name, tf_net in (("G", G), ("D", D), ("G_ema", Gs)):
        if name not in names:
            continue
        v = tracked(tf_variables(tf_net, prefix_by="name"))
        if name == "D":
            net, rules = StyleGANDiscriminator(config), discriminator_rules(v, config)
        else:
            net, rules = StyleGANGenerator(config), generator_rules(v, config)
        fill_module(net.eval(), rules, v, f"{source} [{name}]")
        nets[name] = net
    return config, nets
