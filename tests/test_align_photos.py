"""Faces from real photographs: scikit-image's astronaut (as taken, rotated, scaled, mirrored), a
photo with no face, an LFW thumbnail, bad files; the dataset tool's --align ffhq, its records, and
`facegan align` / `facegan project --align` through the CLI."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("dlib")
skimage_data = pytest.importorskip("skimage.data")

from facegan.cli import main  # noqa: E402
from facegan.data import CreateOptions, create_dataset  # noqa: E402
from facegan.data.decode import SkipImage  # noqa: E402
from facegan.data.faces import AlignOptions, align_photo, detect_faces, estimate_yaw  # noqa: E402
from facegan.data.faces.pose import MODEL_INDICES, MODEL_POINTS  # noqa: E402
from facegan.errors import ConfigError, DatasetError  # noqa: E402

R = 256
OPTS = AlignOptions(resolution=R)


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return skimage_data.astronaut()


@pytest.fixture(scope="module")
def aligned(astronaut):
    faces = align_photo(astronaut, OPTS)
    assert len(faces.aligned) == 1 and faces.rejected == []
    return faces.aligned[0]


def eye_centres(image: np.ndarray) -> np.ndarray:
    """The two eye centres found again, by dlib, in an aligned crop: [[x, y] left, [x, y] right]."""
    lm = detect_faces(image, min_face=64)[0].landmarks
    return np.stack([lm[36:42].mean(axis=0), lm[42:48].mean(axis=0)])


def mirror_points(eyes: np.ndarray, side: int) -> np.ndarray:
    """Eye centres of the mirrored image, in the original's order (left eye first)."""
    return np.stack([[side - 1 - eyes[1, 0], eyes[1, 1]], [side - 1 - eyes[0, 0], eyes[0, 1]]])


def test_the_astronaut_is_aligned_with_her_eyes_where_ffhq_puts_them(aligned):
    assert aligned.image.shape == (R, R, 3) and aligned.image.dtype == np.uint8
    assert aligned.index == 0 and abs(aligned.yaw) < 10
    # FFHQ's square is 4x the eye distance for a face like hers: eyes at 3/8 and 5/8 of the width.
    np.testing.assert_allclose(eye_centres(aligned.image)[:, 0], [R * 3 / 8, R * 5 / 8], atol=3)


def _rotate(a, degrees):
    return np.asarray(Image.fromarray(a).rotate(degrees, Image.Resampling.BICUBIC, expand=True))


def _scale(a, factor):
    side = int(round(a.shape[0] * factor))
    return np.asarray(Image.fromarray(a).resize((side, side), Image.Resampling.LANCZOS))


@pytest.mark.parametrize("variant", ["rotated 20", "rotated -15", "scaled 1.5", "scaled 0.8", "scaled 5 (6.6 Mpx)",
                                     "mirrored", "rotated, scaled and mirrored"])
def test_a_rotated_scaled_or_mirrored_photo_lands_the_eyes_at_the_same_pixels(astronaut, aligned, variant):
    photo = {
        "rotated 20": lambda a: _rotate(a, 20),
        "rotated -15": lambda a: _rotate(a, -15),
        "scaled 1.5": lambda a: _scale(a, 1.5),
        "scaled 0.8": lambda a: _scale(a, 0.8),
        "scaled 5 (6.6 Mpx)": lambda a: _scale(a, 5),   # searched at 4 Mpx, then shrunk 2x by the recipe
        "mirrored": lambda a: np.ascontiguousarray(a[:, ::-1]),
        "rotated, scaled and mirrored": lambda a: np.ascontiguousarray(_scale(_rotate(a, 12), 1.25)[:, ::-1]),
    }[variant](astronaut)
    faces = align_photo(photo, OPTS)
    assert len(faces.aligned) == 1, faces.reason()
    eyes = eye_centres(faces.aligned[0].image)
    if "mirrored" in variant:
        eyes = mirror_points(eyes, R)
        assert faces.aligned[0].yaw == pytest.approx(-aligned.yaw, abs=8)  # turned the other way
    np.testing.assert_allclose(eyes, eye_centres(aligned.image), atol=3)


