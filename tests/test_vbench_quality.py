"""ase[laion-vbench] and iqa[musiq-spaq-vbench]: VBench's aesthetic_quality and imaging_quality.

Networks with random weights in the published state-dict layouts:
- CLIP image tower: OpenAI's ``visual.*`` names, reduced size (width 128 = 2 heads, 2 layers,
  patch 14, 224 px, 768-d output so the LAION head fits), saved as a float16 TorchScript
  archive like ``ViT-L-14.pt``; checked against transformers' ``CLIPVisionModelWithProjection``
  (an independent implementation) in float64.
- LAION head: the real published file (tests/data/laion).
- MUSIQ: pyiqa's arch at the SPAQ checkpoint's size (full size), random weights.
The whole variants are compared with a transcription of VBench's code on the same frames.
"""

from __future__ import annotations

import dataclasses
import math
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hxbench.errors import MediaError, MetricUnavailable, SampleError
from hxbench.io.media import Clip
from hxbench.metrics import _vbench
from hxbench.metrics.base import SampleData, build_metric

HEAD_FILE = Path(__file__).parent / "data" / "laion" / "sa_0_4_vit_l_14_linear.pth"
SMALL = {"resolution": 224, "patch": 14, "width": 128, "layers": 2, "output_dim": 768}


def _clip(arr: np.ndarray) -> Clip:
    return Clip(source="x", kind="array", fps=None, _array=arr)


