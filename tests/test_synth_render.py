"""The behaviour -> video renderer (hxbench.synth.renderer) on the astronaut photo."""

import numpy as np
import pytest

pytest.importorskip("mediapipe")
from hxbench import face  # noqa: E402
from hxbench.synth.photos import identities  # noqa: E402
from hxbench.synth.renderer import B, BEHAVIOUR_DIM, BEHAVIOUR_NAMES, RigError, render  # noqa: E402


@pytest.fixture(scope="module")
def photo():
    return identities(1, 128, np.random.default_rng(0))[0].image


def test_layout_and_neutral_frame(photo):
    assert BEHAVIOUR_DIM == len(BEHAVIOUR_NAMES) == 11
    frames = render(photo, np.zeros((3, BEHAVIOUR_DIM)), fps=25)
    assert frames.shape == (3,) + photo.shape and frames.dtype == np.uint8
    # zero behaviour reproduces the photo (up to interpolation of the identity warp)
    assert np.abs(frames.astype(int) - photo.astype(int)).mean() < 1.0
    again = render(photo, np.zeros((3, BEHAVIOUR_DIM)), fps=25)
    assert np.array_equal(frames, again)


def test_rendered_behaviour_is_measured_back(photo):
    beh = np.zeros((6, BEHAVIOUR_DIM))
    beh[1, B["yaw"]] = 20
    beh[2, B["pitch"]] = 15
    beh[3, B["roll"]] = 15
    beh[4, B["jaw_open"]] = 0.6
    beh[5, B["blink_left"]] = beh[5, B["blink_right"]] = 1.0
    lm = face.face_mesh(render(photo, beh, 25), static=True).landmarks
    pose = face.head_pose(lm) - face.head_pose(lm[:1])
    assert pose[1, 0] > 12 and pose[2, 1] > 10 and pose[3, 2] > 10
    mouth = face.mouth_opening(lm)
    assert mouth[4] > mouth[0] + 0.1
    ear = face.eye_aspect_ratio(lm)
    assert np.all(ear[5] < 0.5 * ear[0])


def test_bad_inputs(photo):
    with pytest.raises(ValueError, match=r"\(T, 11\)"):
        render(photo, np.zeros((3, 5)), 25)
    with pytest.raises(ValueError, match="NaN"):
        render(photo, np.full((2, BEHAVIOUR_DIM), np.nan), 25)
    with pytest.raises(RigError, match="no face"):
        render(np.full((96, 96, 3), 200, np.uint8), np.zeros((1, BEHAVIOUR_DIM)), 25)
