"""The download cache against a real HTTP server on 127.0.0.1: what enters the cache, resuming,
bad answers, locking, Google Drive's confirmation page, FACEGAN_MIRROR and offline mode."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from facegan.errors import FaceganError
from facegan.interop.download import DownloadError, Remote, fetch, read_index
from facegan.interop.registry import download_pretrained, lookup, resolve_network, validate_network_file
from pretrained_server import Server
from test_interop_stylegan2_tf import SPECS, write_fixture

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def network_bytes(tmp_path_factory) -> bytes:
    """A small StyleGAN2 config-F network in NVIDIA's TensorFlow pickle format."""
    path = tmp_path_factory.mktemp("official") / "stylegan2-tiny-config-f.pkl"
    write_fixture(path, SPECS["config-f"], seed=11)
    return path.read_bytes()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("FACEGAN_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("FACEGAN_MIRROR", raising=False)
    monkeypatch.setenv("FACEGAN_OFFLINE", "0")  # restored after the test (--offline sets it)
    return tmp_path / "cache"


def cache_files(cache: Path) -> list[str]:
    """Every file in the cache but the index and lock files."""
    return sorted(str(p.relative_to(cache)) for p in cache.rglob("*")
                  if p.is_file() and not p.name.endswith(".lock") and p.name != "index.json")


def test_a_download_is_cached_with_its_sha256_and_the_second_use_makes_no_request(server, network_bytes, cache):
    url = server.add("/net.pkl", network_bytes)
    path = resolve_network(url, progress=False)
    assert path.read_bytes() == network_bytes and path.is_relative_to(cache)
    (entry,) = read_index().values()
    import hashlib
    assert entry["sha256"] == hashlib.sha256(network_bytes).hexdigest() and entry["url"] == url
    assert entry["size"] == len(network_bytes)
    assert resolve_network(url) == path
    assert len(server.hits("/net.pkl")) == 1
    assert cache_files(cache) == [str(path.relative_to(cache))]  # no .part left behind


def test_a_connection_cut_mid_file_resumes_with_a_range_request(server, network_bytes):
    url = server.add("/cut.pkl", network_bytes, mode="cut")
    path = resolve_network(url, progress=False)
    assert path.read_bytes() == network_bytes
    first, second = server.hits("/cut.pkl")
    assert "range" not in first and second["range"] == f"bytes={len(network_bytes) // 2}-"
    assert second["if-range"]  # the ETag the first answer carried: a changed file is sent whole


def test_a_download_interrupted_in_an_earlier_process_resumes_from_its_part_file(server, network_bytes, cache):
    url = server.add("/net.pkl", network_bytes)
    remote = Remote("networks/tiny/net.pkl", (url,))
    part = remote.path.with_name("net.pkl.part")
    part.parent.mkdir(parents=True)
    part.write_bytes(network_bytes[:1000])
    part.with_name("net.pkl.part.json").write_text(json.dumps({"url": url, "validator": None}))
    assert fetch(remote, validate_network_file, progress=False).read_bytes() == network_bytes
    assert server.hits("/net.pkl")[0]["range"] == "bytes=1000-"


def test_a_server_that_ignores_range_gives_the_whole_file_again(server, network_bytes):
    url = server.add("/plain.pkl", network_bytes, mode="no-range")
    remote = Remote("plain/plain.pkl", (url,))
    part = remote.path.with_name("plain.pkl.part")
    part.parent.mkdir(parents=True)
    part.write_bytes(b"x" * 5000)  # not even the right bytes: the full answer must replace them
    part.with_name("plain.pkl.part.json").write_text(json.dumps({"url": url, "validator": None}))
    assert fetch(remote, validate_network_file, progress=False).read_bytes() == network_bytes


@pytest.mark.parametrize("mode, message", [
    ("html", r"an HTML page \(Service Unavailable\), not the file"),
    ("404", "HTTP 404 Not Found"),
])
def test_an_error_answer_is_one_line_and_nothing_is_cached(server, network_bytes, cache, mode, message):
    url = server.add("/net.pkl", network_bytes, mode=mode)
    with pytest.raises(DownloadError, match=message) as err:
        resolve_network(url, progress=False)
    text = str(err.value)
    assert "\n" not in text and url in text and "put it at" in text
    assert cache_files(cache) == [] and read_index() == {}


def test_a_timeout_is_one_line(server, network_bytes, cache):
    url = server.add("/slow.pkl", network_bytes, delay=1.5)
    with pytest.raises(DownloadError, match="timed out"):
        fetch(Remote("slow/slow.pkl", (url,)), progress=False, timeout=0.3)
    assert cache_files(cache) == []


def test_an_unwritable_cache_is_one_line(server, network_bytes, tmp_path, monkeypatch):
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("FACEGAN_CACHE", str(tmp_path / "a-file" / "cache"))
    with pytest.raises(DownloadError, match="cannot write net.pkl into the cache .*set FACEGAN_CACHE to a writable"):
        resolve_network(server.add("/net.pkl", network_bytes), progress=False)


def test_an_unreachable_server_is_one_line():
    with pytest.raises(DownloadError, match="cannot connect"):
        fetch(Remote("x/x.pkl", ("http://127.0.0.1:9/x.pkl",)), progress=False)


@pytest.mark.parametrize("body, message", [
    (b"<!DOCTYPE html><html><body>Quota exceeded</body></html>", "an HTML page, not a network"),
    ("truncated", "ends early"),
    ("hostile", r"asks for (os|posix)\.system"),
])
def test_a_file_that_does_not_load_never_lands_in_the_cache(server, network_bytes, cache, tmp_path, body, message):
    class Hostile:
        def __reduce__(self):
            return os.system, (f"touch {tmp_path / 'PWNED'}",)

    if body == "truncated":
        body = network_bytes[:len(network_bytes) * 2 // 3]
    elif body == "hostile":
        body = pickle.dumps(Hostile())
    url = server.add("/net.pkl", body)  # served as application/octet-stream, complete
    with pytest.raises(DownloadError, match=message):
        resolve_network(url, progress=False)
    assert cache_files(cache) == [] and read_index() == {} and not (tmp_path / "PWNED").exists()


def test_a_wrong_known_hash_is_an_error_naming_both_hashes(server, network_bytes, cache):
    import hashlib
    url = server.add("/net.pkl", network_bytes)
    wrong = "0" * 64
    with pytest.raises(DownloadError, match=f"expected {wrong}, got {hashlib.sha256(network_bytes).hexdigest()}"):
        fetch(Remote("h/net.pkl", (url,), sha256=wrong), validate_network_file, progress=False)
    assert cache_files(cache) == []


def test_a_cached_file_that_changed_since_its_download_is_refused(server, network_bytes):
    url = server.add("/net.pkl", network_bytes)
    path = resolve_network(url, progress=False)
    path.write_bytes(network_bytes[:-1] + b"\0")
    with pytest.raises(DownloadError, match="changed since it was downloaded: its SHA-256 is [0-9a-f]{64}, the cache "
                                            "index recorded [0-9a-f]{64}"):
        resolve_network(url)


def test_a_file_put_in_the_cache_by_hand_is_checked_and_recorded(server, network_bytes, monkeypatch):
    monkeypatch.setenv("FACEGAN_OFFLINE", "1")
    remote = lookup("stylegan2-ffhq").remote
    remote.path.parent.mkdir(parents=True)
    remote.path.write_bytes(b"<html>saved the quota page by mistake</html>")
    with pytest.raises(DownloadError, match="by hand.*HTML page"):
        download_pretrained("stylegan2-ffhq")
    remote.path.write_bytes(network_bytes)
    assert download_pretrained("stylegan2-ffhq") == remote.path
    assert read_index()[remote.key]["url"] == "(placed by hand)"


def test_two_threads_fetching_the_same_file_take_turns(server, network_bytes):
    from concurrent.futures import ThreadPoolExecutor

    url = server.add("/net.pkl", network_bytes, delay=0.5)
    with ThreadPoolExecutor(2) as pool:
        paths = list(pool.map(lambda _: resolve_network(url, progress=False), range(2)))
    assert paths[0] == paths[1] and paths[0].read_bytes() == network_bytes
    assert len(server.hits("/net.pkl")) == 1


@pytest.mark.slow
def test_two_processes_fetching_the_same_file_take_turns(server, network_bytes, cache):
    url = server.add("/net.pkl", network_bytes, delay=1.0)
    code = ("import sys; from facegan.interop.registry import resolve_network; "
            "print(resolve_network(sys.argv[1], progress=False))")
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    procs = [subprocess.Popen([sys.executable, "-c", code, url], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outs]
    paths = {out.strip() for out, _ in outs}
    assert len(paths) == 1 and Path(paths.pop()).read_bytes() == network_bytes
    assert len(server.hits("/net.pkl")) == 1  # the second process found the first one's file
    assert len(read_index()) == 1


@pytest.mark.parametrize("mode", ["drive", "drive-legacy"])
def test_google_drives_confirmation_page_is_answered(server, network_bytes, mode):
    server.add("/uc", network_bytes, mode=mode)
    server.add("/download", network_bytes, mode=mode)  # the form's action (drive.usercontent.google.com)
    path = resolve_network(server.url("/uc?id=1MEGjdvVpUsu1jB4zrXZN7Y4kBBOzizDQ"), progress=False)
    assert path.read_bytes() == network_bytes
    follow = server.requests[-1][0]
    assert "confirm=" in follow and "id=1MEGjdvVpUsu1jB4zrXZN7Y4kBBOzizDQ" in follow


def test_google_drives_quota_page_is_one_clear_line(server, network_bytes, cache):
    url = server.add("/uc", network_bytes, mode="drive-quota")
    with pytest.raises(DownloadError, match="Too many users have viewed or downloaded this file recently") as err:
        resolve_network(url + "?id=abc", progress=False)
    assert "\n" not in str(err.value) and cache_files(cache) == []


def test_the_mirror_serves_every_registry_file_by_name(server, network_bytes, monkeypatch):
    monkeypatch.setenv("FACEGAN_MIRROR", server.url("/mirror/"))
    server.add("/mirror/stylegan2-ffhq-config-f.pkl", network_bytes)
    path = download_pretrained("stylegan2-ffhq", progress=False)
    assert path.read_bytes() == network_bytes and path.name == "stylegan2-ffhq-config-f.pkl"
    assert [p for p, _ in server.requests] == ["/mirror/stylegan2-ffhq-config-f.pkl"]


def test_a_registry_file_of_another_family_is_refused(server, network_bytes, monkeypatch, cache):
    monkeypatch.setenv("FACEGAN_MIRROR", server.base)
    server.add("/karras2019stylegan-ffhq-1024x1024.pkl", network_bytes)  # a StyleGAN2 file under v1's name
    with pytest.raises(DownloadError, match="should be a stylegan-tf file, this is a stylegan2-tf file"):
        download_pretrained("stylegan-ffhq", progress=False)
    assert cache_files(cache) == []


def test_offline_never_touches_the_network_and_says_where_to_put_the_file(server, network_bytes, monkeypatch, cache):
    monkeypatch.setenv("FACEGAN_MIRROR", server.base)
    server.add("/stylegan2-cat-config-f.pkl", network_bytes)
    monkeypatch.setenv("FACEGAN_OFFLINE", "1")
    with pytest.raises(DownloadError) as err:
        resolve_network("stylegan2-cat")
    expected = cache / "networks" / "stylegan2-cat" / "stylegan2-cat-config-f.pkl"
    assert str(err.value) == (f"stylegan2-cat-config-f.pkl is not in the cache and facegan is offline: download "
                              f"{server.base}/stylegan2-cat-config-f.pkl and put it at {expected}")
    assert server.requests == []
    monkeypatch.delenv("FACEGAN_OFFLINE")
    assert resolve_network("cat", progress=False) == expected  # the alias; now online
    monkeypatch.setenv("FACEGAN_OFFLINE", "1")
    assert resolve_network("stylegan2-cat") == expected and len(server.requests) == 1


def test_the_metric_weights_come_through_the_same_cache(server, monkeypatch, tmp_path):
    from facegan.metrics.weights import locate

    torch.save({"lin0.model.1.weight": torch.ones(1, 64, 1, 1)}, tmp_path / "vgg.pth")
    monkeypatch.setenv("FACEGAN_MIRROR", server.base)
    server.add("/vgg.pth", (tmp_path / "vgg.pth").read_bytes())
    path = locate("lpips")
    assert path.read_bytes() == (tmp_path / "vgg.pth").read_bytes() and "vgg.pth" in read_index()
    assert locate("lpips") == path and len(server.requests) == 1
    server.add("/vgg16-397923af.pth", (tmp_path / "vgg.pth").read_bytes())  # not what its name's hash says
    with pytest.raises(FaceganError, match="does not start with 397923af"):
        locate("vgg16")
