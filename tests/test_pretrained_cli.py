"""Networks by name or URL through the command line and facegan.load: the same file draws the same
images whichever way it is named; the registry's shape; `facegan pretrained list | download | verify`.
Every server is a real HTTP server on 127.0.0.1; FACEGAN_MIRROR points the registry at it."""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import facegan
from facegan.cli import main
from facegan.interop.download import read_index
from facegan.interop.registry import IMPORTERS, PRETRAINED, lookup
from facegan.interop.unpickler import read_pickle
from pretrained_server import Server
from test_interop import v1_fixture
from test_interop_stylegan2_tf import SPECS, write_fixture
from test_stylegan1_reference import tiny as tiny_v1


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Small networks in NVIDIA's formats: StyleGAN2 config F and StyleGAN (v1)."""
    d = tmp_path_factory.mktemp("official")
    write_fixture(d / "stylegan2-ffhq-config-f.pkl", SPECS["config-f"], seed=11)
    v1_fixture(d / "karras2019stylegan-ffhq-1024x1024.pkl", tiny_v1())
    return d


@pytest.fixture
def server(files, monkeypatch, tmp_path):
    s = Server()
    for path in files.iterdir():
        s.add(f"/{path.name}", path.read_bytes())
    monkeypatch.setenv("FACEGAN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("FACEGAN_MIRROR", s.base)
    monkeypatch.setenv("FACEGAN_OFFLINE", "0")  # restored after the test (--offline sets it)
    yield s
    s.close()


def generate(network: str, outdir, *flags) -> np.ndarray:
    code = main(["generate", "--network", network, "--seeds", "0-2", "--noise-mode", "const", "--device", "cpu",
                 "--outdir", str(outdir), *flags])
    assert code == 0
    return np.stack([np.asarray(Image.open(outdir / f"seed{s:04d}.png")) for s in range(3)])


def test_a_url_and_a_registry_name_draw_exactly_the_images_of_the_file(server, files, tmp_path):
    path = files / "stylegan2-ffhq-config-f.pkl"
    by_path = generate(str(path), tmp_path / "path", "--trunc", "0.7")
    by_url = generate(server.url("/stylegan2-ffhq-config-f.pkl"), tmp_path / "url", "--trunc", "0.7")
    by_name = generate("stylegan2-ffhq", tmp_path / "name", "--trunc", "0.7")
    assert np.array_equal(by_path, by_url) and np.array_equal(by_path, by_name)
    assert len(server.hits("/stylegan2-ffhq-config-f.pkl")) == 2  # once per cache entry (URL, name)
    generate("stylegan2-ffhq", tmp_path / "again", "--trunc", "0.7")
    assert len(server.hits("/stylegan2-ffhq-config-f.pkl")) == 2


def test_the_release_one_liner_and_facegan_load_by_name(server, files, tmp_path):
    """README: `facegan generate --network stylegan-ffhq --seeds 5 --trunc 0.7`; `facegan.load("ffhq")`."""
    code = main(["generate", "--network", "stylegan-ffhq", "--seeds", "5", "--trunc", "0.7", "--outdir",
                 str(tmp_path / "out"), "--device", "cpu"])
    assert code == 0 and (tmp_path / "out" / "seed0005.png").is_file()
    G_name, G_path = facegan.load("ffhq"), facegan.load(files / "karras2019stylegan-ffhq-1024x1024.pkl")
    z = np.random.RandomState(5).randn(1, G_path.z_dim)
    image = G_path.run(z, truncation_psi=0.7)
    assert image.shape == (1, 16, 16, 3) and np.array_equal(G_name.run(z, truncation_psi=0.7), image)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "out" / "seed0005.png")), image[0])
    assert len(server.requests) == 1


def test_every_network_option_takes_a_name(server, tmp_path):
    from facegan.cli.convert import convert
    from facegan.cli.generate import noise_figure, style_mix, truncation_sweep
    from facegan.cli.metrics import metrics
    from facegan.cli.project import project
    from facegan.cli.serve import serve
    from facegan.cli.train import train

    for command in (style_mix, truncation_sweep, noise_figure, metrics, project, serve):
        (option,) = [p for p in command.params if p.name in ("network", "network_path")]
        assert Path(option.type.convert("stylegan2-ffhq", option, None)).name == "stylegan2-ffhq-config-f.pkl"
    (src,) = [p for p in convert.params if p.name == "src"]
    assert src.type.convert("stylegan2-ffhq", src, None).name == "stylegan2-ffhq-config-f.pkl"
    (resume,) = [p for p in train.params if p.name == "resume"]
    assert resume.type.convert(str(tmp_path), resume, None) == str(tmp_path)  # a run directory passes
    assert main(["convert", "stylegan2-ffhq", str(tmp_path / "ffhq.safetensors")]) == 0
    assert len(server.requests) == 1


