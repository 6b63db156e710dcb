"""One photo -> its aligned faces, or the reason there are none.

    faces = align_photo(photo, AlignOptions(resolution=256))
    for face in faces.aligned: ...     # .image, .index, .landmarks, .quad, .yaw
    faces.rejected                     # ["face 1: turned away (yaw 52 degrees, limit 30)", ...]

Faces are numbered largest first (the detector's box). Each is checked in turn: upright (a fit
tilted more than 60 degrees is a false detection, as the detectors find only roughly upright
faces), big enough to become `resolution` pixels without being enlarged more than `max_upscale`
times (and at least `min_face` pixels, when given), then facing the camera within `max_yaw`
degrees. `faces="largest"` keeps the largest face that passes, `"all"` every one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from facegan.data.decode import SkipImage
from facegan.data.faces.detect import DETECTOR_WINDOW, Face, detect_faces
from facegan.data.faces.ffhq import FaceQuad, align_ffhq, ffhq_quad
from facegan.data.faces.models import DETECTORS
from facegan.data.faces.pose import estimate_yaw
from facegan.errors import ConfigError

FACE_MODES = ("largest", "all")
QUAD_PER_BOX = 2.5    # an FFHQ square is about 1.9-2.4x the HOG box: look for boxes from square / 2.5
MAX_TILT = 60.0       # dlib's detectors find faces within about 30 degrees of upright; a fit tilted
                      # further is not a face (a badge, a pattern) and is rejected


@dataclass(frozen=True)
class AlignOptions:
    resolution: int = 1024           # Output side (FFHQ: 1024).
    faces: str = "largest"           # 'largest': one face per photo; 'all': every face.
    min_face: int | None = None      # Reject faces whose FFHQ square is smaller than this, in photo pixels.
    max_yaw: float | None = None     # Reject faces turned further than this, in degrees.
    detector: str = "hog"            # 'hog' (fast) or 'cnn' (finds more faces, ~10x slower).
    max_upscale: float = 2.0         # Reject faces that would be enlarged more than this.
    transform_size: int | None = None  # The recipe's supersampled square; None = as fine as the photo.

    def __post_init__(self) -> None:
        r = self.resolution
        if r < 4 or r & (r - 1):
            raise ConfigError(f"--resolution must be a power of two >= 4, got {r}")
        if self.faces not in FACE_MODES:
            raise ConfigError(f"--faces must be one of {', '.join(FACE_MODES)}, got {self.faces!r}")
        if self.detector not in DETECTORS:
            raise ConfigError(f"--detector must be one of {', '.join(DETECTORS)}, got {self.detector!r}")
        if self.min_face is not None and self.min_face < 1:
            raise ConfigError(f"--min-face must be >= 1 pixel, got {self.min_face}")
        if self.max_yaw is not None and not 0 <= self.max_yaw <= 90:
            raise ConfigError(f"--max-yaw must be in [0, 90] degrees, got {self.max_yaw}")
        if self.max_upscale < 1:
            raise ConfigError(f"--max-upscale must be >= 1, got {self.max_upscale}")

    @property
    def smallest_quad(self) -> float:
        """The smallest FFHQ square (photo pixels) that passes the size checks."""
        return max(self.resolution / self.max_upscale, self.min_face or 0)


@dataclass(frozen=True)
class AlignedFace:
    image: np.ndarray     # uint8 [resolution, resolution, C].
    index: int            # The face's number in its photo, 0 = the largest.
    face: Face            # The detector's box and score, the 68 landmarks (photo pixels).
    quad: FaceQuad        # The FFHQ square in the photo.
    yaw: float            # Estimated head yaw, degrees (positive: turned towards the image's right).

    def record(self) -> dict:
        """What the archive keeps about this image (names as in FFHQ's metadata JSON; photo pixels)."""
        return {
            "face": self.index,
            "face_rect": list(self.face.rect),
            "face_score": round(self.face.score, 4),
            "face_landmarks": np.round(self.face.landmarks, 2).tolist(),
            "face_quad": np.round(self.quad.corners, 2).tolist(),
            "yaw": round(self.yaw, 2),
        }


@dataclass
class PhotoFaces:
    aligned: list[AlignedFace] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)   # One reason per face that was found but not kept.
    none_found: str = "no face found"                     # The reason when no face was found at all.

    def reason(self) -> str:
        """Why no face was kept (for the report)."""
        if not self.rejected:
            return self.none_found
        if len(self.rejected) == 1:
            return self.rejected[0].split(": ", 1)[1]
        return f"no usable face ({'; '.join(self.rejected)})"


def align_photo(photo: np.ndarray, opts: AlignOptions) -> PhotoFaces:
    """Detect, check and align the faces of a uint8 HWC photo (C = 1 or 3); see the module docstring.

    Raises SkipImage when the whole photo is too small to hold a usable face.
    """
    h, w = photo.shape[:2]
    smallest = opts.smallest_quad
    if max(h, w) < smallest / QUAD_PER_BOX:
        raise SkipImage(f"too small: the photo is {w}x{h}, and a face in it would be under {smallest:.0f} px "
                        f"({_size_limit(opts)})")
    faces = detect_faces(photo, opts.detector, min_face=smallest / QUAD_PER_BOX)
    result = PhotoFaces()
    if smallest / QUAD_PER_BOX > DETECTOR_WINDOW:  # small faces were not looked for
        result.none_found = (f"no face large enough: faces under {smallest:.0f} px (their FFHQ square) are not "
                             f"looked for ({_size_limit(opts)})")
    for index, face in enumerate(faces):
        quad = ffhq_quad(face.landmarks)
        yaw = estimate_yaw(face.landmarks)
        tilt = float(np.degrees(np.arctan2(quad.x[1], quad.x[0])))
        if abs(tilt) > MAX_TILT:
            result.rejected.append(f"face {index}: not a face (its landmarks fit a face tilted {tilt:+.0f} degrees)")
        elif quad.size < smallest:
            result.rejected.append(f"face {index}: too small ({quad.size:.0f} px face square; {_size_limit(opts)})")
        elif opts.max_yaw is not None and abs(yaw) > opts.max_yaw:
            result.rejected.append(f"face {index}: turned away (yaw {yaw:+.0f} degrees, --max-yaw {opts.max_yaw:g})")
        else:
            image = align_ffhq(photo, quad, opts.resolution, opts.transform_size)
            result.aligned.append(AlignedFace(image, index, face, quad, yaw))
            if opts.faces == "largest":
                break
    return result


def _size_limit(opts: AlignOptions) -> str:
    limit = (f"{opts.resolution} px needs {opts.resolution / opts.max_upscale:.0f} px "
             f"at --max-upscale {opts.max_upscale:g}")
    if opts.min_face:
        limit += f", --min-face {opts.min_face}"
    return limit
