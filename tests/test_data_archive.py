"""Archives are written in the stylegan2-ada-pytorch layout, atomically, and read back exactly."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from facegan.data.archive import Archive, ArchiveWriter, encode_png, member_name
from facegan.errors import DatasetError


def test_member_names_follow_the_official_layout():
    assert member_name(0) == "00000/img00000000.png"
    assert member_name(1234) == "00001/img00001234.png"


@pytest.mark.parametrize("dest", ["out.zip", "outdir"])
def test_written_archive_reads_back_images_and_labels(tmp_path, dest):
    rng = np.random.RandomState(0)
    images = [rng.randint(0, 256, (8, 8, 3), dtype=np.uint8) for _ in range(3)]
    with ArchiveWriter(tmp_path / dest) as w:
        for i, img in enumerate(images):
            w.add(img, label=i % 2)
    a = Archive(tmp_path / dest)
    assert a.names == [member_name(i) for i in range(3)]
    for i, img in enumerate(images):
        np.testing.assert_array_equal(a.read_image(i), img)
    assert a.labels == [0, 1, 0]


def test_zip_is_stored_uncompressed_with_dataset_json(tmp_path):
    with ArchiveWriter(tmp_path / "a.zip") as w:
        w.add(np.zeros((4, 4, 1), np.uint8))
    with zipfile.ZipFile(tmp_path / "a.zip") as z:
        assert all(info.compress_type == zipfile.ZIP_STORED for info in z.infolist())
        assert json.loads(z.read("dataset.json")) == {"labels": None}


@pytest.mark.parametrize("shape", [(1, 1, 3), (37, 37, 1), (64, 64, 3)])
def test_images_are_stored_as_uncompressed_unfiltered_pngs_that_pillow_reads_back(shape):
    import io
    import struct
    import zlib

    from PIL import Image

    image = np.random.RandomState(1).randint(0, 256, shape, dtype=np.uint8)
    png = encode_png(image)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, pos = {}, 8
    while pos < len(png):                 # every chunk's CRC checks out
        (length,), kind = struct.unpack(">I", png[pos:pos + 4]), png[pos + 4:pos + 8]
        data = png[pos + 8:pos + 8 + length]
        assert struct.unpack(">I", png[pos + 8 + length:pos + 12 + length])[0] == zlib.crc32(kind + data)
        chunks[kind] = chunks.get(kind, b"") + data
        pos += 12 + length
    assert list(chunks) == [b"IHDR", b"IDAT", b"IEND"]
    h, w, c = shape
    assert struct.unpack(">IIBBBBB", chunks[b"IHDR"]) == (w, h, 8, 2 if c == 3 else 0, 0, 0, 0)
    idat = chunks[b"IDAT"]
    assert len(idat) >= h * (w * c + 1)   # stored, not compressed (as the official compress_level=0)
    rows = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(h, w * c + 1)
    assert (rows[:, 0] == 0).all()        # filter type None on every row
    np.testing.assert_array_equal(rows[:, 1:].reshape(shape), image)
    decoded = np.asarray(Image.open(io.BytesIO(png)))
    np.testing.assert_array_equal(decoded.reshape(shape), image)


def test_an_interrupted_write_leaves_no_archive(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with ArchiveWriter(tmp_path / "a.zip") as w:
            w.add(np.zeros((4, 4, 3), np.uint8))
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_missing_and_foreign_paths_are_dataset_errors(tmp_path):
    with pytest.raises(DatasetError, match="no such file"):
        Archive(tmp_path / "nope.zip")
    (tmp_path / "x.zip").write_text("not a zip")
    with pytest.raises(DatasetError, match="not a zip"):
        Archive(tmp_path / "x.zip")


def test_the_same_images_give_the_same_bytes(tmp_path):
    rng = np.random.RandomState(1)
    images = [rng.randint(0, 256, (8, 8, 3), dtype=np.uint8) for _ in range(2)]
    for name in ("a.zip", "b.zip"):
        with ArchiveWriter(tmp_path / name) as w:
            for i, img in enumerate(images):
                w.add(img, label=[0.5, i])
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()
    assert Archive(tmp_path / "a.zip").labels == [[0.5, 0.0], [0.5, 1.0]]


def test_an_official_archive_with_folders_of_1000_reads_in_order(tmp_path):
    with zipfile.ZipFile(tmp_path / "o.zip", "w") as z:
        for i in (1000, 999, 0):  # written out of order, across two folders
            z.writestr(member_name(i), encode_png(np.full((4, 4, 1), i % 256, np.uint8)))
        z.writestr("dataset.json", json.dumps({"labels": [[member_name(i), i % 7] for i in (0, 999, 1000)]}))
    a = Archive(tmp_path / "o.zip")
    assert a.names == ["00000/img00000000.png", "00000/img00000999.png", "00001/img00001000.png"]
    assert [int(a.read_image(i)[0, 0, 0]) for i in range(3)] == [0, 999 % 256, 1000 % 256]
    assert a.labels == [0, 999 % 7, 1000 % 7]
