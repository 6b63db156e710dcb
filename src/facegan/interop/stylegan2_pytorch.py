"""stylegan2-ada-pytorch and stylegan3 network pickles -> our StyleGAN2 and StyleGAN3 networks.

A snapshot `network-snapshot-*.pkl` (and every pretrained pickle of stylegan2-ada-pytorch) is a
dict {'G', 'D', 'G_ema', 'augment_pipe', 'training_set_kwargs'} whose networks are persistent
objects: their class's source code, class name and `__dict__`. The restricted unpickler keeps the
`__dict__` (never the code); this module walks its `_parameters`, `_buffers` and `_modules` into a
flat state dict, whose names are ours too, and reads the constructor arguments (`_init_kwargs`)
into a StyleGAN2Config.

stylegan3's `training.networks_stylegan2.Generator` (its `--cfg=stylegan2`) takes the synthesis
arguments flat instead of in `synthesis_kwargs`; both spellings are read. Its StyleGAN3 ('T'/'R')
generators (`networks_stylegan3.Generator`: a synthesis network with a Fourier `input`) become our
StyleGAN3Generator, every buffer copied as stored (freqs, phases, transform, the up/down filters,
magnitude_ema, w_avg); their discriminator is the StyleGAN2 one, with its own capacity.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any

import torch

from facegan.errors import NetworkFormatError
from facegan.interop.unpickler import PersistentObject
from facegan.networks.io import NETWORK_NAMES, load_state_strict
from facegan.networks.stylegan2 import StyleGAN2Discriminator, StyleGAN2Generator
from facegan.networks.stylegan3 import StyleGAN3Config, StyleGAN3Generator, stylegan3_discriminator

MAX_DEPTH = 16  # the module tree of a StyleGAN2 network is 5 deep (D.b4.mbstd ..., G.synthesis.b64.conv0.affine)
NETWORK_CLASS = {"G": "Generator", "G_ema": "Generator", "D": "Discriminator"}

_G_ARGS = ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels")
_MAPPING_KEYS = {"num_layers", "embed_features", "layer_features", "activation", "lr_multiplier", "w_avg_beta"}
_SYNTHESIS_KEYS = {"channel_base", "channel_max", "num_fp16_res", "conv_clamp", "architecture", "resample_filter",
                   "use_noise", "activation", "fp16_channels_last", "fused_modconv_default"}
_D_ARGS = ("c_dim", "img_resolution", "img_channels")
_D_KEYS = {"architecture", "channel_base", "channel_max", "num_fp16_res", "conv_clamp", "cmap_dim", "block_kwargs",
           "mapping_kwargs", "epilogue_kwargs"}
# Constructor defaults that differ between the two codes (stylegan2-ada-pytorch, stylegan3's copy).
DEFAULTS = {
    "stylegan2-ada-pytorch": dict(w_avg_beta=0.995, num_fp16_res=0, g_conv_clamp=None, d_conv_clamp=None),
    "stylegan3": dict(w_avg_beta=0.998, num_fp16_res=4, g_conv_clamp=256, d_conv_clamp=256),
}


# StyleGAN3 (networks_stylegan3.Generator): mapping keys and the flat synthesis/layer keys it takes.
_SG3_MAPPING_KEYS = {"num_layers", "lr_multiplier", "w_avg_beta"}
_SG3_SYNTHESIS_KEYS = {"channel_base", "channel_max", "num_layers", "num_critical", "first_cutoff", "first_stopband",
                       "last_stopband_rel", "margin_size", "output_scale", "num_fp16_res", "conv_kernel",
                       "filter_size", "lrelu_upsampling", "use_radial_filters", "conv_clamp", "magnitude_ema_beta"}


def is_snapshot(obj: Any) -> bool:
    return isinstance(obj, dict) and any(isinstance(obj.get(k), PersistentObject) for k in NETWORK_CLASS)


def is_stylegan3_generator(gen: PersistentObject) -> bool:
    """networks_stylegan3.Generator: its synthesis network starts from a Fourier-feature `input`."""
    synthesis = _child(gen, "synthesis")
    return synthesis is not None and "input" in _mapping(synthesis.state.get("_modules"), gen.class_name)


def snapshot_family(data: dict) -> str:
    """'stylegan3' for a snapshot of StyleGAN3 (T/R) networks, else 'stylegan2-ada-pytorch'."""
    gen = next((data[k] for k in ("G_ema", "G") if isinstance(data.get(k), PersistentObject)), None)
    return "stylegan3" if gen is not None and is_stylegan3_generator(gen) else "stylegan2-ada-pytorch"


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise NetworkFormatError(f"{where}: expected a dict, found {type(value).__name__}")
    return dict(value)


def flat_state_dict(obj: PersistentObject, prefix: str = "", depth: int = 0) -> dict[str, torch.Tensor]:
    """Parameters and persistent buffers of a recorded module tree, with dotted names."""
    where = prefix.rstrip(".") or obj.class_name
    if depth > MAX_DEPTH:
        raise NetworkFormatError(f"{where}: the module tree nests too deeply (or contains itself)")
    state = obj.state
    out: dict[str, torch.Tensor] = {}
    non_persistent = state.get("_non_persistent_buffers_set") or ()
    if not isinstance(non_persistent, (set, frozenset, list, tuple)):
        raise NetworkFormatError(f"{where}: malformed module record")
    for kind in ("_parameters", "_buffers"):
        for name, tensor in _mapping(state.get(kind), f"{where} {kind}").items():
            if tensor is None or (kind == "_buffers" and name in non_persistent):
                continue
            if not isinstance(tensor, torch.Tensor):
                raise NetworkFormatError(f"{prefix}{name}: not a tensor")
            out[prefix + str(name)] = tensor.detach()
    for name, child in _mapping(state.get("_modules"), f"{where} _modules").items():
        if child is None:
            continue
        if not isinstance(child, PersistentObject):
            raise NetworkFormatError(f"{prefix}{name}: a module the snapshot format does not use")
        out.update(flat_state_dict(child, f"{prefix}{name}.", depth + 1))
    return out


def _kwargs(obj: PersistentObject, positional: tuple[str, ...], where: str) -> dict[str, Any]:
    args = obj.state.get("_init_args") or ()
    if not isinstance(args, (tuple, list)) or len(args) > len(positional):
        raise NetworkFormatError(f"{where}: unexpected positional constructor arguments")
    kwargs = _mapping(obj.state.get("_init_kwargs"), f"{where} constructor arguments")
    kwargs.update(zip(positional, args))
    missing = [name for name in positional if name not in kwargs]
    if missing:
        raise NetworkFormatError(f"{where}: constructor argument {missing[0]!r} is missing")
    return kwargs


def _take(kwargs: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(kwargs) - allowed)
    if unknown:
        raise NetworkFormatError(f"{where}: unknown constructor argument {unknown[0]!r} ({', '.join(unknown)}); "
                                 "not an architecture facegan knows")


def _child(obj: PersistentObject, name: str) -> PersistentObject | None:
    child = _mapping(obj.state.get("_modules"), obj.class_name).get(name)
    return child if isinstance(child, PersistentObject) else None


def code_of(gen: PersistentObject) -> str:
    """Which code wrote the generator: stylegan3's copy takes the synthesis arguments flat."""
    kwargs = gen.state.get("_init_kwargs")
    flat = isinstance(kwargs, Mapping) and any(key in _SYNTHESIS_KEYS for key in kwargs)
    return "stylegan3" if flat else "stylegan2-ada-pytorch"


