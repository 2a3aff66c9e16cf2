"""The Q-Align protocol (iqa/ase[qalign-*]) on a tiny stand-in model with the same interface
(random weights, made here): level tokens, weights and scale, prompt, sampling, modes; the
snapshot registration (directory import) and unavailability without it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from hxbench.errors import MetricUnavailable
from hxbench.io.media import Clip
from hxbench.metrics import _qalign
from hxbench.metrics.base import SampleData, build_metric

WORDS = ["<s>", "USER:", "How", "would", "you", "rate", "the", "quality", "aesthetics", "of", "this", "image?",
         "video?", "ASSISTANT:", "The", "image", "video", "is", "excellent", "good", "fair", "poor", "bad"]


class WordTokenizer:
    """A stand-in tokenizer: whitespace words, BOS id 0 first (as LLaMA's adds <s>)."""

    bos_token_id = 0

    def __init__(self):
        self.vocab = {w: i for i, w in enumerate(WORDS)}

    def __call__(self, text):
        return {"input_ids": [0] + [self.vocab[w] for w in text.split()]}


class StandIn(torch.nn.Module):
    """Same interface as mPLUG-Owl2's forward: (input_ids, images=tensor | [tensor]) ->
    {"logits": (B, L, V)}; the last position's logits depend on the images and the prompt."""

    def __init__(self, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.proj = torch.nn.Linear(3, len(WORDS))
        self.emb = torch.nn.Embedding(len(WORDS), len(WORDS))
        self.calls = []

    def forward(self, input_ids, images=None):
        if isinstance(images, list):
            self.calls.append(("video", [len(v) for v in images], input_ids.clone()))
            feats = torch.stack([v.mean(dim=(0, 2, 3)) for v in images])
        else:
            self.calls.append(("frames", len(images), input_ids.clone()))
            feats = images.mean(dim=(2, 3))
        text = self.emb(input_ids.clamp(min=0)).sum(1)
        last = 3 * self.proj(feats) + text
        return {"logits": torch.stack([torch.zeros_like(last), last], 1)}


PROC = _qalign.ImageProcessorConfig(32, 32, (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711))


def _qa(seed=0):
    return _qalign.QAlign(StandIn(seed), WordTokenizer(), PROC)


def _video(n=60, seed=0, size=40):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, size, size + 8, 3), dtype=np.uint8)


def test_level_tokens_and_weights_define_the_scale():
    tok = WordTokenizer()
    assert _qalign.level_token_ids(tok) == [tok.vocab[w] for w in ("excellent", "good", "fair", "poor", "bad")]
    # all mass on one level -> that level's weight, exactly
    for i, (w15, w01) in enumerate(zip(_qalign.SCALES["1to5"], _qalign.SCALES["0to1"])):
        logits = torch.full((1, 5), -1e4)
        logits[0, i] = 0
        assert _qalign.score_from_logits(logits, "1to5").item() == w15
        assert _qalign.score_from_logits(logits, "0to1").item() == w01
    logits = torch.randn(7, 5, generator=torch.Generator().manual_seed(0))
    p = torch.softmax(logits.double(), -1)
    s15 = _qalign.score_from_logits(logits, "1to5").double()
    s01 = _qalign.score_from_logits(logits, "0to1").double()
    assert torch.allclose(s15, p @ torch.tensor([5., 4, 3, 2, 1], dtype=torch.float64), atol=1e-5)  # float32 softmax
    assert torch.allclose(s01, (s15 - 1) / 4, atol=1e-6)
    assert bool(((s15 >= 1) & (s15 <= 5)).all()) and bool(((s01 >= 0) & (s01 <= 1)).all())


def test_prompt_and_image_token():
    tok = WordTokenizer()
    ids = _qalign.tokenizer_image_token(_qalign.prompt("quality", "image"), tok)
    assert ids[0] == 0 and ids.count(0) == 1  # one BOS
    assert ids.count(_qalign.IMAGE_TOKEN_INDEX) == 1
    words = [WORDS[i] if i >= 0 else "<|image|>" for i in ids[1:]]
    assert " ".join(words) == ("USER: How would you rate the quality of this image? <|image|> "
                               "ASSISTANT: The quality of the image is")
    assert "aesthetics of this video?" in _qalign.prompt("aesthetics", "video")


