"""Claims the docs make in prose, each checked against what facegan does (issue 23's seven drifts, and
the rules that keep numbers in one place). The examples themselves run in tests/test_docs.py."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

import facegan
from docs_harness import ROOT, doc_files, relpath
from facegan.networks import StyleGAN2Config, build_discriminator, build_generator, save_networks
from facegan.utils.images import to_uint8
from training_helpers import lfw_archive

DOCS = ROOT / "docs"


def page(name: str) -> str:
    return (DOCS / name).read_text()


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory):
    cfg = StyleGAN2Config(resolution=16, z_dim=16, w_dim=16, mapping_layers=2, channel_base=64, channel_max=16)
    torch.manual_seed(0)
    G = build_generator(cfg)
    path = tmp_path_factory.mktemp("claims") / "net.safetensors"
    save_networks(path, {"G": G, "D": build_discriminator(cfg), "G_ema": G}, cfg)
    return path


# 1. api.md: "gradients reach z and the weights"
def test_load_freezes_the_weights_unless_asked_and_z_gets_gradients_either_way(tiny_file):
    for requires_grad in (False, True):
        G = facegan.load(tiny_file, requires_grad=requires_grad)
        assert not G.training
        z = torch.randn(2, G.z_dim, requires_grad=True)
        G(z, None, noise_mode="random").mean().backward()
        assert z.grad is not None and z.grad.abs().sum() > 0
        grads = [p.grad for p in G.parameters()]
        if requires_grad:
            assert all(g is not None for g in grads)
        else:
            assert all(g is None for g in grads)
    block = re.search(r"### 2\. A differentiable module\s+```python\n(.*?)```", page("api.md"), re.DOTALL).group(1)
    assert "requires_grad=True" in block and "gradients reach z and the weights" in block


# 2. api.md, architecture.md: the float output "in [-1, 1]"
def test_generator_output_is_not_clamped_and_to_uint8_clamps(tiny_file):
    G = facegan.load(tiny_file)
    with torch.no_grad():
        for block in G.synthesis.children():  # a network that overshoots, as untrained ones do
            block.torgb.weight.mul_(50)
        img = G(torch.randn(4, G.z_dim), None, noise_mode="const")
    assert img.abs().max() > 1
    u8 = to_uint8(img)
    assert u8.dtype == torch.uint8 or u8.dtype == np.uint8
    for name in ("api.md", "architecture.md", "networks.md"):
        for line in page(name).split("\n"):
            if re.search(r"G\(|synthesis\(|Images inside the networks", line):
                assert "] in [-1, 1]" not in line and "NCHW in [-1, 1]" not in line, f"{name}: {line}"
    assert "not clamped" in page("api.md") and "not clamped" in page("architecture.md")


# 3. api.md: read_pickle "returns the object tree"
def test_read_pickle_returns_pickle_contents_whose_obj_is_the_tree(tmp_path):
    from facegan.interop import read_pickle
    from facegan.interop.unpickler import PickleContents
    from interop_fixtures import write_snapshot
    from test_interop import EVIL_SRC, sg2_init_kwargs

    cfg = StyleGAN2Config(resolution=16, z_dim=16, w_dim=16, mapping_layers=2, channel_base=64, channel_max=16)
    write_snapshot(tmp_path / "s.pkl", {"G_ema": build_generator(cfg)}, sg2_init_kwargs(cfg), EVIL_SRC)
    contents = read_pickle(tmp_path / "s.pkl")
    assert isinstance(contents, PickleContents) and isinstance(contents.obj, dict) and "G_ema" in contents.obj
    assert "returns a `PickleContents` whose\n`.obj` is the file's object tree" in page("api.md")


# 4. training.md: the `tiny` row(s) of the preset table
def preset_rows(text: str) -> dict[str, list[str]]:
    rows = {}
    for line in text.split("\n"):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 8 and cells[1] == "`tiny`":
            rows[cells[0]] = cells
    return rows


@pytest.mark.parametrize("arch", ["stylegan2", "stylegan", "dcgan"])
def test_the_tiny_preset_row_of_each_architecture_matches_the_preset(arch, tmp_path):
    from facegan.training import resolve_options

    row = preset_rows(page("training.md"))[arch]
    _, _, batch, lr, _, gamma, ema, _ = row[:8]
    opts = resolve_options(str(lfw_archive(tmp_path / "f.zip", resolution=16, count=8)), arch=arch, cfg="tiny")
    assert int(batch) == opts.batch
    assert float(lr.split(",")[0]) == opts.lr_g == opts.lr_d
    if gamma == "0.0002·R²/batch":
        assert opts.r1_gamma == pytest.approx(0.0002 * 16 ** 2 / opts.batch)
    elif gamma == "–":
        assert opts.r1_gamma == 0
    else:
        assert opts.r1_gamma == float(gamma)
    if ema == "none":
        assert opts.ema_kimg == 0
    else:
        assert opts.ema_kimg == pytest.approx(float(re.search(r"([\d.]+) kimg", ema).group(1)))


# 5. training.md: the CPU speed of `tiny`, quoted from one place
def test_the_cpu_training_speed_is_linked_from_benchmarks_not_repeated():
    training = page("training.md")
    paragraph = re.search(r"On a CPU, the `tiny` preset's training speed.*?\n\n", training, re.DOTALL).group(0)
    assert "benchmarks.md#training-throughput" in paragraph and "--configs tiny" in paragraph
    assert not re.search(r"\d+\s*images/second", paragraph)
    bench = page("benchmarks.md")
    assert "## Training throughput" in bench and "train_throughput.py --configs tiny" in bench


# 6. training.md: fakesNNNNNN.png
def test_fakes_grids_are_named_by_whole_kimg_so_close_snapshots_share_a_file(tmp_path):
    from facegan.training import resolve_options, train

    data = lfw_archive(tmp_path / "f.zip", resolution=16, count=32)
    run = train(resolve_options(str(data), arch="dcgan", cfg="tiny", kimg=0.064, tick_kimg=0.032, snap=1, workers=0,
                                outdir=str(tmp_path / "runs")), progress=False).run_dir
    assert sorted(p.name for p in run.glob("fakes*.png")) == ["fakes000000.png", "fakes_init.png"]
    assert "number of images shown // 1000" in page("training.md")


# 7. datasets.md: ImageDataset(use_labels=True) on an unlabelled archive (the behaviour itself is pinned
# in tests/test_data_dataset.py)
def test_the_loader_docs_promise_zero_width_labels_for_unlabelled_archives(tmp_path):
    from facegan.data import ImageDataset
    from facegan.errors import ConfigError
    from facegan.training import resolve_options

    data = lfw_archive(tmp_path / "u.zip", resolution=16, count=2)
    assert ImageDataset(data, use_labels=True)[0][1].shape == (0,)
    with pytest.raises(ConfigError, match="--cond needs labels"):
        resolve_options(str(data), cfg="tiny", cond=True)
    text = page("datasets.md")
    assert "(size 0 if the archive has none)" in text and "serves zero-width labels" in text
    assert "`facegan train\n--cond` refuses such an archive" in text


# Links between pages resolve, anchors included (a number quoted elsewhere is a link to its one source).
def anchor(heading: str) -> str:
    slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
    return slug


@pytest.mark.parametrize("path", doc_files(), ids=[relpath(p) for p in doc_files()])
def test_links_to_other_pages_and_their_sections_resolve(path):
    text = path.read_text()
    broken = []
    for target, frag in re.findall(r"\]\(((?:[\w./-]+)?\.md)?(?:#([\w-]+))?\)", text):
        if not target and not frag:
            continue
        dest = (path.parent / target).resolve() if target else path
        if not dest.exists():
            broken.append(f"{target} (no such page)")
            continue
        if frag:
            headings = {anchor(h) for h in re.findall(r"^#+\s+(.*)$", dest.read_text(), re.MULTILINE)}
            if frag not in headings:
                broken.append(f"{target}#{frag} (no such section)")
    assert not broken, f"{relpath(path)}: {broken}"


# A speed-up quoted with benchmarks.md as its source is the figure benchmarks.md gives.
@pytest.mark.parametrize("path", [p for p in doc_files() if p.name != "benchmarks.md"],
                         ids=[relpath(p) for p in doc_files() if p.name != "benchmarks.md"])
def test_ratios_cited_from_benchmarks_are_the_ones_it_measured(path):
    bench = page("benchmarks.md")
    wrong = []
    for paragraph in re.split(r"\n\s*\n", path.read_text()):
        if "benchmarks.md" not in paragraph:
            continue
        for ratio in re.findall(r"(?<![\w.])(\d+(?:\.\d+)?)×", paragraph):
            if not re.search(rf"(?<![\w.]){re.escape(ratio)}(?:–[\d.]+)?×", bench):
                wrong.append(f"{ratio}×")
    assert not wrong, f"{relpath(path)} quotes {wrong} from benchmarks.md, which does not give them"
