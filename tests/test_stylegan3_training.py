"""StyleGAN3 training, as stylegan3's train.py and training/loss.py define it: the presets' values,
the values derived from the batch, the refused options, R1 every 16 steps with no G regulariser, the
magnitude EMAs and w_avg moved by D's fakes once per step, and -R's fading D-input blur."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from facegan.cli import main
from facegan.networks import StyleGAN3Config, build_discriminator, build_generator, load_networks
from facegan.networks.stylegan3_presets import recommended_gamma, stylegan3_training
from facegan.training import OptionNotApplicableError, resolve_options, resume_options, train
from facegan.training import distributed as dist
from facegan.training.ema import update_w_avg
from facegan.training.loop import make_optimizer, make_phases
from facegan.training.losses import GANLoss, LossContext, PhaseStats, blur_images, blur_sigma_at
from facegan.training.presets import DatasetFacts
from test_training_contract import SMALL, tiny
from training_helpers import lfw_archive


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    return str(lfw_archive(tmp_path_factory.mktemp("data") / "faces16.zip", 16, 32))


def preset(cfg: str, resolution: int = 1024, precision: str = "mixed") -> dict:
    return stylegan3_training(cfg, DatasetFacts(resolution, 3, 0), 0, 8, precision)


# -- the presets ---------------------------------------------------------------------------------

@pytest.mark.parametrize("cfg", ["stylegan3-t", "stylegan3-r"])
def test_the_presets_hold_the_official_train_py_defaults(cfg):
    v = preset(cfg)
    net = v["network"]
    assert (v["lr_g"], v["lr_d"], v["betas"], v["eps"]) == (0.0025, 0.002, (0.0, 0.99), 1e-8)
    assert (v["batch"], v["kimg"], v["tick_kimg"], v["snap"]) == (32, 25000, 4, 50)
    assert (v["ema_kimg"], v["ema_rampup"]) == (10.0, 0.05)              # batch * 10 / 32, the loop's ramp-up
    assert (v["d_reg_interval"], v["g_reg_interval"]) == (16, None)      # lazy R1, no G regularisation phase
    assert (v["pl_weight"], v["style_mixing_prob"], v["loss"]) == (0.0, 0.0, "logistic")
    assert (net["mapping_layers"], net["z_dim"], net["w_dim"], net["mbstd_group_size"]) == (2, 512, 512, 4)
    assert net["magnitude_ema_beta"] == pytest.approx(0.5 ** (32 / 20000)) == pytest.approx(0.998891, abs=1e-6)
    assert (net["num_fp16_res"], net["conv_clamp"]) == (4, 256)
    assert (net["d_channel_base"], net["d_channel_max"]) == (32768, 512)  # D keeps its capacity, also for R
    if cfg == "stylegan3-t":
        assert (net["conv_kernel"], net["use_radial_filters"], net["channel_base"], net["channel_max"]) == \
            (3, False, 32768, 512)
        assert v["blur_sigma"] == 0.0
    else:
        assert (net["conv_kernel"], net["use_radial_filters"], net["channel_base"], net["channel_max"]) == \
            (1, True, 65536, 1024)
        assert (v["blur_sigma"], v["blur_fade_kimg"]) == (10.0, 200.0)  # batch * 200 / 32


def test_gamma_is_the_recommended_configurations_value_for_the_resolution():
    """stylegan3 docs/configs.md: --gamma 0.5 at 128, 2 at 256, 8 at 512, 32 at 1024 (∝ res²)."""
    assert [recommended_gamma(r) for r in (128, 256, 512, 1024)] == [0.5, 2.0, 8.0, 32.0]
    assert preset("stylegan3-r", 512)["r1_gamma"] == 8.0


def test_fp32_precision_is_train_py_fp32(faces):
    net = resolve_options(faces, arch="stylegan3", cfg="stylegan3-t", precision="fp32").network
    assert (net["num_fp16_res"], net["conv_clamp"], net["d_num_fp16_res"], net["d_conv_clamp"]) == (0, None, 0, None)


def test_the_batch_derived_values_follow_the_final_batch_and_gamma_overrides(faces):
    opts = resolve_options(faces, arch="stylegan3", cfg="stylegan3-r", batch=64, r1_gamma=32.8)
    assert opts.ema_kimg == 20.0 and opts.blur_fade_kimg == 400.0 and opts.r1_gamma == 32.8
    assert opts.network["magnitude_ema_beta"] == pytest.approx(0.5 ** (64 / 20000))


def test_fine_tuning_starts_without_the_blur_and_the_ema_ramp_up(faces):
    """train.py --resume: ema_rampup None, blur_init_sigma 0, ada_kimg 100."""
    opts = resolve_options(faces, arch="stylegan3", cfg="stylegan3-r", resume="stylegan3-r-ffhqu-256x256.pkl")
    assert (opts.blur_sigma, opts.ema_rampup, opts.ada_kimg) == (0.0, None, 100)


@pytest.mark.parametrize("option, value", [("pl_weight", 2.0), ("style_mixing_prob", 0.9), ("pl_decay", 0.01)])
def test_path_length_and_style_mixing_are_refused_with_one_line(faces, option, value):
    with pytest.raises(OptionNotApplicableError, match=f"^{option} does not apply here") as info:
        resolve_options(faces, arch="stylegan3", **{option: value})
    assert "\n" not in str(info.value) and "--arch stylegan3" in str(info.value)


def test_the_cli_trains_stylegan3_by_name(faces, capsys):
    assert main(["train", "--data", faces, "--arch", "stylegan3", "--cfg", "stylegan3-r", "--gamma", "2",
                 "--dry-run"]) == 0
    opts = json.loads(capsys.readouterr().out)
    assert (opts["arch"], opts["cfg"], opts["r1_gamma"], opts["blur_sigma"]) == ("stylegan3", "stylegan3-r", 2.0, 10.0)


# -- the D-input blur ------------------------------------------------------------------------------

def test_the_blur_sigma_fades_linearly_from_10_to_0():
    fade = 200.0  # kimg
    assert blur_sigma_at(0, 10.0, fade) == 10.0
    assert blur_sigma_at(100_000, 10.0, fade) == 5.0
    assert blur_sigma_at(200_000, 10.0, fade) == 0.0 and blur_sigma_at(10**6, 10.0, fade) == 0.0
    assert blur_sigma_at(0, 10.0, 0.0) == 0.0   # no fade length, no blur (as the official loss)


@pytest.mark.parametrize("sigma", [1.5, 10.0])
def test_the_blur_is_the_official_normalised_gaussian_along_both_axes(sigma):
    """f(x) = 2^-(x/σ)² for |x| <= floor(3σ), normalised; zero padding keeps the size."""
    rng = np.random.RandomState(0)
    img = rng.randn(2, 3, 16, 16)
    r = int(np.floor(3 * sigma))
    taps = 2.0 ** -((np.arange(-r, r + 1) / sigma) ** 2)
    taps /= taps.sum()
    k = np.zeros((16, 16))                 # k[i, j]: weight of pixel j in output pixel i
    for i in range(16):
        for j in range(16):
            if abs(i - j) <= r:
                k[i, j] = taps[j - i + r]
    expected = np.einsum("ij,ncjk,lk->ncil", k, img, k)
    got = blur_images(torch.from_numpy(img).float(), sigma)
    np.testing.assert_allclose(got.numpy(), expected, atol=1e-5)
    assert torch.equal(blur_images(torch.from_numpy(img).float(), 0.3), torch.from_numpy(img).float())  # radius 0


# -- the loss: blur, averages ----------------------------------------------------------------------

def small_nets(**overrides):
    cfg = StyleGAN3Config(resolution=16, img_channels=1, **{**SMALL["stylegan3"], **overrides})
    torch.manual_seed(0)
    return build_generator(cfg).train(), build_discriminator(cfg).train()


def test_every_image_d_sees_is_blurred_and_r1_is_taken_on_the_unblurred_reals():
    G, D = small_nets()
    loss = GANLoss(G, D, r1_gamma=1.0, style_mixing_prob=0.0, averages_phase="D")
    ctx = LossContext(global_batch=4, blur_sigma=1.5)
    seen, fakes = [], []
    D.register_forward_pre_hook(lambda m, args: seen.append(args[0].detach().clone()))
    G.synthesis.register_forward_hook(lambda m, args, out: fakes.append(out.detach().clone()))
    real = torch.rand(4, 1, 16, 16) * 2 - 1
    z = torch.randn(4, G.z_dim)
    for phase in ("Gmain", "Dmain"):
        loss.accumulate(phase, real, None, z, None, 1, ctx, PhaseStats())
    # Gmain: a fake; Dmain: a fake, then the reals.
    torch.testing.assert_close(seen[0], blur_images(fakes[0], 1.5))
    torch.testing.assert_close(seen[1], blur_images(fakes[1], 1.5))
    torch.testing.assert_close(seen[2], blur_images(real, 1.5))
    stats = PhaseStats()
    loss.accumulate("Dreg", real, None, z, None, 16, ctx, stats)
    x = real.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(D(blur_images(x, 1.5), None).sum(), x)
    assert stats.mean("Loss/r1_penalty") == pytest.approx(float(grad.square().sum([1, 2, 3]).mean()), rel=1e-4)


def layer_inputs(G):
    """Forward pre-hooks recording every synthesis layer's input."""
    record: dict[str, list[torch.Tensor]] = {}
    for name in G.synthesis.layer_names:
        getattr(G.synthesis, name).register_forward_pre_hook(
            lambda m, args, name=name: record.setdefault(name, []).append(args[0].detach().clone()))
    return record


