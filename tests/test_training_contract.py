"""The training contract, over every architecture the registry can train: one step moves the
weights and stays finite, and a run stopped and resumed ends exactly where a straight run ends.

A new architecture (one module + one registry entry with its TrainingTraits and a `tiny` preset)
is covered here without writing a test."""

from __future__ import annotations

import pytest
import torch

from facegan.networks import load_networks, trainable_architectures, training_traits
from facegan.training import distributed as dist
from facegan.training import resolve_options, resume_options, train
from facegan.training.loop import TrainingRun
from training_helpers import lfw_archive

ARCHS = trainable_architectures()
SMALL = {"stylegan2": dict(channel_base=256, channel_max=32, z_dim=32, w_dim=32),
         # 5 synthesis layers (the last two critically sampled), a 2-pixel margin: seconds per step.
         "stylegan3": dict(channel_base=128, channel_max=16, z_dim=16, w_dim=16, num_layers=4, margin_size=2,
                           d_channel_base=128, d_channel_max=16)}
SLOW = {"stylegan3"}   # its first step alone takes more than 5 s on a 2-core CPU


def marked(archs):
    return [pytest.param(a, marks=pytest.mark.slow) if a in SLOW else a for a in archs]


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    return str(lfw_archive(tmp_path_factory.mktemp("data") / "faces16.zip", 16, 32))


def tiny(data, outdir, arch, **kw):
    base = dict(cfg="tiny", outdir=str(outdir), workers=0, batch=8, batch_gpu=4, kimg=0.016, tick_kimg=0.008,
                snap=1, network_overrides=SMALL.get(arch))
    return resolve_options(data, arch=arch, **{**base, **kw})


def test_every_built_in_architecture_is_trainable():
    assert {"stylegan", "stylegan2", "stylegan3", "dcgan", "keras-dcgan"} <= set(ARCHS)


@pytest.mark.parametrize("arch", ARCHS)
def test_the_registry_entry_names_a_tiny_preset_and_a_default_loss(arch):
    traits = training_traits(arch)
    assert "tiny" in traits.presets and traits.default_preset in traits.presets
    assert traits.losses and set(traits.phase_order) == {"G", "D"}


@pytest.mark.parametrize("arch", marked(ARCHS))
def test_one_training_step_moves_G_and_D_and_stays_finite(faces, tmp_path, arch):
    run = TrainingRun(tiny(faces, tmp_path, arch), dist.Dist(), progress=False)
    run.setup()
    before = {n: {k: v.clone() for k, v in net.state_dict().items()} for n, net in (("G", run.G), ("D", run.D))}
    stats = run.step()
    assert run.state.step == 1 and run.state.nimg == 8
    assert stats.mean("Loss/G/loss") is not None and stats.mean("Loss/scores/real") is not None
    for name, net in (("G", run.G), ("D", run.D)):
        after = net.state_dict()
        assert all(torch.isfinite(v).all() for v in after.values())
        assert any(not torch.equal(before[name][k], after[k]) for k in after), f"{name} did not move"
    assert not any(p.requires_grad for p in run.G.parameters())  # the step leaves no net trainable


@pytest.mark.parametrize("arch", marked(ARCHS))
def test_a_stopped_and_resumed_run_ends_exactly_like_a_straight_one(faces, tmp_path, arch):
    straight = train(tiny(faces, tmp_path / "a", arch, kimg=0.032), progress=False)
    first = train(tiny(faces, tmp_path / "b", arch), progress=False)
    resumed = train(resume_options(str(first.run_dir), kimg=0.032), progress=False)
    assert resumed.run_dir == first.run_dir and resumed.nimg == 32
    a, _, _ = load_networks(straight.run_dir / "network-final.safetensors")
    b, _, _ = load_networks(resumed.run_dir / "network-final.safetensors")
    for name in ("G", "D", "G_ema"):
        sa, sb = a[name].state_dict(), b[name].state_dict()
        assert sa.keys() == sb.keys()
        for k in sa:
            assert torch.equal(sa[k], sb[k]), f"{name}.{k}"


def test_training_imports_nothing_downstream_of_it():
    """The data flow: training may use data, nn, networks, interop, utils; never metrics (a callback
    brings them in), generation, projection, web or the CLI."""
    import ast
    from pathlib import Path

    import facegan.training

    downstream = ("facegan.metrics", "facegan.generation", "facegan.projection", "facegan.web", "facegan.cli")
    for path in Path(facegan.training.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not [n for n in names if n.startswith(downstream)], f"{path.name} imports {names}"


def test_a_fourth_architecture_trains_from_one_registry_entry(faces, tmp_path):
    """The walk-through of docs/architecture.md: a new config, its networks, one registry entry with
    its training traits; training needs no other change (here DCGAN's networks under a new name,
    trained with the logistic loss and R1, D then G)."""
    from dataclasses import dataclass

    from facegan.networks import DCGANConfig, DCGANDiscriminator, DCGANGenerator, TrainingTraits
    from facegan.networks.config import _REGISTRY, register_architecture
    from facegan.training import OptionNotApplicableError

    @dataclass(frozen=True)
    class ToyConfig(DCGANConfig):
        arch = "toygan"

    def preset(facts, c_dim, gpus, precision):
        net = ToyConfig(resolution=facts.resolution, img_channels=facts.channels, ngf=8, ndf=8)
        return dict(network=net.to_dict(), batch=8, batch_gpu=4, lr_g=0.002, lr_d=0.002, kimg=0.016, r1_gamma=1.0,
                    pl_weight=0.0, style_mixing_prob=0.0, d_reg_interval=None, g_reg_interval=None, ema_kimg=0.0)

    register_architecture(ToyConfig, DCGANGenerator, DCGANDiscriminator, training=TrainingTraits(
        losses=("logistic",), presets={"tiny": preset}, default_preset="tiny", phase_order=("D", "G"),
        conditional=False, augmentable=False))
    try:
        opts = resolve_options(faces, arch="toygan", outdir=str(tmp_path), workers=0, tick_kimg=0.008)
        result = train(opts, progress=False)
        assert result.nimg == 16
        nets, config, _ = load_networks(result.run_dir / "network-final.safetensors")
        assert config.arch == "toygan" and set(nets) == {"G", "D", "G_ema"}
        with pytest.raises(OptionNotApplicableError, match="pl_weight"):
            resolve_options(faces, arch="toygan", pl_weight=1.0)
    finally:
        _REGISTRY.pop("toygan", None)
