"""Every source format, built here from tiny files in its real layout, converts into the
stylegan2-ada-pytorch archive layout with the right content, labels and order."""

from __future__ import annotations

import io
import json
import pickle
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facegan.data import Archive, CreateOptions, ImageDataset, create_dataset
from facegan.data.sources import lfw_subset, open_source
from facegan.errors import ConfigError, DatasetError


def png(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


def noise(h, w, seed=0) -> np.ndarray:
    return np.random.RandomState(seed).randint(0, 256, (h, w, 3), dtype=np.uint8)


def make(source, dest, **kw):
    kw.setdefault("workers", 1)
    return create_dataset(CreateOptions(source=str(source), dest=str(dest), progress=False, **kw))


def resized(a: np.ndarray, side: int, resample=Image.Resampling.LANCZOS) -> np.ndarray:
    return np.asarray(Image.fromarray(a).resize((side, side), resample))


# -- CelebA ------------------------------------------------------------------------------------

ATTRIBUTES = ["5_o_Clock_Shadow", "Arched_Eyebrows", "Smiling"]


def make_celeba(root: Path, n=3, drive_layout=False) -> list[np.ndarray]:
    """Aligned-CelebA-like photos (178x218 noise JPEGs) and list_attr_celeba.txt; returns the photos
    as they decode."""
    img_dir = root / "Img" / "img_align_celeba" if drive_layout else root / "img_align_celeba"
    img_dir.mkdir(parents=True)
    photos, lines = [], [str(n), " ".join(ATTRIBUTES)]
    for i in range(n):
        path = img_dir / f"{i + 1:06d}.jpg"
        Image.fromarray(noise(218, 178, i)).save(path, quality=90)
        photos.append(np.asarray(Image.open(path)))
        lines.append(f"{path.name}  1 -1 {'1' if i % 2 else '-1'}")
    attr_dir = root / "Anno" if drive_layout else root
    attr_dir.mkdir(exist_ok=True)
    (attr_dir / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    return photos


def test_celeba_is_cropped_to_the_official_face_box_by_default(tmp_path):
    photos = make_celeba(tmp_path / "celeba")
    report = make(tmp_path / "celeba", tmp_path / "c.zip")
    assert report.written == 3 and report.resolution == 128 and report.label_kind == "none"
    a = Archive(tmp_path / "c.zip")
    for i, photo in enumerate(photos):
        # create_celeba's crop: 128x128 centred on (cx, cy) = (89, 121).
        np.testing.assert_array_equal(a.read_image(i), photo[121 - 64:121 + 64, 89 - 64:89 + 64])
    assert any("--labels attributes" in note for note in report.notes)


def test_celeba_at_a_lower_resolution_resizes_the_face_crop(tmp_path):
    photos = make_celeba(tmp_path / "celeba", n=1)
    make(tmp_path / "celeba", tmp_path / "c.zip", resolution=64)
    expected = resized(np.ascontiguousarray(photos[0][57:185, 25:153]), 64)
    np.testing.assert_array_equal(Archive(tmp_path / "c.zip").read_image(0), expected)


def test_celeba_with_the_keras_face_transform_makes_the_keras_tutorial_s_thumbnails(tmp_path):
    photos = make_celeba(tmp_path / "celeba", n=2)
    report = make(tmp_path / "celeba", tmp_path / "k.zip", transform="keras-face")
    assert report.written == 2 and report.resolution == 128
    for i, photo in enumerate(photos):
        img = Image.fromarray(np.ascontiguousarray(photo[15:193]))   # the tutorial: rows 15..193, a 178² square
        img.thumbnail((128, 128))
        np.testing.assert_array_equal(Archive(tmp_path / "k.zip").read_image(i), np.asarray(img))


def test_celeba_attributes_become_label_vectors_on_request(tmp_path):
    make_celeba(tmp_path / "celeba")
    report = make(tmp_path / "celeba", tmp_path / "c.zip", resolution=32, labels="attributes")
    assert report.label_kind == "vector[3]"
    assert Archive(tmp_path / "c.zip").labels == [[1.0, 0.0, 0.0], [1.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    ds = ImageDataset(tmp_path / "c.zip", use_labels=True)
    assert ds.label_dim == 3 and ds[1][1].tolist() == [1.0, 0.0, 1.0]


def test_celeba_in_the_google_drive_layout_is_found(tmp_path):
    make_celeba(tmp_path / "CelebA", n=2, drive_layout=True)
    report = make(tmp_path / "CelebA", tmp_path / "c.zip", resolution=32, labels="attributes")
    assert report.written == 2 and Archive(tmp_path / "c.zip").labels == [[1.0, 0.0, 0.0], [1.0, 0.0, 1.0]]


def test_celeba_attributes_must_cover_every_photo(tmp_path):
    make_celeba(tmp_path / "celeba")
    Image.fromarray(noise(218, 178)).save(tmp_path / "celeba" / "img_align_celeba" / "999999.jpg")
    with pytest.raises(DatasetError, match="no attributes for 1 photos, e.g. 999999.jpg"):
        make(tmp_path / "celeba", tmp_path / "c.zip", labels="attributes")
    attr = tmp_path / "celeba" / "list_attr_celeba.txt"
    attr.write_text(attr.read_text().replace(" -1 ", " 0 ", 1))
    with pytest.raises(DatasetError, match="must be 1 or -1"):
        make(tmp_path / "celeba", tmp_path / "c.zip", labels="attributes")


def test_photos_that_are_not_aligned_celeba_are_skipped_by_the_face_crop(tmp_path):
    make_celeba(tmp_path / "celeba", n=1)
    Image.fromarray(noise(100, 300)).save(tmp_path / "celeba" / "img_align_celeba" / "000002.jpg")
    report = make(tmp_path / "celeba", tmp_path / "c.zip")
    assert report.written == 1 and "not an aligned CelebA photo" in dict(report.skipped)["000002.jpg"]


def test_a_scaled_copy_of_celeba_gets_the_scaled_face_crop_at_128(tmp_path):
    photos = make_celeba(tmp_path / "celeba", n=1)
    path = tmp_path / "celeba" / "img_align_celeba" / "000001.jpg"
    Image.fromarray(photos[0]).resize((356, 436), Image.NEAREST).save(path.with_suffix(".png"))
    path.unlink()
    make(tmp_path / "celeba", tmp_path / "c.zip")
    expected = resized(np.ascontiguousarray(photos[0][57:185, 25:153]).repeat(2, 0).repeat(2, 1), 128)
    np.testing.assert_array_equal(Archive(tmp_path / "c.zip").read_image(0), expected)


# -- LSUN --------------------------------------------------------------------------------------

def make_lmdb(path: Path, values: dict[str, bytes]) -> None:
    lmdb = pytest.importorskip("lmdb")
    env = lmdb.open(str(path), map_size=1 << 24)
    with env.begin(write=True) as txn:
        for key, value in values.items():
            txn.put(key.encode(), value)
    env.close()


def webp(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="WEBP", lossless=True)
    return buf.getvalue()


def test_lsun_lmdb_is_read_in_key_order_and_center_cropped(tmp_path):
    images = {f"{k:040x}": noise(48, 64, k) for k in (3, 1, 2)}  # inserted out of order
    make_lmdb(tmp_path / "bedroom_train_lmdb", {k: webp(a) for k, a in images.items()})
    report = make(tmp_path / "bedroom_train_lmdb", tmp_path / "l.zip", resolution=32, transform="center-crop",
                  resize_filter="box")
    assert report.written == 3
    a = Archive(tmp_path / "l.zip")
    for i, key in enumerate(sorted(images)):
        crop = np.ascontiguousarray(images[key][:, 8:56])  # the largest centred square of 64x48
        np.testing.assert_array_equal(a.read_image(i), resized(crop, 32, Image.Resampling.BOX))


def test_lsun_max_images_counts_written_images_past_broken_records(tmp_path):
    values = {f"{k:040x}": webp(noise(32, 32, k)) for k in range(1, 5)}
    values[f"{0:040x}"] = b"\xff\xd8 not really a jpeg"
    make_lmdb(tmp_path / "cat_lmdb", values)
    report = make(tmp_path / "cat_lmdb", tmp_path / "l.zip", max_images=2)
    assert report.written == 2 and report.skipped == [(f"{0:040x}", "not an image (unrecognised format)")]
    np.testing.assert_array_equal(Archive(tmp_path / "l.zip").read_image(1), noise(32, 32, 2))


def test_lsun_wide_crops_to_the_aspect_ratio_and_pads_onto_a_black_square(tmp_path):
    photo = noise(40, 64, 1)  # 1.6:1, wider than 4:3: the sides are cut
    make_lmdb(tmp_path / "car_lmdb", {"a": webp(photo)})
    make(tmp_path / "car_lmdb", tmp_path / "w.zip", resolution=32, height=24, transform="center-crop-wide")
    img = Archive(tmp_path / "w.zip").read_image(0)
    assert img.shape == (32, 32, 3)
    assert (img[:4] == 0).all() and (img[28:] == 0).all()  # 4 black rows above and below the 24
    picture = np.asarray(Image.fromarray(np.ascontiguousarray(photo[:, 5:58])).resize((32, 24), Image.LANCZOS))
    np.testing.assert_array_equal(img[4:28], picture)  # 53x40 is 4:3


def test_center_crop_wide_needs_both_sides():
    with pytest.raises(ConfigError, match="WxH"):
        create_dataset(CreateOptions(source="builtin:lfw-subset", dest="x.zip", resolution=32,
                                     transform="center-crop-wide"))
    with pytest.raises(ConfigError, match="needs --transform center-crop-wide"):
        create_dataset(CreateOptions(source="builtin:lfw-subset", dest="x.zip", resolution=32, height=24))


# -- CIFAR-10 ----------------------------------------------------------------------------------

def cifar_batches(per_batch=4):
    rng = np.random.RandomState(0)
    batches = []
    for b in range(1, 6):
        data = rng.randint(0, 256, (per_batch, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.randint(0, 10, per_batch)]
        batches.append((f"data_batch_{b}", {"batch_label": f"training batch {b} of 5", "labels": labels,
                                            "data": data, "filenames": [f"f{i}.png" for i in range(per_batch)]}))
    images = np.concatenate([d["data"].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1) for _, d in batches])
    return batches, images, [label for _, d in batches for label in d["labels"]]


def write_tarball(path: Path, members: list[tuple[str, bytes]]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        tar.addfile(tarfile.TarInfo("cifar-10-batches-py"))
        for name, raw in members:
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    return path


def test_cifar10_tarball_keeps_images_and_class_labels(tmp_path):
    batches, images, labels = cifar_batches()
    tarball = write_tarball(tmp_path / "cifar-10-python.tar.gz", [(n, pickle.dumps(d)) for n, d in batches])
    report = make(tarball, tmp_path / "c.zip")
    assert report.written == 20 and report.label_kind == "class" and report.resolution == 32
    a = Archive(tmp_path / "c.zip")
    assert a.labels == labels
    for i in (0, 7, 19):
        np.testing.assert_array_equal(a.read_image(i), images[i])
    ds = ImageDataset(tmp_path / "c.zip", use_labels=True)
    assert ds.label_dim == max(labels) + 1 and ds[7][1].argmax() == labels[7]


def test_cifar10_extracted_folder_reads_the_same(tmp_path):
    batches, images, labels = cifar_batches(2)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name, d in batches:
        (folder / name).write_bytes(pickle.dumps(d))
    make(folder, tmp_path / "c.zip")
    assert Archive(tmp_path / "c.zip").labels == labels


class Evil:
    def __reduce__(self):
        return (eval, ("__import__('pathlib').Path('PWNED').touch()",))


def test_a_hostile_cifar_tarball_is_refused_without_running(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    batches, _, _ = cifar_batches()
    members = [(n, pickle.dumps(d)) for n, d in batches]
    members[0] = ("data_batch_1", pickle.dumps({"data": Evil(), "labels": []}))
    write_tarball(tmp_path / "cifar-10-python.tar.gz", members)
    with pytest.raises(DatasetError, match="refusing to load builtins.eval"):
        open_source(tmp_path / "cifar-10-python.tar.gz")
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("batch,problem", [
    ({"data": np.zeros((2, 100), np.uint8), "labels": [0, 1]}, "wrong layout"),
    ({"data": np.zeros((2, 3072), np.uint8), "labels": [0, 10]}, "labels must be 0-9"),
    ([1, 2, 3], "not a dict"),
])
def test_malformed_cifar_batches_are_named(tmp_path, batch, problem):
    batches, _, _ = cifar_batches()
    members = [(n, pickle.dumps(d)) for n, d in batches]
    members[2] = ("data_batch_3", pickle.dumps(batch))
    write_tarball(tmp_path / "cifar-10-python.tar.gz", members)
    with pytest.raises(DatasetError, match=f"data_batch_3.*{problem}"):
        open_source(tmp_path / "cifar-10-python.tar.gz")


# -- stylegan2-ada-pytorch archives -------------------------------------------------------------

def test_a_stylegan2_ada_archive_round_trips_with_its_labels(tmp_path):
    images = [noise(16, 16, i) for i in range(3)]
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


def test_our_archives_have_the_official_layout(tmp_path):
    batches, images, labels = cifar_batches(1)
    make(write_tarball(tmp_path / "cifar-10-python.tar.gz", [(n, pickle.dumps(d)) for n, d in batches]),
         tmp_path / "c.zip")
    with zipfile.ZipFile(tmp_path / "c.zip") as z:
        names = [f"00000/img{i:08d}.png" for i in range(5)]
        assert sorted(z.namelist()) == [*names, "dataset.json"]
        assert all(info.compress_type == zipfile.ZIP_STORED for info in z.infolist())
        assert json.loads(z.read("dataset.json")) == {"labels": [[n, label] for n, label in zip(names, labels)]}
        assert len(z.read(names[0])) > 32 * (32 * 3 + 1)  # uncompressed PNG: at least the raw rows
        np.testing.assert_array_equal(np.asarray(Image.open(z.open(names[3]))), images[3])


def test_parallel_conversion_writes_the_same_bytes(tmp_path):
    batches, _, _ = cifar_batches(40)
    tarball = write_tarball(tmp_path / "cifar-10-python.tar.gz", [(n, pickle.dumps(d)) for n, d in batches])
    make(tarball, tmp_path / "one.zip", resolution=16, workers=1)
    make(tarball, tmp_path / "two.zip", resolution=16, workers=2)
    assert (tmp_path / "one.zip").read_bytes() == (tmp_path / "two.zip").read_bytes()


# -- builtins and the command line -------------------------------------------------------------

def test_lfw_subset_is_the_100_faces_in_grayscale():
    import skimage

    faces = lfw_subset()
    stored = np.load(Path(skimage.__file__).parent / "data" / "lfw_subset.npy")
    assert faces.shape == (100, 25, 25) and faces.dtype == np.uint8
    np.testing.assert_array_equal(faces, np.rint(stored[:100] * 255).astype(np.uint8))
    assert open_source("builtin:lfw-subset").default_channels == 1
    with pytest.raises(DatasetError, match="unknown builtin"):
        open_source("builtin:nope")


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "facegan", "dataset", *args], capture_output=True, text=True,
                          timeout=120)


def test_cli_creates_and_describes_an_archive(tmp_path):
    out = run_cli("create", "--source", "builtin:lfw-subset", "--dest", str(tmp_path / "lfw.zip"),
                  "--resolution", "32", "--quiet")
    assert out.returncode == 0, out.stderr
    assert "100 images written" in out.stdout and "lfw.zip.report.json" in out.stdout
    out = run_cli("info", str(tmp_path / "lfw.zip"), "--preview", str(tmp_path / "p.png"))
    assert out.returncode == 0 and "images:     100" in out.stdout and "channels:   1" in out.stdout
    assert "resolution: 32x32" in out.stdout and "labels:     none" in out.stdout
    assert Image.open(tmp_path / "p.png").size == (8 * 33 - 1, 8 * 33 - 1)


def test_cli_takes_the_stylegan3_wide_resolution_syntax(tmp_path):
    Image.fromarray(noise(30, 40)).save(tmp_path / "car.png")
    out = run_cli("create", "--source", str(tmp_path), "--dest", str(tmp_path / "w.zip"), "--resolution", "32x24",
                  "--transform", "center-crop-wide", "--quiet")
    assert out.returncode == 0, out.stderr
    img = Archive(tmp_path / "w.zip").read_image(0)
    assert (img[:4] == 0).all() and img[4:28].any()


def test_cli_errors_are_one_line_without_a_traceback(tmp_path):
    bad = run_cli("create", "--source", str(tmp_path / "missing"), "--dest", str(tmp_path / "x.zip"))
    assert bad.returncode != 0 and "no such file" in bad.stderr and "Traceback" not in bad.stderr
    bad = run_cli("create", "--source", "builtin:lfw-subset", "--dest", str(tmp_path / "x.zip"), "--resolution", "3x")
    assert bad.returncode != 0 and "N or WxH" in bad.stderr and "Traceback" not in bad.stderr
