"""EMO-SIM: CCC / PCC maths, the shipped 7-class expression model on rendered real faces,
and the EmoNet network definition loading the published key layout."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from hxbench.errors import MetricUnavailable, SampleError
from hxbench.io.media import Clip
from hxbench.metrics.base import SampleData, build_metric
from hxbench.metrics.emo_sim import ccc, emo_sim_probs, emo_sim_va, emotion_sequence, pcc
from hxbench.nets.fer import FER_CLASSES


# -- maths ------------------------------------------------------------------------------------
def test_pcc_and_ccc_match_their_definitions():
    rng = np.random.default_rng(1)
    x = rng.normal(size=50)
    y = 0.5 * x + rng.normal(scale=0.3, size=50) + 0.2
    assert pcc(x, y) == pytest.approx(np.corrcoef(x, y)[0, 1], abs=1e-12)
    # Lin's CCC with population moments (EmoNet metrics.CCC), written out by hand
    sx, sy = x.std(), y.std()
    expected = 2 * np.corrcoef(x, y)[0, 1] * sx * sy / (sx ** 2 + sy ** 2 + (x.mean() - y.mean()) ** 2)
    assert ccc(x, y) == pytest.approx(expected, abs=1e-12)
    assert ccc(x, x) == pytest.approx(1.0) and pcc(x, -x) == pytest.approx(-1.0)
    # a shift or a rescale keeps Pearson at 1 but CCC below 1
    assert pcc(x, x + 1) == pytest.approx(1.0) and ccc(x, x + 1) < 0.7
    # hand example: x = (0, 1, 2), y = (0, 2, 4): r = 1, s_x^2 = 2/3, s_y^2 = 8/3, means 1 vs 2
    assert ccc([0, 1, 2], [0, 2, 4]) == pytest.approx(2 * np.sqrt(2 / 3 * 8 / 3) / (2 / 3 + 8 / 3 + 1))
    assert pcc(np.ones(5), x[:5]) == 0.0 and ccc(np.ones(5), x[:5]) == 0.0


def test_emo_sim_on_valence_arousal():
    ph = np.linspace(0, 2 * np.pi, 20, endpoint=False)  # zero-mean sequences
    v = np.sin(ph)
    a = np.cos(ph)
    assert emo_sim_va(v, a, v, a)["emo_sim"] == pytest.approx(1.0)
    assert emo_sim_va(-v, -a, v, a)["emo_sim"] == pytest.approx(-1.0)
    out = emo_sim_va(v, a, v + 0.5, a)
    assert out["pcc_valence"] == pytest.approx(1.0) and out["ccc_valence"] < 1.0


# -- the shipped 7-class model on real faces --------------------------------------------------
def _hopper():
    from matplotlib import cbook
    from PIL import Image

    from hxbench.synth.photos import crop_face

    img = np.asarray(Image.open(cbook.get_sample_data("grace_hopper.jpg")).convert("RGB"))
    return crop_face(img, (171.4, 146.9, 365.8, 341.4), 256)  # MediaPipe face box of the photo


SMILE = np.r_[np.zeros(2), np.linspace(0, 1, 4), np.ones(2)]


@pytest.fixture(scope="module")
def smile_videos():
    from hxbench.synth.renderer import BEHAVIOUR_DIM, B, render

    face = _hopper()

    def video(s):
        beh = np.zeros((len(s), BEHAVIOUR_DIM), np.float32)
        beh[:, B["smile"]] = s
        beh[:, B["jaw_open"]] = 0.2 * s
        return render(face, beh)

    return video(SMILE), video(SMILE[::-1])


def _clip(frames):
    return Clip(source="array", kind="array", _array=np.asarray(frames))


def _jpeg(video, q=40):
    from PIL import Image

    out = []
    for f in video:
        buf = io.BytesIO()
        Image.fromarray(f).save(buf, "JPEG", quality=q)
        out.append(np.asarray(Image.open(buf)))
    return np.stack(out)


def test_a_smile_moves_the_happy_probability(smile_videos):
    up, _ = smile_videos
    p, found = emotion_sequence(up, "fer-7class")
    assert found.all() and p.shape == (8, 7)
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-3)
    happy = p[:, FER_CLASSES.index("happy")]
    assert happy[-2:].mean() > happy[:2].mean() + 0.3, happy  # measured 0.02 -> 0.64
    assert pcc(happy, SMILE) > 0.8  # measured 0.95


def test_emo_sim_same_expression_sequence_beats_the_reverse(smile_videos):
    up, down = smile_videos
    m = build_metric("emo_sim")
    assert m.key == "emo_sim[fer-7class]"
    same = m.update(SampleData("same", gen=_clip(up), ref=_clip(up))).values
    assert same["emo_sim"] == pytest.approx(1.0) and same["emo_match"] == 1.0 and same["face_pairs"] == 1.0
    recoded = m.update(SampleData("jpeg", gen=_clip(_jpeg(up)), ref=_clip(up))).values
    reverse = m.update(SampleData("rev", gen=_clip(down), ref=_clip(up))).values
    assert recoded["emo_sim"] > 0.5, recoded  # measured 0.60 (hx-synth 3 renderer; 0.77 with 2)
    assert reverse["emo_sim"] < 0.1, reverse  # measured -0.29
    assert recoded["emo_sim"] - reverse["emo_sim"] > 0.5


def test_no_face_frames_are_dropped_and_no_face_video_raises(smile_videos):
    up, _ = smile_videos
    holes = up.copy()
    holes[[1, 5]] = 110
    m = build_metric("emo_sim[fer-7class]")
    s = m.update(SampleData("h", gen=_clip(holes), ref=_clip(up))).values
    assert s["face_pairs"] == pytest.approx(6 / 8)
    # the remaining pairs are the same frames, but the tracked mesh re-detects after each gap,
    # so the crops (and the small model's probabilities) shift: measured 0.44 with the hx-synth 3
    # renderer's wider smile (0.77 with hx-synth 2's), against -0.29 for the reversed sequence;
    # every kept pair still has the same top class
    assert s["emo_sim"] > 0.3 and s["emo_match"] == 1.0, s
    with pytest.raises(SampleError, match="no face in any generated frame"):
        m.update(SampleData("n", gen=_clip(np.full_like(up, 110)), ref=_clip(up)))
    with pytest.raises(SampleError, match="needs ref"):
        m.update(SampleData("r", gen=_clip(up)))


def test_emo_sim_probs_ignores_constant_classes():
    p = np.zeros((4, 7))
    p[:, 6] = 1.0
    assert emo_sim_probs(p, p) == {"emo_sim": 0.0, "emo_match": 1.0}


# -- EmoNet network definition ----------------------------------------------------------------
def test_emonet_loads_the_published_key_layout(tmp_path):
    from hxbench.nets.emonet import EmoNet, load_emonet, valence_arousal

    net = EmoNet(n_expression=8).eval()
    sd = net.state_dict()
    # names and shapes of face-analysis/emonet emonet_8.pth
    assert sd["conv1.weight"].shape == (64, 3, 7, 7) and sd["conv1.bias"].shape == (64,)
    assert sd["conv2.downsample.2.weight"].shape == (128, 64, 1, 1)
    assert sd["m0.b2_plus_1.conv3.weight"].shape == (64, 64, 3, 3) and "m1.b1_4.bn1.running_mean" in sd
    assert sd["l1.weight"].shape == (68, 256, 1, 1) and "bl1.weight" not in sd and sd["al0.weight"].shape == (256, 68, 1, 1)
    assert sd["conv1x1_input_emo_2.weight"].shape == (256, 768, 1, 1)
    assert sd["emo_net_2.6.conv3.weight"].shape == (64, 64, 3, 3)  # 4 x (ConvBlock, MaxPool)
    assert sd["emo_fc_2.3.weight"].shape == (10, 128) and sd["emo_fc_2.1.running_var"].shape == (128,)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.01)
    # the repository's checkpoints carry DataParallel "module." prefixes
    torch.save({"module." + k: v for k, v in net.state_dict().items()}, tmp_path / "emonet_8.pth")
    loaded = load_emonet(tmp_path / "emonet_8.pth")
    got = loaded.state_dict()
    assert all(torch.equal(got[k], v) for k, v in net.state_dict().items())
    partial = {k: v for k, v in net.state_dict().items() if not k.startswith("emo_fc_2")}
    torch.save(partial, tmp_path / "bad.pth")
    with pytest.raises(ValueError, match="emo_fc_2"):
        load_emonet(tmp_path / "bad.pth")


@pytest.mark.slow
def test_emonet_forward_outputs():
    from hxbench.nets.emonet import EmoNet, valence_arousal

    net = EmoNet(n_expression=8).eval()
    faces = np.random.default_rng(0).integers(0, 255, (1, 256, 256, 3), dtype=np.uint8)
    v, a, ex = valence_arousal(net, faces)
    with torch.no_grad():
        ref = net(torch.as_tensor(faces).permute(0, 3, 1, 2).float() / 255.0)
    assert torch.allclose(v, ref["valence"]) and torch.allclose(a, ref["arousal"])
    assert ex.shape == (1, 8) and ref["heatmap"].shape == (1, 68, 64, 64)
    torch.testing.assert_close(ex.sum(1), torch.ones(1))


def test_emonet_variant_without_weights_names_the_import_command():
    with pytest.raises(MetricUnavailable, match="hxbench weights import emonet-8"):
        build_metric("emo_sim[emonet-8]").check_available()


def test_each_variant_lists_exactly_the_outputs_it_computes():
    """No always-NaN rows: fer-7class has no valence/arousal, emonet-8 no class match."""
    import numpy as np

    from hxbench.metrics.emo_sim import EmoSim, emo_sim_probs, emo_sim_va

    rng = np.random.default_rng(0)
    probs = emo_sim_probs(rng.dirichlet(np.ones(7), 10), rng.dirichlet(np.ones(7), 10))
    va = emo_sim_va(*rng.uniform(-1, 1, (4, 10)))
    assert set(EmoSim("fer-7class").outputs) == set(probs) | {"face_pairs"}
    assert set(EmoSim("emonet-8").outputs) == set(va) | {"face_pairs"}
