"""The same seed gives the same face: `facegan generate` on an official file (and on its conversion)
writes seed0000.png, ... equal to within one grey level to what NVIDIA's scripts compute for the same
file and flags, here the independent NumPy computations of the official networks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from facegan.cli import main
from facegan.interop import convert
from facegan.networks import build_generator
from interop_fixtures import write_snapshot
from test_interop import randomize, sg2_init_kwargs, snapshot_config, v1_fixture, v1_reference
from test_interop_stylegan2_tf import SPECS, assert_images_close, reference_images, to_uint8, write_fixture
from test_stylegan1_reference import tiny as tiny_v1
from test_stylegan2_reference import reference_generator

SEEDS = [0, 1, 2, 3, 7]


def generate(network, outdir, *flags):
    code = main(["generate", "--network", str(network), "--seeds", "0-3,7", "--noise-mode", "const",
                 "--outdir", str(outdir), "--device", "cpu", *flags])
    assert code == 0
    return np.stack([np.asarray(Image.open(outdir / f"seed{s:04d}.png")) for s in SEEDS])


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """One file of each official format, with what the official code would compute for it."""
    d = tmp_path_factory.mktemp("official")
    out = {}
    path, cfg, *_, v = v1_fixture(d / "karras2019stylegan-tiny.pkl", tiny_v1())
    out["stylegan-tf"] = (path, lambda psi, cutoff, cls, v=v, cfg=cfg:
                          v1_reference(v, cfg, SEEDS, psi, 8 if cutoff is None else cutoff))
    for name in ("config-f", "ada-conditional"):
        spec = SPECS[name]
        *_, gs_vars = write_fixture(d / f"stylegan2-{name}.pkl", spec, seed=11)
        out[name] = (d / f"stylegan2-{name}.pkl",
                     lambda psi, cutoff, cls, spec=spec, v=gs_vars: reference_images(spec, v, SEEDS, psi, cutoff, cls))
    sg2_cfg = snapshot_config(c_dim=0)
    G = randomize(build_generator(sg2_cfg), 5)
    with torch.no_grad():  # keep the images inside the grey range, where the comparison means something
        for block in G.synthesis.children():
            block.torgb.weight.mul_(0.2)
    write_snapshot(d / "network-snapshot-000040.pkl", {"G_ema": G}, sg2_init_kwargs(sg2_cfg), "")
    sd = G.state_dict()

    def snapshot_reference(psi, cutoff, cls):
        assert cutoff is None and cls is None
        z = [np.random.RandomState(s).randn(sg2_cfg.z_dim) for s in SEEDS]
        return to_uint8(np.stack([reference_generator(sd, sg2_cfg, zi, psi) for zi in z]))
    out["stylegan2-ada-pytorch"] = (d / "network-snapshot-000040.pkl", snapshot_reference)
    return out


CASES = [
    ("stylegan-tf", ["--trunc", "0.7"], (0.7, None, None)),            # pretrained_example.py: psi 0.7, cutoff 8
    ("stylegan-tf", ["--trunc", "0.5", "--trunc-cutoff", "4"], (0.5, 4, None)),
    ("config-f", ["--trunc", "0.7"], (0.7, None, None)),               # generate.py: psi on every layer
    ("config-f", ["--trunc", "0.6", "--trunc-cutoff", "3"], (0.6, 3, None)),
    ("ada-conditional", ["--trunc", "1", "--class", "2"], (1.0, None, 2)),
    ("stylegan2-ada-pytorch", ["--trunc", "0.7"], (0.7, None, None)),
]


@pytest.mark.parametrize("name,flags,args", CASES, ids=[f"{c[0]}{''.join(c[1])}" for c in CASES])
def test_generate_writes_the_official_images(files, tmp_path, name, flags, args):
    path, reference = files[name]
    assert_images_close(generate(path, tmp_path / "out", *flags), reference(*args))


@pytest.mark.parametrize("name", ["stylegan-tf", "ada-conditional", "stylegan2-ada-pytorch"])
def test_a_converted_file_generates_the_same_images(files, tmp_path, name):
    path, _ = files[name]
    flags = ["--trunc", "0.7"] + (["--class", "1"] if name == "ada-conditional" else [])
    convert(path, tmp_path / "net.safetensors")
    np.testing.assert_array_equal(generate(tmp_path / "net.safetensors", tmp_path / "a", *flags),
                                  generate(path, tmp_path / "b", *flags))
