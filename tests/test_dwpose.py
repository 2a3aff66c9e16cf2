"""hkc / hkv [dwpose]: DWPose's ONNX pipeline (hxbench.nets.dwpose) on stand-in ONNX models.

The published yolox_l.onnx / dw-ll_ucoco_384.onnx cannot be downloaded here. Two small torch
networks with their I/O signatures are exported instead: a "detector" (1x3x640x640 ->
1x8400x85) that always reports one planted person box, and a "pose model" (1x3x384x288 ->
SimCC 1x133x576 and 1x133x768) whose SimCC curves are the per-column / per-row maxima of the
crop's first channel, so every keypoint lands on the brightest spot of the frame. That checks
the letterbox, box decoding, affine crop, SimCC decoding and the mapping back to the frame.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime")

from hxbench import weights  # noqa: E402
from hxbench.errors import MetricUnavailable  # noqa: E402
from hxbench.io.media import Clip  # noqa: E402
from hxbench.metrics.base import SampleData, build_metric  # noqa: E402
from hxbench.nets import dwpose  # noqa: E402
from hxbench.registry import WEIGHTS  # noqa: E402

H, W = 256, 320
BOX = (40.0, 20.0, 280.0, 236.0)  # planted person box, frame pixels


class _Detector(torch.nn.Module):
    def __init__(self):
        super().__init__()
        out = torch.zeros(1, 8400, 85)
        r = min(640 / H, 640 / W)
        x1, y1, x2, y2 = (v * r for v in BOX)
        a = 6400 + 1600  # first stride-32 anchor, grid (0, 0)
        out[0, a, 0], out[0, a, 1] = (x1 + x2) / 2 / 32, (y1 + y2) / 2 / 32
        out[0, a, 2], out[0, a, 3] = np.log((x2 - x1) / 32), np.log((y2 - y1) / 32)
        out[0, a, 4], out[0, a, 5] = 0.9, 0.9  # objectness, person
        out[0, a + 1, 4], out[0, a + 1, 6] = 0.9, 0.9  # a confident non-person: dropped
        self.register_buffer("out", out)

    def forward(self, x):
        return self.out + 0.0 * x.mean()


class _Pose(torch.nn.Module):
    def forward(self, x):
        c = x[:, :1]  # (1, 1, 384, 288) normalised first channel
        sx = torch.nn.functional.interpolate(c.amax(dim=2), scale_factor=2.0, mode="nearest")
        sy = torch.nn.functional.interpolate(c.amax(dim=3), scale_factor=2.0, mode="nearest")
        return torch.sigmoid(sx - 1).expand(1, 133, 576), torch.sigmoid(sy - 1).expand(1, 133, 768)


def _export(net, path, shape, outs):
    torch.onnx.export(net.eval(), (torch.zeros(*shape),), str(path), input_names=["input"],
                      output_names=outs, dynamo=False)
    return path


@pytest.fixture
def models(monkeypatch, tmp_path):
    from hxbench.face import clear_cache

    monkeypatch.setenv("HXBENCH_HOME", str(tmp_path / "home"))
    files = {"dwpose-yolox-l": _export(_Detector(), tmp_path / "yolox_l.onnx", (1, 3, 640, 640), ["output"]),
             "dwpose-ll-ucoco-384": _export(_Pose(), tmp_path / "dw-ll_ucoco_384.onnx", (1, 3, 384, 288),
                                            ["simcc_x", "simcc_y"])}
    for name, f in files.items():
        monkeypatch.setitem(WEIGHTS._entries, name, dataclasses.replace(WEIGHTS.get(name), sha256=weights.sha256_file(f)))
        weights.import_weights(name, f)
    monkeypatch.setattr(dwpose, "_SESSIONS", {})
    clear_cache()
    yield files
    clear_cache()


def _frame(cx, cy, sigma=5.0):
    yy, xx = np.mgrid[:H, :W]
    g = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma ** 2))
    return np.repeat((g * 255).astype(np.uint8)[..., None], 3, axis=2)


def test_simcc_decode_places_the_planted_peak():
    sx, sy = np.zeros((1, 133, 576), np.float32), np.zeros((1, 133, 768), np.float32)
    sx[0, 100, 301], sy[0, 100, 77] = 0.9, 0.6
    sx[0, 5, 10] = 0.8  # no y response: score 0 -> location -1
    loc, score = dwpose.simcc_decode(sx, sy)
    assert tuple(loc[0, 100]) == (150.5, 38.5) and score[0, 100] == pytest.approx(0.6)
    assert tuple(loc[0, 5]) == (-0.5, -0.5) and score[0, 5] == 0.0


def test_metric_unavailable_without_weights_names_the_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("HXBENCH_HOME", str(tmp_path / "empty"))
    for key in ("hkc[dwpose]", "hkv[dwpose]"):
        with pytest.raises(MetricUnavailable, match="hxbench weights import dwpose-yolox-l"):
            build_metric(key).check_available()
    rows = {r["name"]: r for r in weights.status()}
    assert rows["dwpose-ll-ucoco-384"]["state"] == "missing"
    assert "huggingface.co/yzd-v/DWPose" in WEIGHTS.get("dwpose-ll-ucoco-384").urls[0]


def test_pipeline_puts_keypoints_on_the_bright_spot(models):
    img = _frame(150, 110)
    boxes, scores = dwpose.detect_persons(img)
    np.testing.assert_allclose(boxes, [BOX], atol=1e-3)  # non-person anchor dropped
    kp, sc = dwpose.estimate_pose(img, boxes)
    assert kp.shape == (1, 133, 2) and sc.shape == (1, 133)
    np.testing.assert_allclose(kp[0, 91], [150, 110], atol=2.0)  # left-hand wrist
    assert sc[0, 91] > 0.7
    # the whole frame is the box when no person is found
    kp2, _ = dwpose.estimate_pose(img, np.zeros((0, 4)))
    np.testing.assert_allclose(kp2[0, 120], [150, 110], atol=2.0)


def test_hkv_waving_above_still_and_hkc_is_the_simcc_score(models):
    still = np.stack([_frame(160, 120)] * 8)
    waving = np.stack([_frame(160 + 30 * np.sin(i), 120) for i in range(8)])
    hkc, hkv = build_metric("hkc[dwpose]"), build_metric("hkv[dwpose]")
    hkc.check_available()
    v_still = hkv.update(SampleData("s", gen=Clip(source="a", kind="array", _array=still))).values
    v_wave = hkv.update(SampleData("w", gen=Clip(source="a", kind="array", _array=waving))).values
    assert v_still["hkv"] == pytest.approx(0.0, abs=1e-6)
    assert v_wave["hkv"] > 100.0 and v_wave["hand_frames"] == 1.0
    c = hkc.update(SampleData("w", gen=Clip(source="a", kind="array", _array=waving))).values
    wb = dwpose.wholebody(waving)
    assert c["hkc"] == pytest.approx(float(wb["scores"][:, 91:133].mean()), abs=1e-6)
    # a dark video: hands not found (score < 0.3), wrists not visible -> HKC undefined
    from hxbench.errors import SampleError

    with pytest.raises(SampleError, match="no hand expected"):
        hkc.update(SampleData("d", gen=Clip(source="a", kind="array", _array=np.zeros((3, H, W, 3), np.uint8))))