def test_magnitude_emas_and_w_avg_move_once_per_step_towards_the_d_fakes_means():
    """stylegan3's loss moves them in the G forward of D's fake phase (update_emas=True); facegan
    takes one step per training step, towards the mean over all rounds (and processes)."""
    beta = 0.9
    G, D = small_nets(magnitude_ema_beta=beta)
    loss = GANLoss(G, D, r1_gamma=1.0, style_mixing_prob=0.0, averages_phase="D")
    ctx = LossContext(global_batch=8)
    real = torch.rand(8, 1, 16, 16) * 2 - 1
    z = torch.randn(8, G.z_dim)
    before = {n: getattr(G.synthesis, n).magnitude_ema.clone() for n in G.synthesis.layer_names}
    w_avg_before = G.w_avg.clone()
    stats = PhaseStats()
    loss.accumulate("Gmain", real[:4], None, z[:4], None, 1, ctx, stats)
    assert stats.w_count == 0                          # G's own phase moves nothing
    stats.averages.apply()
    assert all(torch.equal(getattr(G.synthesis, n).magnitude_ema, before[n]) for n in before)

    record = layer_inputs(G)
    stats = PhaseStats()
    for r in range(2):                                 # two rounds of 4
        sl = slice(4 * r, 4 * r + 4)
        loss.accumulate("Dmain", real[sl], None, z[sl], None, 1, ctx, stats)
    assert all(torch.equal(getattr(G.synthesis, n).magnitude_ema, before[n]) for n in before)  # not yet
    stats.averages.apply()
    update_w_avg(G, stats.w_sum, stats.w_count, dist.Dist())
    for name, xs in record.items():
        mean = torch.stack([x.square().mean() for x in xs]).mean()
        torch.testing.assert_close(getattr(G.synthesis, name).magnitude_ema, torch.lerp(mean, before[name], beta))
    with torch.no_grad():
        w_mean = G.mapping(z, None)[:, 0].mean(0)
    torch.testing.assert_close(G.w_avg, torch.lerp(w_mean, w_avg_before, G.mapping.w_avg_beta))


