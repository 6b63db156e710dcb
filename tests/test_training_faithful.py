"""Training follows NVIDIA's numbers on the uncommon paths too (issue 12): v1 penalties at a
lower level of detail, WGAN-GP with lazy regularisation, options that do not apply, the Adam
correction of lazy regularisation, path-length normalisation, v1's conditional fakes, Freeze-D."""

from __future__ import annotations

import math

import pytest
import torch

from facegan.networks import StyleGAN2Config, build_discriminator, build_generator, stylegan_preset
from facegan.nn.scale2d import upscale2d
from facegan.training import APPLIES, OptionNotApplicableError, check_options_apply, resolve_options, train
from facegan.training import distributed as dist
from facegan.training.loop import TrainingRun
from facegan.training.losses import GANLoss, LossContext, PhaseStats
from facegan.training.options import ProgressiveOptions
from training_helpers import lfw_archive

SMALL_SG2 = dict(channel_base=256, channel_max=32, z_dim=32, w_dim=32)


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    return str(lfw_archive(tmp_path_factory.mktemp("data") / "faces16.zip", 16, 32))


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    return str(lfw_archive(tmp_path_factory.mktemp("data") / "labelled16.zip", 16, 32, labels=True))


def v1_nets(lod: float):
    cfg = stylegan_preset("stylegan-ffhq", 16, img_channels=1, z_dim=16, w_dim=16, mapping_layers=2, mapping_fmaps=16,
                          fmap_base=128, fmap_max=16)
    torch.manual_seed(0)
    G, D = build_generator(cfg), build_discriminator(cfg)
    D.lod.fill_(lod)
    G.synthesis.lod.fill_(lod)
    return G, D


# -- item 3: v1 R1 and WGAN-GP at lod > 0, w.r.t. the upsampled full-resolution reals -------------

