"""The contract every registered network architecture keeps (after diffusers' ModelTesterMixin): one
class of tests, run once per architecture by a subclass that names a tiny config. What is specific
to one architecture stays in its own file (test_stylegan1.py, test_stylegan2.py,
test_networks_common.py for DCGAN).

Checked for each: G(z, c), G.mapping then G.synthesis, G.run (uint8, batch-independent), w_avg,
noise modes, truncation, conditioning, grayscale, bad inputs, the config's JSON and the
.safetensors file round trip, the R1 double backward, torch.compile, bf16 autocast, the fp16 path
(on the CPU through facegan.nn.precision.cpu_fp16) and a float64 network. A new architecture gets
all of it by adding one subclass; test_every_registered_architecture_has_a_contract demands it.
"""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch

import facegan
from facegan.errors import ConfigError, NetworkInputError
from facegan.networks import (
    DCGANConfig,
    KerasFaceConfig,
    NetworkConfig,
    StyleGAN2Config,
    StyleGANConfig,
    architectures,
    build_discriminator,
    build_generator,
    config_from_dict,
    load_networks,
    save_networks,
    stylegan3_preset,
)
from facegan.nn.precision import cpu_fp16
from network_helpers import with_random_parameters


class NetworkContract:
    """Subclasses set `config` (tiny, unconditional) and `conditional` (None if unsupported)."""

    config: NetworkConfig
    conditional: NetworkConfig | None = None
    has_noise: bool = True        # per-pixel noise inputs (noise_mode matters)
    tracks_w_avg: bool = True     # update_emas=True moves w_avg (DCGAN's stays at the origin)

    # -- helpers ---------------------------------------------------------------------------------

    def nets(self, config: NetworkConfig | None = None):
        cfg = config or self.config
        torch.manual_seed(0)
        G = with_random_parameters(build_generator(cfg)).eval()
        D = with_random_parameters(build_discriminator(cfg), seed=1).eval()
        return G, D

    def labels(self, cfg: NetworkConfig, n: int) -> torch.Tensor | None:
        return torch.eye(cfg.c_dim)[torch.arange(n) % cfg.c_dim] if cfg.c_dim else None

    def z(self, G, n: int = 3, seed: int = 0) -> torch.Tensor:
        return torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(seed))

    # -- the three ways of using a generator -----------------------------------------------------

    def test_is_registered_and_its_config_round_trips_through_json(self):
        cfg = self.config
        assert cfg.arch in architectures()
        assert config_from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
        with pytest.raises(ConfigError, match=f"unknown {cfg.arch} network option"):
            config_from_dict({**cfg.to_dict(), "bogus": 1})

    def test_generator_and_discriminator_give_the_documented_shapes(self):
        G, D = self.nets()
        cfg = self.config
        img = G(self.z(G))
        assert img.shape == (3, cfg.img_channels, cfg.resolution, cfg.resolution) and img.dtype == torch.float32
        assert torch.isfinite(img).all()
        assert D(img).shape == (3, 1)
        assert (G.z_dim, G.img_resolution, G.img_channels, G.c_dim) == (cfg.z_dim, cfg.resolution, cfg.img_channels,
                                                                        cfg.c_dim)

    def test_mapping_then_synthesis_equals_the_generator(self):
        G, _ = self.nets()
        z = self.z(G)
        ws = G.mapping(z, None)
        assert ws.shape == (3, G.num_ws, G.w_dim)
        torch.testing.assert_close(G.synthesis(ws), G(z))

    def test_ws_are_a_tensor_of_their_own_that_style_mixing_can_write_into(self):
        G, _ = self.nets()
        ws = G.mapping(self.z(G), None)
        other = G.mapping(self.z(G, seed=1), None)
        ws[:, -1:] = other[:, -1:]   # the official idiom assigns into ws in place
        torch.testing.assert_close(ws[:, -1], other[:, -1])
        torch.testing.assert_close(ws[:, :-1], G.mapping(self.z(G), None)[:, :-1])

    def test_run_gives_uint8_nhwc_of_the_module_image_whatever_the_batch(self):
        G, _ = self.nets()
        cfg = self.config
        z = self.z(G, 3).numpy()
        a = G.run(z, truncation_psi=1.0, batch_size=2)
        b = G.run(z, truncation_psi=1.0, batch_size=3)
        assert a.dtype == np.uint8 and a.shape == (3, cfg.resolution, cfg.resolution, cfg.img_channels)
        np.testing.assert_array_equal(a, b)
        img = G(torch.from_numpy(z).float(), truncation_psi=1.0)
        expected = (img * 127.5 + 128).clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
        np.testing.assert_array_equal(a, expected)

    # -- w_avg and truncation --------------------------------------------------------------------

    def test_w_avg_moves_only_when_asked(self):
        G, _ = self.nets()
        assert G.w_avg.shape == (G.w_dim,)
        before = G.w_avg.clone()
        z = self.z(G, 6)
        G(z)
        torch.testing.assert_close(G.w_avg, before)
        w = G.mapping(z, None)[:, 0]
        G(z, update_emas=True)
        assert G.tracks_w_avg == self.tracks_w_avg
        if self.tracks_w_avg:
            beta = self.config.w_avg_beta
            torch.testing.assert_close(G.w_avg, w.mean(0) + (before - w.mean(0)) * beta)
        else:
            torch.testing.assert_close(G.w_avg, before)
        after = G.w_avg.clone()
        G.update_w_avg(w.mean(0) + 1)   # the step a training loop takes with a gathered mean
        expected = w.mean(0) + 1 + (after - w.mean(0) - 1) * self.config.w_avg_beta if self.tracks_w_avg else after
        torch.testing.assert_close(G.w_avg, expected)

    def test_truncation_pulls_every_layer_towards_w_avg(self):
        G, _ = self.nets()
        z = self.z(G)
        w = G.mapping(z, None)
        torch.testing.assert_close(G.mapping(z, None, truncation_psi=1.0), w)
        half = G.mapping(z, None, truncation_psi=0.5, truncation_cutoff=G.num_ws)
        torch.testing.assert_close(half, G.w_avg + 0.5 * (w - G.w_avg))
        zero = G.mapping(z, None, truncation_psi=0.0, truncation_cutoff=G.num_ws)
        torch.testing.assert_close(zero, G.w_avg.expand_as(w))
        with pytest.raises(NetworkInputError, match="per-layer values"):
            G.mapping(z, None, truncation_psi=torch.ones(G.num_ws + 1))

    # -- noise -----------------------------------------------------------------------------------

    def test_noise_modes_const_random_and_none(self):
        G, _ = self.nets()
        ws = G.mapping(self.z(G, 2), None)
        const = G.synthesis(ws, noise_mode="const")
        torch.testing.assert_close(G.synthesis(ws, noise_mode="const"), const)
        random = [G.synthesis(ws, noise_mode="random") for _ in range(2)]
        none = G.synthesis(ws, noise_mode="none")
        if self.has_noise:
            assert not torch.allclose(random[0], random[1])
            assert not torch.allclose(none, const)
            G0 = copy.deepcopy(G)
            with torch.no_grad():  # 'const' reads the stored noise buffers: zero maps give 'none'
                for name, buf in G0.named_buffers():
                    if name.endswith("noise_const"):
                        buf.zero_()
            torch.testing.assert_close(G0.synthesis(ws, noise_mode="const"), none)
        else:
            torch.testing.assert_close(random[0], const)
            torch.testing.assert_close(none, const)
        with pytest.raises(ConfigError, match="noise_mode"):
            G.synthesis(ws, noise_mode="bogus")

    # -- labels, channels, bad inputs ------------------------------------------------------------

    def test_conditional_networks_use_the_label(self):
        if self.conditional is None:
            pytest.skip(f"{self.config.arch} is unconditional")
        cfg = self.conditional
        G, D = self.nets(cfg)
        z = self.z(G, 2)
        c0, c1 = torch.eye(cfg.c_dim)[[0, 0]], torch.eye(cfg.c_dim)[[1, 1]]
        assert not torch.allclose(G(z, c0), G(z, c1))
        img = G(z, c0)
        assert not torch.allclose(D(img, c0), D(img, c1))
        assert G.run(z.numpy(), labels=1).shape == (2, cfg.resolution, cfg.resolution, cfg.img_channels)
        with pytest.raises(NetworkInputError, match="conditional"):
            G.run(z.numpy())
        with pytest.raises(NetworkInputError, match="out of range"):
            G.run(z.numpy(), labels=cfg.c_dim)

    def test_grayscale_networks(self):
        cfg = self.config.replace(img_channels=1)
        G, D = self.nets(cfg)
        img = G(self.z(G, 2))
        assert img.shape == (2, 1, cfg.resolution, cfg.resolution)
        assert G.run(np.zeros((1, G.z_dim))).shape == (1, cfg.resolution, cfg.resolution, 1)
        assert D(img).shape == (2, 1)

    def test_bad_inputs_are_named(self):
        G, D = self.nets()
        with pytest.raises(NetworkInputError, match=rf"z must have shape \[N, {G.z_dim}\]"):
            G.mapping(torch.randn(2, G.z_dim + 1), None)
        with pytest.raises(NetworkInputError, match="latents must have shape"):
            G.run(np.zeros((2, G.z_dim + 1)))
        with pytest.raises(NetworkInputError, match="ws must have shape"):
            G.synthesis(torch.randn(2, G.num_ws + 1, G.w_dim))
        with pytest.raises(NetworkInputError, match="unconditional"):
            G.run(np.zeros((1, G.z_dim)), labels=0)
        with pytest.raises(NetworkInputError):
            D(torch.randn(2, 3 - self.config.img_channels + 1, self.config.resolution, self.config.resolution))

    # -- files -----------------------------------------------------------------------------------

    def test_networks_round_trip_through_the_safetensors_file(self, tmp_path):
        cfg = self.conditional or self.config
        G, D = self.nets(cfg)
        path = tmp_path / "net.safetensors"
        save_networks(path, {"G": G, "D": D, "G_ema": G}, cfg, metadata={"kimg": 12})
        nets, cfg2, meta = load_networks(path)
        assert cfg2 == cfg and set(nets) == {"G", "D", "G_ema"} and meta["kimg"] == "12"
        for name, net in (("G_ema", G), ("D", D)):
            loaded = nets[name].state_dict()
            assert loaded.keys() == net.state_dict().keys()
            assert all(torch.equal(loaded[k], v) for k, v in net.state_dict().items())
        z = self.z(G, 2).numpy()
        labels = 1 if cfg.c_dim else None
        np.testing.assert_array_equal(nets["G_ema"].run(z, labels=labels), G.run(z, labels=labels))
        np.testing.assert_array_equal(facegan.load(path).run(z, labels=labels), G.run(z, labels=labels))
        img = G(torch.from_numpy(z).float(), self.labels(cfg, 2))
        torch.testing.assert_close(nets["D"](img, self.labels(cfg, 2)), D(img, self.labels(cfg, 2)))

    # -- gradients, compile, precision -----------------------------------------------------------

    def test_discriminator_supports_the_r1_double_backward(self):
        G, D = self.nets()
        D.train()
        img = G(self.z(G, 4)).detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(D(img).sum(), img, create_graph=True)
        grad.square().sum().backward()
        grads = [p.grad for p in D.parameters() if p.grad is not None]
        assert grads and any(g.abs().sum() > 0 for g in grads) and all(torch.isfinite(g).all() for g in grads)

    @pytest.mark.slow  # test_stylegan1.py and test_stylegan2.py compile their networks in the quick suite
    def test_torch_compile_captures_one_graph_that_matches_eager(self):
        import torch._dynamo

        G, D = self.nets()
        z = self.z(G, 2)
        torch._dynamo.reset()
        G_c = torch.compile(G, backend="aot_eager", fullgraph=True)  # fullgraph: a graph break is an error
        D_c = torch.compile(D, backend="aot_eager", fullgraph=True)
        with torch.no_grad():
            img = G_c(z, noise_mode="const")
            torch.testing.assert_close(img, G(z, noise_mode="const"))
            torch.testing.assert_close(D_c(img), D(img))

    def test_bfloat16_autocast_stays_close_to_float32(self):
        G, D = self.nets()
        z = self.z(G, 4).numpy()
        a = G.run(z, truncation_psi=1).astype(int)
        b = G.run(z, truncation_psi=1, precision="bf16").astype(int)
        assert np.abs(a - b).mean() < 4
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert torch.isfinite(D(G(torch.from_numpy(z).float()))).all()

    def test_fp16_runs_on_the_cpu_only_when_forced_and_stays_close_to_float64(self):
        G, D = self.nets()
        G64, D64 = copy.deepcopy(G).double(), copy.deepcopy(D).double()
        z = self.z(G, 2)
        with pytest.raises(ConfigError, match="fp16"):
            G.run(z.numpy(), precision="fp16")
        with cpu_fp16():
            half = G.run(z.numpy(), truncation_psi=1, precision="fp16").astype(int)
            with torch.no_grad():
                img = G(z)              # the network's own float16 layers, if it has any
                scores = D(img)
        full = G64.run(z.double().numpy(), truncation_psi=1).astype(int)
        assert np.abs(half - full).mean() < 3
        with torch.no_grad():
            ref, ref_scores = G64(z.double()), D64(img.double())
        assert float((img.double() - ref).abs().max()) < 0.05 * float(ref.abs().max())
        assert float((scores.double() - ref_scores).abs().max()) < 0.05 * float(ref_scores.abs().max()) + 1e-3

    def test_a_float64_network_computes_in_float64(self):
        G, D = self.nets()
        G, D = G.double(), D.double()
        img = G(self.z(G).double())
        assert img.dtype == torch.float64 and D(img).dtype == torch.float64