def test_the_magnitude_emas_do_not_depend_on_how_the_batch_is_split():
    results = []
    for rounds in (1, 2):
        G, D = small_nets()
        loss = GANLoss(G, D, r1_gamma=1.0, style_mixing_prob=0.0, averages_phase="D")
        torch.manual_seed(1)
        real, z = torch.rand(8, 1, 16, 16) * 2 - 1, torch.randn(8, G.z_dim)
        stats = PhaseStats()
        for sl in torch.arange(8).chunk(rounds):
            loss.accumulate("Dmain", real[sl], None, z[sl], None, 1, LossContext(global_batch=8), stats)
        stats.averages.apply()
        results.append(torch.stack([b for n, b in G.named_buffers() if n.endswith("magnitude_ema")]))
    torch.testing.assert_close(results[0], results[1])


def test_a_collector_draws_as_the_official_forward_and_stores_the_step_only_on_apply():
    """A forward with update_emas=RunningAverages() draws what update_emas=True draws (each layer
    moves its EMA with its own samples just before using it, as the official forward), but stores
    nothing until apply(), which then stores what update_emas=True stored."""
    import copy

    from facegan.networks.base import RunningAverages

    G, _ = small_nets(magnitude_ema_beta=0.5)
    G2 = copy.deepcopy(G)
    z = torch.randn(4, G.z_dim)
    with torch.no_grad():
        before = G2(z)
        official = G(z, update_emas=True)
        collector = RunningAverages()
        collected = G2(z, update_emas=collector)
    assert not torch.allclose(official, before)      # the moved EMAs change the image
    torch.testing.assert_close(collected, official)
    assert torch.equal(G2.w_avg, torch.zeros_like(G2.w_avg))  # nothing stored yet
    assert all(float(b) == 1.0 for n, b in G2.named_buffers() if n.endswith("magnitude_ema"))
    collector.apply()
    torch.testing.assert_close(G2.w_avg, G.w_avg)
    for (name, ours), (_, theirs) in zip(G2.named_buffers(), G.named_buffers()):
        if name.endswith("magnitude_ema"):
            torch.testing.assert_close(ours, theirs, msg=name)