def test_yaw_is_recovered_from_landmarks_of_a_turned_head_whatever_its_tilt_and_nod():
    def rotation(yaw, pitch, roll):
        a, b, c = np.radians([yaw, pitch, roll])
        ry = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
        rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
        rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
        return rz @ ry @ rx

    for yaw in (-50, -20, 0, 35):
        for pitch, roll in ((0, 0), (15, -20), (-10, 30)):
            lm = np.zeros((68, 2))
            lm[list(MODEL_INDICES)] = (MODEL_POINTS @ rotation(yaw, pitch, roll).T)[:, :2] * 0.4 + [300, 200]
            # A head turned by +yaw about its vertical axis brings its nose to the image's left.
            assert estimate_yaw(lm) == pytest.approx(-yaw, abs=1e-6)


def test_a_photo_without_a_face_is_reported_not_an_error():
    faces = align_photo(skimage_data.coffee(), OPTS)
    assert faces.aligned == [] and faces.reason() == "no face found"


def test_an_lfw_thumbnail_is_too_small_for_256_pixels():
    lfw = np.rint(skimage_data.lfw_subset()[0] * 255).astype(np.uint8)[:, :, None]
    with pytest.raises(SkipImage, match="too small: the photo is 25x25"):
        align_photo(lfw, OPTS)


def test_the_quality_filters_reject_faces_with_their_reason(astronaut):
    # (Face 1 is the mission patch on her suit, which the HOG detector takes for a face.)
    assert "face 0: turned away (yaw +3 degrees, --max-yaw 0.5)" in \
        align_photo(astronaut, AlignOptions(resolution=R, max_yaw=0.5)).reason()
    assert "face 0: too small (174 px face square; 256 px needs 128 px at --max-upscale 2, --min-face 180)" in \
        align_photo(astronaut, AlignOptions(resolution=R, min_face=180)).reason()
    # Faces too small to pass are not even looked for (the photo is shrunk first, which is faster).
    assert align_photo(astronaut, AlignOptions(resolution=1024)).reason() == (
        "no face large enough: faces under 512 px (their FFHQ square) are not looked for "
        "(1024 px needs 512 px at --max-upscale 2)")


@pytest.mark.parametrize("bad", [dict(resolution=100), dict(faces="some"), dict(detector="mtcnn"),
                                 dict(max_yaw=120), dict(min_face=0)])
def test_bad_options_are_refused(bad):
    with pytest.raises(ConfigError):
        AlignOptions(**bad)


def _jpeg(a: np.ndarray, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, "JPEG", quality=92, **kw)
    return buf.getvalue()


def _photo_folder(root, astronaut):
    from test_data_bad_input import bomb_png

    root.mkdir()
    (root / "a_astronaut.jpg").write_bytes(_jpeg(astronaut))
    (root / "b_coffee.jpg").write_bytes(_jpeg(skimage_data.coffee()))
    (root / "c_corrupt.jpg").write_bytes(_jpeg(astronaut)[:2000])
    (root / "d_notes.txt").write_text("not a photo")
    buf = io.BytesIO()
    Image.fromarray(astronaut).convert("CMYK").save(buf, "JPEG")
    (root / "e_cmyk.jpg").write_bytes(buf.getvalue())
    gray16 = (np.asarray(Image.fromarray(astronaut).convert("L")).astype(np.uint16) * 257)
    Image.fromarray(gray16).save(root / "f_16bit.png")
    exif = Image.Exif()
    exif[0x0112] = 6  # stored on its side: "rotate 90 degrees clockwise to view"
    (root / "g_exif_rotated.jpg").write_bytes(_jpeg(np.ascontiguousarray(np.rot90(astronaut, 1)), exif=exif))
    (root / "h_huge.png").write_bytes(bomb_png(20000))


