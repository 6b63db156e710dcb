"""Real photo folders are messy: each kind of bad file is converted where that is sound, or skipped
and reported; the run fails only when nothing usable remains."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
from PIL import Image

from facegan.data import Archive, CreateOptions, create_dataset
from facegan.data.create import report_path
from facegan.data.decode import SkipImage, decode_image
from facegan.errors import DatasetError


def encode(img: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def rgb(w=16, h=16, seed=0) -> Image.Image:
    return Image.fromarray(np.random.RandomState(seed).randint(0, 256, (h, w, 3), dtype=np.uint8))


def test_clean_rgb_and_grayscale_decode_without_notes():
    a, notes = decode_image(encode(rgb()))
    assert a.shape == (16, 16, 3) and a.dtype == np.uint8 and notes == []
    g, notes = decode_image(encode(rgb().convert("L")), channels=1)
    assert g.shape == (16, 16, 1) and notes == []


def test_grayscale_becomes_three_equal_channels():
    a, _ = decode_image(encode(rgb().convert("L")), channels=3)
    assert a.shape == (16, 16, 3) and (a[..., 0] == a[..., 2]).all()


def test_transparent_rgba_is_composited_onto_black():
    px = np.zeros((4, 4, 4), np.uint8)
    px[..., 0] = 200
    px[..., 3] = 128  # half transparent red
    a, notes = decode_image(encode(Image.fromarray(px, "RGBA")))
    assert abs(int(a[0, 0, 0]) - 100) <= 1 and a[0, 0, 1] == 0
    assert "composited RGBA onto black" in notes


def test_cmyk_palette_and_one_bit_are_converted():
    for img, word in [(rgb().convert("CMYK"), "CMYK"), (rgb().convert("P"), "P"), (rgb().convert("1"), "1-bit")]:
        fmt = "JPEG" if img.mode == "CMYK" else "PNG"
        a, notes = decode_image(encode(img, fmt))
        assert a.shape == (16, 16, 3)
        assert any(word in n for n in notes)


def test_sixteen_bit_grayscale_is_scaled_not_clipped():
    a16 = (np.arange(16 * 16, dtype=np.uint16).reshape(16, 16) * 257)  # 0 .. 65535
    img = Image.fromarray(a16.astype(np.uint16))
    a, notes = decode_image(encode(img), channels=1)
    assert a.max() == 255 and a.min() == 0
    np.testing.assert_array_equal(a[..., 0], np.arange(256, dtype=np.uint8).reshape(16, 16))
    assert any("16-bit" in n for n in notes)


def test_exif_orientation_is_applied():
    img = Image.new("RGB", (20, 10), (255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    a, notes = decode_image(encode(img, "JPEG", exif=exif.tobytes()))
    assert a.shape[:2] == (20, 10)
    assert "applied EXIF orientation" in notes


@pytest.mark.parametrize("data,reason", [
    (b"this is not an image", "not an image"),
    (b"", "not an image"),
    (b"<html><body>quota exceeded</body></html>", "not an image"),
])
def test_non_images_are_skipped_with_a_reason(data, reason):
    with pytest.raises(SkipImage, match=reason):
        decode_image(data)


def test_truncated_files_are_skipped():
    data = encode(rgb(64, 64), "JPEG")
    with pytest.raises(SkipImage, match="truncated|corrupt"):
        decode_image(data[: len(data) // 2])
    png = encode(rgb(64, 64))
    with pytest.raises(SkipImage):
        decode_image(png[: len(png) // 2])


def test_decompression_bombs_are_skipped_before_decoding():
    bomb = encode(Image.new("L", (4000, 4000)))  # tiny file, 16 M pixels
    with pytest.raises(SkipImage, match="too large|bomb"):
        decode_image(bomb, max_pixels=1_000_000)


def make_messy_folder(root):
    root.mkdir()
    rgb(32, 32, 1).save(root / "a_good.png")
    rgb(32, 32, 2).convert("L").save(root / "b_gray.png")
    rgb(32, 32, 3).convert("CMYK").save(root / "c_cmyk.jpg")
    (root / "d_notes.txt").write_text("not an image")
    data = encode(rgb(32, 32, 4), "JPEG")
    (root / "e_truncated.jpg").write_bytes(data[: len(data) // 3])
    rgb(4, 4, 5).save(root / "f_tiny.png")
    sub = root / "sub"
    sub.mkdir()
    rgb(48, 32, 6).save(sub / "g_wide.png")


def test_messy_folder_becomes_an_archive_with_a_full_report(tmp_path):
    make_messy_folder(tmp_path / "photos")
    dest = tmp_path / "out.zip"
    report = create_dataset(CreateOptions(source=str(tmp_path / "photos"), dest=str(dest), resolution=32,
                                          transform="center-crop", progress=False))
    skipped = dict(report.skipped)
    assert set(skipped) == {"d_notes.txt", "e_truncated.jpg", "f_tiny.png"}
    assert "not an image" in skipped["d_notes.txt"] and "too small" in skipped["f_tiny.png"]
    assert report.written == 4
    assert dict(report.converted)["c_cmyk.jpg"].startswith("converted CMYK")
    assert Archive(dest).names == [f"00000/img0000000{i}.png" for i in range(4)]
    saved = json.loads(report_path(dest).read_text())
    assert saved["written"] == 4 and len(saved["skipped"]) == 3
    summary = report.summary()
    assert "3 skipped" in summary and "e_truncated.jpg" in summary


def test_nothing_usable_is_a_clear_error_and_writes_nothing(tmp_path):
    src = tmp_path / "junk"
    src.mkdir()
    (src / "a.jpg").write_bytes(b"garbage")
    with pytest.raises(DatasetError, match="no usable image"):
        create_dataset(CreateOptions(source=str(src), dest=str(tmp_path / "o.zip"), progress=False))
    assert not (tmp_path / "o.zip").exists()


def test_inconsistent_sizes_without_resolution_fail_clearly(tmp_path):
    src = tmp_path / "mixed"
    src.mkdir()
    rgb(32, 32).save(src / "a.png")
    rgb(64, 64).save(src / "b.png")
    with pytest.raises(DatasetError, match="give --resolution"):
        create_dataset(CreateOptions(source=str(src), dest=str(tmp_path / "o.zip"), progress=False))
    assert not (tmp_path / "o.zip").exists()


def test_non_power_of_two_without_resolution_fails_with_a_suggestion(tmp_path):
    src = tmp_path / "odd"
    src.mkdir()
    rgb(25, 25).save(src / "a.png")
    with pytest.raises(DatasetError, match="--resolution"):
        create_dataset(CreateOptions(source=str(src), dest=str(tmp_path / "o"), progress=False))


def test_an_interrupted_run_leaves_no_archive(tmp_path, monkeypatch):
    make_messy_folder(tmp_path / "photos")
    import facegan.data.create as create_mod

    real = create_mod.apply_transform
    calls = {"n": 0}

    def interrupt_on_third(image, opts):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(image, opts)

    monkeypatch.setattr(create_mod, "apply_transform", interrupt_on_third)
    for dest in ("o.zip", "odir"):
        calls["n"] = 0
        with pytest.raises(KeyboardInterrupt):
            create_dataset(CreateOptions(source=str(tmp_path / "photos"), dest=str(tmp_path / dest), resolution=32,
                                         transform="center-crop", progress=False))
        assert not (tmp_path / dest).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photos"]


def test_zip_sources_are_read_like_folders(tmp_path):
    with zipfile.ZipFile(tmp_path / "src.zip", "w") as z:
        z.writestr("b.png", encode(rgb(16, 16, 1)))
        z.writestr("a.png", encode(rgb(16, 16, 2)))
        z.writestr("readme.txt", "hi")
    report = create_dataset(CreateOptions(source=str(tmp_path / "src.zip"), dest=str(tmp_path / "o.zip"),
                                          progress=False))
    assert report.written == 2 and dict(report.skipped) == {"readme.txt": "not an image (unrecognised format)"}
    np.testing.assert_array_equal(Archive(tmp_path / "o.zip").read_image(0), np.asarray(rgb(16, 16, 2)))
