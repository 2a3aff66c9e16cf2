"""Five-point ArcFace alignment and square crops (hxbench.face.align) on a real photograph."""

from __future__ import annotations

import numpy as np
import pytest

from hxbench.face.align import (ARCFACE_TEMPLATE, align_arcface, five_points, mesh_boxes,
                                similarity_transform, square_crops)


def _apply(M, pts):
    return pts @ M[:, :2].T + M[:, 2]


def test_similarity_transform_recovers_a_known_similarity():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 200, (5, 2))
    a, s, t = np.radians(23.0), 0.61, np.array([12.0, -7.5])
    R = s * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    dst = src @ R.T + t
    M = similarity_transform(src, dst)
    np.testing.assert_allclose(M[:, :2], R, atol=1e-9)
    np.testing.assert_allclose(M[:, 2], t, atol=1e-9)


def test_similarity_transform_never_reflects():
    src = ARCFACE_TEMPLATE.copy()
    dst = src * np.array([-1.0, 1.0])  # a mirror image: best similarity is not a reflection
    M = similarity_transform(src, dst)
    assert np.linalg.det(M[:, :2]) > 0


@pytest.fixture(scope="module")
def astronaut_mesh():
    import skimage.data

    from hxbench.face import face_mesh

    img = skimage.data.astronaut()
    flipped = np.ascontiguousarray(img[:, ::-1])
    return img, face_mesh(img, static=True), flipped, face_mesh(flipped, static=True)


def test_five_points_in_image_order_and_alignment_hits_the_template(astronaut_mesh):
    img, mesh, flipped, mesh_f = astronaut_mesh
    for frame, m in ((img, mesh), (flipped, mesh_f)):
        pts = five_points(m.landmarks)[0]
        assert pts[0, 0] < pts[1, 0] and pts[3, 0] < pts[4, 0]  # image-left eye / mouth corner first
        assert pts[0, 1] < pts[2, 1] < pts[3, 1]  # eyes above nose above mouth
        M = similarity_transform(pts, ARCFACE_TEMPLATE)
        resid = np.linalg.norm(_apply(M, pts) - ARCFACE_TEMPLATE, axis=1)
        assert resid.max() < 9.0, resid  # a frontal (smiling) face fits the template within < 10 %
        crops, found = align_arcface(frame[None], pts[None])
        assert crops.shape == (1, 112, 112, 3) and found.all()
        # the aligned face is skin in the middle, not the zero border
        assert crops[0, 40:90, 35:80].mean() > 60


def test_align_marks_frames_without_points():
    frames = np.full((2, 64, 64, 3), 200, np.uint8)
    pts = np.stack([ARCFACE_TEMPLATE * 0.5, np.full((5, 2), np.nan)])
    crops, found = align_arcface(frames, pts)
    assert found.tolist() == [True, False]
    assert crops[1].max() == 0 and crops[0].max() > 0


def test_square_crops_pad_with_zeros_and_resize():
    frame = np.zeros((1, 100, 100, 3), np.uint8)
    frame[0, :, :, 0] = np.arange(100)[None, :]
    crops, found = square_crops(frame, np.array([[-50.0, 0.0, 50.0, 100.0]]), 50)
    assert found.all()
    assert crops[0, :, :20].max() == 0  # outside the frame (x < 0) is zero
    assert 40 <= crops[0, 25, 49, 0] <= 100  # right half samples x in [0, 50)
    grey, _ = square_crops(frame, np.array([[0.0, 0.0, 100.0, 100.0]]), 32, grey=True)
    assert grey.shape == (1, 32, 32, 1)
    none, found = square_crops(frame, np.full((1, 4), np.nan), 16)
    assert not found.any() and none.max() == 0


def test_mesh_boxes_nan_where_no_face(astronaut_mesh):
    _, mesh, _, _ = astronaut_mesh
    lm = np.concatenate([mesh.landmarks, np.full_like(mesh.landmarks, np.nan)])
    boxes = mesh_boxes(lm)
    assert np.isfinite(boxes[0]).all() and np.isnan(boxes[1]).all()
    x0, y0, x1, y1 = boxes[0]
    assert 150 < x0 < x1 < 300 and 40 < y0 < y1 < 220  # the astronaut's face, 512x512 photo