def test_dataset_create_align_ffhq_reports_every_photo_in_one_line_and_records_each_face(tmp_path, astronaut):
    _photo_folder(tmp_path / "photos", astronaut)
    report = create_dataset(CreateOptions(source=str(tmp_path / "photos"), dest=str(tmp_path / "faces.zip"),
                                          resolution=R, align="ffhq", progress=False))
    skipped = dict(report.skipped)
    assert set(skipped) == {"b_coffee.jpg", "c_corrupt.jpg", "d_notes.txt", "h_huge.png"}
    assert skipped["b_coffee.jpg"] == "no face found"
    assert skipped["c_corrupt.jpg"].startswith("truncated file")
    assert skipped["d_notes.txt"].startswith("not an image")
    assert skipped["h_huge.png"].startswith("decompression bomb")
    assert all("\n" not in reason for reason in skipped.values())
    assert report.written == 4 and report.resolution == R
    assert "applied EXIF orientation" in dict(report.converted)["g_exif_rotated.jpg"]
    with zipfile.ZipFile(tmp_path / "faces.zip") as z:
        meta = json.loads(z.read("dataset.json"))
        first = np.asarray(Image.open(io.BytesIO(z.read("00000/img00000000.png"))))
    assert meta["labels"] is None
    faces = meta["faces"]
    assert [f["photo"] for f in faces.values()] == ["a_astronaut.jpg", "e_cmyk.jpg", "f_16bit.png",
                                                    "g_exif_rotated.jpg"]
    for record in faces.values():
        assert record["face"] == 0 and abs(record["yaw"]) < 10
        assert np.asarray(record["face_landmarks"]).shape == (68, 2)
        assert np.asarray(record["face_quad"]).shape == (4, 2)
    # The EXIF-rotated copy was turned upright: its landmarks are the astronaut's own.
    np.testing.assert_allclose(faces["00000/img00000003.png"]["face_landmarks"],
                               faces["00000/img00000000.png"]["face_landmarks"], atol=3)
    assert first.shape == (R, R, 3)


@pytest.mark.slow  # two spawned workers each import dlib and load the landmark model
def test_the_worker_pool_gives_the_same_archive(tmp_path, astronaut):
    src = tmp_path / "photos"
    src.mkdir()
    for i, photo in enumerate([astronaut, astronaut[:, ::-1], skimage_data.coffee()]):
        Image.fromarray(np.ascontiguousarray(photo)).save(src / f"{i}.png")
    archives = []
    for workers in (1, 2):
        dest = tmp_path / f"w{workers}.zip"
        create_dataset(CreateOptions(source=str(src), dest=str(dest), resolution=R, align="ffhq", faces="all",
                                     workers=workers, progress=False))
        archives.append(dest.read_bytes())
    assert archives[0] == archives[1]


def test_lfw_thumbnails_are_all_reported_too_small(tmp_path):
    with pytest.raises(DatasetError, match="no usable image"):
        create_dataset(CreateOptions(source="builtin:lfw-subset", dest=str(tmp_path / "lfw.zip"), resolution=R,
                                     align="ffhq", progress=False))
    report = json.loads((tmp_path / "lfw.zip.report.json").read_text())
    assert len(report["skipped"]) == 100
    assert all(reason.startswith("too small: the photo is 25x25") for _, reason in report["skipped"])


def test_face_options_without_align_are_refused():
    with pytest.raises(ConfigError, match="need --align ffhq"):
        CreateOptions(source="x", dest="y.zip", max_yaw=20)
    with pytest.raises(ConfigError, match="leave out --transform"):
        CreateOptions(source="x", dest="y.zip", align="ffhq", transform="center-crop")