@pytest.mark.parametrize("lod", [1.0, 1.5, 2.0])
def test_v1_r1_at_a_lower_level_of_detail_is_taken_through_the_upsampling(lod):
    G, D = v1_nets(lod)
    res = 16 >> int(math.floor(lod))
    real = torch.randn(3, 1, res, res)
    loss = GANLoss(G, D, "logistic", r1_gamma=10.0, style_mixing_prob=0.0, resolution=16)
    stats = PhaseStats()
    loss.accumulate("Dreg", real, None, torch.randn(3, 16), None, 1, LossContext(global_batch=3), stats)
    # NVIDIA's graph: the reals nearest-upsampled to 16x16, D at that lod, gradient w.r.t. the 16x16 image.
    full = upscale2d(real, 16 // res).requires_grad_(True)
    (grads,) = torch.autograd.grad(D(full).sum(), full)
    direct = grads.square().sum([1, 2, 3])
    assert stats.sums["Loss/r1_penalty"] == pytest.approx(float(direct.sum()), rel=1e-4)
    # The gradient w.r.t. the low-resolution reals (the old way) is 4^floor(lod) times larger.
    low = real.clone().requires_grad_(True)
    (low_grads,) = torch.autograd.grad(D(low).sum(), low)
    factor = 4 ** math.floor(lod)
    assert float(low_grads.square().sum()) == pytest.approx(factor * float(direct.sum()), rel=1e-4)


def test_v1_wgan_gp_at_a_lower_level_of_detail_is_taken_through_the_upsampling():
    G, D = v1_nets(2.0)
    real, fake = torch.randn(3, 1, 4, 4), torch.randn(3, 1, 4, 4)
    loss = GANLoss(G, D, "wgan-gp", resolution=16)
    stats = PhaseStats()
    torch.manual_seed(7)
    loss._wgan_penalty(real, fake, None, 1, LossContext(global_batch=3), stats)
    torch.manual_seed(7)
    alpha = torch.rand([3, 1, 1, 1])
    mixed = upscale2d(torch.lerp(real, fake, alpha), 4).requires_grad_(True)
    (grads,) = torch.autograd.grad(D(mixed).sum(), mixed)
    direct = (grads.flatten(1).norm(dim=1) - 1.0).square() * 10.0
    assert stats.sums["Loss/wgan_gp"] == pytest.approx(float(direct.sum()), rel=1e-4)


# -- item 4: WGAN-GP with lazy regularisation applies its penalty ---------------------------------

def test_stylegan2_wgan_gp_applies_the_penalty_in_its_lazy_phase(faces, tmp_path):
    opts = resolve_options(faces, arch="stylegan2", cfg="tiny", outdir=str(tmp_path), loss="wgan-gp", workers=0,
                           batch=4, batch_gpu=4, network_overrides=SMALL_SG2)
    run = TrainingRun(opts, dist.Dist(), progress=False)
    run.setup()
    assert [(p.name, p.interval) for p in run.phases] == [("Gmain", 1), ("Dmain", 1), ("Dreg", 16)]
    stats = run.step()                       # step 0: every phase runs
    assert stats.counts.get("Loss/wgan_gp") == 4


# -- item 5: an option that does not apply is refused, one table -----------------------------------

PROG = ProgressiveOptions()
# option: (value, a setting where it does not apply, a setting where it does) as (arch, loss, aug).
ROWS = {
    "r1_gamma": (5.0, ("stylegan", "wgan-gp", "noaug"), ("stylegan2", "logistic", "noaug")),
    "d_reg_interval": (8, ("stylegan", "logistic", "noaug"), ("stylegan2", "logistic", "noaug")),
    "g_reg_interval": (8, ("dcgan", "bce", "noaug"), ("stylegan2", "logistic", "noaug")),
    "pl_weight": (1.0, ("dcgan", "bce", "noaug"), ("stylegan2", "logistic", "noaug")),
    "pl_decay": (0.1, ("stylegan", "logistic", "noaug"), ("stylegan2", "logistic", "noaug")),
    "pl_batch_shrink": (4, ("stylegan2", "wgan-gp", "noaug"), ("stylegan2", "logistic", "noaug")),
    "wgan_lambda": (5.0, ("stylegan2", "logistic", "noaug"), ("stylegan", "wgan-gp", "noaug")),
    "wgan_epsilon": (0.01, ("dcgan", "bce", "noaug"), ("stylegan2", "wgan-gp", "noaug")),
    "wgan_target": (2.0, ("stylegan", "logistic", "noaug"), ("stylegan", "wgan-gp", "noaug")),
    "style_mixing_prob": (0.5, ("dcgan", "bce", "noaug"), ("stylegan", "logistic", "noaug")),
    "cond": (True, ("dcgan", "bce", "noaug"), ("stylegan2", "logistic", "noaug")),
    "aug": ("ada", ("dcgan", "bce", "ada"), ("stylegan2", "logistic", "ada")),
    "augpipe": ("bg", ("stylegan2", "logistic", "noaug"), ("stylegan2", "logistic", "fixed")),
    "aug_p": (0.2, ("stylegan", "logistic", "noaug"), ("stylegan", "logistic", "fixed")),
    "ada_target": (0.7, ("stylegan2", "logistic", "fixed"), ("stylegan2", "logistic", "ada")),
    "ada_interval": (8, ("stylegan2", "logistic", "noaug"), ("stylegan", "logistic", "ada")),
    "ada_kimg": (100, ("stylegan", "wgan-gp", "fixed"), ("stylegan2", "wgan-gp", "ada")),
    "progressive": (PROG, ("stylegan2", "logistic", "noaug"), ("stylegan", "logistic", "noaug")),
    "optimizer": ("rmsprop", ("dcgan", "bce", "noaug"), ("keras-dcgan", "bce", "noaug")),
    "rho": (0.9, ("dcgan", "bce", "noaug"), ("keras-dcgan", "bce", "noaug")),
    "clip_value": (1.0, ("stylegan2", "logistic", "noaug"), ("keras-dcgan", "bce", "noaug")),
    "lr_decay": (1e-8, ("dcgan", "bce", "noaug"), ("keras-dcgan", "bce", "noaug")),
    "label_flip": (True, ("stylegan2", "logistic", "noaug"), ("dcgan", "bce", "noaug")),
    "label_noise": (0.05, ("stylegan", "wgan-gp", "noaug"), ("keras-dcgan", "bce", "noaug")),
}


def test_every_row_of_the_table_is_tested():
    assert set(ROWS) == set(APPLIES)


@pytest.mark.parametrize("option", sorted(ROWS))
def test_an_option_is_refused_where_it_does_not_apply_and_accepted_where_it_does(option):
    value, refused, accepted = ROWS[option]
    flag = APPLIES[option][0]
    with pytest.raises(OptionNotApplicableError, match=f"^{flag} does not apply") as info:
        check_options_apply({option: value}, *refused)
    assert info.value.option == option
    check_options_apply({option: value}, *accepted)
    check_options_apply({option: None}, *refused)        # not given: nothing to refuse


def test_resolving_options_refuses_gamma_with_a_wgan_gp_preset_before_any_run_folder(faces, tmp_path):
    with pytest.raises(OptionNotApplicableError, match="--gamma"):
        resolve_options(faces, arch="stylegan", cfg="stylegan-celebahq", outdir=str(tmp_path / "runs"), r1_gamma=5)
    with pytest.raises(OptionNotApplicableError, match="--target"):
        resolve_options(faces, arch="stylegan2", cfg="tiny", ada_target=0.7)
    assert not (tmp_path / "runs").exists()


# -- item 6: the lazy-regularisation Adam correction, also for an unregularised net ---------------

def test_an_unregularised_net_with_an_interval_keeps_the_adam_correction(faces, tmp_path):
    opts = resolve_options(faces, arch="stylegan2", cfg="tiny", outdir=str(tmp_path), pl_weight=0.0, workers=0,
                           batch=4, batch_gpu=4, network_overrides=SMALL_SG2)
    run = TrainingRun(opts, dist.Dist(), progress=False)
    run.setup()
    group = run.optimizers["G"].param_groups[0]
    assert group["lr"] == pytest.approx(opts.lr_g * 4 / 5)               # as NVIDIA: cifar's G lr 0.002
    assert group["betas"] == pytest.approx((0.0, 0.99 ** (4 / 5)))
    assert [p.name for p in run.phases] == ["Gmain", "Dmain", "Dreg"]   # no PL phase to run


# -- item 7: path-length normalisation, v1's conditional fakes -------------------------------------

def test_the_path_length_penalty_is_a_mean_when_batch_gpu_does_not_divide_by_the_shrink():
    cfg = StyleGAN2Config(resolution=16, **SMALL_SG2)
    torch.manual_seed(0)
    G, D = build_generator(cfg), build_discriminator(cfg)
    loss = GANLoss(G, D, pl_weight=2.0, pl_batch_shrink=2, style_mixing_prob=0.0)
    z = torch.randn(1, 32)
    ctx = LossContext(global_batch=1, pl_mean=0.5)
    torch.manual_seed(3)
    loss.accumulate("Greg", torch.zeros(1, 3, 16, 16), None, z, None, 1, ctx, PhaseStats())
    ours = [p.grad.clone() for p in G.parameters()]
    G.zero_grad(set_to_none=True)
    torch.manual_seed(3)                      # the same draws, the penalty of the one sample by hand
    img, ws, _ = loss.run_G(z, None, ctx)
    noise = torch.randn_like(img) / 16.0      # 1/sqrt(H*W)
    (grads,) = torch.autograd.grad((img * noise).sum(), ws, create_graph=True)
    penalty = (grads.square().sum(2).mean(1).sqrt() - 0.5).square()
    (penalty.mean() * 2.0).backward()
    for a, p in zip(ours, G.parameters()):
        expected = torch.zeros_like(p) if p.grad is None else p.grad
        torch.testing.assert_close(a, expected, rtol=1e-5, atol=1e-8)


def test_conditional_v1_gives_d_fakes_the_reals_labels_and_g_random_ones(labelled, tmp_path):
    opts = resolve_options(labelled, arch="stylegan", cfg="tiny", outdir=str(tmp_path), cond=True, workers=0,
                           batch=8, batch_gpu=8)
    run = TrainingRun(opts, dist.Dist(), progress=False)
    run.setup()
    d_phase, g_phase = run.phases
    assert d_phase.module is run.D and g_phase.module is run.G
    real_c = torch.eye(3)[torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])]
    _, c = run._latents(d_phase, 0, 8, real_c)
    assert c is real_c
    _, c = run._latents(g_phase, 0, 8, real_c)
    assert c.shape == real_c.shape and not torch.equal(c, real_c)