def _generator_kwargs(obj: PersistentObject, where: str, mapping_keys, synthesis_keys):
    """A Generator's recorded kwargs, its mapping_kwargs and its synthesis_kwargs (with the synthesis
    arguments that stylegan3's copy takes flat), each checked against the keys its code knows."""
    kw = _kwargs(obj, _G_ARGS, where)
    flat = {key: kw.pop(key) for key in list(kw) if key in synthesis_keys}
    _take(kw, {*_G_ARGS, "mapping_kwargs", "synthesis_kwargs"}, where)
    mk = _mapping(kw.get("mapping_kwargs"), f"{where} mapping_kwargs")
    sk = {**_mapping(kw.get("synthesis_kwargs"), f"{where} synthesis_kwargs"), **flat}
    _take(mk, mapping_keys, f"{where} mapping_kwargs")
    _take(sk, synthesis_keys, f"{where} synthesis_kwargs")
    return kw, mk, sk


def stylegan3_generator_config(obj: PersistentObject, where: str = "G") -> dict[str, Any]:
    """The StyleGAN3Config fields of a networks_stylegan3.Generator (official defaults where not recorded)."""
    kw, mk, sk = _generator_kwargs(obj, where, _SG3_MAPPING_KEYS, _SG3_SYNTHESIS_KEYS)
    out = dict(z_dim=kw["z_dim"], c_dim=kw["c_dim"], w_dim=kw["w_dim"], resolution=kw["img_resolution"],
               img_channels=kw["img_channels"])
    for ours, theirs in (("mapping_layers", "num_layers"), ("mapping_lr_multiplier", "lr_multiplier"),
                         ("w_avg_beta", "w_avg_beta")):
        if theirs in mk:
            out[ours] = mk[theirs]
    out.update(sk)
    for key in ("first_cutoff", "first_stopband", "last_stopband_rel", "output_scale", "magnitude_ema_beta"):
        if key in out:
            out[key] = float(out[key])
    return out


