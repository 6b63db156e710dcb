"""Head pose from the 68 landmarks: how far a face is turned left or right (yaw).

A generic 3D face (six points: nose tip, chin, the outer eye corners and the mouth corners; the
model of the common OpenCV head-pose tutorials, in millimetre-like units) is fitted to the six
matching landmarks with a scaled orthographic camera (weak perspective): the least-squares 2x3
affine map from model to photo, whose rows are made orthonormal (the nearest rotation, by SVD).
The yaw is the turn about the head's own vertical axis, apart from its tilt (roll) and nod (pitch). This is the usual
landmark-only estimate: a few degrees for frontal faces, and good to about 10 degrees up to 45 or
so; beyond that the 2D landmark fit itself degrades.
"""

from __future__ import annotations

import numpy as np

# 3D model points in the camera's axes for a frontal face: x right, y down, z away from the camera.
MODEL_INDICES = (30, 8, 36, 45, 48, 54)   # nose tip, chin, outer eye corners, mouth corners
MODEL_POINTS = np.array([
    [0.0, 0.0, 0.0],          # nose tip
    [0.0, 330.0, 65.0],       # chin
    [-225.0, -170.0, 135.0],  # outer corner of the eye on the image's left
    [225.0, -170.0, 135.0],   # outer corner of the eye on the image's right
    [-150.0, 150.0, 125.0],   # mouth corner on the image's left
    [150.0, 150.0, 125.0],    # mouth corner on the image's right
])


def head_rotation(landmarks: np.ndarray) -> np.ndarray:
    """The 3x3 rotation of the model that best explains the landmarks (weak perspective)."""
    lm = np.asarray(landmarks, np.float64)
    pts = lm[list(MODEL_INDICES)]
    model = MODEL_POINTS - MODEL_POINTS.mean(axis=0)
    image = pts - pts.mean(axis=0)
    affine, *_ = np.linalg.lstsq(model, image, rcond=None)   # image = model @ affine, affine [3, 2]
    u, _, vt = np.linalg.svd(affine.T, full_matrices=False)  # the rows of scale * R[:2]
    rows = u @ vt
    return np.vstack([rows, np.cross(rows[0], rows[1])])


def estimate_yaw(landmarks: np.ndarray) -> float:
    """Degrees; 0 looks at the camera, positive when the face turns towards the image's right."""
    # With the rotation written as roll (in the image plane) after yaw after pitch, R = Rz Ry Rx, the
    # bottom-left entry is -sin(yaw about the head's own vertical axis), whatever the roll and pitch.
    r = head_rotation(landmarks)
    return float(np.degrees(np.arcsin(np.clip(r[2, 0], -1.0, 1.0))))