def test_stylegan2_draws_d_fakes_labels_from_the_dataset(labelled, tmp_path):
    opts = resolve_options(labelled, arch="stylegan2", cfg="tiny", outdir=str(tmp_path), cond=True, workers=0,
                           batch=8, batch_gpu=8, network_overrides=SMALL_SG2)
    run = TrainingRun(opts, dist.Dist(), progress=False)
    run.setup()
    d_phase = next(p for p in run.phases if p.module is run.D)
    real_c = torch.eye(3)[torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])]
    _, c = run._latents(d_phase, 0, 8, real_c)
    assert c is not real_c


# -- Freeze-D --------------------------------------------------------------------------------------

def test_freeze_d_keeps_the_first_layers_bit_equal_while_fine_tuning_and_moves_the_rest(faces, tmp_path):
    base = train(resolve_options(faces, arch="stylegan2", cfg="tiny", outdir=str(tmp_path / "base"), workers=0,
                                 batch=4, batch_gpu=4, kimg=0.004, tick_kimg=0.004, network_overrides=SMALL_SG2),
                 progress=False)
    opts = resolve_options(faces, arch="stylegan2", cfg="tiny", outdir=str(tmp_path / "tune"), workers=0, batch=4,
                           batch_gpu=4, network_overrides=SMALL_SG2, freezed=3,
                           resume=str(base.run_dir / "network-final.safetensors"))
    run = TrainingRun(opts, dist.Dist(), progress=False)
    run.setup()
    before = {k: v.detach().clone() for k, v in run.D.named_parameters()}
    for _ in range(3):
        run.step()
    after = dict(run.D.named_parameters())
    frozen = [k for k in after if k.startswith(("b16.fromrgb.", "b16.conv0.", "b16.conv1."))]
    assert len(frozen) == 6                                       # the first 3 layers: weight and bias each
    for k in frozen:
        assert torch.equal(before[k], after[k]), k
    moved = [k for k in after if k not in frozen and not torch.equal(before[k], after[k])]
    assert set(moved) == set(after) - set(frozen)


def test_freeze_d_refuses_more_layers_than_d_has(faces, tmp_path):
    from facegan.errors import ConfigError

    opts = resolve_options(faces, arch="dcgan", cfg="tiny", outdir=str(tmp_path), workers=0, freezed=50)
    with pytest.raises(ConfigError, match="--freezed 50"):
        TrainingRun(opts, dist.Dist(), progress=False).setup()
    assert not list(tmp_path.iterdir())                            # a failed start leaves no run folder


def test_freeze_d_leaves_at_least_one_layer_trainable(faces, tmp_path):
    from facegan.errors import ConfigError
    from facegan.networks import build_discriminator
    from facegan.training.loop import frozen_layers

    D = build_discriminator(resolve_options(faces, arch="stylegan2", cfg="tiny").network_config)
    n = sum(1 for m in D.modules() if any(True for _ in m.parameters(recurse=False)))
    assert len(frozen_layers(D, n - 1)) < len(list(D.parameters()))
    with pytest.raises(ConfigError, match=f"--freezed {n}: .* at least one must stay trainable"):
        frozen_layers(D, n)
