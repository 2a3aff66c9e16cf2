"""Why pyiqa 0.1.16 (IQA-PyTorch) gives other NIQE / BRISQUE / PIQE values than hxbench
(docs/metrics/iqa.md, "Against pyiqa"): pyiqa's differing steps, re-implemented here as pyiqa
computes them and swapped into hxbench's own frame scoring, move hxbench's value onto pyiqa's.
pyiqa is not needed: its values were measured once (pyiqa 0.1.16, torch 2.14.1, CPU, hxbench's
parameter files as ``bench/bench_end_to_end.py`` exports them) and are pinned here, both as
pyiqa runs (a float32 tensor) and with a float64 tensor (same code, float32 arithmetic removed)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, SHARED
from hxbench.metrics import _nss
from hxbench.metrics.iqa import nss_frame_score

LPIPS_REF = REPO / "tests" / "data" / "lpips_examples" / "ex_ref.png"  # 64x64, no flat area
REAL = Path(os.environ.get("HXBENCH_TEST_MOCHABENCH") or SHARED / "data" / "mochabench")  # as test_data.py
MOCHA = REAL / "example_results" / "MoCha" / "01.mp4"  # its frame 0, 976x528

# pyiqa/utils/color_util.py to_y_channel(x, ..., color_space='yiq'): the first row of rgb2yiq,
# a float32 tensor (0.299, 0.587, 0.114), on x = RGB / 255
YIQ_Y = np.array([0.299, 0.587, 0.114], np.float32).astype(np.float64)


def pyiqa_grey(frame: np.ndarray, rounded: bool) -> np.ndarray:
    """pyiqa's grey of a (H, W, 3) uint8 frame. NIQE and BRISQUE (``to_y_channel(x, 255)``):
    levels 0..255, rounded; PIQE (``to_y_channel(x, 1)``): unrounded in [0, 1], so its
    ``round(255 y / max y)`` (piqe_arch.py) rounds once, where MATLAB rounds ``rgb2gray`` first."""
    y = (frame / 255.0) @ YIQ_Y
    return np.round(255 * y) if rounded else y


def pyiqa_window() -> np.ndarray:
    """pyiqa/matlab_utils/functions.py ``fspecial(7, 7/6)``: the 2-D Gaussian normalised in
    float64, then stored as float32 (``.float()``), so it sums to 1 + 1.1e-8."""
    x = np.arange(7) - 3.0
    h = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2 * (7 / 6) ** 2))
    return (h / h.sum()).astype(np.float32).astype(np.float64)


def pyiqa_filter(x: np.ndarray, g: np.ndarray, border: str) -> np.ndarray:
    """``_nss.filter_same`` with pyiqa's window (func_util.py normalize_img_with_gauss ->
    imfilter; same borders)."""
    from scipy.ndimage import correlate

    return correlate(x, pyiqa_window(), mode={"replicate": "nearest", "zero": "constant"}[border], cval=0.0)


def score_as_pyiqa(method: str, frame: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> float:
    """hxbench's frame score with pyiqa's grey, window and (BRISQUE) feature scaling swapped in
    (brisque_arch.py scale_features: no libsvm text files, so no %f / %g rounding); hxbench's
    float64 arithmetic and its float64 ``imresize`` kept."""
    scale = _nss.brisque_scale
    with monkeypatch.context() as m:
        m.setattr(_nss, "rgb2gray", lambda f: pyiqa_grey(f, rounded=method != "piqe"))
        m.setattr(_nss, "filter_same", pyiqa_filter)
        m.setattr(_nss, "brisque_scale", lambda *a: scale(*a, text_round_trip=False))
        return nss_frame_score(method, frame)


def test_pyiqa_window_makes_flat_mscn_negative(monkeypatch):
    # where a 7x7 neighbourhood is constant (level c) the MSCN coefficient is 0 in exact
    # arithmetic; a window summing to 1 + d gives mu = c (1 + d), sigma = c sqrt(d (1 + d))
    d = pyiqa_window().sum() - 1
    assert d == pytest.approx(1.135049e-8, rel=1e-6)
    c = 200.0
    flat = np.full((24, 24), c)
    s, _ = _nss.mscn(flat, "replicate")
    assert np.abs(s).max() <= 1e-13  # hxbench: 0 up to float64 rounding
    monkeypatch.setattr(_nss, "filter_same", pyiqa_filter)
    s, _ = _nss.mscn(flat, "replicate")
    assert np.allclose(s, -c * d / (1 + c * math.sqrt(d * (1 + d))), rtol=1e-6, atol=0)  # about -2.7e-6
    # the AGGD fit averages squares over the negative and the positive coefficients apart: such
    # coefficients join the negatives and shrink the left std (here 1 -> sqrt(1/3))
    base = np.array([[-1.0, 1.0, 0.0, 0.0]])
    _, left0, _ = _nss.aggd_fit(base)
    _, left1, _ = _nss.aggd_fit(base + np.array([[0, 0, -2.7e-6, -2.7e-6]]))
    assert left0[0] == pytest.approx(1.0) and left1[0] == pytest.approx(math.sqrt(1 / 3), rel=1e-6)


# (method, hxbench, pyiqa 0.1.16, pyiqa 0.1.16 on a float64 tensor)
LPIPS_VALUES = [("brisque", 39.342837087713974, 39.3731689453125, 39.39560279849934),
                ("piqe", 79.03142581159715, 75.83248138427734, 75.82127533936924)]
MOCHA_VALUES = [("niqe", 6.827047459077123, 6.845656320465829, 6.843684269750932),
                ("brisque", 67.70869123363138, 68.3314208984375, 68.49846007414021),
                ("piqe", 66.06134165965393, 66.4410400390625, 66.43937026561628)]
# |swapped - pyiqa on float64| allowed: NIQE, pyiqa's imresize, float32 even then (resize.py
# cast_input; measured 3e-5); BRISQUE, float64 rounding (measured 5e-6 on 8 MoChaBench frames);
# PIQE, equal to rounding
TOL64 = {"niqe": 1e-4, "brisque": 2e-5, "piqe": 1e-9}
# |swapped - pyiqa| allowed: the above plus pyiqa's float32 arithmetic (BRISQUE and PIQE run in
# the input's float32; NIQE's grey is computed in float32, which moves .5 ties), measured
# 0.0020 (NIQE), 0.022 / 0.167 (BRISQUE ex_ref / MoCha), 0.011 / 0.0017 (PIQE)
TOL32 = {"niqe": 0.0025, "brisque": 0.2, "piqe": 0.015}


def _check(frame: np.ndarray, values: list[tuple[str, float, float, float]], monkeypatch: pytest.MonkeyPatch) -> None:
    for method, ours, theirs, theirs64 in values:
        assert nss_frame_score(method, frame) == pytest.approx(ours, abs=1e-6), method
        swapped = score_as_pyiqa(method, frame, monkeypatch)
        assert abs(swapped - theirs64) <= TOL64[method], (method, swapped, theirs64)
        assert abs(swapped - theirs) <= TOL32[method], (method, swapped, theirs)


def test_pyiqa_grey_explains_lpips_example(monkeypatch):
    # no flat area here, so the grey step alone: BRISQUE +0.06, PIQE -3.2 (16 blocks)
    from hxbench.io.media import read_image

    _check(read_image(LPIPS_REF), LPIPS_VALUES, monkeypatch)


@pytest.mark.skipif(not MOCHA.is_file(), reason=f"MoChaBench video not found at {MOCHA}")
def test_pyiqa_steps_explain_a_mochabench_frame(monkeypatch):
    # 13.5 % of this frame's pixels have a constant 7x7 neighbourhood: grey and window both act
    # (NIQE -0.014 / +0.031, BRISQUE +0.17 / +0.62, PIQE +0.38 / 0.000)
    from hxbench.io import media

    frame = next(media.iter_frames(MOCHA, chunk_size=1))[0]
    _check(frame, MOCHA_VALUES, monkeypatch)
