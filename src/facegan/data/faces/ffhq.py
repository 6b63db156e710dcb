"""FFHQ's face alignment: 68 landmarks -> an oriented square around the face -> the aligned image.

The recipe of NVIDIA's ffhq-dataset (`recreate_aligned_images` in download_ffhq.py), the alignment
of every FFHQ image (and, in essence, of CelebA-HQ):

1. **The quad.** From the means of the six landmarks of each eye and the two outer mouth corners
   (points 48 and 54): `eye_avg`, `eye_to_eye`, `mouth_avg`, `eye_to_mouth`. The half-side vector
   `x` points along `eye_to_eye` tilted by the eye-to-mouth direction turned 90 degrees, scaled to
   max(2.0 |eye_to_eye|, 1.8 |eye_to_mouth|); `y` is `x` turned 90 degrees; the centre is
   `eye_avg + 0.1 eye_to_mouth`. The square's side `qsize` is 2 |x|.
2. **Shrink.** If the square is more than 4x the output size, the photo is first reduced by the
   integer factor floor(qsize / output / 2) (Lanczos, Pillow's old ANTIALIAS).
3. **Crop** to the square's bounding box plus a border of max(round(0.1 qsize), 3) pixels.
4. **Pad.** Where the square comes within 4 pixels of the photo's edge or leaves it, the photo is
   padded by at least round(0.3 qsize) with its mirror image (`reflect`), the padding blurred
   (Gaussian, sigma = 0.02 qsize) and faded towards the photo's median colour.
5. **Transform** the quad to a `transform_size` square (bilinear), then reduce to the output size
   (Lanczos). The bilinear sampling is dlib's when dlib is installed: the same pixels as the
   recipe's Pillow QUAD transform, faster (`sample_square`).

Deviations, for speed, each measured against a literal implementation of the recipe
(tests/test_align_ffhq.py compares the pixels):

- **The transform size.** The official script always transforms to 4096x4096 (4x its 1024
  output). By default the transform here samples the square as densely as the photo holds pixels,
  and no denser: the output size times ceil(qsize / output), at most 4x (after the shrink, qsize <
  4x the output, so a 1024 crop from a large photo still goes through 4096x4096). Sampling more
  finely than the photo's own pixels only interpolates, so the result barely changes, while a face
  upscaled to 256x256 costs a 256x256 transform instead of a 4096x4096 one. Give `transform_size`
  to force a size. (Sampling coarser than the photo is not a saving worth having: at 2x the output
  where the rule gives 3x, a face with fine detail moves p99 from 1 to 4 grey levels.)
- **The shrink of a region.** Step 2 resizes only the region the crop keeps, not the whole photo,
  with the whole photo's Lanczos taps; Pillow may round between its two passes in another order
  for the region, so a few pixels differ by 1-3 grey levels. A 24-megapixel photo whose face is
  aligned to 256x256 is then never resized whole.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

EYE_LEFT = slice(36, 42)      # iBUG 300-W indices: the eye on the image's left ...
EYE_RIGHT = slice(42, 48)     # ... and on its right
MOUTH_LEFT, MOUTH_RIGHT = 48, 54
SUPERSAMPLE = 4               # At most 4x the output size (4096 for FFHQ's 1024), as the recipe


@dataclass(frozen=True)
class FaceQuad:
    center: np.ndarray    # c: the square's centre, photo pixels (x, y).
    x: np.ndarray         # Half-side vector along the face's horizontal axis.
    y: np.ndarray         # Half-side vector along its vertical axis (x turned 90 degrees).

    @property
    def corners(self) -> np.ndarray:
        """[4, 2]: top-left, bottom-left, bottom-right, top-right (the order of Pillow's QUAD)."""
        c, x, y = self.center, self.x, self.y
        return np.stack([c - x - y, c - x + y, c + x + y, c + x - y])

    @property
    def size(self) -> float:
        """qsize: the side of the square in photo pixels."""
        return float(np.hypot(*self.x) * 2)

    def to_output(self, points: np.ndarray, resolution: int) -> np.ndarray:
        """Photo coordinates -> coordinates in the aligned image of side `resolution`."""
        d = np.asarray(points, np.float64) - (self.center - self.x - self.y)
        u = d @ self.x / (self.x @ self.x) / 2
        v = d @ self.y / (self.y @ self.y) / 2
        return np.stack([u, v], axis=-1) * resolution


def ffhq_quad(landmarks: np.ndarray) -> FaceQuad:
    """Step 1 of the recipe: the oriented square of a face from its 68 landmarks."""
    lm = np.asarray(landmarks, np.float64)
    if lm.shape != (68, 2):
        raise ValueError(f"expected 68 (x, y) landmarks, got an array of shape {lm.shape}")
    eye_left, eye_right = lm[EYE_LEFT].mean(axis=0), lm[EYE_RIGHT].mean(axis=0)
    eye_avg = (eye_left + eye_right) / 2
    eye_to_eye = eye_right - eye_left
    mouth_avg = (lm[MOUTH_LEFT] + lm[MOUTH_RIGHT]) / 2
    eye_to_mouth = mouth_avg - eye_avg
    # The eye-to-mouth direction turned by -90 degrees, (dx, dy) -> (dy, -dx), points the same way as
    # eye_to_eye on an upright face; their difference averages the two estimates of "horizontal".
    x = eye_to_eye + np.array([eye_to_mouth[1], -eye_to_mouth[0]])
    x = x / np.hypot(*x) * max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    y = np.array([-x[1], x[0]])
    return FaceQuad(center=eye_avg + eye_to_mouth * 0.1, x=x, y=y)


def align_ffhq(image: np.ndarray, quad: FaceQuad, resolution: int, transform_size: int | None = None,
               padding: bool = True) -> np.ndarray:
    """Steps 2-5: the aligned face, uint8 [resolution, resolution, C] from a uint8 HWC photo (C = 1 or 3)."""
    from PIL import Image

    a = np.asarray(image, np.uint8)
    a = a.reshape(a.shape[:2]) if a.ndim == 3 and a.shape[2] == 1 else a
    h, w = a.shape[:2]
    corners, qsize = quad.corners.copy(), quad.size

    # Steps 2 and 3 compute only the pixels the crop keeps: the recipe shrinks the whole photo, then
    # crops; here only the crop's region is shrunk (with the whole photo's Lanczos taps), and the
    # photo is never copied or resized whole (a 24-megapixel photo, for a 256x256 face).
    shrink = int(math.floor(qsize / resolution * 0.5))
    if shrink > 1:
        size = (int(np.rint(w / shrink)), int(np.rint(h / shrink)))
        corners /= shrink
        qsize /= shrink
    else:
        size = (w, h)
    border = max(int(np.rint(qsize * 0.1)), 3)
    left, top, right, bottom = _bounds(corners)
    box = (max(left - border, 0), max(top - border, 0), min(right + border, size[0]), min(bottom + border, size[1]))
    if box[0] >= box[2] or box[1] >= box[3]:
        raise ValueError("the face square lies wholly outside the photo")
    region = _shrunk_region(a, size, box) if shrink > 1 else a[box[1]:box[3], box[0]:box[2]]
    corners -= box[:2]

    if padding:  # (after it, the square lies at least 4 pixels inside the region)
        left, top, right, bottom = _bounds(corners)
        pad = (max(border - left, 0), max(border - top, 0), max(right - region.shape[1] + border, 0),
               max(bottom - region.shape[0] + border, 0))
        if max(pad) > border - 4:
            pad = tuple(max(p, int(np.rint(qsize * 0.3))) for p in pad)
            region = _reflect_pad_blend(region, pad, qsize)
            corners += pad[:2]

    if transform_size is None:
        transform_size = resolution * min(max(math.ceil(qsize / resolution), 1), SUPERSAMPLE)
    out = sample_square(region, corners, transform_size)
    if resolution < transform_size:
        out = np.asarray(Image.fromarray(out).resize((resolution, resolution), Image.Resampling.LANCZOS))
    return out[:, :, None] if out.ndim == 2 else out


def sample_square(a: np.ndarray, corners: np.ndarray, size: int) -> np.ndarray:
    """Step 5's transform: the square `corners` (top-left, bottom-left, bottom-right, top-right) of the
    uint8 image `a` (HW or HWC) sampled bilinearly at size x size points, each output pixel's centre.

    The recipe calls Pillow's QUAD transform; dlib's `transform_image`, when dlib is installed, does the
    same arithmetic 1.3-1.5x faster (no per-pixel function calls) and gives the same pixels wherever the
    square lies inside the image, as it always does after the crop and padding (tests compare them).
    """
    try:
        import dlib
    except ImportError:
        return sample_square_pillow(a, corners, size)
    # Pillow maps output pixel centres (u + 1/2, v + 1/2) into the quad and puts pixel centres at
    # i + 1/2 (so the recipe passes corners + 0.5); dlib maps integer pixel coordinates, centres at i.
    ex, ey = (corners[3] - corners[0]) / size, (corners[1] - corners[0]) / size
    origin = corners[0] + (ex + ey) / 2
    affine = np.array([[ex[0], ey[0], origin[0]], [ex[1], ey[1], origin[1]], [0.0, 0.0, 1.0]])
    return np.asarray(dlib.transform_image(np.ascontiguousarray(a), dlib.point_transform_projective(affine),
                                           size, size))


def sample_square_pillow(a: np.ndarray, corners: np.ndarray, size: int) -> np.ndarray:
    """`sample_square` as the recipe writes it: Pillow's QUAD transform, bilinear."""
    from PIL import Image

    img = Image.fromarray(np.ascontiguousarray(a))
    return np.asarray(img.transform((size, size), Image.Transform.QUAD, (corners + 0.5).flatten(),
                                    Image.Resampling.BILINEAR))


def _shrunk_region(a: np.ndarray, size: tuple[int, int], box: tuple[int, int, int, int]) -> np.ndarray:
    """The pixels `box` of the photo `a` resized to `size` with Lanczos.

    Pillow's resize of a source region, fed the region and the rows and columns its kernel reaches
    beyond it, so every output pixel gets the taps and weights it gets in the resize of the whole
    photo. The result is that of the whole photo's resize, cropped, up to the rounding between
    Pillow's two passes (Pillow 13 picks their order from the image's shape, and the region's shape
    is not the photo's): real photos differ by at most 1-3 grey levels in a few pixels.
    """
    from PIL import Image

    h, w = a.shape[:2]
    sx, sy = w / size[0], h / size[1]                       # source pixels per shrunk pixel
    src = (box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy)
    reach = (math.ceil(3 * sx) + 2, math.ceil(3 * sy) + 2)  # Lanczos (a = 3) support, scaled, with a margin
    x0, y0 = max(int(src[0]) - reach[0], 0), max(int(src[1]) - reach[1], 0)
    x1, y1 = min(math.ceil(src[2]) + reach[0], w), min(math.ceil(src[3]) + reach[1], h)
    region = Image.fromarray(np.ascontiguousarray(a[y0:y1, x0:x1]))
    return np.asarray(region.resize((box[2] - box[0], box[3] - box[1]), Image.Resampling.LANCZOS,
                                    box=(src[0] - x0, src[1] - y0, src[2] - x0, src[3] - y0)))


def _bounds(corners: np.ndarray) -> tuple[int, int, int, int]:
    """The integer bounding box of the corners: floor of the minima, ceil of the maxima."""
    lo, hi = np.floor(corners.min(axis=0)), np.ceil(corners.max(axis=0))
    return int(lo[0]), int(lo[1]), int(hi[0]), int(hi[1])


def _reflect_pad_blend(region: np.ndarray, pad: tuple[int, int, int, int], qsize: float) -> np.ndarray:
    """Mirror-pad by (left, top, right, bottom) and hide the seams: the padding is blurred (fully; the
    blur fades out over a third of the padding's width into the photo) and faded towards the median
    colour in proportion to the distance from the photo's edge."""
    import scipy.ndimage

    a = np.asarray(region, np.float32)
    gray = a.ndim == 2
    if gray:
        a = a[:, :, None]
    left, top, right, bottom = pad
    a = np.pad(a, ((top, bottom), (left, right), (0, 0)), mode="reflect")
    h, w = a.shape[:2]
    cols = np.arange(w, dtype=np.float32)[None, :, None]
    rows = np.arange(h, dtype=np.float32)[:, None, None]
    # How far into the padding each pixel lies: 0 at the photo's edge, 1 at the outer edge.
    with np.errstate(divide="ignore", invalid="ignore"):
        out_x = 1.0 - np.minimum(cols / left, (w - 1 - cols) / right)
        out_y = 1.0 - np.minimum(rows / top, (h - 1 - rows) / bottom)
    depth = np.maximum(out_x, out_y)
    sigma = qsize * 0.02
    blurred = scipy.ndimage.gaussian_filter(a, [sigma, sigma, 0])
    a += (blurred - a) * np.clip(depth * 3.0 + 1.0, 0.0, 1.0)
    a += (np.median(a, axis=(0, 1)) - a) * np.clip(depth, 0.0, 1.0)
    a = np.clip(np.rint(a), 0, 255).astype(np.uint8)
    return a[:, :, 0] if gray else a
