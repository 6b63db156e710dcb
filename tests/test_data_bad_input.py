"""Real photo folders are messy: each kind of bad file is converted where that is sound, or skipped
and reported; the run fails only when nothing usable remains or the sizes cannot agree, and an
interrupted run leaves nothing behind."""

from __future__ import annotations

import io
import json
import multiprocessing
import struct
import zipfile
import zlib

import numpy as np
import pytest
from PIL import Image, ImageFile

from facegan.data import Archive, ArchiveWriter, CreateOptions, create_dataset
from facegan.data.create import report_path
from facegan.data.decode import SkipImage, decode_image
from facegan.errors import DatasetError


def encode(img: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def rgb(w=16, h=16, seed=0) -> Image.Image:
    return Image.fromarray(np.random.RandomState(seed).randint(0, 256, (h, w, 3), dtype=np.uint8))


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_by_hand(width: int, height: int, bit_depth: int, colour_type: int, rows: bytes) -> bytes:
    """A PNG written byte by byte, for what Pillow will not write (16-bit RGB, lying headers)."""
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", zlib.compress(rows))
            + png_chunk(b"IEND", b""))


def bomb_png(side: int = 20000) -> bytes:
    """A 300-byte file whose header claims side x side grayscale pixels."""
    return png_by_hand(side, side, 8, 0, b"\x00" * 1000)


def decode(data: bytes, channels=3, **kw):
    return decode_image(data, channels=channels, **kw)


# -- conversions ---------------------------------------------------------------------------------

def test_clean_rgb_and_grayscale_decode_without_notes():
    a, notes = decode(encode(rgb()))
    assert a.shape == (16, 16, 3) and a.dtype == np.uint8 and notes == []
    np.testing.assert_array_equal(a, np.asarray(rgb()))
    g, notes = decode(encode(rgb().convert("L")), channels=1)
    assert g.shape == (16, 16, 1) and notes == []


def test_grayscale_becomes_three_equal_channels():
    gray = rgb().convert("L")
    a, notes = decode(encode(gray), channels=3)
    for c in range(3):
        np.testing.assert_array_equal(a[..., c], np.asarray(gray))
    assert notes == ["replicated grayscale to RGB"]


def test_channels_none_keeps_the_images_own_channel_count():
    assert decode(encode(rgb().convert("L")), channels=None)[0].shape == (16, 16, 1)
    assert decode(encode(rgb()), channels=None)[0].shape == (16, 16, 3)


def test_colour_to_grayscale_uses_the_luma_weights():
    a, notes = decode(encode(Image.new("RGB", (2, 2), (255, 0, 0))), channels=1)
    assert a[0, 0, 0] == 76 and notes == ["converted colour to grayscale"]  # 0.299 * 255


def test_transparent_rgba_is_composited_onto_black():
    px = np.zeros((4, 4, 4), np.uint8)
    px[..., 0] = 200
    px[..., 3] = 128  # half transparent red
    a, notes = decode(encode(Image.fromarray(px, "RGBA")))
    assert abs(int(a[0, 0, 0]) - 100) <= 1 and a[0, 0, 1] == 0
    assert notes == ["composited RGBA onto black"]


def test_opaque_rgba_keeps_its_colours():
    px = np.random.RandomState(1).randint(0, 256, (4, 4, 4), dtype=np.uint8)
    px[..., 3] = 255
    a, notes = decode(encode(Image.fromarray(px, "RGBA")))
    np.testing.assert_array_equal(a, px[..., :3])
    assert notes == ["converted RGBA (opaque) to RGB"]


def test_gray_alpha_and_transparent_palette_are_composited_too():
    la = np.stack([np.full((4, 4), 200, np.uint8), np.zeros((4, 4), np.uint8)], -1)
    a, notes = decode(encode(Image.fromarray(la, "LA")))
    assert (a == 0).all() and notes == ["composited LA onto black"]
    p = Image.new("P", (4, 4), 0)
    p.putpalette([255, 255, 255] * 256)
    a, notes = decode(encode(p, transparency=0))
    assert (a == 0).all() and notes == ["composited P onto black"]


