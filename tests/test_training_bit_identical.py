"""A fixed-seed tiny training run of each architecture ends with exactly the recorded weights.

The digests were recorded from the code before the training loop was redesigned as `TrainingRun`
(issue 13), so the redesign is proven to change no number. The configurations avoid the paths
that issue 12 deliberately changed (v1 R1 at lod > 0, the Adam correction of unregularised
nets, conditional v1 fakes): the progressive v1 run trains without R1 while it grows, and R1 is
checked by a second v1 run at full resolution (lod 0), where the old and new penalties agree.

A digest is SHA-256 over G, D and G_ema's tensors in name order, as float64 bytes. One CPU
thread, so oneDNN reduces in one order. A digest is specific to the CPU's instruction set: on a
machine whose oneDNN picks other kernels, re-record with FACEGAN_RECORD_DIGESTS=1 from the
commit before a change, then check the change against it.
"""

from __future__ import annotations

import hashlib
import os

import pytest
import torch

from facegan.networks import load_networks
from facegan.training import resolve_options, train
from facegan.training.options import ProgressiveOptions
from training_helpers import lfw_archive

SMALL_SG2 = dict(channel_base=256, channel_max=32, z_dim=32, w_dim=32)
BASE = dict(cfg="tiny", workers=0, batch=8, batch_gpu=4, kimg=0.032, tick_kimg=0.016, snap=1, seed=5)

RUNS = {
    "stylegan2": dict(arch="stylegan2", network_overrides=SMALL_SG2),
    "stylegan2-ada": dict(arch="stylegan2", network_overrides=SMALL_SG2, aug="ada", ada_kimg=0.1, ada_interval=2,
                          ada_target=-1.0),
    "stylegan-progressive": dict(arch="stylegan", r1_gamma=0.0, kimg=0.048,
                                 progressive=ProgressiveOptions(initial_resolution=8, training_kimg=0.008,
                                                                transition_kimg=0.024, minibatch_base=8,
                                                                minibatch_repeats=1, lr_base=0.002,
                                                                tick_kimg_dict={})),
    "stylegan-r1": dict(arch="stylegan", progressive=ProgressiveOptions(initial_resolution=16, minibatch_base=8,
                                                                        lr_base=0.002, tick_kimg_dict={})),
    "dcgan": dict(arch="dcgan", batch=8, batch_gpu=4),
}

RECORDED = {
    "stylegan2": "b3093b70f590bb88e0ef6ad547a0fb35cc83f929e8165f208fae3aac879e9e04",
    "stylegan2-ada": "7aef3cb515f0a63aa26b47bbee8da04f99cb30a08060c01749d5572477f36f36",
    "stylegan-progressive": "59bf067d10ff11be35be59ff4b7b8d6e18b8f8d620ca09ed2acf76eea875540f",
    "stylegan-r1": "52684398f5dde446f43191a9f1a76f2d11f5566f844a8a671b62ee8359fc4003",
    "dcgan": "8af1a4a6c144bd251eda14932b3e025857b127256a6865b9ed0f2ca4cb52565e",
}


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    return str(lfw_archive(tmp_path_factory.mktemp("data") / "faces16.zip", 16, 32))


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def weights_digest(path) -> str:
    nets, _, _ = load_networks(path)
    h = hashlib.sha256()
    for name in sorted(nets):
        for key, value in sorted(nets[name].state_dict().items()):
            h.update(f"{name}.{key}".encode())
            h.update(value.detach().to(torch.float64).contiguous().numpy().tobytes())
    return h.hexdigest()


@pytest.mark.parametrize("name", sorted(RUNS))
def test_a_fixed_seed_tiny_run_ends_with_the_recorded_weights(faces, tmp_path, one_thread, name):
    kw = {**BASE, **RUNS[name]}
    arch = kw.pop("arch")
    result = train(resolve_options(faces, arch=arch, outdir=str(tmp_path), **kw), progress=False)
    digest = weights_digest(result.run_dir / "network-final.safetensors")
    if os.environ.get("FACEGAN_RECORD_DIGESTS"):
        print(f'\n    "{name}": "{digest}",')
        return
    assert digest == RECORDED[name]
