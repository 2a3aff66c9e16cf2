"""The shared face module (hxbench.face): mediapipe wrappers, cache, measurements."""

import numpy as np
import pytest

pytest.importorskip("mediapipe")
import skimage.data  # noqa: E402

from hxbench import face  # noqa: E402
from hxbench.face import geometry as G  # noqa: E402


@pytest.fixture(scope="module")
def astro():
    return skimage.data.astronaut()


def test_face_mesh_and_detection_on_photo(astro):
    res = face.face_mesh(astro, static=True)
    assert res.landmarks.shape == (1, 478, 3) and res.found.tolist() == [True]
    box = face.detect_faces(astro).largest()[0]
    lm = res.landmarks[0]
    # nose tip and eye corners inside the detected face box (pixels)
    for i in (G.NOSE_TIP, G.LEFT_EYE_OUTER, G.RIGHT_EYE_OUTER):
        assert box[0] <= lm[i, 0] <= box[2] and box[1] <= lm[i, 1] <= box[3]
    # subject's left eye is on the image's right
    assert lm[G.LEFT_EYE_OUTER, 0] > lm[G.RIGHT_EYE_OUTER, 0]
    ear = face.eye_aspect_ratio(res.landmarks)[0]
    assert np.all((ear > 0.2) & (ear < 0.45))
    yaw, pitch, roll = face.head_pose(res.landmarks)[0]
    assert abs(yaw) < 8 and abs(roll) < 8


def test_no_face_gives_nan_and_false():
    blank = np.full((2, 96, 96, 3), 127, np.uint8)
    res = face.face_mesh(blank)
    assert not res.found.any() and np.isnan(res.landmarks).all()
    assert not face.detect_faces(blank).found.any()


def test_cache_runs_each_detector_once(astro):
    frames = np.stack([astro[::4, ::4]] * 3)
    face.clear_cache()
    before = face.cache_stats()
    a = face.face_mesh(frames)
    b = face.face_mesh(frames.copy())  # same content, another array: a cache hit
    after = face.cache_stats()
    assert np.array_equal(a.landmarks, b.landmarks)
    assert after["misses"] - before["misses"] == 1 and after["hits"] - before["hits"] == 1
    assert after["frames_processed"] - before["frames_processed"] == 3


def _rotate(lm, yaw, pitch, roll):
    from hxbench.synth.renderer import _rotation

    c = lm.mean(0)
    return (lm - c) @ _rotation(yaw, pitch, roll).T + c


@pytest.mark.parametrize("yaw,pitch,roll", [(15, 0, 0), (-15, 0, 0), (0, 12, 0), (0, -12, 0), (0, 0, 20)])
def test_head_pose_reads_known_rotations(astro, yaw, pitch, roll):
    lm = face.face_mesh(astro, static=True).landmarks[0].astype(np.float64)
    base = face.head_pose(lm)[0]
    got = face.head_pose(_rotate(lm, yaw, pitch, roll))[0] - base
    assert np.allclose(got, [yaw, pitch, roll], atol=2.5), got


def test_mouth_and_eye_measures_respond(astro):
    lm = face.face_mesh(astro, static=True).landmarks[0].astype(np.float64)
    opened = lm.copy()
    opened[list(G.LIPS_INNER_LOWER[1:-1]), 1] += 10
    assert face.mouth_opening(opened)[0] > face.mouth_opening(lm)[0] + 0.05
    closed = lm.copy()
    for up, low in ((G.LEFT_EYE_UPPER, G.LEFT_EYE_LOWER), (G.RIGHT_EYE_UPPER, G.RIGHT_EYE_LOWER)):
        closed[list(up), 1] = closed[list(low), 1]
    assert np.all(face.eye_aspect_ratio(closed)[0] < 0.1)


def test_pose_and_hands_wrappers(astro):
    p = face.pose(astro, static=True)
    assert p.landmarks.shape == (1, 33, 3) and p.found[0]
    nose = p.landmarks[0, 0]
    box = face.detect_faces(astro).largest()[0]
    assert box[0] <= nose[0] <= box[2] and box[1] <= nose[1] <= box[3]
    h = face.hands(astro, static=True)
    assert h.landmarks.shape == (1, 2, 21, 3) and h.found.shape == (1, 2)