def _frames(n: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255 // w, yy * 255 // h, (xx + yy) % 256], -1)
    noise = rng.integers(-40, 40, (n, h, w, 3))
    return np.clip(base[None] + noise, 0, 255).astype(np.uint8)


def _visual(seed: int = 0):
    from hxbench.nets.clip_vit import VisionTransformer

    torch.manual_seed(seed)
    m = VisionTransformer(**SMALL)
    with torch.no_grad():  # LayerNorm affine away from 1/0 so that a swapped parameter shows
        for name, p in m.named_parameters():
            if name.endswith(("ln_1.weight", "ln_2.weight", "ln_pre.weight", "ln_post.weight")):
                p.copy_(1 + 0.1 * torch.randn_like(p))
            elif name.endswith("bias"):
                p.copy_(0.05 * torch.randn_like(p))
    return m.eval()


class _CLIPArchive(torch.nn.Module):
    """What ``ViT-L-14.pt`` holds, reduced: a ``visual`` tower beside text-tower tensors."""

    def __init__(self, visual):
        super().__init__()
        self.visual = visual
        self.token_embedding = torch.nn.Embedding(10, 16)
        self.text_projection = torch.nn.Parameter(torch.randn(16, 768))
        self.logit_scale = torch.nn.Parameter(torch.ones([]))

    def forward(self, x):
        return self.visual(x)


def _save_archive(visual, path: Path) -> None:
    """A float16 TorchScript archive (OpenAI saved traced float16 models)."""
    traced = torch.jit.trace(_CLIPArchive(visual).eval(), torch.zeros(1, 3, 224, 224), check_trace=False)
    traced.half().save(str(path))


# -- the TorchScript archive read as data -------------------------------------------------------
def test_torchscript_reader_equals_jit_load(tmp_path):
    from hxbench.nets.clip_vit import VisionTransformer, clip_visual_state
    from hxbench.weights import load_torchscript_state_dict

    path = tmp_path / "clip.pt"
    _save_archive(_visual(), path)
    ours = load_torchscript_state_dict(path)
    ref = torch.jit.load(str(path), map_location="cpu").state_dict()
    assert set(ref) <= set(ours)
    for k, v in ref.items():
        assert ours[k].dtype == v.dtype == torch.float16 and torch.equal(ours[k], v), k
    visual = clip_visual_state(path)
    assert set(visual) == set(VisionTransformer(**SMALL).state_dict())
    assert VisionTransformer.config_of(visual) == SMALL


def test_tower_takes_its_parameters_and_names_missing_ones():
    from hxbench.nets.clip_vit import VisionTransformer

    state = dict(_visual(4).state_dict())
    extra = dict(state, input_resolution=torch.tensor(224))  # a tensor attribute, no parameter
    m = VisionTransformer.from_state_dict(extra)
    assert all(torch.equal(v, state[k]) for k, v in m.state_dict().items())
    del state["transformer.resblocks.1.ln_2.bias"]
    with pytest.raises(ValueError, match=r"lacks transformer\.resblocks\.1\.ln_2\.bias"):
        VisionTransformer.from_state_dict(state)


def test_torchscript_reader_refuses_code(tmp_path):
    from hxbench.weights import load_torchscript_state_dict

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.pt"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("evil/data.pkl", pickle.dumps(Evil(), protocol=2))
        zf.writestr("evil/version", "3")
    with pytest.raises(pickle.UnpicklingError, match=r"refusing to load (__builtin__|builtins)\.print"):
        load_torchscript_state_dict(path)


def test_torchscript_reader_reads_typed_lists(tmp_path):
    """pickler.cpp writes List[int] attributes as torch.jit._pickle.build_intlist(list): read as a list."""
    from hxbench.weights import load_torchscript_state_dict

    pkl = (b"\x80\x02c__torch__\nM\n)\x81}(X\x05\x00\x00\x00sizes"
           b"ctorch.jit._pickle\nbuild_intlist\n](K\x01K\x02e\x85Rub.")
    path = tmp_path / "lists.pt"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("m/data.pkl", pkl)
    assert load_torchscript_state_dict(path) == {}
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("m/data.pkl", pkl.replace(b"build_intlist", b"build_evillist"))
    with pytest.raises(pickle.UnpicklingError, match="build_evillist"):
        load_torchscript_state_dict(path)


# -- the CLIP tower against transformers' implementation ----------------------------------------
def _to_hf(state: dict) -> dict:
    """OpenAI ``visual.*`` names -> transformers ``CLIPVisionModelWithProjection`` names."""
    out = {"vision_model.embeddings.class_embedding": state["class_embedding"],
           "vision_model.embeddings.patch_embedding.weight": state["conv1.weight"],
           "vision_model.embeddings.position_embedding.weight": state["positional_embedding"],
           "visual_projection.weight": state["proj"].t()}
    for ours, theirs in (("ln_pre", "pre_layrnorm"), ("ln_post", "post_layernorm")):
        for p in ("weight", "bias"):
            out[f"vision_model.{theirs}.{p}"] = state[f"{ours}.{p}"]
    layers = len({k.split(".")[2] for k in state if k.startswith("transformer.")})
    for i in range(layers):
        a, b = f"transformer.resblocks.{i}.", f"vision_model.encoder.layers.{i}."
        for p in ("weight", "bias"):
            for j, q in enumerate(state[f"{a}attn.in_proj_{p}"].chunk(3)):
                out[f"{b}self_attn.{'qkv'[j]}_proj.{p}"] = q
            out[f"{b}self_attn.out_proj.{p}"] = state[f"{a}attn.out_proj.{p}"]
            out[f"{b}layer_norm1.{p}"] = state[f"{a}ln_1.{p}"]
            out[f"{b}layer_norm2.{p}"] = state[f"{a}ln_2.{p}"]
            out[f"{b}mlp.fc1.{p}"] = state[f"{a}mlp.c_fc.{p}"]
            out[f"{b}mlp.fc2.{p}"] = state[f"{a}mlp.c_proj.{p}"]
    return out


def test_clip_tower_equals_transformers_clip_float64():
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    visual = _visual(1).double()
    cfg = CLIPVisionConfig(hidden_size=SMALL["width"], intermediate_size=4 * SMALL["width"],
                           num_hidden_layers=SMALL["layers"], num_attention_heads=SMALL["width"] // 64,
                           image_size=224, patch_size=14, projection_dim=768, hidden_act="quick_gelu",
                           layer_norm_eps=1e-5)
    hf = CLIPVisionModelWithProjection(cfg).double().eval()
    missing, unexpected = hf.load_state_dict(_to_hf(visual.state_dict()), strict=False)
    assert not unexpected and all("position_ids" in k for k in missing), (missing, unexpected)
    x = torch.randn(3, 3, 224, 224, dtype=torch.float64)
    with torch.no_grad():
        ours, theirs = visual(x), hf(pixel_values=x).image_embeds
    # float64 throughout: the two differ by summation order only (~1e-15 relative per op)
    assert ours.shape == (3, 768)
    assert (ours - theirs).abs().max().item() < 1e-10 * theirs.abs().max().item()


# -- the LAION head: the published file ----------------------------------------------------------
def test_published_laion_head_is_registered_and_loads_as_data():
    from hxbench.nets.clip_vit import LAION_HEAD, laion_head
    from hxbench.paths import sha256_file

    assert sha256_file(HEAD_FILE) == LAION_HEAD.sha256
    head = laion_head(HEAD_FILE)
    assert head.weight.shape == (1, 768) and head.bias.item() == pytest.approx(3.5294, abs=1e-4)


# -- whole variants vs VBench's code --------------------------------------------------------------
def _vbench_aesthetic(visual, head, frames: np.ndarray) -> float:
    """vbench/aesthetic_quality.py ``laion_aesthetic`` on one video, transcribed: load_video's
    torch.Tensor(frames).permute(0, 3, 1, 2), utils.clip_transform(224) as a Compose, batches of
    32, encode_image -> float32 -> F.normalize -> head -> squeeze, / 10, torch.mean."""
    from torchvision.transforms import CenterCrop, Compose, InterpolationMode, Lambda, Normalize, Resize

    images = torch.Tensor(frames).permute(0, 3, 1, 2)
    image_transform = Compose([
        Resize(224, interpolation=InterpolationMode.BICUBIC, antialias=False),
        CenterCrop(224),
        Lambda(lambda x: x.float().div(255.0)),
        Normalize((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)),
    ])
    scores = []
    for i in range(0, len(images), 32):
        with torch.no_grad():
            feats = visual(image_transform(images[i:i + 32])).to(torch.float32)
            scores.append(head(F.normalize(feats, dim=-1, p=2)).squeeze(dim=-1))
    return torch.mean(torch.cat(scores) / 10, dim=0, keepdim=True).item()


def _vbench_imaging(model, frames: np.ndarray) -> float:
    """vbench/imaging_quality.py ``technical_quality`` on one video, mode 'longer', transcribed."""
    from torchvision import transforms

    images = torch.Tensor(frames).permute(0, 3, 1, 2)
    _, _, h, w = images.size()
    if max(h, w) > 512:
        scale = 512. / max(h, w)
        images = transforms.Resize(size=(int(scale * h), int(scale * w)), antialias=False)(images)
    images = images / 255.
    acc = 0.
    with torch.no_grad():
        for i in range(len(images)):
            acc += float(model(images[i].unsqueeze(0)))
    return acc / len(images) / 100.


def test_laion_variant_is_vbench_aesthetic_quality():
    from hxbench.nets.clip_vit import laion_head

    visual, head = _visual(2), laion_head(HEAD_FILE)
    frames = _frames(40, 180, 250)  # two batches of 32; landscape: resize 224x311, centre crop
    m = build_metric("ase[laion-vbench]")
    m.laion = (visual, head)
    ours = m.update(SampleData("s", gen=_clip(frames))).values["ase"]
    ref = _vbench_aesthetic(visual, head, frames)
    # float32 networks, same operations; ours averages the float32 frame scores in float64 and
    # divides once: |diff| <= a few float32 ulps of values ~0.5 (6e-8 each)
    assert ours == pytest.approx(ref, abs=1e-6)
    # the formula spelled out: mean over frames of head(normalise(clip(frame))) / 10
    one = _vbench_aesthetic(visual, head, frames[:1])
    m1 = build_metric("ase[laion-vbench]")
    m1.laion = (visual, head)
    assert m1.update(SampleData("s", gen=_clip(frames[:1]))).values["ase"] == pytest.approx(one, abs=1e-6)
    assert m.compute()["ase"].value == pytest.approx(ours, abs=1e-12)


def test_laion_variant_through_imported_files(tmp_path, monkeypatch):
    """The loader path: a float16 TorchScript archive in ViT-L-14.pt's layout and the LAION head
    imported with ``hxbench weights import`` (the CLIP spec's sha256 unpinned for the random
    archive), then scored without injection: equal to VBench's code on the float32 cast."""
    import hxbench.weights as w
    from hxbench.nets import clip_vit
    from hxbench.registry import WEIGHTS

    visual = _visual(3)
    archive = tmp_path / "ViT-L-14.pt"
    _save_archive(visual, archive)
    monkeypatch.setenv("HXBENCH_HOME", str(tmp_path / "home"))
    spec = w.get_spec(clip_vit.CLIP_VIT_L14.name)
    monkeypatch.setitem(WEIGHTS._entries, spec.name, dataclasses.replace(spec, sha256=None))
    w.import_weights(spec.name, archive)
    w.import_weights(clip_vit.LAION_HEAD.name, HEAD_FILE)  # the pinned hash of the real file
    clip_vit._CACHE.clear()
    frames = _frames(3, 64, 48, seed=5)
    m = build_metric("ase[laion-vbench]")
    ours = m.update(SampleData("s", gen=_clip(frames))).values["ase"]
    half = clip_vit.VisionTransformer(**SMALL)
    half.load_state_dict({k: v.half().float() for k, v in visual.state_dict().items()})
    assert ours == pytest.approx(_vbench_aesthetic(half.eval(), clip_vit.laion_head(HEAD_FILE), frames), abs=1e-6)
    assert m.info()["weights"][clip_vit.LAION_HEAD.name] == clip_vit.LAION_HEAD.sha256
    clip_vit._CACHE.clear()


def test_musiq_resize_rule():
    x = torch.full((1, 3, 520, 600), 255.0)
    assert _vbench.musiq_transform(x).shape == (1, 3, 443, 512)  # int(512/600 * 520) = 443
    assert _vbench.musiq_transform(torch.zeros(1, 3, 300, 512)).shape == (1, 3, 300, 512)  # not above 512
    # bilinear weights of a flat float32 frame sum to 1 within an ulp: 255 / 255 = 1 +- 2e-7
    assert _vbench.musiq_transform(x).max().item() == pytest.approx(1.0, abs=1e-6)


def test_musiq_variant_is_vbench_imaging_quality(tmp_path, monkeypatch):
    """Random MUSIQ weights at the SPAQ checkpoint's size, saved as a plain state dict and
    imported as ``musiq-spaq`` (unpinned: no published sha256); the variant vs VBench's code
    with pyiqa's ``MUSIQ(pretrained_model_path=...)`` loading the same file (10 s on the
    shared 2-core machine)."""
    from hxbench.nets import musiq as musiq_net
    from hxbench.paths import sha256_file
    import hxbench.weights as w

    torch.manual_seed(0)
    state = musiq_net.build_musiq().state_dict()
    path = tmp_path / "musiq_spaq_ckpt-358bb6af.pth"
    torch.save(state, path)
    monkeypatch.setenv("HXBENCH_HOME", str(tmp_path / "home"))
    w.import_weights(musiq_net.MUSIQ_SPAQ.name, path)
    musiq_net._CACHE.clear()
    frames = _frames(2, 520, 600, seed=7)  # longer side 600 > 512: resized to 443x512
    m = build_metric("iqa[musiq-spaq-vbench]")
    ours = m.update(SampleData("s", gen=_clip(frames))).values["iqa"]
    vbench_model = musiq_net.musiq_class()(pretrained_model_path=str(path))  # VBench's construction
    vbench_model.training = False
    ref = _vbench_imaging(vbench_model, frames)
    # the same float32 network on the same inputs, one frame per pass in both: equal up to the
    # float64 vs Python-float accumulation of two MOS values (~1e-14)
    assert ours == pytest.approx(ref, abs=1e-9)
    assert math.isfinite(ours)
    notes = m.result_notes()
    assert any("unpinned" in n and sha256_file(path) in n for n in notes), notes
    musiq_net._CACHE.clear()


def test_musiq_variant_small_frames_not_resized():
    from hxbench.nets.musiq import build_musiq

    torch.manual_seed(1)
    model = build_musiq()
    frames = _frames(2, 64, 96, seed=3)
    m = build_metric("iqa[musiq-spaq-vbench]")
    m.musiq = model
    ours = m.update(SampleData("s", gen=_clip(frames))).values["iqa"]
    assert ours == pytest.approx(_vbench_imaging(model, frames), abs=1e-9)


# -- unavailable, bad input, identity ---------------------------------------------------------------
def test_unavailable_with_exact_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("HXBENCH_HOME", str(tmp_path))
    frames = _frames(1, 64, 64)
    with pytest.raises(MetricUnavailable) as err:
        build_metric("iqa[musiq-spaq-vbench]").update(SampleData("s", gen=_clip(frames)))
    assert err.value.fix == ("hxbench weights fetch musiq-spaq  or  "
                             "hxbench weights import musiq-spaq /path/to/musiq_spaq_ckpt-358bb6af.pth")
    with pytest.raises(MetricUnavailable) as err:
        build_metric("ase[laion-vbench]").check_available()
    assert err.value.fix == ("hxbench weights fetch clip-vit-l-14-openai  or  "
                             "hxbench weights import clip-vit-l-14-openai /path/to/ViT-L-14.pt")
    import hxbench.weights as w

    rows = {r["name"]: r for r in w.status()}
    assert rows["laion-aesthetic-vit-l-14"]["fix"] == (
        "hxbench weights fetch laion-aesthetic-vit-l-14  or  "
        "hxbench weights import laion-aesthetic-vit-l-14 /path/to/sa_0_4_vit_l_14_linear.pth")
    assert rows["musiq-spaq"]["pinned"] is False and rows["clip-vit-l-14-openai"]["pinned"] is True


def test_bad_input():
    from hxbench.nets.clip_vit import laion_head
    from hxbench.nets.musiq import build_musiq

    tiny = np.zeros((2, 16, 40, 3), np.uint8)
    nan = np.full((1, 64, 64, 3), np.nan, np.float32)
    for key, attr, net in (("ase[laion-vbench]", "laion", (_visual(), laion_head(HEAD_FILE))),
                           ("iqa[musiq-spaq-vbench]", "musiq", build_musiq())):
        m = build_metric(key)
        setattr(m, attr, net)
        with pytest.raises(SampleError, match="at least 32x32 pixels, got 40x16"):
            m.update(SampleData("s", gen=_clip(tiny)))
        with pytest.raises(MediaError, match="NaN"):
            m.update(SampleData("s", gen=_clip(nan)))
        assert m.compute()[next(iter(m.outputs))].n == 0


def test_identity_and_scale():
    from hxbench.metrics.ase import ASE
    from hxbench.metrics.iqa import IQA

    iqa, ase = build_metric("iqa[musiq-spaq-vbench]"), build_metric("ase[laion-vbench]")
    assert iqa.key == "iqa[musiq-spaq-vbench]" and iqa.outputs == {"iqa": "higher"}
    assert iqa.weight_names() == ("musiq-spaq",)
    assert ase.weight_names() == ("clip-vit-l-14-openai", "laion-aesthetic-vit-l-14")
    assert "MOS / 100" in IQA.scale("musiq-spaq-vbench") and "/ 10" in ASE.scale("laion-vbench")
    # never the Q-Align numbers: different keys, and the scale lines say which benchmark
    assert "VBench" in IQA.scale("musiq-spaq-vbench") and "Q-Align" not in ASE.scale("laion-vbench")
