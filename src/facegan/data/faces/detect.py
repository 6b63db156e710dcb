"""Find faces in a photo and fit dlib's 68 landmarks to each (the landmarks FFHQ was aligned from).

Both dlib detectors slide a window of about 80x80 pixels over an image pyramid, so they find faces
of about 80 pixels and up. `detect_faces` looks only for faces as small as the caller can use
(`min_face`, the side of the detector's box): it shrinks a large photo before detecting when only
large faces are wanted, and lets dlib enlarge the image (its `upsample` count, powers of two) when
small faces are. Whatever is wanted, the detector never sees more than 4 megapixels: a
24-megapixel photo is searched at 40% (faces from about 200 pixels), in the time a small photo
takes. The 68 landmarks are always fitted on the photo at full resolution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from facegan.data.faces.models import face_detector, landmark_model

DETECTOR_WINDOW = 80                 # Both detectors find faces of about this many pixels and up.
MAX_UPSAMPLE = 3                     # dlib enlarges the image at most 2**3 = 8 times ...
MAX_DETECT_PIXELS = 4 * 1024 * 1024  # ... and never beyond 4 megapixels (HOG takes ~1 s per 10 Mpx).


@dataclass(frozen=True)
class Face:
    rect: tuple[int, int, int, int]   # The detector's box in the photo: left, top, right, bottom.
    score: float                      # The detector's confidence (HOG: SVM margin; CNN: MMOD score).
    landmarks: np.ndarray             # [68, 2] float64 (x, y) in photo pixels, iBUG 300-W order.

    @property
    def size(self) -> int:
        """The side of the detector's box (its larger side), in photo pixels."""
        return max(self.rect[2] - self.rect[0], self.rect[3] - self.rect[1])


def detect_faces(image: np.ndarray, detector: str = "hog", min_face: float = DETECTOR_WINDOW) -> list[Face]:
    """The faces in a uint8 HWC photo (C = 1 or 3), largest first, each with its 68 landmarks.

    `min_face`: the smallest face box worth finding, in photo pixels; smaller faces may be missed.
    """
    a = np.ascontiguousarray(image[:, :, 0] if image.ndim == 3 and image.shape[2] == 1 else image, np.uint8)
    h, w = a.shape[:2]
    scale = DETECTOR_WINDOW / max(float(min_face), 1.0)
    if h * w > MAX_DETECT_PIXELS:
        scale = min(scale, math.sqrt(MAX_DETECT_PIXELS / (h * w)))
    upsample = 0
    if scale < 1:  # only large faces are wanted, or the photo is huge: detect on a smaller copy
        small = _shrink(a, scale)
        scale = small.shape[1] / w
        a_det = small
    else:
        upsample = min(MAX_UPSAMPLE, math.ceil(math.log2(scale)) if scale > 1 else 0)
        while upsample > 0 and h * w * 4 ** upsample > MAX_DETECT_PIXELS:
            upsample -= 1
        scale, a_det = 1.0, a
    boxes = _run_detector(a_det, detector, upsample)
    predictor = landmark_model()
    import dlib

    faces = []
    for (left, top, right, bottom), score in boxes:
        rect = tuple(int(round(v / scale)) for v in (left, top, right, bottom))
        shape = predictor(a, dlib.rectangle(*rect))
        landmarks = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
        faces.append(Face(rect, float(score), landmarks))
    faces.sort(key=lambda f: (f.rect[2] - f.rect[0]) * (f.rect[3] - f.rect[1]), reverse=True)
    return faces


def _shrink(a: np.ndarray, scale: float) -> np.ndarray:
    from PIL import Image

    h, w = a.shape[:2]
    size = (max(1, int(round(w * scale))), max(1, int(round(h * scale))))
    return np.asarray(Image.fromarray(a).resize(size, Image.Resampling.BOX))


def _run_detector(a: np.ndarray, kind: str, upsample: int) -> list[tuple[tuple[int, int, int, int], float]]:
    det = face_detector(kind)
    if kind == "hog":
        rects, scores, _ = det.run(a, upsample, 0.0)
        return [((r.left(), r.top(), r.right(), r.bottom()), s) for r, s in zip(rects, scores)]
    found = det(a, upsample)
    return [((m.rect.left(), m.rect.top(), m.rect.right(), m.rect.bottom()), m.confidence) for m in found]
