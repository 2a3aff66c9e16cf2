"""HKC / HKV: the definitions on hand-made keypoints, and MediaPipe hands on a rendered
hand (waving vs still). No redistributable real hand photograph ships in an installed
package, so the hand is drawn: an open palm with four fingers, thumb, creases and nails,
supersampled and blurred (MediaPipe's palm detector and landmark model find it)."""

from __future__ import annotations

import numpy as np
import pytest

from hxbench.errors import SampleError
from hxbench.face.synthetic_hand import draw_hand
from hxbench.io.media import Clip
from hxbench.metrics.base import SampleData, build_metric
from hxbench.metrics.hand_keypoints import (HandKeypoints, hand_keypoint_confidence,
                                            hand_keypoint_variance, mediapipe_hands)


T = 8


@pytest.fixture(scope="module")
def videos():
    ph = np.linspace(0, 2 * np.pi, T, endpoint=False)
    wave = np.stack([draw_hand(cx=128 + 30 * np.sin(p), angle=25 * np.sin(p)) for p in ph])
    still = np.stack([draw_hand()] * T)
    return wave, still


def _clip(frames):
    return Clip(source="array", kind="array", _array=np.asarray(frames))


# -- definitions on hand-made keypoints ---------------------------------------------------------
def _kp(xy, found, conf, expected, height=256):
    T_ = xy.shape[0]
    return HandKeypoints(xy=xy, conf=np.broadcast_to(conf[..., None], (T_, 2, 21)).astype(np.float32),
                         expected=expected, found=found, width=height, height=height)


def test_hkc_counts_expected_but_missing_hands_as_zero():
    T_ = 4
    xy = np.zeros((T_, 2, 21, 2))
    found = np.array([[True, False], [True, False], [False, False], [True, False]])
    conf = np.where(found, 0.9, 0.0)
    expected = found.copy()
    expected[2, 0] = True  # the wrist is visible but no hand was found: a quality failure
    assert hand_keypoint_confidence(_kp(xy, found, conf, expected)) == pytest.approx(0.9 * 3 / 4)
    # a hand that is not expected anywhere is left out entirely
    assert hand_keypoint_confidence(_kp(xy, found, conf, found)) == pytest.approx(0.9)
    with pytest.raises(SampleError, match="no hand expected"):
        hand_keypoint_confidence(_kp(xy, np.zeros_like(found), conf * 0, np.zeros_like(found)))


def test_hkv_is_the_keypoint_variance_at_512_px_height():
    T_ = 4
    xy = np.full((T_, 2, 21, 2), np.nan)
    found = np.zeros((T_, 2), bool)
    found[:, 0] = True
    xy[:, 0, :, 0] = np.array([0.0, 10.0, 0.0, 10.0])[:, None]  # x alternates by 10 px
    xy[:, 0, :, 1] = 50.0
    conf = found * 1.0
    # 256-px frames: 10 px -> 20 px at 512; population variance of (0, 20, 0, 20) = 100
    assert hand_keypoint_variance(_kp(xy, found, conf, found, height=256)) == pytest.approx(100.0)
    assert hand_keypoint_variance(_kp(xy, found, conf, found, height=512)) == pytest.approx(25.0)
    one = found.copy()
    one[1:] = False
    with pytest.raises(SampleError, match="two or more frames"):
        hand_keypoint_variance(_kp(xy, one, conf, one))


# -- MediaPipe on rendered hands ----------------------------------------------------------------
def test_mediapipe_finds_the_rendered_hand(videos):
    wave, still = videos
    kp = mediapipe_hands(still)
    assert kp.found.any(axis=1).all()  # every frame
    assert kp.xy.shape == (T, 2, 21, 2) and kp.conf.max() > 0.7
    h = int(np.argmax(kp.found.sum(0)))
    wrist, tip = kp.xy[0, h, 0], kp.xy[0, h, 12]  # middle fingertip above the wrist
    assert tip[1] < wrist[1] - 40


def test_waving_hand_has_higher_hkv_than_a_still_one(videos):
    wave, still = videos
    hkv = build_metric("hkv")
    assert hkv.key == "hkv[mediapipe]"
    w = hkv.update(SampleData("wave", gen=_clip(wave))).values
    s = hkv.update(SampleData("still", gen=_clip(still))).values
    assert s["hkv"] < 10.0, s  # measured 0.5 px^2
    assert w["hkv"] > 100 * max(s["hkv"], 1.0), (w, s)  # measured ~3900 px^2
    hkc = build_metric("hkc")
    c = hkc.update(SampleData("wave", gen=_clip(wave))).values
    assert 0.5 < c["hkc"] <= 1.0 and c["hand_frames"] > 0.8


def test_frames_without_hands(videos):
    wave, _ = videos
    holes = wave.copy()
    holes[[2, 5]] = 235  # empty background: no hand and no body -> not expected
    hkc = build_metric("hkc[mediapipe]")
    c = hkc.update(SampleData("holes", gen=_clip(holes))).values
    assert c["hand_frames"] <= 6 / 8 and c["hkc"] > 0.5
    empty = np.full((4, 128, 128, 3), 235, np.uint8)
    with pytest.raises(SampleError, match="no hand expected"):
        hkc.update(SampleData("empty", gen=_clip(empty)))
    with pytest.raises(SampleError, match="no hand detected"):
        build_metric("hkv").update(SampleData("empty", gen=_clip(empty)))
