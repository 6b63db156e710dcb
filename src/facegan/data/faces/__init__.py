"""Faces from real photos: dlib face detection and 68 landmarks, FFHQ's alignment, head yaw, and
the per-photo checks (size, pose) of `facegan dataset create --align ffhq` and `facegan align`.

    from facegan.data.faces import AlignOptions, align_photo
    faces = align_photo(photo_uint8_hwc, AlignOptions(resolution=256))

Needs `facegan[faces]` (dlib-bin, face-recognition-models); imported only when faces are asked for.
"""

from facegan.data.faces.align import AlignedFace, AlignOptions, PhotoFaces, align_photo
from facegan.data.faces.detect import Face, detect_faces
from facegan.data.faces.ffhq import FaceQuad, align_ffhq, ffhq_quad
from facegan.data.faces.pose import estimate_yaw

__all__ = [
    "AlignOptions",
    "AlignedFace",
    "Face",
    "FaceQuad",
    "PhotoFaces",
    "align_ffhq",
    "align_photo",
    "detect_faces",
    "estimate_yaw",
    "ffhq_quad",
]
