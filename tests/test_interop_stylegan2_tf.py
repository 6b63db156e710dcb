"""TensorFlow StyleGAN2 and StyleGAN2-ADA pickles load into our networks exactly.

The fixtures are written here straight in the official layout: random variables with the names and
shapes the TF code creates (training/networks_stylegan2.py of StyleGAN2: G_main, G_mapping,
G_synthesis_stylegan2 / G_synthesis_stylegan_revised, D_stylegan2 / D_stylegan; training/networks.py
of StyleGAN2-ADA: G_synthesis, D_main), for configs F, E (orig, resnet and skip variants), B-D
(progressive growing, `ToRGB_lod` / `FromRGB_lod` names) and a conditional ADA network with an
active conv clamp. No network of ours is involved in writing them.

Two independent checks per fixture: every TF variable lands in the tensor of ours that the format
says (a table written here, TF name -> our name, in the opposite direction of the converter's rules),
and the generator's images and the discriminator's scores equal a NumPy computation that applies the
TF variables as the TF graph does: equalised-lr run-time scales, style = dense(w) + mod_bias + 1,
demodulation, up-sampling by `conv2d_transpose` of the flipped weight then upfirdn with [1,3,3,1],
noise maps by layer index, bias + lrelu * sqrt(2), clamp, skip/resnet/orig, minibatch stddev,
projection conditioning.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch

import facegan
from facegan.interop import load_any
from interop_fixtures import tf_network, write_tf_pickle

SQRT2 = math.sqrt(2)


# ------------------------------------------------------------------------------------------------
# The fixtures: kwargs as the official training scripts record them, variables as the TF code makes them.

SMALL = dict(num_channels=3, resolution=16, label_size=0, fmap_base=32, fmap_max=16)
G_SMALL = dict(latent_size=16, dlatent_size=16, mapping_layers=2, mapping_fmaps=20)

SPECS = {
    # StyleGAN2 config F: skip generator, residual discriminator.
    "config-f": dict(synthesis="G_synthesis_stylegan2", D="D_stylegan2", G=dict(**SMALL, **G_SMALL), D_kw=SMALL),
    # Config E variants (run_training.py --config=config-e-Gorig-Dorig, -Gresnet-Dskip).
    "config-e-Gorig-Dorig": dict(synthesis="G_synthesis_stylegan2", D="D_stylegan2",
                                 G=dict(**SMALL, **G_SMALL, architecture="orig"),
                                 D_kw=dict(**SMALL, architecture="orig")),
    "config-e-Gresnet-Dskip": dict(synthesis="G_synthesis_stylegan2", D="D_stylegan2",
                                   G=dict(**SMALL, **G_SMALL, architecture="resnet"),
                                   D_kw=dict(**SMALL, architecture="skip", mbstd_group_size=2)),
    # The box filter (resample_kernel=None), with the residual G and D.
    "box-filter": dict(synthesis="G_synthesis_stylegan2", D="D_stylegan2",
                       G=dict(**SMALL, **G_SMALL, architecture="resnet", resample_kernel=None),
                       D_kw=dict(**SMALL, resample_kernel=None)),
    # Configs B-D: the revised StyleGAN synthesis and D_stylegan, with progressive-growing names.
    "config-c": dict(synthesis="G_synthesis_stylegan_revised", D="D_stylegan",
                     G=dict(**SMALL, **G_SMALL, synthesis_func="G_synthesis_stylegan_revised"), D_kw=SMALL),
    # StyleGAN2-ADA (TF): conditional, projection D with a label mapping, an active conv clamp,
    # z and w of different sizes (the label embedding defaults to latent_size, the mapping to dlatent_size).
    # Its dnnlib writes state version 5, with the networks' input and output shapes and names.
    "ada-conditional": dict(
        synthesis="G_synthesis", D="D_main", version=5,
        G=dict(**{**SMALL, "label_size": 3}, latent_size=12, dlatent_size=16, mapping_layers=2, conv_clamp=1.5,
               num_fp16_res=1),
        D_kw=dict(**{**SMALL, "label_size": 3}, mapping_layers=1, conv_clamp=1.5, num_fp16_res=1,
                  mbstd_group_size=None)),
}


def nf(kw, stage):
    return int(np.clip(int(kw["fmap_base"] / 2.0 ** stage), kw.get("fmap_min", 1), kw["fmap_max"]))


def log2(n):
    return int(np.log2(n))


def generator_variables(rng, kw, synthesis):
    """{'dlatent_avg', 'lod', 'mapping/...', 'synthesis/...'} in TF layouts, random."""
    ada = synthesis == "G_synthesis"
    revised = synthesis == "G_synthesis_stylegan_revised"
    arch = "orig" if revised else kw.get("architecture", "skip")
    z, w, c, C = kw["latent_size"], kw["dlatent_size"], kw["label_size"], kw["num_channels"]
    L, lrmul = log2(kw["resolution"]), kw.get("mapping_lrmul", 0.01)
    n = lambda *shape: rng.standard_normal(shape)  # noqa: E731
    v = {"lod": np.float32(0), "dlatent_avg": n(w) * 0.5}
    fan_in = z
    if c:
        embed = kw.get("label_fmaps") or z
        v["mapping/LabelEmbed/weight"], v["mapping/LabelEmbed/bias"] = n(c, embed), n(embed) * 0.2
        fan_in += embed
    hidden = kw.get("mapping_fmaps") or (w if ada else 512)
    for i in range(kw["mapping_layers"]):
        out = w if i == kw["mapping_layers"] - 1 else hidden
        v[f"mapping/Dense{i}/weight"] = n(fan_in, out) / lrmul  # stored as N(0, 1/lrmul), as initialised
        v[f"mapping/Dense{i}/bias"] = n(out) * 0.1 / lrmul
        fan_in = out

    s = "synthesis/"
    for k in range(2 * L - 3):  # noise0 .. noise{num_layers - 2}
        res = 2 ** ((k + 5) // 2)
        v[f"{s}noise{k}"] = n(1, 1, res, res)
    if revised:
        v[f"{s}lod"] = np.float32(0)

    def layer(scope, cin, cout, k=3):
        v[f"{s}{scope}/weight"] = n(k, k, cin, cout)
        v[f"{s}{scope}/mod_weight"], v[f"{s}{scope}/mod_bias"] = n(w, cin), n(cin) * 0.3
        v[f"{s}{scope}/noise_strength"] = np.float32(rng.standard_normal() * 0.3)
        v[f"{s}{scope}/bias"] = n(cout) * 0.2

    def torgb(scope, cin):
        v[f"{s}{scope}/weight"] = n(1, 1, cin, C) * 0.5
        v[f"{s}{scope}/mod_weight"], v[f"{s}{scope}/mod_bias"] = n(w, cin), n(cin) * 0.3
        v[f"{s}{scope}/bias"] = n(C) * 0.1

    v[f"{s}4x4/Const/const"] = n(1, nf(kw, 1), 4, 4)
    layer("4x4/Conv", nf(kw, 1), nf(kw, 1))
    if revised:
        torgb(f"ToRGB_lod{L - 2}", nf(kw, 1))
    elif arch == "skip":
        torgb("4x4/ToRGB", nf(kw, 1))
    for r in range(3, L + 1):
        R = 2 ** r
        layer(f"{R}x{R}/Conv0_up", nf(kw, r - 2), nf(kw, r - 1))
        layer(f"{R}x{R}/Conv1", nf(kw, r - 1), nf(kw, r - 1))
        if arch == "resnet":
            v[f"{s}{R}x{R}/Skip/weight"] = n(1, 1, nf(kw, r - 2), nf(kw, r - 1))
        if revised:
            torgb(f"ToRGB_lod{L - r}", nf(kw, r - 1))
        elif arch == "skip" or r == L:
            torgb(f"{R}x{R}/ToRGB", nf(kw, r - 1))
    return as_stored(v)


def discriminator_variables(rng, kw, build):
    arch = "orig" if build == "D_stylegan" else kw.get("architecture", "resnet")
    L, C, c = log2(kw["resolution"]), kw["num_channels"], kw["label_size"]
    n = lambda *shape: rng.standard_normal(shape)  # noqa: E731
    v = {}

    def conv(scope, cin, cout, k=3, bias=True):
        v[f"{scope}/weight"] = n(k, k, cin, cout)
        if bias:
            v[f"{scope}/bias"] = n(cout) * 0.2

    if build == "D_stylegan":
        v["lod"] = np.float32(0)
        for r in range(L, 1, -1):  # FromRGB at every level of detail (only lod0 matters at lod 0)
            conv(f"FromRGB_lod{L - r}", C, nf(kw, r - 1), k=1)
    for r in range(L, 2, -1):
        R = 2 ** r
        if build != "D_stylegan" and (arch == "skip" or r == L):
            conv(f"{R}x{R}/FromRGB", C, nf(kw, r - 1), k=1)
        conv(f"{R}x{R}/Conv0", nf(kw, r - 1), nf(kw, r - 1))
        conv(f"{R}x{R}/Conv1_down", nf(kw, r - 1), nf(kw, r - 2))
        if arch == "resnet":
            conv(f"{R}x{R}/Skip", nf(kw, r - 1), nf(kw, r - 2), k=1, bias=False)
    if arch == "skip":
        conv("4x4/FromRGB", C, nf(kw, 1), k=1)
    mbstd = mbstd_features(kw, build)
    conv("4x4/Conv", nf(kw, 1) + mbstd, nf(kw, 1))
    v["4x4/Dense0/weight"], v["4x4/Dense0/bias"] = n(nf(kw, 1) * 16, nf(kw, 0)) * 0.5, n(nf(kw, 0)) * 0.2
    outputs = (kw.get("mapping_fmaps") or nf(kw, 0)) if build == "D_main" and c else max(c, 1)
    v["Output/weight"], v["Output/bias"] = n(nf(kw, 0), outputs), n(outputs) * 0.2
    if c and build == "D_main":
        cmap = kw.get("mapping_fmaps") or nf(kw, 0)
        v["LabelEmbed/weight"], v["LabelEmbed/bias"] = n(c, cmap), n(cmap) * 0.2
        for i in range(kw.get("mapping_layers", 0)):
            v[f"Mapping{i}/weight"] = n(cmap, cmap) / kw.get("mapping_lrmul", 0.1)
            v[f"Mapping{i}/bias"] = n(cmap) * 0.2 / kw.get("mapping_lrmul", 0.1)
    return as_stored(v)


def as_stored(v):
    """TF variables are float32."""
    return {k: np.asarray(x, np.float32) for k, x in v.items()}


def mbstd_features(kw, build):
    if build == "D_main":
        return kw.get("mbstd_num_features", 1)
    return kw.get("mbstd_num_features", 1) if kw.get("mbstd_group_size", 4) > 1 else 0


def generator_network(name, v, spec, kw=None):
    """A G_main network (with its G_mapping and G_synthesis components) holding the variables `v`."""
    kw = spec["G"] if kw is None else kw
    comp_kw = {k: x for k, x in kw.items() if k not in ("synthesis_func", "mapping_func")}  # G_main's own kwargs
    num_layers = 2 * log2(kw["resolution"]) - 2
    parts = {p: {k[len(p) + 1:]: x for k, x in v.items() if k.startswith(p + "/")} for p in ("mapping", "synthesis")}
    version = spec.get("version", 4)
    z, c, w, res = kw["latent_size"], kw["label_size"], kw["dlatent_size"], kw["resolution"]
    io = {"mapping": dict(input_shapes=[[None, z], [None, c]], output_shapes=[[None, num_layers, w]],
                          input_names=["latents_in", "labels_in"], output_names=["dlatents_out"]),
          "synthesis": dict(input_shapes=[[None, num_layers, w]], output_shapes=[[None, kw["num_channels"], res, res]],
                            input_names=["dlatents_in"], output_names=["images_out"]),
          "main": dict(input_shapes=[[None, z], [None, c]], output_shapes=[[None, kw["num_channels"], res, res]],
                       input_names=["latents_in", "labels_in"], output_names=["images_out"])}
    comps = {"synthesis": tf_network("G_synthesis", spec["synthesis"], parts["synthesis"], comp_kw, version,
                                     io_spec=io["synthesis"]),
             "mapping": tf_network("G_mapping", "G_mapping", parts["mapping"],
                                   {**comp_kw, "dlatent_broadcast": num_layers}, version, io_spec=io["mapping"])}
    return tf_network(name, "G_main", {k: x for k, x in v.items() if "/" not in k}, kw, version, comps,
                      io_spec=io["main"])


def write_fixture(path, spec, seed):
    """The (G, D, Gs) pickle of a spec; returns the variables of G, D and Gs."""
    rng = np.random.default_rng(seed)
    g_vars = generator_variables(rng, spec["G"], spec["synthesis"])
    d_vars = discriminator_variables(rng, spec["D_kw"], spec["D"])
    gs_vars = generator_variables(rng, spec["G"], spec["synthesis"])
    version, kw = spec.get("version", 4), spec["D_kw"]
    d_io = dict(input_shapes=[[None, kw["num_channels"], kw["resolution"], kw["resolution"]], [None, kw["label_size"]]],
                output_shapes=[[None, 1]], input_names=["images_in", "labels_in"], output_names=["scores_out"])
    write_tf_pickle(path, generator_network("G", g_vars, spec),
                    tf_network("D", spec["D"], d_vars, kw, version, io_spec=d_io),
                    generator_network("Gs", gs_vars, spec))
    return g_vars, d_vars, gs_vars


@pytest.fixture(scope="module", params=list(SPECS))
def fixture(request, tmp_path_factory):
    spec = SPECS[request.param]
    path = tmp_path_factory.mktemp("sg2tf") / f"stylegan2-tiny-{request.param}.pkl"
    g_vars, d_vars, gs_vars = write_fixture(path, spec, seed=list(SPECS).index(request.param))
    return request.param, spec, path, g_vars, d_vars, gs_vars


# ------------------------------------------------------------------------------------------------
# The format, TF name -> our name (the opposite direction of the converter's rules).

def oihw(w, flip=False):
    w = w[::-1, ::-1] if flip else w
    return w.transpose(3, 2, 0, 1)


LAYER_TENSORS = {  # TF variable of a modulated layer -> (our tensor, conversion)
    "weight": ("weight", oihw), "bias": ("bias", None), "noise_strength": ("noise_strength", None),
    "mod_weight": ("affine.weight", np.transpose), "mod_bias": ("affine.bias", lambda b: b + 1),
}


def ours_from_tf_generator(v, resolution, has_torgb):
    """Our state dict as the format defines it from the TF variables (None: a variable we do not use)."""
    out = {}
    for name, value in v.items():
        if name in ("lod", "synthesis/lod"):
            continue
        if name == "dlatent_avg":
            out["mapping.w_avg"] = value
        elif m := re.fullmatch(r"mapping/(Dense(\d+)|LabelEmbed)/(weight|bias)", name):
            ours = f"mapping.fc{m[2]}" if m[2] is not None else "mapping.embed"
            out[f"{ours}.{m[3]}"] = value.T if m[3] == "weight" else value
        elif m := re.fullmatch(r"synthesis/noise(\d+)", name):
            k = int(m[1])  # layer index: 0 = 4x4 conv, then 2r-5 (a block's first conv) and 2r-4
            r, conv = (2, 1) if k == 0 else ((k + 5) // 2, 0 if k % 2 else 1)
            out[f"synthesis.b{2 ** r}.conv{conv}.noise_const"] = value[0, 0]
        elif name == "synthesis/4x4/Const/const":
            out["synthesis.b4.const"] = value[0]
        elif m := re.fullmatch(r"synthesis/(4x4/Conv|(\d+)x\d+/(Conv0_up|Conv1))/(\w+)", name):
            R, layer = (4, "conv1") if m[2] is None else (int(m[2]), "conv0" if m[3] == "Conv0_up" else "conv1")
            ours, fn = LAYER_TENSORS[m[4]]
            value = oihw(value, flip=layer == "conv0") if m[4] == "weight" else (fn(value) if fn else value)
            out[f"synthesis.b{R}.{layer}.{ours}"] = value
        elif m := re.fullmatch(r"synthesis/((\d+)x\d+/ToRGB|ToRGB_lod(\d+))/(\w+)", name):
            R = int(m[2]) if m[2] is not None else resolution // 2 ** int(m[3])
            if not has_torgb(R):
                continue
            ours, fn = LAYER_TENSORS[m[4]]
            out[f"synthesis.b{R}.torgb.{ours}"] = fn(value) if fn else value
        elif m := re.fullmatch(r"synthesis/(\d+)x\d+/Skip/weight", name):
            out[f"synthesis.b{m[1]}.skip.weight"] = oihw(value, flip=True)
        else:
            raise AssertionError(f"the fixture wrote a variable the table does not know: {name}")
    return out


def ours_from_tf_discriminator(v, resolution, arch):
    out = {}
    for name, value in v.items():
        if name == "lod":
            continue
        if m := re.fullmatch(r"(?:(\d+)x\d+/FromRGB|FromRGB_lod(\d+))/(weight|bias)", name):
            R = int(m[1]) if m[1] is not None else resolution // 2 ** int(m[2])
            if arch == "orig" and R != resolution:
                continue  # progressive growing's other levels of detail
            ours = "b4.fromrgb" if R == 4 else f"b{R}.fromrgb"
            out[f"{ours}.{m[3]}"] = oihw(value) if m[3] == "weight" else value
        elif m := re.fullmatch(r"(\d+)x\d+/(Conv0|Conv1_down|Skip)/(weight|bias)", name):
            ours = {"Conv0": "conv0", "Conv1_down": "conv1", "Skip": "skip"}[m[2]]
            out[f"b{m[1]}.{ours}.{m[3]}"] = oihw(value) if m[3] == "weight" else value
        elif m := re.fullmatch(r"4x4/(Conv|Dense0)/(weight|bias)", name):
            ours = "b4.conv" if m[1] == "Conv" else "b4.fc"
            out[f"{ours}.{m[2]}"] = (oihw(value) if m[1] == "Conv" else value.T) if m[2] == "weight" else value
        elif m := re.fullmatch(r"(Output|LabelEmbed|Mapping(\d+))/(weight|bias)", name):
            ours = {"Output": "b4.out", "LabelEmbed": "mapping.embed"}.get(m[1], f"mapping.fc{m[2]}")
            out[f"{ours}.{m[3]}"] = value.T if m[3] == "weight" else value
        else:
            raise AssertionError(f"the fixture wrote a variable the table does not know: {name}")
    return out


def assert_state_matches(net, expected):
    got = {k: t for k, t in net.state_dict().items() if not k.endswith("resample_filter")}
    assert sorted(got) == sorted(expected)
    for name, value in expected.items():
        np.testing.assert_array_equal(got[name].numpy(), np.asarray(value, np.float32), err_msg=name)


def test_every_tf_variable_lands_where_the_format_says(fixture):
    label, spec, path, g_vars, d_vars, gs_vars = fixture
    loaded = load_any(path)
    assert loaded.format == "stylegan2-tf"
    cfg = loaded.config
    R = cfg.resolution
    has_torgb = lambda r: cfg.g_architecture == "skip" or r == R  # noqa: E731
    assert_state_matches(loaded.networks["G_ema"], ours_from_tf_generator(gs_vars, R, has_torgb))
    assert_state_matches(loaded.networks["G"], ours_from_tf_generator(g_vars, R, has_torgb))
    assert_state_matches(loaded.networks["D"], ours_from_tf_discriminator(d_vars, R, cfg.d_architecture))


def test_the_architecture_is_read_from_the_kwargs_and_build_functions(fixture):
    label, spec, path, *_ = fixture
    cfg = load_any(path).config
    expected = {"config-f": ("skip", "resnet"), "config-e-Gorig-Dorig": ("orig", "orig"),
                "config-e-Gresnet-Dskip": ("resnet", "skip"), "config-c": ("orig", "orig"),
                "box-filter": ("resnet", "resnet"),
                "ada-conditional": ("skip", "resnet")}[label]
    assert (cfg.g_architecture, cfg.d_architecture) == expected
    assert cfg.channel_base == 2 * spec["G"]["fmap_base"] and cfg.channel_max == spec["G"]["fmap_max"]
    assert cfg.z_dim == spec["G"]["latent_size"] and cfg.w_dim == spec["G"]["dlatent_size"]
    assert cfg.c_dim == spec["G"]["label_size"] and cfg.conv_clamp == spec["G"].get("conv_clamp")


# ------------------------------------------------------------------------------------------------
# The TF graph in NumPy (float64).

def fir_taps(kw):
    """resample_kernel: [1,3,3,1] by default; None means the box filter ([1] * factor)."""
    if "resample_kernel" in kw and kw["resample_kernel"] is None:
        return (1, 1)
    return tuple(kw.get("resample_kernel", (1, 3, 3, 1)))


def setup_kernel(taps=(1, 3, 3, 1)):
    k = np.outer(taps, taps).astype(np.float64)
    return k / k.sum()


def upfirdn(x, k, up=1, down=1, pad0=0, pad1=0):
    """upfirdn_2d's reference: insert up-1 zeros after each pixel, pad, correlate with the flipped
    kernel (a true convolution), keep every down-th pixel."""
    N, C, H, W = x.shape
    if up > 1:
        u = np.zeros((N, C, H * up, W * up))
        u[:, :, ::up, ::up] = x
        x = u
    x = np.pad(x, ((0, 0), (0, 0), (pad0, pad1), (pad0, pad1)))
    kf = k[::-1, ::-1]
    kh, kw = k.shape
    oh, ow = x.shape[2] - kh + 1, x.shape[3] - kw + 1
    out = sum(x[:, :, i:i + oh, j:j + ow] * kf[i, j] for i in range(kh) for j in range(kw))
    return out[:, :, ::down, ::down]


def per_sample(w, n):
    return w if w.ndim == 5 else np.broadcast_to(w, (n, *w.shape))


def conv2d_same(x, w, stride=1, padding=None):
    """tf.nn.conv2d (a correlation) with 'SAME' padding for odd kernels, or 'VALID' (padding=0);
    w [k, k, I, O] or per sample [N, k, k, I, O]."""
    w = per_sample(w, len(x))
    k = w.shape[1]
    p = k // 2 if padding is None else padding
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    oh, ow = (xp.shape[2] - k) // stride + 1, (xp.shape[3] - k) // stride + 1
    out = 0
    for i in range(k):
        for j in range(k):
            patch = xp[:, :, i:i + stride * (oh - 1) + 1:stride, j:j + stride * (ow - 1) + 1:stride]
            out = out + np.einsum("nihw,nio->nohw", patch, w[:, i, j])
    return out


def upsample_conv_2d(x, w, taps=(1, 3, 3, 1)):
    """upsample_conv_2d: conv2d_transpose (stride 2, VALID) with the weight flipped and its channel
    axes swapped, then upfirdn with the [1,3,3,1] filter * 4."""
    w = per_sample(w, len(x))
    N, I, H, W = x.shape
    k, O = w.shape[1], w.shape[4]
    flipped = w[:, ::-1, ::-1]
    out = np.zeros((N, O, (H - 1) * 2 + k, (W - 1) * 2 + k))
    for i in range(k):
        for j in range(k):  # conv2d_transpose scatters each input pixel: y[2p + i] += x[p] * filter[i]
            out[:, :, i:i + 2 * H - 1:2, j:j + 2 * W - 1:2] += np.einsum("nihw,nio->nohw", x, flipped[:, i, j])
    p = (len(taps) - 2) - (k - 1)
    return upfirdn(out, setup_kernel(taps) * 4, pad0=(p + 1) // 2 + 1, pad1=p // 2 + 1)


def conv_downsample_2d(x, w, taps=(1, 3, 3, 1)):
    k = w.shape[0]
    p = (len(taps) - 2) + (k - 1)
    return conv2d_same(upfirdn(x, setup_kernel(taps), pad0=(p + 1) // 2, pad1=p // 2), w, stride=2, padding=0)


def upsample_2d(x, taps=(1, 3, 3, 1)):
    p = len(taps) - 2
    return upfirdn(x, setup_kernel(taps) * 4, up=2, pad0=(p + 1) // 2 + 1, pad1=p // 2)


def downsample_2d(x, taps=(1, 3, 3, 1)):
    p = len(taps) - 2
    return upfirdn(x, setup_kernel(taps), down=2, pad0=(p + 1) // 2, pad1=p // 2)


def bias_act(x, b, act, clamp):
    x = x + b.reshape(1, -1, *[1] * (x.ndim - 2))
    if act:
        x = np.where(x >= 0, x, 0.2 * x) * SQRT2
    return np.clip(x, -clamp, clamp) if clamp is not None else x


def dense(x, w, b, lrmul=1.0, act=False):
    return bias_act(x @ (w * (lrmul / math.sqrt(w.shape[0]))), b * lrmul, act, None)


def normalize_2nd_moment(x):
    return x / np.sqrt((x ** 2).mean(axis=1, keepdims=True) + 1e-8)


def tf_mapping(v, kw, ada, z, c):
    x = normalize_2nd_moment(z)
    if kw["label_size"]:
        assert ada, "only the ADA label embedding is supported"
        y = dense(c, v["mapping/LabelEmbed/weight"], v["mapping/LabelEmbed/bias"])
        x = np.concatenate([x, normalize_2nd_moment(y)], axis=1)
    for i in range(kw["mapping_layers"]):
        x = dense(x, v[f"mapping/Dense{i}/weight"], v[f"mapping/Dense{i}/bias"], kw.get("mapping_lrmul", 0.01), True)
    return x


def tf_generator(v, kw, synthesis, z, c=None, psi=1.0, cutoff=None):
    """G_main with randomize_noise=False (the stored noise maps): latents -> images NCHW."""
    v = {k: np.asarray(x, np.float64) for k, x in v.items()}
    ada, revised = synthesis == "G_synthesis", synthesis == "G_synthesis_stylegan_revised"
    arch = "orig" if revised else kw.get("architecture", "skip")
    L, clamp, taps = log2(kw["resolution"]), kw.get("conv_clamp"), fir_taps(kw)
    num_layers = 2 * L - 2
    dl = np.repeat(tf_mapping(v, kw, ada, z, c)[:, None], num_layers, axis=1)
    layer_psi = np.where(np.arange(num_layers) < (num_layers if cutoff is None else cutoff), psi, 1.0)
    dl = v["dlatent_avg"] + (dl - v["dlatent_avg"]) * layer_psi[None, :, None]

    def modulated(x, idx, scope, up=False, demodulate=True):
        w = v[f"synthesis/{scope}/weight"]
        w = w / math.sqrt(np.prod(w.shape[:-1]))
        s = dense(dl[:, idx], v[f"synthesis/{scope}/mod_weight"], v[f"synthesis/{scope}/mod_bias"]) + 1
        ww = w[None] * s[:, None, None, :, None]
        if demodulate:
            ww = ww / np.sqrt((ww ** 2).sum(axis=(1, 2, 3)) + 1e-8)[:, None, None, None, :]
        return upsample_conv_2d(x, ww, taps) if up else conv2d_same(x, ww)

    def layer(x, idx, scope, up=False):
        x = modulated(x, idx, scope, up)
        x = x + v[f"synthesis/noise{idx}"] * v[f"synthesis/{scope}/noise_strength"]
        return bias_act(x, v[f"synthesis/{scope}/bias"], True, clamp)

    def torgb(x, y, res):
        scope = f"ToRGB_lod{L - res}" if revised else f"{2 ** res}x{2 ** res}/ToRGB"
        t = bias_act(modulated(x, res * 2 - 3, scope, demodulate=False), v[f"synthesis/{scope}/bias"], False, clamp)
        return t if y is None else y + t

    x = np.repeat(v["synthesis/4x4/Const/const"], len(z), axis=0)
    x = layer(x, 0, "4x4/Conv")
    y = torgb(x, None, 2) if arch == "skip" else None
    for res in range(3, L + 1):
        R = 2 ** res
        t = x
        x = layer(x, res * 2 - 5, f"{R}x{R}/Conv0_up", up=True)
        x = layer(x, res * 2 - 4, f"{R}x{R}/Conv1")
        if arch == "resnet":
            skip = v[f"synthesis/{R}x{R}/Skip/weight"]
            x = (x + upsample_conv_2d(t, skip / math.sqrt(np.prod(skip.shape[:-1])), taps)) / SQRT2
        if arch == "skip":
            y = upsample_2d(y, taps)
        if arch == "skip" or res == L:
            y = torgb(x, y, res)
    return y


def minibatch_stddev(x, group, features):
    N, C, H, W = x.shape
    g = N if group is None else min(group, N)
    y = x.reshape(g, -1, features, C // features, H, W)
    y = np.sqrt(((y - y.mean(axis=0)) ** 2).mean(axis=0) + 1e-8)
    y = y.mean(axis=(2, 3, 4)).reshape(-1, features, 1, 1)
    return np.concatenate([x, np.tile(y, (g, 1, H, W))], axis=1)


def tf_discriminator(v, kw, build, images, c=None):
    v = {k: np.asarray(x, np.float64) for k, x in v.items()}
    arch = "orig" if build == "D_stylegan" else kw.get("architecture", "resnet")
    L, clamp, taps = log2(kw["resolution"]), kw.get("conv_clamp"), fir_taps(kw)

    def conv(x, scope, down=False, act=True):
        w = v[f"{scope}/weight"]
        w = w / math.sqrt(np.prod(w.shape[:-1]))
        x = conv_downsample_2d(x, w, taps) if down else conv2d_same(x, w)
        return bias_act(x, v[f"{scope}/bias"], True, clamp) if act else x

    def fromrgb(x, img, res):
        scope = f"FromRGB_lod{L - res}" if build == "D_stylegan" else f"{2 ** res}x{2 ** res}/FromRGB"
        if res == 2:
            scope = "4x4/FromRGB"
        t = conv(img, scope)
        return t if x is None else x + t

    x, y = None, images
    for res in range(L, 2, -1):
        R = 2 ** res
        if arch == "skip" or res == L:
            x = fromrgb(x, y, res)
        t = x
        x = conv(x, f"{R}x{R}/Conv0")
        x = conv(x, f"{R}x{R}/Conv1_down", down=True)
        if arch == "resnet":
            x = (x + conv(t, f"{R}x{R}/Skip", down=True, act=False)) / SQRT2
        if arch == "skip":
            y = downsample_2d(y, taps)
    if arch == "skip":
        x = fromrgb(x, y, 2)
    if mbstd_features(kw, build):
        group = kw.get("mbstd_group_size", None if build == "D_main" else 4)
        x = minibatch_stddev(x, group, mbstd_features(kw, build))
    x = conv(x, "4x4/Conv")
    x = dense(x.reshape(len(x), -1), v["4x4/Dense0/weight"], v["4x4/Dense0/bias"], act=True)
    out = dense(x, v["Output/weight"], v["Output/bias"])
    if kw["label_size"]:
        cmap = normalize_2nd_moment(dense(c, v["LabelEmbed/weight"], v["LabelEmbed/bias"]))
        for i in range(kw.get("mapping_layers", 0)):
            cmap = dense(cmap, v[f"Mapping{i}/weight"], v[f"Mapping{i}/bias"], kw.get("mapping_lrmul", 0.1), True)
        out = (out * cmap).sum(axis=1, keepdims=True) / math.sqrt(cmap.shape[1])
    return out


def to_uint8(images):
    """NCHW in [-1, 1] -> NHWC uint8 as generate.py / convert_images_to_uint8: x * 127.5 + 128, clamped."""
    return np.clip(images.transpose(0, 2, 3, 1) * 127.5 + 128, 0, 255).astype(np.uint8)


def reference_images(spec, gs_vars, seeds, psi=1.0, cutoff=None, class_idx=None):
    kw = spec["G"]
    out = []
    for seed in seeds:
        z = np.random.RandomState(seed).randn(1, kw["latent_size"])
        c = np.eye(kw["label_size"])[[class_idx]] if kw["label_size"] else None
        out.append(to_uint8(tf_generator(gs_vars, kw, spec["synthesis"], z, c, psi, cutoff)))
    return np.concatenate(out)


def assert_images_close(ours, expected):
    assert ours.shape == expected.shape and ours.dtype == np.uint8
    assert np.abs(ours.astype(int) - expected.astype(int)).max() <= 1
    inside = ((expected > 0) & (expected < 255)).mean()
    assert inside > 0.5, f"the fixture saturates ({inside:.0%} of the values are inside 1..254): a weak test"


# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("psi,cutoff", [(1.0, None), (0.7, None), (0.5, 3)])
def test_images_equal_the_tf_graph_within_one_grey_level(fixture, psi, cutoff):
    label, spec, path, _, _, gs_vars = fixture
    G = facegan.load(path)
    class_idx = 1 if spec["G"]["label_size"] else None
    seeds = [0, 1, 2, 3, 7]
    z = np.concatenate([np.random.RandomState(s).randn(1, G.z_dim) for s in seeds])
    ours = G.run(z, labels=class_idx, truncation_psi=psi, truncation_cutoff=cutoff, noise_mode="const")
    assert_images_close(ours, reference_images(spec, gs_vars, seeds, psi, cutoff, class_idx))


def test_the_clamp_is_active_in_the_conditional_fixture():
    spec = SPECS["ada-conditional"]
    v = generator_variables(np.random.default_rng(5), spec["G"], spec["synthesis"])
    z, c = np.random.RandomState(0).randn(1, 12), np.eye(3)[[1]]
    unclamped = tf_generator(v, {**spec["G"], "conv_clamp": None}, spec["synthesis"], z, c)
    assert not np.allclose(unclamped, tf_generator(v, spec["G"], spec["synthesis"], z, c))


def test_discriminator_scores_equal_the_tf_graph(fixture):
    label, spec, path, _, d_vars, _ = fixture
    D = facegan.load(path, which="D")
    images = np.random.default_rng(3).standard_normal((4, 3, 16, 16)) * 0.5
    c = np.eye(3)[[0, 2, 1, 1]] if spec["D_kw"]["label_size"] else None
    expected = tf_discriminator(d_vars, spec["D_kw"], spec["D"], images, c)
    with torch.no_grad():
        got = D(torch.tensor(images, dtype=torch.float32), None if c is None else torch.tensor(c, dtype=torch.float32))
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-4, atol=1e-4)