def test_every_registry_entry_names_a_url_and_an_importer():
    assert len(PRETRAINED) == 34 and len({e.name for e in PRETRAINED}) == len(PRETRAINED)
    for entry in PRETRAINED:
        assert entry.urls and all(u.startswith(("https://", "http://")) for u in entry.urls), entry.name
        assert entry.filename.endswith(".pkl") and all(u.endswith(entry.filename) or "drive.google.com/uc?id=" in u
                                                       for u in entry.urls), entry.name
        module, func = IMPORTERS[entry.family].split(":")
        assert callable(getattr(importlib.import_module(module), func))
        assert entry.resolution in (32, 256, 512, 1024) and entry.dataset and entry.licence
        assert entry.sha256 is None or len(entry.sha256) == 64
        for name in (entry.name, *entry.aliases):
            assert lookup(name) is entry and lookup(name.upper()) is entry
    assert lookup("ffhq").name == "stylegan-ffhq" and lookup("ffhq1024").family == "stylegan2-ada-pytorch"


def test_pretrained_list_download_and_verify(server, tmp_path, capsys):
    assert main(["pretrained", "list"]) == 0
    listing = capsys.readouterr().out
    assert "stylegan-ffhq" in listing and "ada-lsundog256" in listing and "CC BY-NC 4.0" in listing
    assert main(["pretrained", "download", "stylegan2-ffhq", "--quiet"]) == 0
    out = capsys.readouterr().out
    path = lookup("stylegan2-ffhq").remote.path
    assert str(path) in out and read_index()[lookup("stylegan2-ffhq").remote.key]["sha256"] in out
    assert main(["pretrained", "list"]) == 0
    (row,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("stylegan2-ffhq ")]
    assert "KiB" in row
    assert main(["pretrained", "verify"]) == 0
    assert "ok" in capsys.readouterr().out
    data = bytearray(path.read_bytes())
    data[-20] ^= 1
    path.write_bytes(bytes(data))
    assert main(["pretrained", "verify"]) == 1
    captured = capsys.readouterr()
    assert "MISMATCH" in captured.out and captured.err.startswith("error: 1 cached file(s) do not match")
    assert main(["pretrained", "download", "--force", "stylegan2-ffhq", "--quiet"]) == 0
    assert main(["pretrained", "verify"]) == 0
    read_pickle(path)


def test_offline_flag_and_unknown_names_are_one_line_errors(server, tmp_path, capsys):
    code = main(["--offline", "generate", "--network", "stylegan-cats", "--seeds", "0", "--outdir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error: karras2019stylegan-cats-256x256.pkl is not in the cache and facegan "
                                        "is offline: download ") and len(err.strip().splitlines()) == 1
    assert server.requests == []
    assert main(["generate", "--network", "stylegan-ffqh", "--seeds", "0", "--outdir", str(tmp_path)]) == 2
    assert "did you mean stylegan-ffhq" in capsys.readouterr().err


def test_hf_urls_go_through_huggingface_hub(server, files, tmp_path, monkeypatch):
    constants = pytest.importorskip("huggingface_hub.constants")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_ENDPOINT", server.base)
    server.add("/someone/faces/resolve/main/nets/sg2.pkl", (files / "stylegan2-ffhq-config-f.pkl").read_bytes())
    by_hub = generate("hf://someone/faces/nets/sg2.pkl", tmp_path / "hub")
    assert (tmp_path / "hf").is_dir()
    assert np.array_equal(by_hub, generate(str(files / "stylegan2-ffhq-config-f.pkl"), tmp_path / "path"))
    server.add("/someone/faces/resolve/main/evil.pkl", b"<html><body>not a network</body></html>")
    with pytest.raises(facegan.FaceganError, match="HTML page"):
        facegan.load("hf://someone/faces/evil.pkl")
    assert not [p for p in (tmp_path / "hf").rglob("*") if p.is_file() and b"not a network" in p.read_bytes()]