def test_cmyk_palette_and_one_bit_are_converted():
    for img, fmt, note in [(rgb().convert("CMYK"), "JPEG", "converted CMYK to RGB"),
                           (rgb().convert("P"), "PNG", "converted P to RGB"),
                           (rgb().convert("1"), "PNG", "converted 1-bit to grayscale")]:
        a, notes = decode(encode(img, fmt))
        assert a.shape == (16, 16, 3)
        assert notes[0] == note
    palette = rgb().convert("P")
    np.testing.assert_array_equal(decode(encode(palette))[0], np.asarray(palette.convert("RGB")))


def test_sixteen_bit_grayscale_is_scaled_not_clipped():
    a16 = np.arange(16 * 16, dtype=np.uint16).reshape(16, 16) * 257  # 0 .. 65535
    for fmt in ("PNG", "TIFF"):
        a, notes = decode(encode(Image.fromarray(a16), fmt), channels=1)
        np.testing.assert_array_equal(a[..., 0], np.arange(256, dtype=np.uint8).reshape(16, 16))
        assert notes == ["scaled 16-bit to 8 bits"]
    dark = decode(encode(Image.fromarray(np.full((4, 4), 1000, np.uint16))), channels=1)[0]
    assert (dark == 4).all()  # 1000 / 257, not 255 (clipped) and not 232 (low byte)


def test_sixteen_bit_pgm_and_rgb_png_are_scaled():
    pgm = b"P5\n2 1\n65535\n" + np.array([65535, 32896], ">u2").tobytes()
    a, _ = decode(pgm, channels=1)
    assert a[0, :, 0].tolist() == [255, 128]
    row = b"\x00" + np.array([65535, 0, 32896], ">u2").tobytes()
    a, _ = decode(png_by_hand(1, 1, 16, 2, row))
    assert a[0, 0].tolist() == [255, 0, 128]


def test_float_images_in_the_unit_range_are_scaled_others_skipped():
    a, notes = decode(encode(Image.fromarray(np.full((4, 4), 0.5, np.float32)), "TIFF"))
    assert (a == 128).all() and "scaled float [0, 1] to 8 bits" in notes
    with pytest.raises(SkipImage, match="no known white point"):
        decode(encode(Image.fromarray(np.full((4, 4), 100.0, np.float32)), "TIFF"))


def test_exif_orientation_is_applied():
    stored = np.asarray(rgb(6, 4, seed=3))
    exif = Image.Exif()
    exif[0x0112] = 6  # the camera was turned: rotate 90 degrees clockwise to display
    a, notes = decode(encode(Image.fromarray(stored), "PNG", exif=exif.tobytes()))
    np.testing.assert_array_equal(a, np.rot90(stored, k=-1))
    assert notes == ["applied EXIF orientation"]


def test_animated_images_give_their_first_frame():
    frames = [Image.new("RGB", (8, 8), (200 * (i == 0), 0, 0)) for i in range(3)]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    a, _ = decode(buf.getvalue())
    assert a[0, 0, 0] > 150


# -- skips -------------------------------------------------------------------------------------

@pytest.mark.parametrize("data,reason", [
    (b"this is not an image", "not an image"),
    (b"", "not an image"),
    (b"<html><body>quota exceeded</body></html>", "not an image"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "corrupt|not an image"),
])
def test_non_images_are_skipped_with_a_reason(data, reason):
    with pytest.raises(SkipImage, match=reason):
        decode(data)