def generator_config(obj: PersistentObject, where: str = "G") -> dict[str, Any]:
    defaults = DEFAULTS[code_of(obj)]
    kw, mk, sk = _generator_kwargs(obj, where, _MAPPING_KEYS, _SYNTHESIS_KEYS)
    if mk.get("activation", "lrelu") != "lrelu" or sk.get("activation", "lrelu") != "lrelu":
        raise NetworkFormatError(f"{where}: only lrelu activations are supported")
    beta = mk.get("w_avg_beta", defaults["w_avg_beta"])
    return dict(
        z_dim=kw["z_dim"], c_dim=kw["c_dim"], w_dim=kw["w_dim"], resolution=kw["img_resolution"],
        img_channels=kw["img_channels"], mapping_layers=mk.get("num_layers", 8),
        mapping_embed_features=mk.get("embed_features"), mapping_layer_features=mk.get("layer_features"),
        mapping_lr_multiplier=mk.get("lr_multiplier", 0.01), w_avg_beta=1.0 if beta is None else beta,
        channel_base=sk.get("channel_base", 32768), channel_max=sk.get("channel_max", 512),
        num_fp16_res=sk.get("num_fp16_res", defaults["num_fp16_res"]),
        conv_clamp=sk.get("conv_clamp", defaults["g_conv_clamp"]), g_architecture=sk.get("architecture", "skip"),
        resample_filter=tuple(sk.get("resample_filter", (1, 3, 3, 1))), use_noise=sk.get("use_noise", True),
        fp16_channels_last=sk.get("fp16_channels_last", False))


def discriminator_config(obj: PersistentObject, code: str = "stylegan2-ada-pytorch",
                         where: str = "D") -> dict[str, Any]:
    defaults = DEFAULTS[code]
    kw = _kwargs(obj, _D_ARGS, where)
    _take(kw, {*_D_ARGS, *_D_KEYS}, where)
    bk, mk, ek = (_mapping(kw.get(k), f"{where} {k}") for k in ("block_kwargs", "mapping_kwargs", "epilogue_kwargs"))
    _take(bk, {"activation", "resample_filter", "freeze_layers", "fp16_channels_last"}, f"{where} block_kwargs")
    _take(mk, {"num_layers", "embed_features", "layer_features", "activation", "lr_multiplier"},
          f"{where} mapping_kwargs")
    _take(ek, {"mbstd_group_size", "mbstd_num_channels", "activation"}, f"{where} epilogue_kwargs")
    if any(part.get("activation", "lrelu") != "lrelu" for part in (bk, mk, ek)):
        raise NetworkFormatError(f"{where}: only lrelu activations are supported")
    cmap = kw.get("cmap_dim")
    for key in ("embed_features", "layer_features"):  # ours are always the label embedding's width
        if mk.get(key) is not None and mk[key] != cmap:
            raise NetworkFormatError(f"{where}: mapping_kwargs {key}={mk[key]} differs from cmap_dim; not supported")
    return dict(
        c_dim=kw["c_dim"], resolution=kw["img_resolution"], img_channels=kw["img_channels"],
        d_architecture=kw.get("architecture", "resnet"), channel_base=kw.get("channel_base", 32768),
        channel_max=kw.get("channel_max", 512), num_fp16_res=kw.get("num_fp16_res", defaults["num_fp16_res"]),
        conv_clamp=kw.get("conv_clamp", defaults["d_conv_clamp"]), d_cmap_dim=cmap,
        resample_filter=tuple(bk.get("resample_filter", (1, 3, 3, 1))), d_mapping_layers=mk.get("num_layers", 8),
        d_mapping_lr_multiplier=mk.get("lr_multiplier", 0.01), mbstd_group_size=ek.get("mbstd_group_size", 4),
        mbstd_num_channels=ek.get("mbstd_num_channels", 1))


