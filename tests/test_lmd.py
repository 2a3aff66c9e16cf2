"""LMD on rendered talking faces (real MediaPipe face mesh) and on synthetic landmarks."""

import numpy as np
import pytest

from hxbench.errors import SampleError
from hxbench.metrics.lmd import lip_indices, lmd_from_landmarks


def fake_landmarks(n=10, seed=0):
    rng = np.random.default_rng(seed)
    lm = rng.uniform(50, 150, (n, 478, 3))
    lm[:, 33, :2] = [80, 90]
    lm[:, 263, :2] = [120, 90]  # inter-ocular distance 40 px
    return lm


def test_lmd_invariances_and_units():
    lm = fake_landmarks()
    assert lmd_from_landmarks(lm, lm)[0] == 0.0
    moved = lm.copy()
    moved[..., :2] = 2.0 * lm[..., :2] + 17.0  # scale + translate the whole face
    assert lmd_from_landmarks(moved, lm)[0] == pytest.approx(0.0, abs=1e-9)
    opened = lm.copy()
    idx = lip_indices()
    opened[:, idx[:20], 1] += 4.0  # 20 of 40 lip points down 4 px = 0.1 iod
    # centring moves every point by the mean shift (2 px), so each point is 2 px = 5% iod away
    assert lmd_from_landmarks(opened, lm)[0] == pytest.approx(5.0, rel=1e-9)
    assert len(idx) == 40


def test_lmd_missing_faces():
    lm = fake_landmarks()
    gone = lm.copy()
    gone[:7] = np.nan
    with pytest.raises(SampleError, match="3/10"):
        lmd_from_landmarks(gone, lm)
    gone[:7] = lm[:7]
    gone[:2] = np.nan
    assert lmd_from_landmarks(gone, lm)[1] == 8


def test_lmd_rendered_faces_orders_by_mouth_difference():
    pytest.importorskip("mediapipe")
    from PIL import Image

    from hxbench.metrics.base import SampleData
    from hxbench.metrics.lmd import LMD
    from hxbench.io.media import Clip
    from hxbench.synth.photos import astronaut
    from hxbench.synth.renderer import BEHAVIOUR_DIM, B, render

    img = np.asarray(Image.fromarray(astronaut()).resize((256, 256), Image.BILINEAR))
    n = 12
    beh = np.zeros((n, BEHAVIOUR_DIM))
    beh[:, B["jaw_open"]] = np.linspace(0, 1, n)
    ref = render(img, beh)
    near = beh.copy()
    near[:, B["jaw_open"]] *= 0.8
    far = beh.copy()
    far[:, B["jaw_open"]] = 1 - beh[:, B["jaw_open"]]
    metric = LMD()

    def score(gen):
        s = SampleData("x", gen=Clip("gen", "array", _array=gen), ref=Clip("ref", "array", _array=ref))
        return metric.score_sample(s)["lmd"]

    same, small, large = score(ref), score(render(img, near)), score(render(img, far))
    assert same == pytest.approx(0.0, abs=1e-6)
    assert 0 < small < large