def test_truncated_files_are_skipped_even_where_pillow_is_told_to_be_lenient(monkeypatch):
    jpeg = encode(rgb(64, 64), "JPEG")
    png = encode(rgb(64, 64))
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    for data in (jpeg[:-2], jpeg[: len(jpeg) // 2], png[: len(png) // 2]):
        with pytest.raises(SkipImage, match="truncated|corrupt"):
            decode(data)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # the caller's setting is left as it was


def test_decompression_bombs_are_skipped_from_their_header():
    with pytest.raises(SkipImage, match="decompression bomb"):
        decode(bomb_png(20000))  # 400 M pixels claimed, 300 bytes of file
    with pytest.raises(SkipImage, match="too large"):
        decode(encode(Image.new("L", (2000, 2000))), max_pixels=1_000_000)


# -- a messy folder end to end -----------------------------------------------------------------

def make_corpus(root):
    """One file of every kind a real photo folder holds; returns {file: expected fate}."""
    root.mkdir()
    rgb(32, 32, 1).save(root / "a_good.png")
    rgb(32, 32, 2).convert("L").save(root / "b_gray.png")
    rgb(32, 32, 3).convert("CMYK").save(root / "c_cmyk.jpg")
    rgba = np.asarray(rgb(32, 32, 4).convert("RGBA")).copy()
    rgba[..., 3] = 100
    Image.fromarray(rgba, "RGBA").save(root / "d_rgba.png")
    rgb(32, 32, 5).convert("P").save(root / "e_palette.gif")
    Image.fromarray(np.full((32, 32), 40000, np.uint16)).save(root / "f_16bit.png")
    exif = Image.Exif()
    exif[0x0112] = 8
    rgb(32, 48, 6).save(root / "g_rotated.jpg", exif=exif.tobytes())
    (root / "h_notes.txt").write_text("not an image")
    data = encode(rgb(32, 32, 7), "JPEG")
    (root / "i_truncated.jpg").write_bytes(data[: len(data) // 3])
    rgb(4, 4, 8).save(root / "j_tiny.png")
    (root / "k_bomb.png").write_bytes(bomb_png())
    (root / "l_empty.jpg").write_bytes(b"")
    (root / ".DS_Store").write_bytes(b"\x00\x01")
    (root / "sub").mkdir()
    rgb(48, 32, 9).save(root / "sub" / "m_wide.png")
    return {
        "a_good.png": None, "b_gray.png": "replicated grayscale to RGB", "c_cmyk.jpg": "converted CMYK to RGB",
        "d_rgba.png": "composited RGBA onto black", "e_palette.gif": "converted P to RGB",
        "f_16bit.png": "scaled 16-bit to 8 bits", "g_rotated.jpg": "applied EXIF orientation",
        "h_notes.txt": "skip: not an image", "i_truncated.jpg": "skip: truncated", "j_tiny.png": "skip: too small",
        "k_bomb.png": "skip: decompression bomb", "l_empty.jpg": "skip: not an image", "sub/m_wide.png": None,
    }


def test_every_bad_file_is_converted_or_skipped_and_reported(tmp_path):
    expected = make_corpus(tmp_path / "photos")
    dest = tmp_path / "out.zip"
    report = create_dataset(CreateOptions(source=str(tmp_path / "photos"), dest=str(dest), resolution=32,
                                          transform="center-crop", workers=1, progress=False))
    skipped, converted = dict(report.skipped), dict(report.converted)
    for name, fate in expected.items():
        if fate is not None and fate.startswith("skip: "):
            assert fate[6:] in skipped[name], (name, skipped.get(name))
        elif fate is None:
            assert name not in skipped and name not in converted, name
        else:
            assert fate in converted[name], (name, converted.get(name))
    assert set(skipped) == {n for n, f in expected.items() if f and f.startswith("skip")}  # .DS_Store: silent
    assert report.written == 8 and len(Archive(dest)) == 8
    saved = json.loads(report_path(dest).read_text())
    assert saved["written"] == 8 and sorted(map(tuple, saved["skipped"])) == sorted(report.skipped)
    summary = report.summary()
    assert "5 skipped:" in summary and "k_bomb.png: decompression bomb" in summary


def test_the_converted_images_hold_the_right_pixels(tmp_path):
    make_corpus(tmp_path / "photos")
    dest = tmp_path / "out"
    create_dataset(CreateOptions(source=str(tmp_path / "photos"), dest=str(dest), resolution=32,
                                 transform="center-crop", workers=1, progress=False))
    a = Archive(dest)
    np.testing.assert_array_equal(a.read_image(0), np.asarray(rgb(32, 32, 1)))              # a_good
    assert (a.read_image(5) == round(40000 / 257)).all()                                     # f_16bit
    rotated = a.read_image(6)                                                                # g_rotated
    assert rotated.shape == (32, 32, 3)
    wide = a.read_image(7)                                                                   # sub/m_wide
    np.testing.assert_array_equal(wide, np.asarray(rgb(48, 32, 9))[:, 8:40])


def test_files_over_the_size_limit_are_skipped_without_reading_them(tmp_path):
    with zipfile.ZipFile(tmp_path / "src.zip", "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("a.png", encode(rgb(16, 16)))
        z.writestr("b.png", b"\x00" * (8 << 20))  # 8 MiB of zeros: a few kB in the zip
    report = create_dataset(CreateOptions(source=str(tmp_path / "src.zip"), dest=str(tmp_path / "o.zip"),
                                          max_file_bytes=1 << 20, workers=1, progress=False))
    assert report.written == 1
    assert dict(report.skipped)["b.png"] == f"file too large: {8 << 20} bytes is over the limit of {1 << 20}"


def test_nothing_usable_is_a_clear_error_with_a_report_and_no_archive(tmp_path):
    src = tmp_path / "junk"
    src.mkdir()
    (src / "a.jpg").write_bytes(b"garbage")
    (src / "b.png").write_bytes(bomb_png())
    with pytest.raises(DatasetError, match="no usable image .*2 skipped.*o.zip.report.json"):
        create_dataset(CreateOptions(source=str(src), dest=str(tmp_path / "o.zip"), progress=False))
    assert not (tmp_path / "o.zip").exists()
    assert len(json.loads(report_path(tmp_path / "o.zip").read_text())["skipped"]) == 2


def test_inconsistent_sizes_without_resolution_fail_clearly(tmp_path):
    src = tmp_path / "mixed"
    src.mkdir()
    rgb(32, 32).save(src / "a.png")
    rgb(64, 64).save(src / "b.png")
    with pytest.raises(DatasetError, match="b.png is 64x64 but earlier images are 32x32: give --resolution"):
        create_dataset(CreateOptions(source=str(src), dest=str(tmp_path / "o.zip"), progress=False))
    assert not (tmp_path / "o.zip").exists()


def test_non_power_of_two_without_resolution_fails_with_a_suggestion(tmp_path):
    src = tmp_path / "odd"
    src.mkdir()
    rgb(25, 25).save(src / "a.png")
    with pytest.raises(DatasetError, match=r"not a power of two: give --resolution \(e.g. 32\)"):
        create_dataset(CreateOptions(source=str(src), dest=str(tmp_path / "o"), progress=False))


def test_an_interrupted_run_leaves_no_archive(tmp_path, monkeypatch):
    make_corpus(tmp_path / "photos")
    import facegan.data.convert as convert_mod

    real = convert_mod.apply_transform
    calls = {"n": 0}

    def interrupt_on_third(image, opts):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(image, opts)

    monkeypatch.setattr(convert_mod, "apply_transform", interrupt_on_third)
    for dest in ("o.zip", "odir"):
        calls["n"] = 0
        with pytest.raises(KeyboardInterrupt):
            create_dataset(CreateOptions(source=str(tmp_path / "photos"), dest=str(tmp_path / dest), resolution=32,
                                         transform="center-crop", workers=1, progress=False))
        assert not (tmp_path / dest).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photos"]


def test_an_interrupted_parallel_run_leaves_no_archive_and_no_processes(tmp_path, monkeypatch):
    make_corpus(tmp_path / "photos")
    real = ArchiveWriter.add_png

    def interrupt_on_third(self, png, label=None):
        if self.count == 2:
            raise KeyboardInterrupt
        return real(self, png, label)

    monkeypatch.setattr(ArchiveWriter, "add_png", interrupt_on_third)
    with pytest.raises(KeyboardInterrupt):
        create_dataset(CreateOptions(source=str(tmp_path / "photos"), dest=str(tmp_path / "o.zip"), resolution=32,
                                     transform="center-crop", workers=2, progress=False))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photos"]
    assert multiprocessing.active_children() == []
