"""The FFHQ alignment arithmetic, checked against a literal implementation of the published recipe
(NVIDIA ffhq-dataset, `recreate_aligned_images`) on the landmarks of a real photo."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("dlib")
skimage_data = pytest.importorskip("skimage.data")

from facegan.data.faces.detect import detect_faces  # noqa: E402
from facegan.data.faces.ffhq import align_ffhq, ffhq_quad  # noqa: E402


def published_recipe(photo: np.ndarray, lm: np.ndarray, output_size: int, transform_size: int = 4096) -> np.ndarray:
    """The recipe step by step, as published: 4096x4096 transform, Pillow filters, scipy blur."""
    import scipy.ndimage
    from PIL import Image

    eye_l, eye_r = lm[36:42].mean(0), lm[42:48].mean(0)
    eye_avg, eye_to_eye = (eye_l + eye_r) * 0.5, eye_r - eye_l
    mouth_avg = (lm[48] + lm[54]) * 0.5
    eye_to_mouth = mouth_avg - eye_avg
    x = eye_to_eye - np.flipud(eye_to_mouth) * [-1, 1]
    x /= np.hypot(*x)
    x *= max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    y = np.flipud(x) * [-1, 1]
    c = eye_avg + eye_to_mouth * 0.1
    quad = np.stack([c - x - y, c - x + y, c + x + y, c + x - y])
    qsize = np.hypot(*x) * 2
    img = Image.fromarray(photo)

    shrink = int(np.floor(qsize / output_size * 0.5))
    if shrink > 1:
        img = img.resize((int(np.rint(img.size[0] / shrink)), int(np.rint(img.size[1] / shrink))), Image.LANCZOS)
        quad /= shrink
        qsize /= shrink
    border = max(int(np.rint(qsize * 0.1)), 3)
    lo, hi = np.floor(quad.min(0)).astype(int), np.ceil(quad.max(0)).astype(int)
    crop = (max(lo[0] - border, 0), max(lo[1] - border, 0), min(hi[0] + border, img.size[0]),
            min(hi[1] + border, img.size[1]))
    if crop[2] - crop[0] < img.size[0] or crop[3] - crop[1] < img.size[1]:
        img = img.crop(crop)
        quad -= crop[0:2]
    lo, hi = np.floor(quad.min(0)).astype(int), np.ceil(quad.max(0)).astype(int)
    pad = (max(-lo[0] + border, 0), max(-lo[1] + border, 0), max(hi[0] - img.size[0] + border, 0),
           max(hi[1] - img.size[1] + border, 0))
    if max(pad) > border - 4:
        pad = np.maximum(pad, int(np.rint(qsize * 0.3)))
        a = np.pad(np.float32(img), ((pad[1], pad[3]), (pad[0], pad[2]), (0, 0)), "reflect")
        h, w, _ = a.shape
        yy, xx, _ = np.ogrid[:h, :w, :1]
        mask = np.maximum(1.0 - np.minimum(np.float32(xx) / pad[0], np.float32(w - 1 - xx) / pad[2]),
                          1.0 - np.minimum(np.float32(yy) / pad[1], np.float32(h - 1 - yy) / pad[3]))
        blur = qsize * 0.02
        a += (scipy.ndimage.gaussian_filter(a, [blur, blur, 0]) - a) * np.clip(mask * 3.0 + 1.0, 0.0, 1.0)
        a += (np.median(a, axis=(0, 1)) - a) * np.clip(mask, 0.0, 1.0)
        img = Image.fromarray(np.uint8(np.clip(np.rint(a), 0, 255)), "RGB")
        quad += pad[:2]
    img = img.transform((transform_size, transform_size), Image.QUAD, (quad + 0.5).flatten(), Image.BILINEAR)
    if output_size < transform_size:
        img = img.resize((output_size, output_size), Image.LANCZOS)
    return np.asarray(img)


@pytest.fixture(scope="module")
def astronaut():
    photo = skimage_data.astronaut()
    return photo, detect_faces(photo, min_face=64)[0].landmarks


def _difference(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    d = np.abs(a.astype(np.int16) - b.astype(np.int16))
    return float(d.mean()), float(np.percentile(d, 99))


@pytest.mark.parametrize("case", ["as-is", "face-at-the-edge", "large-photo"])
def test_alignment_matches_the_published_recipe_within_a_few_grey_levels(astronaut, case):
    from PIL import Image

    photo, lm = astronaut
    if case == "face-at-the-edge":    # the square leaves the photo: the reflect-pad-blur-blend step
        photo, lm = np.ascontiguousarray(photo[70:, 160:]), lm - [160, 70]
    elif case == "large-photo":       # 3x larger: the square is > 4x the output, the shrink step
        photo, lm = np.asarray(Image.fromarray(photo).resize((1536, 1536), Image.LANCZOS)), lm * 3 + 1
    resolution = 128
    ours = align_ffhq(photo, ffhq_quad(lm), resolution)
    reference = published_recipe(photo, lm.copy(), resolution)
    assert ours.shape == reference.shape == (resolution, resolution, 3)
    mean, p99 = _difference(ours, reference)
    assert mean < 1.5 and p99 < 8, (mean, p99)
    if case != "face-at-the-edge":  # the recipe's own transform size gives its pixels, up to float rounding
        # (large-photo: only the cropped region is shrunk, with the taps the whole photo's shrink uses)
        exact = align_ffhq(photo, ffhq_quad(lm), resolution, transform_size=4096)
        assert _difference(exact, reference)[1] <= 1


def test_a_frontal_face_lands_its_eyes_where_ffhq_puts_them():
    # Eyes 100 px apart, mouth 90 px below them, upright: the square is 4x the eye distance, so the
    # eyes sit at 3/8 and 5/8 of the width, 1/40 of the height above the centre (1024: x 384 and 640).
    lm = np.zeros((68, 2))
    lm[36:42] = [300, 200]
    lm[42:48] = [400, 200]
    lm[48], lm[54] = [320, 290], [380, 290]
    quad = ffhq_quad(lm)
    assert quad.size == pytest.approx(400)
    eyes = quad.to_output(np.array([[300, 200], [400, 200]]), 1024)
    np.testing.assert_allclose(eyes, [[384, 512 - 9 / 400 * 1024], [640, 512 - 9 / 400 * 1024]], atol=1e-9)


def test_the_square_turns_with_a_tilted_face():
    lm = np.zeros((68, 2))
    lm[36:42], lm[42:48] = [300, 200], [400, 200]
    lm[48], lm[54] = [320, 290], [380, 290]
    angle = np.radians(30)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    turned = ffhq_quad((lm - 350) @ rot.T + 350)
    upright = ffhq_quad(lm)
    assert turned.size == pytest.approx(upright.size)
    assert np.degrees(np.arctan2(turned.x[1], turned.x[0])) == pytest.approx(30)


def test_landmarks_of_the_wrong_shape_are_refused():
    with pytest.raises(ValueError, match="68"):
        ffhq_quad(np.zeros((5, 2)))


@pytest.mark.parametrize("shrink", [2, 3])
def test_shrinking_only_the_cropped_region_gives_the_pixels_of_the_shrunk_photo(shrink):
    from PIL import Image

    from facegan.data.faces.ffhq import _shrunk_region

    photo = np.asarray(Image.fromarray(skimage_data.astronaut()).resize((1537, 1201), Image.BICUBIC))
    size = (int(np.rint(1537 / shrink)), int(np.rint(1201 / shrink)))
    whole = np.asarray(Image.fromarray(photo).resize(size, Image.LANCZOS))
    for box in [(40, 30, 200, 170), (0, 0, 90, 60), (size[0] - 70, size[1] - 50, size[0], size[1])]:
        region = np.asarray(_shrunk_region(photo, size, box))
        expected = whole[box[1]:box[3], box[0]:box[2]]
        assert region.shape == expected.shape
        d = np.abs(region.astype(np.int16) - expected)
        # Pillow may round between its two passes in another order for the region: a few pixels differ
        assert d.max() <= 3 and (d > 0).mean() < 0.001, (box, d.max(), (d > 0).mean())


@pytest.mark.parametrize("size", [96, 256, 1024])
def test_dlib_samples_the_square_exactly_as_the_recipes_pillow_quad_transform(astronaut, size):
    from PIL import Image

    from facegan.data.faces.ffhq import sample_square, sample_square_pillow

    photo, lm = astronaut
    corners = ffhq_quad(lm).corners
    gray = np.asarray(Image.fromarray(photo).convert("L"))
    for image in (photo, gray):
        fast, recipe = sample_square(image, corners, size), sample_square_pillow(image, corners, size)
        assert fast.shape == recipe.shape == (size, size) + image.shape[2:]
        np.testing.assert_array_equal(fast, recipe)