def test_cli_dataset_create_align_ffhq_as_the_docs_show(tmp_path, astronaut, capsys):
    (tmp_path / "photos").mkdir()
    Image.fromarray(astronaut).save(tmp_path / "photos" / "astronaut.png")
    code = main(["dataset", "create", "--source", str(tmp_path / "photos"), "--dest", str(tmp_path / "faces.zip"),
                 "--align", "ffhq", "--resolution", "256", "--faces", "all", "--max-yaw", "20", "--quiet"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "1 images written" in out
    # The HOG detector also finds the mission patch on her suit; its fit looks 27 degrees away.
    assert "face 1: turned away (yaw" in json.loads((tmp_path / "faces.zip.report.json").read_text())["converted"][0][1]


def test_cli_align_writes_one_png_per_face_and_their_records(tmp_path, astronaut, capsys):
    Image.fromarray(astronaut).save(tmp_path / "astronaut.png")
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 truncated")
    code = main(["align", str(tmp_path / "astronaut.png"), str(tmp_path / "broken.jpg"), "--outdir",
                 str(tmp_path / "aligned"), "--resolution", "256", "--faces", "largest"])
    out = capsys.readouterr().out
    assert code == 0
    assert sorted(p.name for p in (tmp_path / "aligned").iterdir()) == ["astronaut_00.png", "faces.json"]
    assert "broken.jpg: skipped: " in out and "1 aligned faces written" in out
    records = json.loads((tmp_path / "aligned" / "faces.json").read_text())["faces"]
    assert records["astronaut_00.png"]["photo"].endswith("astronaut.png")
    assert np.asarray(Image.open(tmp_path / "aligned" / "astronaut_00.png")).shape == (256, 256, 3)


def test_project_align_prepares_the_aligned_face_or_says_why_not(tmp_path, astronaut, aligned):
    from facegan.projection import load_target

    Image.fromarray(astronaut).save(tmp_path / "astronaut.png")
    target = load_target(tmp_path / "astronaut.png", R, align=True)
    assert target.shape == (R, R, 3)
    np.testing.assert_allclose(eye_centres(target), eye_centres(aligned.image), atol=3)
    Image.fromarray(skimage_data.coffee()).save(tmp_path / "coffee.png")
    with pytest.raises(ConfigError, match="coffee.png: no face found; leave out --align"):
        load_target(tmp_path / "coffee.png", R, align=True)


@pytest.mark.slow  # builds a network and projects (load_target's alignment is checked above, fast)
def test_cli_project_target_align_projects_the_aligned_face(tmp_path, astronaut, capsys):
    import torch

    from facegan.networks import StyleGAN2Config, build_generator, save_networks

    torch.manual_seed(0)
    cfg = StyleGAN2Config(resolution=16, z_dim=16, w_dim=16, mapping_layers=2, channel_base=256, channel_max=16)
    save_networks(tmp_path / "net.safetensors", {"G_ema": build_generator(cfg)}, cfg)
    Image.fromarray(astronaut).save(tmp_path / "holiday.jpg")
    Image.fromarray(skimage_data.coffee()).save(tmp_path / "coffee.jpg")
    common = ["--network", str(tmp_path / "net.safetensors"), "--num-steps", "2", "--loss", "laplacian",
              "--no-save-video", "--device", "cpu"]
    assert main(["project", "--target", str(tmp_path / "holiday.jpg"), "--align", "--outdir", str(tmp_path / "proj"),
                 *common]) == 0
    target = np.asarray(Image.open(tmp_path / "proj" / "target.png"))
    photo = np.asarray(Image.open(tmp_path / "holiday.jpg"))
    face = align_photo(photo, AlignOptions(resolution=16, max_upscale=4)).aligned[0].image
    whole = np.asarray(Image.fromarray(photo).resize((16, 16), Image.Resampling.LANCZOS))
    assert np.abs(target.astype(int) - face.astype(int)).mean() < 1                 # the aligned face ...
    assert np.abs(target.astype(int) - whole.astype(int)).mean() > 20               # ... not the centre crop
    assert main(["project", "--target", str(tmp_path / "coffee.jpg"), "--align", "--outdir", str(tmp_path / "p2"),
                 *common]) != 0
    err = capsys.readouterr().err
    assert "coffee.jpg: no face found; leave out --align" in err and "Traceback" not in err


@pytest.mark.slow
def test_the_cnn_detector_finds_the_astronaut_too(astronaut, aligned):
    # 1.5x larger, and only faces that need at most 1.25x enlargement: the CNN runs on the photo as it is
    # (not enlarged 2x, which costs 4x), ~2 s on one core.
    faces = align_photo(_scale(astronaut, 1.5), AlignOptions(resolution=R, detector="cnn", max_upscale=1.25))
    assert len(faces.aligned) == 1
    np.testing.assert_allclose(eye_centres(faces.aligned[0].image), eye_centres(aligned.image), atol=3)