def snapshot_metadata(data: dict) -> dict[str, str]:
    """What else a snapshot records, as our file metadata: the ADA probability p of its augment_pipe
    and its training_set_kwargs (plain values only)."""
    meta: dict[str, str] = {}
    pipe = data.get("augment_pipe")
    if isinstance(pipe, PersistentObject):
        p = _mapping(pipe.state.get("_buffers"), "augment_pipe").get("p")
        if isinstance(p, torch.Tensor) and p.numel() == 1:
            meta["augment_p"] = repr(float(p))
    kwargs = data.get("training_set_kwargs")
    if isinstance(kwargs, Mapping):
        plain = {str(k): v for k, v in kwargs.items() if isinstance(v, (str, int, float, bool, type(None)))}
        meta["training_set_kwargs"] = json.dumps(plain, sort_keys=True)
    return meta


def convert_snapshot(data: dict, source: str, names: Collection[str] = NETWORK_NAMES):
    """A snapshot dict -> (config, {name: network}) for those of `names` it holds (the config is read
    from its generator and discriminator)."""
    from facegan.interop.stylegan2_tf import merge_configs

    present = {k: data[k] for k in NETWORK_NAMES if isinstance(data.get(k), PersistentObject)}
    for name, obj in present.items():
        if obj.class_name != NETWORK_CLASS[name]:
            raise NetworkFormatError(f"{source}: {name} is a {obj.class_name!r}, not a stylegan2-ada-pytorch "
                                     f"{NETWORK_CLASS[name]}")
    gen = present.get("G_ema") or present.get("G")
    if gen is None:
        raise NetworkFormatError(f"{source}: the snapshot holds no generator")
    if is_stylegan3_generator(gen):
        return convert_stylegan3_snapshot(present, gen, source, names)
    g_cfg = generator_config(gen, f"{source} [{'G_ema' if 'G_ema' in present else 'G'}]")
    d_cfg = discriminator_config(present["D"], code_of(gen), f"{source} [D]") if "D" in present else None
    config = merge_configs(g_cfg, d_cfg, source)
    nets = {}
    for name, obj in present.items():
        if name not in names:
            continue
        net = (StyleGAN2Discriminator if name == "D" else StyleGAN2Generator)(config).eval()
        load_state_strict(net, flat_state_dict(obj), context=f"{source} [{name}]")
        nets[name] = net
    return config, nets


def convert_stylegan3_snapshot(present: dict[str, PersistentObject], gen: PersistentObject, source: str,
                               names: Collection[str]):
    """StyleGAN3 networks of a snapshot -> (StyleGAN3Config, {name: network}). The filters are copied
    from the file as they are (not redesigned), like every other buffer."""
    fields = stylegan3_generator_config(gen, f"{source} [{'G_ema' if 'G_ema' in present else 'G'}]")
    if "D" in present:
        d = discriminator_config(present["D"], "stylegan3", f"{source} [D]")
        for key in ("c_dim", "resolution", "img_channels"):
            if d[key] != fields[key]:
                raise NetworkFormatError(f"{source}: G and D disagree on {key} ({fields[key]} vs {d[key]})")
        if d["d_architecture"] != "resnet" or d["resample_filter"] != (1, 3, 3, 1):
            raise NetworkFormatError(f"{source} [D]: only the resnet discriminator with the [1,3,3,1] filter "
                                     "is supported with StyleGAN3")
        fields.update(d_channel_base=d["channel_base"], d_channel_max=d["channel_max"],
                      d_num_fp16_res=d["num_fp16_res"], d_conv_clamp=d["conv_clamp"],
                      mbstd_group_size=d["mbstd_group_size"], mbstd_num_channels=d["mbstd_num_channels"],
                      d_cmap_dim=d["d_cmap_dim"], d_mapping_layers=d["d_mapping_layers"],
                      d_mapping_lr_multiplier=d["d_mapping_lr_multiplier"])
    config = StyleGAN3Config(**fields)
    nets = {}
    for name, obj in present.items():
        if name not in names:
            continue
        if name == "D":
            net = stylegan3_discriminator(config)
        elif is_stylegan3_generator(obj):
            net = StyleGAN3Generator(config, design_filters=False)
        else:
            raise NetworkFormatError(f"{source}: {name} is not a StyleGAN3 generator, but G_ema is")
        load_state_strict(net.eval(), flat_state_dict(obj), context=f"{source} [{name}]")
        nets[name] = net
    return config, nets
