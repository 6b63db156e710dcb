"""The Keras face tutorial's model (issue 22), pinned layer by layer: shapes, the parameter counts
Keras reports (from the layer formulas, no Keras), Keras' initialisers, Keras' RMSprop update, the
flipped and noisy labels, the tutorial's crop, and a tiny run through the CLI that writes its GIF.
Where its options apply: tests/test_training_faithful.py's table rows."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from facegan.cli import main
from facegan.data.decode import SkipImage
from facegan.data.transforms import TransformOptions, apply_transform
from facegan.networks import KerasFaceConfig, build_discriminator, build_generator
from facegan.training import resolve_options
from facegan.training.losses import adversarial_loss
from facegan.training.optim import KerasRMSprop
from training_helpers import lfw_archive

CFG = KerasFaceConfig()  # the tutorial: 128x128 RGB, latent 32


def layer_shapes(net: nn.Sequential, x: torch.Tensor) -> list[tuple[str, tuple[int, ...]]]:
    out = []
    for m in net:
        x = m(x)
        out.append((type(m).__name__, tuple(x.shape[1:])))
    return out


def test_the_generator_has_the_tutorial_s_layers_and_shapes():
    with torch.device("meta"):  # shapes only: no memory, no arithmetic
        G = build_generator(CFG)
        shapes = layer_shapes(G.synthesis.main, torch.empty(1, 32, 1, 1))
    assert shapes == [
        ("Flatten", (32,)), ("Linear", (128 * 16 * 16,)), ("LeakyReLU", (32768,)), ("_Reshape", (128, 16, 16)),
        ("Conv2d", (256, 16, 16)), ("LeakyReLU", (256, 16, 16)),
        ("ConvTranspose2d", (256, 32, 32)), ("LeakyReLU", (256, 32, 32)),
        ("ConvTranspose2d", (256, 64, 64)), ("LeakyReLU", (256, 64, 64)),
        ("ConvTranspose2d", (256, 128, 128)), ("LeakyReLU", (256, 128, 128)),
        ("Conv2d", (512, 128, 128)), ("LeakyReLU", (512, 128, 128)),
        ("Conv2d", (512, 128, 128)), ("LeakyReLU", (512, 128, 128)),
        ("Conv2d", (3, 128, 128)), ("Tanh", (3, 128, 128))]
    assert all(m.negative_slope == 0.3 for m in G.modules() if isinstance(m, nn.LeakyReLU))


def test_the_discriminator_has_the_tutorial_s_layers_and_shapes():
    with torch.device("meta"):
        D = build_discriminator(CFG)
        shapes = layer_shapes(D.main, torch.empty(1, 3, 128, 128))
    assert shapes == [
        ("Conv2d", (256, 126, 126)), ("LeakyReLU", (256, 126, 126)),
        ("Conv2d", (256, 62, 62)), ("LeakyReLU", (256, 62, 62)),
        ("Conv2d", (256, 30, 30)), ("LeakyReLU", (256, 30, 30)),
        ("Conv2d", (256, 14, 14)), ("LeakyReLU", (256, 14, 14)),
        ("Conv2d", (256, 6, 6)), ("LeakyReLU", (256, 6, 6)),
        ("Flatten", (9216,)), ("Dropout", (9216,)), ("Linear", (1,))]
    assert [m.p for m in D.modules() if isinstance(m, nn.Dropout)] == [0.4]


def keras_conv(k: int, cin: int, cout: int) -> int:   # Conv2D and Conv2DTranspose: kernel + bias
    return k * k * cin * cout + cout


def keras_dense(n_in: int, n_out: int) -> int:
    return n_in * n_out + n_out


def test_parameter_counts_equal_what_keras_reports_layer_by_layer():
    g = [keras_dense(32, 128 * 16 * 16), keras_conv(5, 128, 256), *[keras_conv(4, 256, 256)] * 3,
         keras_conv(5, 256, 512), keras_conv(5, 512, 512), keras_conv(7, 512, 3)]
    d = [keras_conv(3, 3, 256), *[keras_conv(4, 256, 256)] * 4, keras_dense(6 * 6 * 256, 1)]
    with torch.device("meta"):
        G, D = build_generator(CFG), build_discriminator(CFG)
    for net, expected in ((G, g), (D, d)):
        layers = [m for m in net.modules() if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d))]
        assert [sum(p.numel() for p in m.parameters()) for m in layers] == expected
        assert sum(p.numel() for p in net.parameters()) == sum(expected)
    assert sum(g) == 14_953_987 and sum(d) == 4_211_713   # Keras' model.summary() totals


def test_kernels_are_glorot_uniform_and_biases_zero():
    torch.manual_seed(0)
    for net in (build_generator(CFG), build_discriminator(CFG)):
        for m in net.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
                w = m.weight.detach()
                receptive = w[0, 0].numel() if w.ndim == 4 else 1
                fan_sum = (w.shape[0] + w.shape[1]) * receptive    # fan_in + fan_out, either layout
                limit = math.sqrt(6 / fan_sum)
                assert float(w.abs().max()) <= limit
                assert float(w.abs().max()) > 0.9 * limit           # the whole range is used
                assert abs(float(w.std()) - limit / math.sqrt(3)) < 0.1 * limit  # uniform's std
                assert not m.bias.any()


def test_one_rmsprop_step_with_clipping_and_decay_matches_keras_update_rule():
    lr, rho, eps, clip, decay = 0.1, 0.9, 1e-7, 1.0, 0.5
    p0 = np.array([0.5, -1.0, 2.0, 0.0])
    grads = [np.array([3.0, -0.25, -4.0, 0.5]), np.array([0.1, -2.0, 0.7, -0.5])]
    p = torch.tensor(p0, requires_grad=True)
    opt = KerasRMSprop([p], lr=lr, rho=rho, eps=eps, clipvalue=clip, decay=decay)
    expected, a = p0.copy(), np.zeros(4)
    for iterations, g in enumerate(grads):          # Keras: iterations counts earlier updates
        p.grad = torch.tensor(g)
        opt.step()
        g = np.clip(g, -clip, clip)
        a = rho * a + (1 - rho) * g * g
        expected = expected - lr / (1 + decay * iterations) * g / (np.sqrt(a) + eps)
        np.testing.assert_allclose(p.detach().numpy(), expected, rtol=1e-12)
    q = torch.tensor(p0, requires_grad=True)          # torch's own RMSprop (ρ 0.99, no clipping) differs
    torch_opt = torch.optim.RMSprop([q], lr=lr)
    for g in grads:
        q.grad = torch.tensor(g)
        torch_opt.step()
    assert not np.allclose(q.detach().numpy(), expected, atol=1e-3)


def test_flipped_labels_make_generated_one_and_real_zero_and_noise_only_raises_them():
    logits = torch.zeros(10000)
    # BCE at logit 0 is log 2 whatever the target; the gradient is sigmoid(0) - target = 0.5 - target.
    for towards_real, target in ((True, 0.0), (False, 1.0)):
        x = logits.clone().requires_grad_(True)
        adversarial_loss("bce", x, towards_real, label_flip=True).sum().backward()
        assert torch.allclose(x.grad, torch.full_like(x, 0.5 - target))
    x = logits.clone().requires_grad_(True)
    adversarial_loss("bce", x, towards_real=True, label_flip=True, label_noise=0.05).sum().backward()
    noise = 0.5 - x.grad                              # the noisy targets
    assert float(noise.min()) >= 0 and float(noise.max()) <= 0.05 and abs(float(noise.mean()) - 0.025) < 0.002


def test_the_keras_face_preset_is_the_tutorial_s_training(tmp_path):
    data = lfw_archive(tmp_path / "faces32.zip", 32, 8)
    o = resolve_options(str(data), arch="keras-dcgan")
    assert o.cfg == "keras-face" and o.network_config.z_dim == 32 and o.network_config.resolution == 32
    assert (o.optimizer, o.lr_g, o.lr_d, o.rho, o.eps, o.clip_value, o.lr_decay) == \
        ("rmsprop", 1e-4, 1e-4, 0.9, 1e-7, 1.0, 1e-8)
    assert (o.loss, o.label_flip, o.label_noise, o.batch, o.ema_kimg) == ("bce", True, 0.05, 16, 0.0)
    assert o.kimg * 1000 / o.batch == 20_000                  # iterations
    assert o.tick_kimg * 1000 / o.batch == 50 and o.image_snap == 1 and o.grid_z_std == 0.5
    assert not o.traits.shared_latents                        # G's step draws new latents


def test_the_keras_face_transform_is_the_tutorial_s_crop_and_thumbnail():
    from PIL import Image

    rng = np.random.RandomState(0)
    photo = rng.randint(0, 256, (218, 178, 3), dtype=np.uint8)
    out = apply_transform(photo, TransformOptions(transform="keras-face"))
    img = Image.fromarray(photo[15:193])
    img.thumbnail((128, 128))
    assert out.shape == (128, 128, 3) and np.array_equal(out, np.asarray(img))
    with pytest.raises(SkipImage, match="not an aligned CelebA photo"):
        apply_transform(photo[:178], TransformOptions(transform="keras-face"))


def test_a_tiny_keras_face_run_on_lfw_trains_through_the_cli_and_writes_its_grid_gif(tmp_path):
    from PIL import Image

    data = lfw_archive(tmp_path / "lfw32.zip", 32, 32)
    rc = main(["-q", "train", "--data", str(data), "--arch", "keras-dcgan", "--cfg", "tiny", "--kimg", "0.064",
               "--tick", "0.016", "--workers", "0", "--outdir", str(tmp_path / "runs")])
    assert rc in (0, None)
    (run,) = (tmp_path / "runs").iterdir()
    grids = sorted(p.name for p in run.glob("fakes[0-9]*.png"))
    assert grids == ["fakes000000_016.png", "fakes000000_032.png", "fakes000000_048.png", "fakes000000_064.png"]
    gif = Image.open(run / "progress.gif")
    assert gif.n_frames == 5                                   # fakes_init + a grid every tick
    assert (run / "network-final.safetensors").is_file()
    first, last = (np.asarray(Image.open(run / n)) for n in ("fakes_init.png", grids[-1]))
    assert not np.array_equal(first, last)                    # the grid shows training
