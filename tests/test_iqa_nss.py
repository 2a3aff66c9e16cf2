"""iqa[niqe|brisque|piqe]: the original implementations' values on TID2013, parity with the
ports that ship in PyPI packages, MATLAB building blocks, frame sampling, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

from conftest import SHARED
from hxbench.errors import MediaError, SampleError
from hxbench.io.media import Clip
from hxbench.metrics import _nss
from hxbench.metrics._sampling import iter_sampled_frames, sampled_indices
from hxbench.metrics.base import SampleData, build_metric

TID = SHARED / "data" / "reference-images" / "tid2013_dist"
NAMES = ("I03", "I04", "I06", "I08", "I19")

# IQA-PyTorch ResultsCalibra/results_official.csv: the original implementations' outputs
# (NIQE, BRISQUE: the LIVE MATLAB releases on rgb2gray, printed to 4 decimals; PIQE: MATLAB
# piqe, printed to 2 decimals)
ORIGINAL = {
    "niqe": (15.7536293917814, 3.65492152353770, 3.23547743716998, 3.18403333858339, 8.63519663862637),
    "brisque": (94.6421, -0.107618, 0.992889, 5.35827, 72.2617),
    "piqe": (100.00, 21.62, 35.86, 41.15, 76.95),
}
# hxbench's values (float64; pinned to 1e-6 so a change of the arithmetic shows)
OURS = {
    "niqe": (15.766225771757943, 3.654921523538061, 3.2365949302095256, 3.2046952627668603, 8.696439679874295),
    "brisque": (94.6412174500449, -0.10761829930879685, 1.0789987070824054, 5.6756019165077305, 67.11088633399163),
    "piqe": (100.0, 21.624384294950485, 35.86454300288939, 41.14749938579068, 76.9485453478207),
}
# |ours - original| allowed per image. PIQE: the rounding of the printed MATLAB value (0.005).
# NIQE / BRISQUE: the measured residuals (docs/metrics/iqa.md), rounded up; I04 (NIQE and
# BRISQUE) and I03 (BRISQUE) agree to the printed digits. The others come from flat areas
# (test_flat_area_signs_explain_i06_i08; I19 and I03 not resolved); the IQA-PyTorch and BasicSR
# ports show residuals of the same images, larger on I19: 0.44 for NIQE, 5.4 for BRISQUE.
TOL = {
    "niqe": (0.013, 1e-4, 0.0012, 0.021, 0.062),
    "brisque": (0.001, 1e-5, 0.087, 0.32, 5.2),
    "piqe": (0.005,) * 5,
}

needs_tid = pytest.mark.skipif(not TID.is_dir(), reason=f"TID2013 images not found at {TID} (../shared)")


def _img(name: str) -> np.ndarray:
    from hxbench.io.media import read_image

    return read_image(TID / f"{name}.bmp")


def _clip(arr: np.ndarray, fps: float | None = None) -> Clip:
    return Clip(source="x", kind="array", fps=fps, _array=arr)


def _score(key: str, arr: np.ndarray, fps: float | None = None) -> float:
    m = build_metric(key)
    return next(iter(m.update(SampleData("s", gen=_clip(arr, fps))).values.values()))


@needs_tid
@pytest.mark.parametrize("method", ["niqe", "brisque", "piqe"])
def test_tid2013_against_original_implementations(method):
    for i, name in enumerate(NAMES):
        v = _score(f"iqa[{method}]", _img(name)[None])
        assert abs(v - OURS[method][i]) <= 1e-6 * max(1.0, abs(v)), (name, v)
        assert abs(v - ORIGINAL[method][i]) <= TOL[method][i], (name, v, ORIGINAL[method][i])


# Where a 7x7 neighbourhood is constant the MSCN coefficient is 0 in exact arithmetic; what
# remains is filter rounding (hxbench: 0 or up to +5.7e-14, by grey level), and the AGGD fit
# counts x < 0 and x > 0 apart. The original's signs there, per grey level, found by trying all
# sign assignments (3^12 for I08: one reproduces its NIQE to 6e-13, the next is 3e-7 off):
# negative (-1) or exactly 0, the same at both scales (imresize's 0.5 weights are dyadic, so a
# constant stays exact). Not a rule hxbench can apply: which levels get which is MATLAB's
# arithmetic (imfilter / filter2 with SVD-separated factors), not reproduced here.
MATLAB_FLAT_SIGNS = {"I06": {248: -1, 249: 0},
                     "I08": {74: -1, 85: 0, 87: -1, 103: 0, 140: -1, 162: -1}}
ROUNDING = 1e-9  # hxbench's flat-area values are <= 5.7e-14; its smallest other |MSCN| here 2e-6


@needs_tid
def test_flat_area_signs_explain_i06_i08(monkeypatch):
    mscn = _nss.mscn
    for name, signs in MATLAB_FLAT_SIGNS.items():
        def with_signs(x, border, signs=signs):
            s, sigma = mscn(x, border)
            tiny = np.abs(s) < ROUNDING
            s = s.copy()
            for level, sign in signs.items():
                s[tiny & (x == level)] = sign * 1e-14
            return s, sigma
        monkeypatch.setattr(_nss, "mscn", with_signs)
        i = NAMES.index(name)
        assert abs(_score("iqa[niqe]", _img(name)[None]) - ORIGINAL["niqe"][i]) <= 1e-11, name
        # BRISQUE printed to 6 significant digits: half a unit of the last one
        half_unit = {"I06": 5e-7, "I08": 5e-6}[name]
        assert abs(_score("iqa[brisque]", _img(name)[None]) - ORIGINAL["brisque"][i]) <= half_unit, name
        monkeypatch.setattr(_nss, "mscn", mscn)


@needs_tid
def test_piqe_equals_pypiqe_port():
    pypiqe = pytest.importorskip("pypiqe", reason="pypiqe (requirements-nodeps.txt) not installed")
    for name in NAMES:
        g = _nss.rgb2gray(_img(name))
        for crop in (g, g[:100, :77]):  # 100x77: padding to whole blocks
            assert abs(_nss.piqe_score(crop) - pypiqe.piqe(crop.astype(np.uint8))[0]) <= 1e-9


def test_imresize_matches_matlab_properties():
    # bicubic with antialiasing reproduces constants exactly and linear ramps away from the
    # (mirrored) borders: weights sum to 1 and the cubic kernel is exact on degree-1 data
    x = np.full((40, 30), 7.25)
    assert np.allclose(_nss.imresize(x, 0.5), 7.25, atol=1e-12)
    ramp = np.tile(np.arange(40, dtype=float)[:, None], (1, 30))
    y = _nss.imresize(ramp, 0.5)
    assert y.shape == (20, 15)
    # output row i (1-based) samples u = 2 i - 0.5 (1-based input coordinate) -> value u - 1
    i = np.arange(3, 17)  # 0-based rows whose 8-tap support stays inside the image
    assert np.allclose(y[i, 5], 2 * (i + 1) - 1.5, atol=1e-12)


def test_rgb2gray_rounds_like_matlab():
    px = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30]]], np.uint8)
    # round(255 * coef): 76.23 -> 76, 149.70 -> 150, 29.08 -> 29; 10*.2989+20*.5870+30*.1140 = 18.16 -> 18
    assert _nss.rgb2gray(px).tolist() == [[76.0, 150.0, 29.0, 18.0]]


def test_sampling_1fps_is_qalign_load_video():
    assert sampled_indices(125, 24.0) == [0, 24, 48, 72, 96]
    assert sampled_indices(60, 25.0) == [0, 25]
    assert sampled_indices(20, 25.0) == [0]  # shorter than a second: the first frame
    arr = np.arange(60, dtype=np.uint8)[:, None, None, None] * np.ones((1, 4, 4, 3), np.uint8)
    for budget in (None, 48, 10_000):  # any chunking, same frames
        got = [(t, int(f[0, 0, 0])) for t, f in iter_sampled_frames(_clip(arr, 25.0), "1fps", budget)]
        assert got == [(0, 0), (25, 25)]
    assert [t for t, _ in iter_sampled_frames(_clip(arr[:7], None), "1fps")] == list(range(7))
    assert len(list(iter_sampled_frames(_clip(arr, 25.0), "all"))) == 60


def test_video_value_is_mean_of_sampled_frames():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (1, 192, 192, 3), dtype=np.uint8)
    frames = np.concatenate([base, np.clip(base.astype(int) // 2 + 60, 0, 255).astype(np.uint8)] * 3)
    frames = np.repeat(frames, 5, axis=0)  # 30 frames; at 10 fps the frames 0, 10, 20 are sampled
    for method in ("niqe", "brisque", "piqe"):
        per = [_score(f"iqa[{method}]", frames[t:t + 1]) for t in (0, 10, 20)]
        assert _score(f"iqa[{method}-1fps]", frames, fps=10.0) == pytest.approx(np.mean(per), abs=1e-9)
        assert build_metric(f"iqa[{method}]").key == f"iqa[{method}-1fps]"


def test_bad_input_errors_and_defined_values():
    tiny = np.zeros((1, 1, 1, 3), np.uint8)
    for method in ("niqe", "brisque", "piqe"):
        with pytest.raises(SampleError, match="at least"):
            _score(f"iqa[{method}]", tiny)
    grey = np.full((2, 128, 128, 3), 128, np.uint8)
    assert _score("iqa[piqe]", grey) == 100.0  # MATLAB's documented value for a flat image
    for method in ("niqe", "brisque"):
        with pytest.raises(SampleError, match="undefined"):
            _score(f"iqa[{method}]", grey)
    nan = np.full((1, 128, 128, 3), np.nan, np.float32)
    with pytest.raises(MediaError, match="NaN"):
        _score("iqa[piqe]", nan)


def test_unavailable_without_parameter_files(monkeypatch, tmp_path):
    from hxbench.errors import MetricUnavailable
    from hxbench.weights import PackageFile

    import hxbench.weights as w

    spec = w.get_spec("niqe-pristine")
    monkeypatch.setattr(PackageFile, "locate", lambda self: None)
    monkeypatch.setenv("HXBENCH_HOME", str(tmp_path))  # no fetched copy either
    m = build_metric("iqa[niqe]")
    with pytest.raises(MetricUnavailable) as err:
        m.check_available()
    assert "hxbench weights fetch niqe-pristine" in err.value.fix  # taken from basicsr 1.4.2, not installed
    assert spec.sha256 in str(w.status()[[r["name"] for r in w.status()].index("niqe-pristine")]["expected_sha256"])


def test_variant_identity_and_outputs():
    m = build_metric("iqa[brisque-all]")
    assert m.outputs == {"brisque": "lower"} and m.key == "iqa[brisque-all]"
    assert "lower is better" in type(m).scale("brisque-all")
    assert math.isfinite(_score("iqa[piqe-all]", np.random.default_rng(1).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)))