class TestStyleGAN(NetworkContract):
    config = StyleGANConfig(resolution=16, z_dim=16, w_dim=16, mapping_layers=3, mapping_fmaps=16, fmap_base=64,
                            fmap_max=16)
    conditional = config.replace(c_dim=3)


class TestStyleGAN2(NetworkContract):
    # The two highest resolutions in float16 with the clamp: the official training configs' layout.
    config = StyleGAN2Config(resolution=16, channel_base=256, channel_max=32, mapping_layers=2, z_dim=32, w_dim=32,
                             num_fp16_res=2, conv_clamp=256)
    conditional = config.replace(c_dim=3)


class TestDCGAN(NetworkContract):
    config = DCGANConfig(resolution=16, z_dim=16, ngf=8, ndf=8)
    has_noise = False
    tracks_w_avg = False


class TestStyleGAN3(NetworkContract):
    # -T at 32x32 with 4 layers (every kind of layer); no per-pixel noise inputs (the paper drops them).
    config = stylegan3_preset("stylegan3-t", 32, z_dim=8, w_dim=8, num_layers=4, channel_base=128, channel_max=8,
                              d_channel_base=128, d_channel_max=8)
    conditional = config.replace(c_dim=3)
    has_noise = False


class TestKerasFace(NetworkContract):
    config = KerasFaceConfig(resolution=16, z_dim=16, dense_channels=8, g_channels=8, g_top_channels=8, d_channels=8)
    has_noise = False
    tracks_w_avg = False


def test_every_registered_architecture_has_a_contract():
    covered = {cls.config.arch for cls in NetworkContract.__subclasses__()}
    assert covered == set(architectures())
