"""Every source format, built here from tiny files in its real layout, converts into the
stylegan2-ada-pytorch archive layout with the right content and labels."""

from __future__ import annotations

import io
import json
import pickle
import subprocess
import sys
import tarfile
import zipfile

import numpy as np
import pytest
from PIL import Image

from facegan.data import Archive, CreateOptions, create_dataset
from facegan.data.sources import lfw_subset, open_source
from facegan.data.transforms import CELEBA_CROP
from facegan.errors import DatasetError


def png(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


def make(source, dest, **kw):
    return create_dataset(CreateOptions(source=str(source), dest=str(dest), progress=False, **kw))


# -- CelebA ------------------------------------------------------------------------------------

def make_celeba(root, n=3):
    img_dir = root / "img_align_celeba"
    img_dir.mkdir(parents=True)
    names = []
    for i in range(n):
        a = np.zeros((218, 178, 3), np.uint8)
        a[57:185, 25:153] = 40 * (i + 1)   # the face box of the official crop
        name = f"{i + 1:06d}.jpg"
        Image.fromarray(a).save(img_dir / name, quality=100)
        names.append(name)
    attrs = ["5_o_Clock_Shadow", "Arched_Eyebrows", "Smiling"]
    lines = [str(n), " ".join(attrs)] + [f"{name} {' '.join(['1', '-1', '1' if i % 2 else '-1'])}"
                                         for i, name in enumerate(names)]
    (root / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    return names


def test_celeba_is_cropped_around_the_face_by_default(tmp_path):
    make_celeba(tmp_path / "celeba")
    report = make(tmp_path / "celeba", tmp_path / "c.zip", resolution=64)
    assert report.written == 3 and report.label_kind == "none"
    a = Archive(tmp_path / "c.zip")
    img = a.read_image(1)
    assert img.shape == (64, 64, 3)
    # The crop is exactly the face box: uniform, no black border from outside it.
    assert abs(int(img.mean()) - 80) <= 2 and img.min() >= 70


def test_celeba_attributes_become_label_vectors_on_request(tmp_path):
    make_celeba(tmp_path / "celeba")
    make(tmp_path / "celeba", tmp_path / "c.zip", resolution=32, labels="attributes")
    labels = Archive(tmp_path / "c.zip").labels
    assert labels == [[1.0, 0.0, 0.0], [1.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    from facegan.data import ImageDataset

    ds = ImageDataset(tmp_path / "c.zip", use_labels=True)
    assert ds.label_dim == 3 and ds[1][1].tolist() == [1.0, 0.0, 1.0]


def test_celeba_crop_matches_the_official_box():
    assert CELEBA_CROP == 128


# -- LSUN --------------------------------------------------------------------------------------

def make_lmdb(path, images):
    lmdb = pytest.importorskip("lmdb")
    env = lmdb.open(str(path), map_size=1 << 24)
    with env.begin(write=True) as txn:
        for i, a in enumerate(images):
            buf = io.BytesIO()
            Image.fromarray(a).save(buf, format="WEBP", lossless=True)
            txn.put(f"{i:040x}".encode(), buf.getvalue())
    env.close()


def test_lsun_lmdb_is_center_cropped(tmp_path):
    rng = np.random.RandomState(0)
    images = [rng.randint(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(3)]
    make_lmdb(tmp_path / "bedroom_train_lmdb", images)
    report = make(tmp_path / "bedroom_train_lmdb", tmp_path / "l.zip", resolution=32, transform="center-crop",
                  resize_filter="box")
    assert report.written == 3
    got = Archive(tmp_path / "l.zip").read_image(0)
    crop = images[0][:, 8:56]  # largest centred square of 64x48
    expected = np.asarray(Image.fromarray(crop).resize((32, 32), Image.Resampling.BOX))
    np.testing.assert_array_equal(got, expected)


def test_lsun_wide_pads_the_picture_onto_a_black_square(tmp_path):
    rng = np.random.RandomState(1)
    make_lmdb(tmp_path / "car_lmdb", [rng.randint(1, 256, (40, 64, 3), dtype=np.uint8)])
    make(tmp_path / "car_lmdb", tmp_path / "w.zip", resolution=32, height=24, transform="center-crop-wide")
    img = Archive(tmp_path / "w.zip").read_image(0)
    assert img.shape == (32, 32, 3)
    assert (img[:4] == 0).all() and (img[28:] == 0).all()   # 4 black rows above and below 24
    assert img[4:28].any()


# -- CIFAR-10 ----------------------------------------------------------------------------------

def make_cifar(path, per_batch=4):
    rng = np.random.RandomState(0)
    expected_images, expected_labels = [], []
    with tarfile.open(path, "w:gz") as tar:
        for b in range(1, 6):
            data = rng.randint(0, 256, (per_batch, 3072), dtype=np.uint8)
            labels = [int(v) for v in rng.randint(0, 10, per_batch)]
            raw = pickle.dumps({"batch_label": f"training batch {b} of 5", "labels": labels, "data": data,
                                "filenames": [f"f{i}.png" for i in range(per_batch)]})
            info = tarfile.TarInfo(f"cifar-10-batches-py/data_batch_{b}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
            expected_images.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
            expected_labels += labels
    return np.concatenate(expected_images), expected_labels


def test_cifar10_keeps_images_and_class_labels(tmp_path):
    images, labels = make_cifar(tmp_path / "cifar-10-python.tar.gz")
    report = make(tmp_path / "cifar-10-python.tar.gz", tmp_path / "c.zip")
    assert report.written == 20 and report.label_kind == "class" and report.resolution == 32
    a = Archive(tmp_path / "c.zip")
    assert a.labels == labels
    np.testing.assert_array_equal(a.read_image(7), images[7])


def test_a_hostile_cifar_tarball_is_refused_without_running(tmp_path):
    class Evil:
        def __reduce__(self):
            return (eval, ("__import__('pathlib').Path('PWNED').touch()",))

    raw = pickle.dumps({"data": Evil(), "labels": []})
    with tarfile.open(tmp_path / "cifar-10-python.tar.gz", "w:gz") as tar:
        info = tarfile.TarInfo("cifar-10-batches-py/data_batch_1")
        info.size = len(raw)
        tar.addfile(info, io.BytesIO(raw))
    with pytest.raises(DatasetError, match="refusing to load builtins.eval"):
        open_source(tmp_path / "cifar-10-python.tar.gz")
    assert not (tmp_path / "PWNED").exists()


# -- stylegan2-ada-pytorch archives and builtins ------------------------------------------------

def test_a_stylegan2_ada_archive_round_trips_with_its_labels(tmp_path):
    rng = np.random.RandomState(2)
    images = [rng.randint(0, 256, (16, 16, 3), dtype=np.uint8) for _ in range(3)]
    with zipfile.ZipFile(tmp_path / "official.zip", "w", compression=zipfile.ZIP_STORED) as z:
        for i, a in enumerate(images):
            z.writestr(f"00000/img{i:08d}.png", png(a))
        z.writestr("dataset.json", json.dumps({"labels": [[f"00000/img{i:08d}.png", i + 4] for i in range(3)]}))
    report = make(tmp_path / "official.zip", tmp_path / "ours.zip")
    assert report.label_kind == "class"
    ours = Archive(tmp_path / "ours.zip")
    assert ours.labels == [4, 5, 6]
    for i, a in enumerate(images):
        np.testing.assert_array_equal(ours.read_image(i), a)
    with zipfile.ZipFile(tmp_path / "ours.zip") as z:
        assert sorted(z.namelist()) == ["00000/img00000000.png", "00000/img00000001.png", "00000/img00000002.png",
                                        "dataset.json"]


def test_lfw_subset_is_the_100_faces():
    faces = lfw_subset()
    assert faces.shape == (100, 25, 25) and faces.dtype == np.uint8
    assert open_source("builtin:lfw-subset").default_channels == 1
    with pytest.raises(DatasetError, match="unknown builtin"):
        open_source("builtin:nope")


def test_cli_creates_and_describes_an_archive(tmp_path):
    env_python = sys.executable
    out = subprocess.run([env_python, "-m", "facegan", "dataset", "create", "--source", "builtin:lfw-subset",
                          "--dest", str(tmp_path / "lfw.zip"), "--resolution", "32", "--quiet"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "100 images written" in out.stdout
    out = subprocess.run([env_python, "-m", "facegan", "dataset", "info", str(tmp_path / "lfw.zip"),
                          "--preview", str(tmp_path / "p.png")], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "images:     100" in out.stdout and "channels:   1" in out.stdout
    assert Image.open(tmp_path / "p.png").size == (8 * 33 - 1, 8 * 33 - 1)
    bad = subprocess.run([env_python, "-m", "facegan", "dataset", "create", "--source", str(tmp_path / "missing"),
                          "--dest", str(tmp_path / "x.zip")], capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "no such file" in bad.stderr and "Traceback" not in bad.stderr