def test_expand2square_and_preprocess_match_transformers():
    f = np.zeros((2, 4, 3), np.uint8) + 200
    sq = _qalign.expand2square(f, PROC.background)
    assert sq.shape == (4, 4, 3) and (sq[1:3] == 200).all() and tuple(sq[0, 0]) == (122, 116, 104)
    transformers = pytest.importorskip("transformers", reason="transformers (pyproject) not installed")
    from PIL import Image

    p = transformers.CLIPImageProcessor(size={"shortest_edge": 64}, crop_size={"height": 64, "width": 64},
                                        image_mean=list(PROC.mean), image_std=list(PROC.std))
    cfg = _qalign.ImageProcessorConfig.from_json(p.to_dict())
    rng = np.random.default_rng(0)
    for shape in [(50, 80, 3), (81, 47, 3), (64, 64, 3)]:
        x = rng.integers(0, 256, shape, dtype=np.uint8)
        ref = p.preprocess([Image.fromarray(x)], return_tensors="pt")["pixel_values"][0]
        # transformers 5 resizes with torchvision, 4.x (Q-Align's) with PIL as hxbench does:
        # they differ by at most one grey level after resizing, i.e. (1/255) / min(std) = 0.01501
        assert (ref - _qalign.clip_preprocess(x, cfg)).abs().max().item() <= (1 / 255) / min(PROC.std) + 1e-6


@pytest.mark.parametrize("name,task", [("iqa", "quality"), ("ase", "aesthetics")])
def test_metric_frames_mode_is_mean_of_1fps_frames(name, task):
    video = _video()
    qa = _qa()
    for scale in ("1to5", "0to1"):
        m = build_metric(f"{name}[qalign-{scale}-1fps-frames]")
        m.qalign = qa
        qa.model.calls.clear()
        v = m.update(SampleData("s", gen=Clip("x", "array", fps=25.0, _array=video))).values[name]
        assert sum(c[1] for c in qa.model.calls if c[0] == "frames") == 2
        direct = qa.score([video[0], video[25]], task, "frames", scale)  # frames int(25 * i), i < int(60/25)
        assert v == pytest.approx(float(direct.double().mean()), abs=1e-6)
        ids = qa.model.calls[0][2][0].tolist()
        assert WordTokenizer().vocab[task] in ids and WordTokenizer().vocab["image?"] in ids


def test_metric_all_frames_and_video_mode():
    video = _video(30)
    qa = _qa(1)
    m = build_metric("iqa[qalign-1to5-all-frames]")
    m.qalign = qa
    v_all = m.update(SampleData("s", gen=Clip("x", "array", fps=10.0, _array=video))).values["iqa"]
    assert v_all == pytest.approx(float(qa.score(list(video), "quality", "frames", "1to5").double().mean()), abs=1e-6)
    m = build_metric("ase[qalign-0to1-1fps-video]")
    m.qalign = qa
    qa.model.calls.clear()
    v_vid = m.update(SampleData("s", gen=Clip("x", "array", fps=10.0, _array=video))).values["ase"]
    assert [c[:2] for c in qa.model.calls] == [("video", [3])]  # frames 0, 10, 20 in one input
    assert WordTokenizer().vocab["video?"] in qa.model.calls[0][2][0].tolist()
    assert v_vid == pytest.approx(qa.score([video[0], video[10], video[20]], "aesthetics", "video", "0to1").item(), abs=1e-6)
    assert 0 <= v_vid <= 1


def test_unavailable_until_the_snapshot_is_imported():
    for key in ("iqa[qalign-1to5-1fps-frames]", "ase[qalign-0to1-1fps-video]"):
        m = build_metric(key)
        with pytest.raises(MetricUnavailable) as err:
            m.check_available()
        assert "q-align-onealign" in err.value.fix or "pip install" in err.value.fix


def test_snapshot_directory_import_and_status(tmp_path):
    from hxbench.errors import WeightsMissing
    from hxbench.weights import import_weights, resolve, status, weight_sha256

    snap = tmp_path / "one-align"
    snap.mkdir()
    for rel in ("config.json", "preprocessor_config.json", "special_tokens_map.json", "tokenizer.model",
                "tokenizer_config.json"):
        (snap / rel).write_text("{}")
    with pytest.raises(WeightsMissing, match="pytorch_model.bin.index.json"):
        import_weights("q-align-onealign", snap)
    (snap / "pytorch_model.bin.index.json").write_text(json.dumps({"weight_map": {"a": "shard-1.bin"}}))
    target = import_weights("q-align-onealign", snap)
    assert resolve("q-align-onealign") == target and (target / "tokenizer.model").is_file()
    row = next(r for r in status() if r["name"] == "q-align-onealign")
    assert row["state"] == "present" and row["sha256"] == weight_sha256("q-align-onealign")
    from hxbench.nets.qalign import check_shards

    with pytest.raises(FileNotFoundError, match="shard-1.bin"):
        check_shards(target)
    import shutil

    shutil.rmtree(target)  # leave the session's HXBENCH_HOME without the snapshot


def test_variant_names_state_scale_sampling_mode():
    from hxbench.metrics.ase import ASE
    from hxbench.metrics.iqa import IQA

    assert "qalign-1to5-1fps-frames" in IQA.variants and "qalign-0to1-1fps-video" in ASE.variants
    assert "qalign-1to5-all-video" not in ASE.variants
    for cls in (IQA, ASE):
        for v in cls.variants:
            assert cls.scale(v)
    assert "1 (bad) .. 5" in ASE.scale("qalign-1to5-1fps-frames") and "multi-image" in IQA.scale("qalign-0to1-1fps-video")
