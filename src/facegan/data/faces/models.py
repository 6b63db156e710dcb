"""dlib's face detectors and its 68-point landmark model, found offline and loaded once per process.

The HOG detector is built into dlib (`dlib-bin`); the landmark model and the CNN detector are the
files of the `face-recognition-models` package. That package's `__init__.py` imports
`pkg_resources`, which current setuptools no longer ships, so it is never imported: its `models/`
folder is found from the installed distribution with `importlib.util.find_spec`, which locates a
top-level package without running it.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

from facegan.errors import DatasetError

DETECTORS = ("hog", "cnn")
LANDMARKS_68 = "shape_predictor_68_face_landmarks.dat"
CNN_DETECTOR = "mmod_human_face_detector.dat"
INSTALL_HINT = "pip install 'facegan[faces]' (dlib-bin and face-recognition-models)"


def _dlib():
    try:
        import dlib
    except ImportError:
        raise DatasetError(f"face alignment needs dlib: {INSTALL_HINT}") from None
    return dlib


def model_path(name: str) -> Path:
    """The path of one model file of `face-recognition-models`, without importing that package."""
    spec = importlib.util.find_spec("face_recognition_models")
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    if not folders:
        raise DatasetError(f"face alignment needs the dlib model files: {INSTALL_HINT}")
    path = Path(folders[0]) / "models" / name
    if not path.is_file():
        raise DatasetError(f"{path}: the model file is missing; reinstall face-recognition-models")
    return path


@cache
def landmark_model():
    """dlib's 68-point shape predictor (iBUG 300-W landmarks: the model FFHQ was aligned with)."""
    return _dlib().shape_predictor(str(model_path(LANDMARKS_68)))


@cache
def face_detector(kind: str):
    """`hog`: dlib's frontal face detector (HOG + linear SVM); `cnn`: its MMOD CNN detector."""
    if kind not in DETECTORS:
        raise DatasetError(f"unknown face detector {kind!r}; use one of {', '.join(DETECTORS)}")
    dlib = _dlib()
    if kind == "hog":
        return dlib.get_frontal_face_detector()
    return dlib.cnn_face_detection_model_v1(str(model_path(CNN_DETECTOR)))


def check_installed(detector: str = "hog") -> None:
    """Raise a DatasetError naming what to install unless dlib and the model files are at hand."""
    _dlib()
    model_path(LANDMARKS_68)
    if detector == "cnn":
        model_path(CNN_DETECTOR)
