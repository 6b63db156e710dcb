"""Hostile and broken network files: refused with a clear error, and nothing in them runs.

Every hostile file here tries to create a marker file; the tests check the error and that the
marker does not exist afterwards.
"""

from __future__ import annotations

import io
import os
import pickle
import subprocess
import zipfile

import numpy as np
import pytest
import torch

import facegan
from facegan.errors import NetworkFormatError, UnsafePickleError
from facegan.interop import unpickler
from facegan.interop.export import tf_pickle
from interop_fixtures import official_modules, persistent_tree, tf_network, write_tf_pickle

MARKER = "PWNED"


class Reduce:
    """Pickles as `fn(*args)`: what a hostile file uses to run code at load time."""

    def __init__(self, fn, args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return (self.fn, self.args)


def legacy_torch_save_head() -> bytes:
    """How a legacy torch.save stream starts: magic number, protocol version, system info."""
    import torch.serialization as ts

    system = dict(protocol_version=ts.PROTOCOL_VERSION, little_endian=True, type_sizes=dict(short=2, int=4, long=4))
    return b"".join(pickle.dumps(x, protocol=2) for x in (ts.MAGIC_NUMBER, ts.PROTOCOL_VERSION, system))


def legacy_torch_save_stream(obj) -> bytes:
    """The legacy torch.save layout (what `torch.storage._load_from_bytes` reads) around `obj`."""
    return legacy_torch_save_head() + pickle.dumps(obj, protocol=2) + pickle.dumps([], protocol=2)


def zip_torch_save_stream(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def hostile_payloads(marker):
    cmd = f"touch {marker}"
    yield "os.system", pickle.dumps(Reduce(os.system, (cmd,)))
    yield "builtins.eval", pickle.dumps(Reduce(eval, (f"__import__('os').system({cmd!r})",)))
    yield "builtins.exec", pickle.dumps(Reduce(exec, (f"import os; os.system({cmd!r})",)))
    yield "subprocess.Popen", pickle.dumps(Reduce(subprocess.Popen, (["touch", str(marker)],)))
    yield "nested in a network tuple", pickle.dumps(({"G": Reduce(os.system, (cmd,))}, None, None))
    # Tensor storages arrive as bytes that torch.load reads: bytes that are themselves hostile.
    yield "storage bytes: a plain pickle", pickle.dumps(
        Reduce(torch.storage._load_from_bytes, (pickle.dumps(Reduce(os.system, (cmd,))),)))
    yield "storage bytes: a legacy torch.save stream", pickle.dumps(
        Reduce(torch.storage._load_from_bytes, (legacy_torch_save_stream(Reduce(os.system, (cmd,))),)))
    yield "storage bytes: a zip torch.save stream", pickle.dumps(
        Reduce(torch.storage._load_from_bytes, (zip_torch_save_stream(Reduce(os.system, (cmd,))),)))
    arg = len(cmd).to_bytes(4, "little") + cmd.encode()
    yield "raw posix.system opcodes", b"\x80\x02cposix\nsystem\n(X" + arg + b"tR."
    yield "raw nt.system opcodes", b"\x80\x02cnt\nsystem\n(X" + arg + b"tR."
    yield "INST opcode", b"\x80\x02(X" + arg + b"ios\nsystem\n."
    yield "a global hidden behind an allowed module", b"\x80\x04\x8c\x05numpy\x8c\x04load\x93."
    yield "copyreg extension code", b"\x80\x02\x82\x01."  # EXT1: refers to a registered global


@pytest.mark.parametrize("label", [label for label, _ in hostile_payloads("x")])
def test_hostile_pickles_are_refused_and_nothing_runs(tmp_path, label):
    marker = tmp_path / MARKER
    path = tmp_path / "evil.pkl"
    path.write_bytes(dict(hostile_payloads(marker))[label])
    with pytest.raises((UnsafePickleError, NetworkFormatError)) as info:
        facegan.load(path)
    assert not marker.exists()
    if label != "copyreg extension code":  # EXT codes name no global unless one is registered
        assert isinstance(info.value, UnsafePickleError)


def test_the_refusal_names_the_global(tmp_path):
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(Reduce(os.system, ("true",))))
    with pytest.raises(UnsafePickleError, match=r"asks for (posix|nt)\.system.*nothing was run"):
        facegan.load(path)


def test_a_pickle_cannot_change_the_classes_it_is_allowed_to_name(tmp_path):
    # BUILD on the class object itself: setattr(EasyDict, '__getattr__', frozenset).
    evil = (b"\x80\x04\x8c\x0bdnnlib.util\x94\x8c\x08EasyDict\x94\x93\x94N}\x94\x8c\x0b__getattr__\x94"
            b"\x8c\x08builtins\x94\x8c\tfrozenset\x94\x93\x94s\x86\x94b.")
    path = tmp_path / "evil.pkl"
    path.write_bytes(evil)
    before = dict(vars(unpickler.EasyDict))
    with pytest.raises(UnsafePickleError, match="tried to set attribute '__getattr__'"):
        facegan.load(path)
    assert dict(vars(unpickler.EasyDict)) == before


def test_a_pickle_cannot_change_the_functions_it_is_allowed_to_name(tmp_path):
    # BUILD on a function: setattr(_codecs.encode, '__defaults__', ('utf-16',)) reaches only a per-load wrapper.
    evil = (b"\x80\x04\x8c\x07_codecs\x94\x8c\x06encode\x94\x93\x94N}\x94\x8c\x0c__defaults__\x94"
            b"\x8c\x06utf-16\x94\x85\x94s\x86\x94b.")
    path = tmp_path / "evil.pkl"
    path.write_bytes(evil)
    with pytest.raises(NetworkFormatError, match="not an official StyleGAN network"):
        facegan.load(path)
    assert unpickler._codecs_encode.__defaults__ == ("utf-8",)
    assert unpickler.ALLOWED[("_codecs", "encode")] is unpickler._codecs_encode


def test_a_tensor_reaching_past_its_storage_is_refused(tmp_path):
    storage = torch.zeros(2)._typed_storage()  # what a tensor's pickle holds
    path = tmp_path / "oob.pkl"
    path.write_bytes(pickle.dumps(Reduce(torch._utils._rebuild_tensor_v2, (storage, 0, (1 << 20,), (1,), False, None))))
    with pytest.raises(UnsafePickleError, match="past the end of its storage"):
        facegan.load(path)


def storage_stream(numel_claimed: int, numel_stored: int = 4) -> bytes:
    """A legacy torch.save stream of one float32 storage (as tensor pickles embed them) whose header
    claims `numel_claimed` elements while `numel_stored` follow."""
    class StoragePickler(pickle.Pickler):
        def persistent_id(self, obj):
            if obj == "storage-0":
                return ("storage", torch.FloatStorage, "0", "cpu", numel_claimed, None)
            return None

    buf = io.BytesIO(legacy_torch_save_head())
    buf.seek(0, io.SEEK_END)
    StoragePickler(buf, protocol=2).dump("storage-0")
    pickle.dump(["0"], buf, protocol=2)
    buf.write(numel_stored.to_bytes(8, "little") + np.arange(numel_stored, dtype=np.float32).tobytes())
    return buf.getvalue()


def test_the_storage_stream_of_the_test_is_the_real_format():
    storage = unpickler._load_storage_from_bytes(storage_stream(4))
    assert torch.equal(torch.tensor([], dtype=torch.float32).set_(storage), torch.arange(4.0))


@pytest.mark.parametrize("claimed", [1 << 30, 1 << 33, 1 << 40])
def test_a_storage_claiming_a_huge_size_is_refused_without_taking_the_memory(tmp_path, claimed):
    import resource

    path = tmp_path / "huge.pkl"
    path.write_bytes(pickle.dumps(Reduce(torch.storage._load_from_bytes, (storage_stream(claimed),))))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(UnsafePickleError, match="not a plain torch storage"):
        facegan.load(path)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 1 << 20  # KiB: less than 1 GiB more


def test_object_arrays_are_refused(tmp_path):
    path = tmp_path / "objects.pkl"
    path.write_bytes(pickle.dumps(np.array([print, 1], dtype=object)))
    with pytest.raises(UnsafePickleError):
        facegan.load(path)


def test_persistent_ids_are_refused(tmp_path):
    class WithIds(pickle.Pickler):
        def persistent_id(self, obj):
            return "storage-0" if isinstance(obj, str) and obj == "x" else None

    buf = io.BytesIO()
    WithIds(buf).dump(["x"])
    path = tmp_path / "pid.pkl"
    path.write_bytes(buf.getvalue())
    with pytest.raises(UnsafePickleError, match="persistent ids"):
        facegan.load(path)


def test_a_tensorflow_file_asking_for_torch_globals_is_refused(tmp_path):
    """Each format has its own allow-list: TF network files never contain torch tensors."""
    kw = dict(resolution=8)
    net = tf_network("G", "G_style", {"x": np.zeros(2)}, kw, 3)
    net.state["variables"].append(("stowaway", torch.zeros(2)))
    write_tf_pickle(tmp_path / "mixed.pkl", net, tf_network("D", "D_basic", {}, kw, 3), net)
    with pytest.raises(UnsafePickleError, match=r"tensorflow network pickle that asks for torch\._utils"):
        facegan.load(tmp_path / "mixed.pkl")


def test_a_snapshot_asking_for_tensorflow_globals_is_refused(tmp_path):
    with official_modules():
        G = persistent_tree(torch.nn.Linear(2, 2), "Generator", "")
        data = {"G": G, "G_ema": G, "extra": tf_network("x", "G_style", {}, {}, 3)}
        (tmp_path / "mixed.pkl").write_bytes(tf_pickle.dumps(data))
    with pytest.raises(UnsafePickleError, match=r"pytorch network pickle that asks for dnnlib\.tflib"):
        facegan.load(tmp_path / "mixed.pkl")


def test_self_containing_tensorflow_components_are_refused(tmp_path):
    kw = dict(resolution=8)
    top = tf_network("Gs", "G_style", {}, kw, 3)
    mapping = tf_network("G_mapping", "G_mapping", {}, kw, 3, components={"loop": top})
    top.state["components"] = {"synthesis": tf_network("G_synthesis", "G_synthesis", {}, kw, 3), "mapping": mapping}
    write_tf_pickle(tmp_path / "cycle.pkl", top, tf_network("D", "D_basic", {}, kw, 3), top)
    with pytest.raises(NetworkFormatError, match="contain themselves"):
        facegan.load(tmp_path / "cycle.pkl")


def test_deeply_nested_modules_are_refused(tmp_path):
    module = torch.nn.Linear(2, 2)
    for _ in range(40):
        outer = torch.nn.Module()
        outer.inner = module
        module = outer
    with official_modules():
        data = {"G_ema": persistent_tree(module, "Generator", "", dict(z_dim=2, c_dim=0, w_dim=2, img_resolution=4,
                                                                       img_channels=3))}
        (tmp_path / "deep.pkl").write_bytes(pickle.dumps(data))
    with pytest.raises(NetworkFormatError, match="nests too deeply"):
        facegan.load(tmp_path / "deep.pkl")


# -- broken downloads and other non-networks ------------------------------------------------------

def test_an_html_download_page_is_explained(tmp_path):
    path = tmp_path / "ffhq.pkl"
    path.write_text("<!DOCTYPE html><html><head><title>Google Drive - Quota exceeded</title></head></html>")
    with pytest.raises(NetworkFormatError, match="HTML page.*download the file again"):
        facegan.load(path)


@pytest.mark.parametrize("content,message", [
    (b"", "empty"),
    (b"PK\x03\x04" + b"\0" * 40, "zip archive"),
    (b"GIF89a........", "not a network pickle"),
])
def test_other_non_pickles_are_explained(tmp_path, content, message):
    path = tmp_path / "net.pkl"
    path.write_bytes(content)
    with pytest.raises(NetworkFormatError, match=message):
        facegan.load(path)


def test_a_truncated_download_is_explained(tmp_path):
    with official_modules():
        data = pickle.dumps({"G_ema": persistent_tree(torch.nn.Linear(64, 64), "Generator", "")})
    path = tmp_path / "cut.pkl"
    for cut in (len(data) // 2, len(data) - 1):
        path.write_bytes(data[:cut])
        with pytest.raises(NetworkFormatError, match="ends early"):
            facegan.load(path)


def test_a_pickle_of_something_else_is_refused(tmp_path):
    path = tmp_path / "list.pkl"
    path.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(NetworkFormatError, match="not an official StyleGAN network"):
        facegan.load(path)


def test_a_zip_named_safetensors_is_not_read_as_a_pickle(tmp_path):
    path = tmp_path / "net.safetensors"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("x", "y")
    with pytest.raises(NetworkFormatError, match="safetensors"):
        facegan.load(path)
