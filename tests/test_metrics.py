"""Metrics: the mathematics against direct computations and known cases, the feature networks'
file formats, and the runner end to end with its cache and result lines."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import scipy.linalg
import torch

from facegan.data import ArchiveWriter
from facegan.data.sources import lfw_subset
from facegan.errors import MetricError
from facegan.metrics import compute_metrics, frechet_distance, kernel_distance, precision_recall
from facegan.metrics.ppl import PixelDistance, filtered_mean, path_lengths
from facegan.metrics.stats import FeatureStats
from facegan.metrics.swd import SWDAccumulator, laplacian_pyramid, pyr_down, pyr_up, swd
from facegan.networks import StyleGAN2Config, build_generator, save_networks


def gaussian(n, d, shift=0.0, scale=1.0, seed=0):
    return np.random.RandomState(seed).randn(n, d) * scale + shift


def stats(x):
    return x.mean(0), np.cov(x, rowvar=False)


# -- FID ----------------------------------------------------------------------------------------

def test_frechet_distance_matches_a_direct_scipy_computation():
    a, b = gaussian(500, 8, seed=1), gaussian(400, 8, shift=0.3, scale=1.4, seed=2)
    (m1, s1), (m2, s2) = stats(a), stats(b)
    direct = np.sum((m1 - m2) ** 2) + np.trace(s1 + s2 - 2 * np.real(scipy.linalg.sqrtm(s1 @ s2)))
    assert frechet_distance(m1, s1, m2, s2) == pytest.approx(direct, rel=1e-6)


def test_identical_sets_give_zero_and_farther_sets_larger_distances():
    a = gaussian(1000, 6)
    assert abs(frechet_distance(*stats(a), *stats(a))) < 1e-6
    near, far = gaussian(1000, 6, shift=0.2, seed=3), gaussian(1000, 6, shift=1.0, seed=4)
    assert frechet_distance(*stats(a), *stats(near)) < frechet_distance(*stats(a), *stats(far))


def test_streaming_statistics_equal_the_batch_ones():
    x = gaussian(300, 5, seed=5)
    fs = FeatureStats(5, capture_all=True, capacity=300)
    for chunk in np.array_split(x, 7):
        fs.append(chunk)
    mean, cov = fs.mean_cov()
    np.testing.assert_allclose(mean, x.mean(0), rtol=1e-10)
    np.testing.assert_allclose(cov, np.cov(x, rowvar=False), rtol=1e-8, atol=1e-12)
    # KID and precision/recall read these: float32, as the official code keeps them (not float16).
    assert fs.all().dtype == np.float32
    np.testing.assert_array_equal(fs.all(), x.astype(np.float32))
    fs.close()


# -- KID ------------------------------------------------------------------------------------------

def test_kid_is_unbiased_on_equal_distributions_and_grows_with_a_shift():
    a, b = gaussian(2000, 16, seed=6), gaussian(2000, 16, seed=7)
    same = kernel_distance(a, b, num_subsets=50, max_subset_size=500)
    assert abs(same) < 2e-3   # unbiased: around zero (can be negative)
    shifted = kernel_distance(a, gaussian(2000, 16, shift=0.5, seed=8), num_subsets=50, max_subset_size=500)
    assert shifted > 20 * abs(same)


# -- precision / recall --------------------------------------------------------------------------

def test_precision_and_recall_on_point_clouds_with_known_overlap():
    real = gaussian(1500, 4, seed=9)
    p, r = precision_recall(real, gaussian(1500, 4, seed=10), k=3)
    assert p > 0.8 and r > 0.8
    p, r = precision_recall(real, gaussian(1500, 4, shift=20, seed=11), k=3)
    assert p == 0 and r == 0
    # Generated points collapsed near the mode: precise but without recall.
    p, r = precision_recall(real, gaussian(1500, 4, scale=0.1, seed=12), k=3)
    assert p > 0.95 and r < 0.3


# -- SWD -----------------------------------------------------------------------------------------

def test_laplacian_pyramid_reconstructs_the_image():
    x = torch.randn(2, 3, 32, 32)
    pyr = laplacian_pyramid(x, 3)
    assert [p.shape[-1] for p in pyr] == [32, 16, 8]
    rec = pyr[-1]
    for level in reversed(pyr[:-1]):
        rec = pyr_up(rec) + level
    torch.testing.assert_close(rec, x, atol=1e-4, rtol=0)
    assert pyr_down(x).shape[-1] == 16


def _images(shift=0.0, seed=0, n=64):
    faces = lfw_subset()[:n].astype(np.float32)
    rng = np.random.RandomState(seed)
    x = np.stack([np.kron(f[:16, :16], np.ones((2, 2))) for f in faces])[:, None]  # 32x32
    return torch.from_numpy(np.clip(x + shift + rng.randn(*x.shape) * 4, 0, 255))


def test_swd_is_small_for_the_same_images_and_grows_with_a_change():
    def dist(a, b):
        ra, rb = SWDAccumulator(32, seed=1), SWDAccumulator(32, seed=2)
        ra.append(a)
        rb.append(b)
        return swd(ra, rb)["SWDx1e3_avg"]

    base = _images(seed=0)
    same = dist(base, _images(seed=1))
    near = dist(base, _images(shift=10, seed=2) * 0.95)
    far = dist(base, torch.flip(_images(seed=3), dims=[2]) * 0.6)
    assert same < near < far


# -- PPL -----------------------------------------------------------------------------------------

def tiny_generator(img_channels=1, **kw):
    torch.manual_seed(0)
    return build_generator(StyleGAN2Config(resolution=32, channel_base=256, channel_max=16, z_dim=16, w_dim=16,
                                           mapping_layers=2, img_channels=img_channels, **kw))


def test_ppl_with_the_pixel_fallback_is_positive_and_does_not_touch_the_network():
    G = tiny_generator()
    before = {k: v.clone() for k, v in G.state_dict().items()}
    dist = path_lengths(G, PixelDistance(), 16, batch=8)
    assert dist.shape == (16,) and (dist > 0).all()
    assert all(torch.equal(before[k], v) for k, v in G.state_dict().items())
    assert filtered_mean(np.arange(1.0, 101.0)) == pytest.approx(50.5)


# -- weight files ----------------------------------------------------------------------------------

def test_inception_loads_pytorch_fid_state_dicts_and_refuses_others(tmp_path):
    from facegan.metrics.inception import FIDInception, load_inception

    torch.manual_seed(0)
    ref = FIDInception().eval()
    state = {k: v for k, v in ref.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save(state, tmp_path / "pt_inception-2015-12-05-6726825d.pth")
    net = load_inception(str(tmp_path / "pt_inception-2015-12-05-6726825d.pth"))
    x = torch.rand(2, 3, 64, 64) * 255
    with torch.no_grad():
        f = net(x)
        assert f.shape == (2, 2048) and torch.equal(f, net(x)) and torch.equal(f, ref(x))
    del state["Mixed_6c.branch7x7_2.conv.weight"]
    torch.save(state, tmp_path / "broken.pth")
    with pytest.raises(MetricError, match="Mixed_6c.branch7x7_2.conv.weight"):
        load_inception(str(tmp_path / "broken.pth"))
    (tmp_path / "inception-2015-12-05.pt").write_bytes(b"PK")
    with pytest.raises(MetricError, match="TorchScript"):
        load_inception(str(tmp_path / "inception-2015-12-05.pt"))


def test_missing_weights_offline_name_the_file(tmp_path, monkeypatch):
    from facegan.metrics.inception import load_inception

    monkeypatch.setenv("FACEGAN_CACHE", str(tmp_path))
    with pytest.raises(MetricError, match="pt_inception-2015-12-05-6726825d.pth"):
        load_inception(download=False)


def test_lpips_and_vgg_features_from_their_file_layouts(tmp_path):
    from facegan.metrics.vgg16 import VGG16, VGGFeatures, load_lpips, load_vgg16

    torch.manual_seed(0)
    torch.save(VGG16().state_dict(), tmp_path / "vgg16.pth")
    lin = {f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1) for i, c in enumerate((64, 128, 256, 512, 512))}
    torch.save(lin, tmp_path / "vgg.pth")
    lp = load_lpips(str(tmp_path / "vgg16.pth"), str(tmp_path / "vgg.pth"))
    a, b = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(lp(a, a), torch.zeros(2)) and (lp(a, b) > 0).all()
        assert VGGFeatures(load_vgg16(str(tmp_path / "vgg16.pth")))(a * 127.5 + 127.5).shape == (2, 4096)
    bad = dict(lin)
    bad["lin2.model.1.weight"] = torch.rand(1, 7, 1, 1)
    torch.save(bad, tmp_path / "bad.pth")
    with pytest.raises(MetricError, match="lin2"):
        load_lpips(str(tmp_path / "vgg16.pth"), str(tmp_path / "bad.pth"))


# -- the runner ----------------------------------------------------------------------------------

@pytest.fixture
def archive(tmp_path):
    faces = lfw_subset()[:64]
    from PIL import Image

    with ArchiveWriter(tmp_path / "faces.zip") as w:
        for f in faces:
            w.add(np.asarray(Image.fromarray(f).resize((32, 32)))[:, :, None])
    return tmp_path / "faces.zip"


@pytest.fixture
def random_inception(tmp_path):
    from facegan.metrics.inception import FIDInception

    torch.manual_seed(1)
    path = tmp_path / "incep.pth"
    torch.save(FIDInception().state_dict(), path)
    return str(path)


def test_runner_appends_result_lines_and_reuses_cached_statistics(archive, tmp_path, monkeypatch, random_inception):
    monkeypatch.setenv("FACEGAN_CACHE", str(tmp_path / "cache"))
    G = tiny_generator()
    run = tmp_path / "run"
    first = compute_metrics(G, str(archive), ["swd1k", "kid50k_full"], run_dir=run, num_gen=24, batch=8,
                            inception=random_inception)
    assert first["swd1k"] > 0 and np.isfinite(first["kid50k_full"])
    line = json.loads((run / "metric-kid50k_full.jsonl").read_text())
    assert line["metric"] == "kid50k_full" and line["results"] == {"kid50k_full": first["kid50k_full"]}
    assert {"total_time", "total_time_str", "num_gpus", "snapshot_pkl", "timestamp"} <= set(line)
    assert len(list((tmp_path / "cache" / "metrics").glob("*.npz"))) == 1

    import facegan.metrics.features as feat

    def no_reals(*args, **kwargs):
        raise AssertionError("real statistics were recomputed instead of read from the cache")

    monkeypatch.setattr(feat, "dataset_batches", no_reals)
    second = compute_metrics(G, str(archive), ["kid50k_full"], run_dir=run, num_gen=24, batch=8,
                             inception=random_inception)
    assert second["kid50k_full"] == pytest.approx(first["kid50k_full"])
    assert len((run / "metric-kid50k_full.jsonl").read_text().splitlines()) == 2
    with pytest.raises(MetricError, match="unknown metric"):
        compute_metrics(G, str(archive), ["fid1"])


@pytest.mark.slow
def test_fid_end_to_end_separates_a_trained_looking_set_from_noise(archive, tmp_path, monkeypatch, random_inception):
    monkeypatch.setenv("FACEGAN_CACHE", str(tmp_path / "cache"))
    G = tiny_generator()
    fid = compute_metrics(G, str(archive), ["fid50k_full"], num_gen=32, batch=16, inception=random_inception)
    assert fid["fid50k_full"] > 0


def test_cli_metrics_on_a_saved_network(archive, tmp_path):
    G = tiny_generator()
    save_networks(tmp_path / "net.safetensors", {"G_ema": G}, G.config)
    out = subprocess.run([sys.executable, "-m", "facegan", "metrics", "--network", str(tmp_path / "net.safetensors"),
                          "--data", str(archive), "--metrics", "swd1k", "--num-gen", "32", "--batch", "16",
                          "--device", "cpu"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "swd1k" in out.stdout and json.loads(out.stdout.strip().splitlines()[-1])["swd1k"] > 0
    bad = subprocess.run([sys.executable, "-m", "facegan", "metrics", "--network", str(tmp_path / "net.safetensors"),
                          "--data", str(archive), "--metrics", "fid50k_full", "--no-download",
                          "--cache-dir", str(tmp_path / "empty")], capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0 and "pt_inception" in bad.stderr and "Traceback" not in bad.stderr


# -- reproducibility, counts, mismatched data, PPL precision -------------------------------------

def noisy_generator(img_channels=1, **kw):
    """A tiny generator whose noise inputs matter (noise strengths start at zero in a new network)."""
    G = tiny_generator(img_channels, **kw)
    with torch.no_grad():
        for name, p in G.named_parameters():
            if name.endswith("noise_strength"):
                p.fill_(1.0)
    return G


def test_the_same_seed_gives_the_same_number_and_leaves_the_global_rng_alone(archive):
    G = noisy_generator()
    state = torch.get_rng_state()
    runs = [compute_metrics(G, str(archive), ["swd1k"], num_gen=8, batch=8, seed=s)["swd1k"] for s in (0, 0, 1)]
    assert runs[0] == runs[1]   # noise maps included: they come from the seed, not torch's global state
    assert runs[0] != runs[2]
    assert torch.equal(torch.get_rng_state(), state)


def test_a_metric_from_fewer_images_than_its_name_warns_and_records_the_counts(archive, tmp_path, caplog):
    G = noisy_generator()
    with caplog.at_level("WARNING", logger="facegan.metrics.runner"):
        compute_metrics(G, str(archive), ["swd1k"], run_dir=tmp_path, num_gen=16, batch=8)
    line = json.loads((tmp_path / "metric-swd1k.jsonl").read_text())
    assert (line["num_gen"], line["num_real"]) == (16, 16)
    assert "swd1k was computed from 16 generated (its name says 1024) and 16 real (its name says 1024)" in caplog.text


@pytest.fixture
def rgb_archive(tmp_path):
    from PIL import Image

    with ArchiveWriter(tmp_path / "rgb.zip") as w:
        for f in lfw_subset()[:8]:
            w.add(np.asarray(Image.fromarray(f).resize((32, 32)).convert("RGB")))
    return tmp_path / "rgb.zip"


def test_a_dataset_that_does_not_fit_the_network_is_refused_before_any_work(archive, rgb_archive, tmp_path):
    from facegan.metrics.runner import MetricOptions, check_dataset

    grey = tiny_generator(1)
    with pytest.raises(MetricError, match=r"swd1k compares pixels: .*rgb.zip holds RGB images \(3 channel"):
        compute_metrics(grey, str(rgb_archive), ["swd1k"], run_dir=tmp_path, num_gen=8)
    assert not list(tmp_path.glob("metric-*.jsonl"))
    # The feature-network metrics compare grey and RGB as the official code does (grey -> RGB).
    check_dataset(grey, MetricOptions(data=str(rgb_archive)), ["fid50k_full", "kid50k", "pr50k3"])
    big = build_generator(StyleGAN2Config(resolution=64, channel_base=256, channel_max=16, z_dim=16, w_dim=16,
                                          mapping_layers=2, img_channels=1))
    with pytest.raises(MetricError, match="holds 32x32 images; the network makes 64x64"):
        compute_metrics(big, str(archive), ["fid50k_full"])
    for bad in (dict(batch=0), dict(batch=-1), dict(num_gen=-5)):
        with pytest.raises(MetricError, match="must be a positive whole number"):
            compute_metrics(grey, str(archive), ["swd1k"], **bad)


def test_ppl_runs_the_synthesis_in_float32_even_where_float16_layers_run():
    from facegan.nn.precision import cpu_fp16

    G = noisy_generator(num_fp16_res=2, conv_clamp=256)
    expected = path_lengths(G, PixelDistance(), 8, batch=8)
    with cpu_fp16():  # float16 blocks on, as on CUDA: PPL must still measure in float32
        # cpu_fp16 also takes CUDA's fused-modulation choice, a float32 reordering that moves these
        # 1/eps^2-scaled lengths by ~0.1%; measured in float16 they are ~70x off.
        np.testing.assert_allclose(path_lengths(G, PixelDistance(), 8, batch=8), expected, rtol=1e-2)


def test_z_space_ppl_interpolates_on_the_unit_sphere_as_the_official_code():
    from facegan.metrics.ppl import unit_slerp

    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(5, 16, generator=gen) * 3, torch.randn(5, 16, generator=gen) * 0.5
    t = torch.rand(5, 1, generator=gen)

    def official(a, b, t):  # stylegan2-ada-pytorch metrics/perceptual_path_length.py, restated
        a, b = a / a.norm(dim=-1, keepdim=True), b / b.norm(dim=-1, keepdim=True)
        d = (a * b).sum(dim=-1, keepdim=True)
        p = t * torch.acos(d)
        c = b - d * a
        c = c / c.norm(dim=-1, keepdim=True)
        out = a * torch.cos(p) + c * torch.sin(p)
        return out / out.norm(dim=-1, keepdim=True)

    torch.testing.assert_close(unit_slerp(a, b, t), official(a, b, t))
    torch.testing.assert_close(unit_slerp(a * 7, b, t), unit_slerp(a, b, t))  # lengths do not matter
