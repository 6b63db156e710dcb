"""stylegan2-ada-pytorch (and stylegan3's StyleGAN2) network snapshots -> our StyleGAN2 networks.

A snapshot `network-snapshot-*.pkl` is a dict {'G', 'D', 'G_ema', 'augment_pipe',
'training_set_kwargs'} whose networks are persistent objects: their class's source code, class
name and `__dict__`. The restricted unpickler keeps the `__dict__` (never the code); this module
walks its `_parameters`, `_buffers` and `_modules` into a flat state dict, whose names are ours
too, and reads the constructor arguments (`_init_kwargs`) into a StyleGAN2Config.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from facegan.errors import NetworkFormatError
from facegan.interop.unpickler import PersistentObject
from facegan.networks.io import load_state_strict
from facegan.networks.stylegan2 import StyleGAN2Discriminator, StyleGAN2Generator

SUPPORTED_CLASSES = {"Generator", "Discriminator"}


def is_snapshot(obj: Any) -> bool:
    return isinstance(obj, dict) and any(isinstance(obj.get(k), PersistentObject) for k in ("G", "D", "G_ema"))


def flat_state_dict(obj: PersistentObject, prefix: str = "") -> dict[str, torch.Tensor]:
    """Parameters and persistent buffers of a recorded module tree, with dotted names."""
    state = obj.state
    if not isinstance(state, Mapping):
        raise NetworkFormatError(f"{obj.class_name}: recorded state is not a dict")
    out: dict[str, torch.Tensor] = {}
    non_persistent = set(state.get("_non_persistent_buffers_set") or ())
    for kind in ("_parameters", "_buffers"):
        for name, tensor in (state.get(kind) or {}).items():
            if tensor is None or (kind == "_buffers" and name in non_persistent):
                continue
            if not isinstance(tensor, torch.Tensor):
                raise NetworkFormatError(f"{prefix}{name}: not a tensor")
            out[prefix + name] = tensor.detach()
    for name, child in (state.get("_modules") or {}).items():
        if child is None:
            continue
        if not isinstance(child, PersistentObject):
            raise NetworkFormatError(f"{prefix}{name}: a module the snapshot format does not use")
        out.update(flat_state_dict(child, f"{prefix}{name}."))
    return out


def _kwargs(obj: PersistentObject, positional: tuple[str, ...]) -> dict[str, Any]:
    state = obj.state
    args = tuple(state.get("_init_args") or ())
    kwargs = dict(state.get("_init_kwargs") or {})
    if len(args) > len(positional):
        raise NetworkFormatError(f"{obj.class_name}: unexpected positional constructor arguments")
    kwargs.update(zip(positional, args))
    return kwargs


def _take(kwargs: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(kwargs) - allowed)
    if unknown:
        raise NetworkFormatError(f"{where}: unknown constructor argument {unknown[0]!r} ({', '.join(unknown)}); "
                                 "not an architecture facegan knows")


def generator_config(obj: PersistentObject) -> dict[str, Any]:
    kw = _kwargs(obj, ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels"))
    _take(kw, {"z_dim", "c_dim", "w_dim", "img_resolution", "img_channels", "mapping_kwargs", "synthesis_kwargs"},
          "G")
    mk, sk = dict(kw.get("mapping_kwargs") or {}), dict(kw.get("synthesis_kwargs") or {})
    _take(mk, {"num_layers", "embed_features", "layer_features", "activation", "lr_multiplier", "w_avg_beta"},
          "G mapping_kwargs")
    _take(sk, {"channel_base", "channel_max", "num_fp16_res", "conv_clamp", "architecture", "resample_filter",
               "use_noise", "activation", "fp16_channels_last"}, "G synthesis_kwargs")
    if mk.get("activation", "lrelu") != "lrelu" or sk.get("activation", "lrelu") != "lrelu":
        raise NetworkFormatError("G: only lrelu activations are supported")
    return dict(
        z_dim=kw["z_dim"], c_dim=kw["c_dim"], w_dim=kw["w_dim"], resolution=kw["img_resolution"],
        img_channels=kw["img_channels"], mapping_layers=mk.get("num_layers", 8),
        mapping_embed_features=mk.get("embed_features"), mapping_layer_features=mk.get("layer_features"),
        mapping_lr_multiplier=mk.get("lr_multiplier", 0.01),
        w_avg_beta=1.0 if mk.get("w_avg_beta", 0.995) is None else mk.get("w_avg_beta", 0.995),
        channel_base=sk.get("channel_base", 32768), channel_max=sk.get("channel_max", 512),
        num_fp16_res=sk.get("num_fp16_res", 0), conv_clamp=sk.get("conv_clamp"),
        g_architecture=sk.get("architecture", "skip"), resample_filter=tuple(sk.get("resample_filter", (1, 3, 3, 1))),
        use_noise=sk.get("use_noise", True), fp16_channels_last=sk.get("fp16_channels_last", False))


def discriminator_config(obj: PersistentObject) -> dict[str, Any]:
    kw = _kwargs(obj, ("c_dim", "img_resolution", "img_channels"))
    _take(kw, {"c_dim", "img_resolution", "img_channels", "architecture", "channel_base", "channel_max",
               "num_fp16_res", "conv_clamp", "cmap_dim", "block_kwargs", "mapping_kwargs", "epilogue_kwargs"}, "D")
    bk, mk, ek = (dict(kw.get(k) or {}) for k in ("block_kwargs", "mapping_kwargs", "epilogue_kwargs"))
    _take(bk, {"activation", "resample_filter", "freeze_layers", "fp16_channels_last"}, "D block_kwargs")
    _take(mk, {"num_layers", "embed_features", "layer_features", "activation", "lr_multiplier"}, "D mapping_kwargs")
    _take(ek, {"mbstd_group_size", "mbstd_num_channels", "activation"}, "D epilogue_kwargs")
    return dict(
        c_dim=kw["c_dim"], resolution=kw["img_resolution"], img_channels=kw["img_channels"],
        d_architecture=kw.get("architecture", "resnet"), channel_base=kw.get("channel_base", 32768),
        channel_max=kw.get("channel_max", 512), num_fp16_res=kw.get("num_fp16_res", 0),
        conv_clamp=kw.get("conv_clamp"), d_cmap_dim=kw.get("cmap_dim"),
        resample_filter=tuple(bk.get("resample_filter", (1, 3, 3, 1))), d_mapping_layers=mk.get("num_layers", 8),
        d_mapping_lr_multiplier=mk.get("lr_multiplier", 0.01), mbstd_group_size=ek.get("mbstd_group_size", 4),
        mbstd_num_channels=ek.get("mbstd_num_channels", 1))


def convert_snapshot(data: dict, source: str):
    """A snapshot dict -> (config, {name: network}) for the G, D and G_ema it holds."""
    from facegan.interop.stylegan2_tf import merge_configs

    present = {k: data[k] for k in ("G", "D", "G_ema") if isinstance(data.get(k), PersistentObject)}
    for name, obj in present.items():
        expected = "Discriminator" if name == "D" else "Generator"
        if obj.class_name != expected:
            raise NetworkFormatError(f"{source}: {name} is a {obj.class_name!r}, not a stylegan2-ada-pytorch "
                                     f"{expected} (stylegan3 'T'/'R' networks are not supported)")
    gen = present.get("G_ema") or present.get("G")
    g_cfg = generator_config(gen) if gen is not None else None
    d_cfg = discriminator_config(present["D"]) if "D" in present else None
    if g_cfg is None:
        raise NetworkFormatError(f"{source}: the snapshot holds no generator")
    config = merge_configs(g_cfg, d_cfg, source)
    nets = {}
    for name, obj in present.items():
        net = (StyleGAN2Discriminator if name == "D" else StyleGAN2Generator)(config).eval()
        load_state_strict(net, flat_state_dict(obj), context=f"{source} [{name}]")
        nets[name] = net
    return config, nets
