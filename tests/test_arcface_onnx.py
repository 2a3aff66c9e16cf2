"""id_sim[arcface-r50|r100] through the insightface package, on a stand-in ONNX model.

The real packs (buffalo_l / antelopev2) cannot be downloaded here, so a small torch network
with the I/O signature of insightface's recognition models (input ``input.1`` N x 3 x 112 x 112
float, one 512-d output) is exported with random weights, imported through
``hxbench weights import`` (as the pack zip and as the bare .onnx), and the metric's
embeddings are checked against the same network run directly.
"""

from __future__ import annotations

import dataclasses
import zipfile

import numpy as np
import pytest
import torch

pytest.importorskip("insightface")
pytest.importorskip("onnxruntime")

from hxbench import weights  # noqa: E402
from hxbench.errors import MetricUnavailable  # noqa: E402
from hxbench.io.media import Clip  # noqa: E402
from hxbench.metrics.base import SampleData, build_metric  # noqa: E402
from hxbench.registry import WEIGHTS  # noqa: E402


class _TinyRecognizer(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 4, stride=4)
        self.fc = torch.nn.Linear(8 * 28 * 28, 512)

    def forward(self, x):
        return self.fc(torch.flatten(torch.relu(self.conv(x)), 1))


def _export(path):
    torch.manual_seed(0)
    net = _TinyRecognizer().eval()
    torch.onnx.export(net, (torch.zeros(1, 3, 112, 112),), str(path), input_names=["input.1"],
                      output_names=["embedding"], dynamic_axes={"input.1": {0: "None"}}, dynamo=False)
    return path


@pytest.fixture
def pinned(monkeypatch, tmp_path):
    """Export the stand-in model and pin its sha256 in place of the published one."""
    from hxbench.nets import arcface_onnx

    onnx_path = _export(tmp_path / "w600k_r50.onnx")
    for name in ("arcface-r50", "arcface-r100"):
        spec = WEIGHTS.get(name)
        fake = tmp_path / spec.filename
        if not fake.exists():
            fake.write_bytes(onnx_path.read_bytes())
        monkeypatch.setitem(WEIGHTS._entries, name,
                            dataclasses.replace(spec, sha256=weights.sha256_file(fake)))
    monkeypatch.setattr(arcface_onnx, "_MODELS", {})
    yield tmp_path
    for name in ("arcface-r50", "arcface-r100"):
        target = weights.hxbench_home() / "weights" / name
        for f in target.glob("*"):
            f.unlink()


def _photo():
    import skimage.data

    from hxbench.synth.photos import _ASTRO_FACE, crop_face

    return crop_face(skimage.data.astronaut(), _ASTRO_FACE, 256)


def test_weights_status_lists_the_packs_as_importable():
    rows = {r["name"]: r for r in weights.status()}
    for name, fname in (("arcface-r50", "w600k_r50.onnx"), ("arcface-r100", "glintr100.onnx")):
        spec = WEIGHTS.get(name)
        assert spec.filename == fname and len(spec.sha256) == 64
        assert any(u.endswith(".zip") for u in spec.urls)
        if rows[name]["state"] == "missing":
            assert f"hxbench weights import {name}" in rows[name]["fix"]
    for name in ("arcface-r50-torch", "arcface-r100-torch"):  # the PyTorch checkpoints, apart
        assert WEIGHTS.get(name).filename == "backbone.pth"


def test_missing_pack_makes_the_metric_unavailable_with_the_import_command():
    m = build_metric("id_sim[arcface-r100]")
    with pytest.raises(MetricUnavailable, match="hxbench weights import arcface-r100"):
        m.check_available()


def test_import_from_pack_zip_and_embeddings_match_the_network(pinned, tmp_path):
    import onnxruntime as ort

    from hxbench.face.align import align_arcface, faces_for, five_points
    from hxbench.metrics.id_sim import face_embeddings

    onnx_path = pinned / "w600k_r50.onnx"
    # the pack zip (files at the root, as buffalo_l.zip) and a zip with a folder (antelopev2.zip)
    with zipfile.ZipFile(tmp_path / "buffalo_l.zip", "w") as zf:
        zf.write(onnx_path, "w600k_r50.onnx")
        zf.writestr("det_10g.onnx", b"not used")
    with zipfile.ZipFile(tmp_path / "antelopev2.zip", "w") as zf:
        zf.write(pinned / "glintr100.onnx", "antelopev2/glintr100.onnx")
    weights.import_weights("arcface-r50", tmp_path / "buffalo_l.zip")
    weights.import_weights("arcface-r100", tmp_path / "antelopev2.zip")
    assert weights.resolve("arcface-r50").name == "w600k_r50.onnx"
    rows = {r["name"]: r for r in weights.status()}
    assert rows["arcface-r50"]["state"] == rows["arcface-r100"]["state"] == "present"
    # a zip without the file is refused
    with zipfile.ZipFile(tmp_path / "empty.zip", "w") as zf:
        zf.writestr("readme.txt", b"x")
    with pytest.raises(FileNotFoundError, match="w600k_r50.onnx"):
        weights.import_weights("arcface-r50", tmp_path / "empty.zip")

    astro = _photo()
    frames = np.stack([astro, np.ascontiguousarray(astro[:, ::-1]), np.roll(astro, 9, axis=1)])
    emb, found = face_embeddings(frames, "arcface-r50")
    assert found.all() and np.allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-5)

    # the same network run directly: template alignment (hxbench.face.align, Umeyama) and
    # insightface's normalisation (RGB - 127.5) / 127.5, written out by hand
    pts = five_points(faces_for(frames).landmarks)
    crops, ok = align_arcface(frames, pts)
    assert ok.all()
    x = ((crops.astype(np.float32) - 127.5) / 127.5).transpose(0, 3, 1, 2)
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    direct = sess.run(None, {"input.1": x})[0]
    direct /= np.linalg.norm(direct, axis=1, keepdims=True)
    cos = (emb * direct).sum(1)
    np.testing.assert_allclose(cos, 1.0, atol=1e-5)
    # a BGR input (channel order insightface's swapRB undoes) would not match
    wrong = sess.run(None, {"input.1": np.ascontiguousarray(x[:, ::-1])})[0]
    wrong /= np.linalg.norm(wrong, axis=1, keepdims=True)
    assert (emb * wrong).sum(1).min() < 1 - 1e-3

    # the metric: reference image vs the three frames
    m = build_metric("id_sim[arcface-r50]")
    m.check_available()
    s = m.update(SampleData("a", gen=Clip(source="array", kind="array", _array=frames), ref_image=astro))
    ref = direct[0]
    assert s.values["id_sim"] == pytest.approx(float((direct @ ref).mean()), abs=1e-5)
    assert s.values["id_sim_first"] == pytest.approx(float((direct[1:] @ direct[0]).mean()), abs=1e-5)
    # r100 runs its own (here identical) file under its own name
    e100, _ = face_embeddings(frames, "arcface-r100")
    np.testing.assert_allclose((e100 * emb).sum(1), 1.0, atol=1e-5)