# -- phases and optimisers -------------------------------------------------------------------------

def test_r1_runs_every_16_steps_and_g_has_no_regularisation_phase(faces):
    opts = resolve_options(faces, arch="stylegan3", cfg="stylegan3-r", network_overrides=SMALL["stylegan3"])
    G, D = small_nets()
    loss = GANLoss(G, D, r1_gamma=opts.r1_gamma, style_mixing_prob=opts.style_mixing_prob, pl_weight=opts.pl_weight)
    optimizers = {"G": make_optimizer(G.parameters(), opts, opts.lr_g, opts.g_reg_interval),
                  "D": make_optimizer(D.parameters(), opts, opts.lr_d, opts.d_reg_interval)}
    phases = make_phases(opts, loss, {"G": G, "D": D}, optimizers, set())
    assert [(p.name, p.interval) for p in phases] == [("Gmain", 1), ("Dmain", 1), ("Dreg", 16)]
    g, d = optimizers["G"].param_groups[0], optimizers["D"].param_groups[0]
    assert (g["lr"], g["betas"]) == (0.0025, (0.0, 0.99))                       # no lazy correction for G
    assert d["lr"] == pytest.approx(0.002 * 16 / 17) and d["betas"][1] == pytest.approx(0.99 ** (16 / 17))


# -- a run -----------------------------------------------------------------------------------------

@pytest.mark.slow
def test_a_stylegan3_r_run_with_its_blur_resumes_exactly(faces, tmp_path):
    kw = dict(cfg="stylegan3-r", tick_kimg=0.008)
    straight = train(tiny(faces, tmp_path / "a", "stylegan3", kimg=0.032, **kw), progress=False)
    first = train(tiny(faces, tmp_path / "b", "stylegan3", **kw), progress=False)
    resumed = train(resume_options(str(first.run_dir), kimg=0.032), progress=False)
    assert resumed.nimg == 32
    opts = json.loads((first.run_dir / "options.json").read_text())
    assert opts["blur_sigma"] == 10.0 and opts["blur_fade_kimg"] == 8 * 200 / 32
    a, _, _ = load_networks(straight.run_dir / "network-final.safetensors")
    b, _, _ = load_networks(resumed.run_dir / "network-final.safetensors")
    for name in ("G", "D", "G_ema"):
        sa, sb = a[name].state_dict(), b[name].state_dict()
        for k in sa:
            assert torch.equal(sa[k], sb[k]), f"{name}.{k}"
    moved = [k for k, v in sa.items() if k.endswith("magnitude_ema") and float(v) != 1.0]
    assert moved  # the magnitude EMAs were trained and resumed


@pytest.mark.parametrize("arch, stepped", [("stylegan3", False), ("stylegan2", True)])
def test_r1_leaves_ds_output_bias_to_adam_as_the_official_loss_of_the_architecture(faces, tmp_path, arch, stepped):
    """D's output bias does not change R1 (a gradient with respect to the image). stylegan3's loss
    leaves it without a gradient, so its loop's Adam skips it in Dreg (no step counted, its second
    moment not decayed); stylegan2-ada-pytorch's loss adds `real_logits * 0`, a zero gradient that
    Adam does step. Stepping it in stylegan3 made D's next update of it differ from NVIDIA's."""
    from facegan.data import ImageDataset
    from facegan.training.loop import TrainingRun
    from test_training_contract import tiny

    run = TrainingRun(tiny(faces, tmp_path, arch), dist.Dist(), progress=False)
    run.dataset = ImageDataset(faces)
    run._build_networks()
    (dreg,) = [p for p in run.phases if p.name == "Dreg"]
    real = torch.rand(8, 1, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1
    assert run._run_phase(dreg, real, None, LossContext(global_batch=8), 8, 8, PhaseStats())
    params = dict(run.D.named_parameters())
    bias, state = params["b4.out.bias"], run.optimizers["D"].state
    assert float(state[params["b4.out.weight"]]["step"]) == 1
    if stepped:
        assert torch.equal(bias.grad, torch.zeros_like(bias)) and float(state[bias]["step"]) == 1
    else:
        assert bias.grad is None and bias not in state
