"""Issue 22's reference-aware VAE decoder (``OmniConfig.vae_ref``, config ``tiny-128-ref``): off by
default and then the plain VAE, byte for byte; on, the decoder sees the reference image and an
untrained one outputs exactly the reference; the reference is threaded through the recipe (a
short run's losses fall, resumes bit for bit, exports a checkpoint the pipeline loads), the
pipeline and the ``vae-recon`` row. Micro size (64 px, VAE width 8): a few CPU-seconds."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from reference_models.omnihuman.model import CONFIGS, OmniConfig, count_params, get_config
from reference_models.omnihuman.recipe import Plan, Recipe
from reference_models.omnihuman.vae import VideoVAE, frames_to_tensor, image_to_tensor
from tests.test_omnihuman_pipeline import write_random_checkpoint
from tests.test_omnihuman_recipe import blob_video, micro_cfg

torch.set_num_threads(1)
quiet = lambda *a: None  # noqa: E731
CKPTS = Path(__file__).resolve().parents[1] / "reference_models" / "omnihuman" / "checkpoints"


def ref_cfg() -> OmniConfig:
    cfg = micro_cfg()
    cfg.name, cfg.vae_ref = "micro-ref", True
    return cfg


def clip_and_ref(seed: int = 1, T: int = 8):
    """A 64-px blob clip (1, 3, T, 64, 64) and another blob video's frame as its reference (1, 3, 64, 64)."""
    return frames_to_tensor(blob_video(seed).frames[:T]), image_to_tensor(blob_video(seed + 10).frames[0])


def test_existing_configs_unchanged():
    """vae_ref off (every config but tiny-128-ref): the VAE's parameters, its outputs for a fixed
    seed (recorded before the field existed), its config.json and the `tiny` checkpoint's
    weights are what they were; a reference given to it is ignored."""
    counts = {"tiny": 914048, "tiny-f4": 872560, "tiny-128": 914048, "small": 3155072, "paper": 11618432}
    assert set(CONFIGS) == {*counts, "tiny-128-ref"}
    for name, n in counts.items():
        cfg = get_config(name)
        assert not cfg.vae_ref and "vae_ref" not in cfg.to_dict()
        with torch.device("meta"):
            assert count_params(VideoVAE(cfg)) == n, name
    # the committed checkpoints: vae.pt loads strictly (no missing / extra keys); `tiny` predates
    # the field (and vae_blocks), `tiny-hxsynth` was trained with it and its config.json
    # round-trips byte for byte
    from reference_models.omnihuman.train import load_fp32

    for name, with_ref in (("tiny", False), ("tiny-hxsynth", True)):
        text = (CKPTS / name / "config.json").read_text()
        cfg = OmniConfig.from_dict(json.loads(text))
        assert cfg.vae_ref == with_ref and (cfg.to_json() + "\n" == text or not with_ref)
        load_fp32(VideoVAE(cfg), CKPTS / name / "vae.pt")
    # fixed-seed outputs of the micro VAE, recorded with the code before vae_ref existed
    torch.manual_seed(0)
    vae = VideoVAE(micro_cfg())
    x = torch.rand(1, 3, 8, 64, 64, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.no_grad():
        z = vae.encode(x)
        r = vae.decode(z)
        loss, _ = vae.loss(x)
        assert torch.equal(vae.decode(z, ref=x[:, :, 0]), r)  # ignored when off
    assert z.double().sum().item() == pytest.approx(-11.805486523197033, rel=1e-5)
    assert r.double().sum().item() == pytest.approx(706.9392470066668, rel=1e-5)
    assert r.double().abs().sum().item() == pytest.approx(23896.81292175746, rel=1e-6)
    assert loss.item() == pytest.approx(0.9896207451820374, rel=1e-6)


def test_reference_decoder_starts_at_the_reference_and_sees_it():
    """vae_ref on: shapes as the plain VAE, a few extra parameters (the reference stem); the
    untrained decoder outputs exactly the reference, broadcast over time (the still image as a
    floor); once its residual head is non-zero the output depends on the reference through the
    stem, not only through the skip; a missing reference is an error."""
    cfg = get_config("tiny-128-ref")
    assert cfg.vae_ref and cfg.to_dict()["vae_ref"] is True
    assert {k: v for k, v in cfg.to_dict().items() if k not in ("name", "vae_ref")} == \
        {k: v for k, v in get_config("tiny-128").to_dict().items() if k != "name"}
    assert OmniConfig.from_dict(json.loads(cfg.to_json())) == cfg
    with torch.device("meta"):
        extra = count_params(VideoVAE(cfg)) - count_params(VideoVAE(get_config("tiny-128")))
    assert extra == (48 * 32 * 9 + 32) + (32 * 32 * 9 + 32) + (32 * 64 * 9 + 64)  # 41,600: the stem at 32 and 16 px

    torch.manual_seed(0)
    vae = VideoVAE(ref_cfg()).eval()
    x, ref = clip_and_ref()
    with torch.no_grad():
        z = vae.encode(x)
        out = vae.decode(z, ref=ref)
        assert z.shape == (1, 16, 2, 8, 8) and out.shape == x.shape
        assert torch.equal(out, ref[:, :, None].expand_as(x))  # exactly: the residual head is zero
        with pytest.raises(ValueError, match="needs the reference image"):
            vae.decode(z)
        torch.nn.init.normal_(vae.decoder[-1].weight, std=0.02)  # as if trained
        ref2 = image_to_tensor(blob_video(7).frames[0])
        assert not torch.equal(vae.decode(z, ref=ref), vae.decode(z, ref=ref2))
        raw = vae.encode_dist(x)[0]
        a, b = vae._dec(raw, ref), vae._dec(raw, ref2)  # unclamped: output = ref + residual(ref)
        assert a.shape == x.shape
        assert ((b - a) - (ref2 - ref)[:, :, None]).abs().max() > 1e-4  # the residual sees the reference
        # a batch shares one reference (B_ref 1) or has one each
        z2 = torch.cat([z, z.flip(-1)])
        shared, each = vae.decode(z2, ref=ref), vae.decode(z2, ref=ref.expand(2, -1, -1, -1))
        assert torch.allclose(shared, each, atol=1e-5)  # a batch-1 conv rounds unlike a batch-2 one
        with pytest.raises(ValueError, match="ref batch"):
            vae.decode(z2, ref=torch.cat([ref] * 3))


def test_zero_head_still_learns():
    """The zero-initialised residual head does not block training: after two optimiser steps
    the head, the decoder body and the reference stem have all moved; decoder_parameters()
    holds the stem (what the decoder-only phase trains)."""
    torch.manual_seed(0)
    vae = VideoVAE(ref_cfg())
    ids = {id(p) for p in vae.decoder_parameters()}
    assert all(id(p) in ids for p in [*vae.ref_hi.parameters(), *vae.ref_lo.parameters()])
    assert not any(id(p) in ids for p in vae.encoder.parameters())
    before = {k: v.clone() for k, v in vae.state_dict().items()}
    opt = torch.optim.AdamW(vae.parameters(), lr=1e-3)
    x, ref = clip_and_ref()
    for _ in range(2):
        loss, _ = vae.loss(x, ref=ref)
        opt.zero_grad()
        loss.backward()
        opt.step()
    sd = vae.state_dict()
    head = f"decoder.{len(vae.decoder) - 1}.weight"
    for k in (head, "decoder.0.weight", "ref_hi.0.weight", "ref_lo.1.weight", "encoder.0.weight"):
        assert not torch.equal(sd[k], before[k]), k


def test_recipe_with_reference_decoder(tmp_path):
    """The recipe with vae_ref: VAE 12 + decoder 3 + DiT 2 steps; the VAE loss falls and its
    round trip beats the reference alone (the untrained decoder's output), the decoder phase
    moves the stem and not the encoder, a run stopped mid-VAE, on the boundary and mid-decoder
    resumes bit for bit, and the export (config.json with vae_ref) loads in OmniPipeline and
    generates frames. The training reference is each video's ``ref`` (the manifest's reference
    image), here the video's last frame: same content, another pose, as hx-synth's photo."""
    from reference_models.omnihuman.pipeline import OmniPipeline
    from reference_models.omnihuman.vae import psnr

    cfg = ref_cfg()
    videos = [blob_video(i) for i in range(3)]
    for v in videos:
        v.ref = v.frames[-1]
    floor = np.mean([psnr(image_to_tensor(v.ref)[:, :, None].expand(-1, -1, 32, -1, -1),
                          frames_to_tensor(v.frames[:32])) for v in videos])
    plan = Plan(vae_steps=12, decoder_steps=3, dit_steps=(2,), warmup=False, batch=2, vae_batch=1, seed=0)
    rec = Recipe(videos, cfg, plan, tmp_path / "whole", log=quiet).run()
    vae_l = rec.losses[:12]
    assert np.mean(vae_l[-4:]) < 0.85 * np.mean(vae_l[:4]), vae_l  # measured 0.117 -> 0.085
    # measured 21.4 dB (the reference alone) -> 26.3 dB after 12 steps (plain VAE: 11.4 -> 15.6)
    assert rec.history[0]["psnr_db_first_32_frames"] > floor + 2, (floor, rec.history[0])
    assert [h["phase"] for h in rec.history] == ["vae", "decoder", "joint"]
    out = tmp_path / "stopped"
    for s in (5, 12, 14, None):  # mid-VAE, the VAE / decoder boundary, mid-decoder, the end
        part = Recipe(videos, cfg, plan, out, log=quiet).run(stop_after=s)
        if s == 12:
            after_vae = {k: v.clone() for k, v in part.vae.state_dict().items()}
    assert part.losses == rec.losses
    assert all(torch.equal(v, rec.vae.state_dict()[k]) for k, v in part.vae.state_dict().items())
    assert all(torch.equal(v, rec.dit.state_dict()[k]) for k, v in part.dit.state_dict().items())
    # the decoder phase (global steps 13-15): encoder frozen, reference stem trained
    end = rec.vae.state_dict()
    assert all(torch.equal(end[k], after_vae[k]) for k in end if k.startswith("encoder."))
    assert not torch.equal(end["ref_hi.0.weight"], after_vae["ref_hi.0.weight"])
    saved = json.loads((tmp_path / "whole" / "config.json").read_text())
    assert saved["vae_ref"] is True and OmniConfig.from_dict(saved) == cfg
    pipe = OmniPipeline(tmp_path / "whole", steps=2)
    assert pipe.cfg.vae_ref and hasattr(pipe.vae, "ref_hi")
    frames, _ = pipe.generate(blob_video(5).frames[0], np.zeros(16000, np.float32), 0.64)
    assert frames.shape == (16, 64, 64, 3)


def test_pipeline_and_vae_recon_decode_with_the_reference(tmp_path):
    """An untrained vae_ref checkpoint (random DiT, zero residual head): the pipeline's frames
    and the vae-recon row are the reference image itself, resized the way the pipeline resizes
    it, so both decode with the reference; without one, vae_recon's reconstruct refuses."""
    from reference_models.omnihuman.data import resize_frames
    from reference_models.omnihuman.pipeline import OmniPipeline
    from reference_models.omnihuman.vae_recon import load_vae, reconstruct

    write_random_checkpoint(tmp_path, ref_cfg())
    photo = np.ascontiguousarray(blob_video(3, S=96).frames[0][:, 8:88])  # (96, 80, 3): cropped + resized
    want = resize_frames(photo[None], 64)[0]
    frames, _ = OmniPipeline(tmp_path, steps=2).generate(photo, np.zeros(16000, np.float32), 0.72)
    assert frames.shape == (18, 64, 64, 3) and all(np.array_equal(f, want) for f in frames)
    vae = load_vae(tmp_path)
    video = blob_video(4, T=10, S=96).frames
    rec = reconstruct(vae, video, 64, (64, 64), ref=photo)
    assert rec.shape == (10, 64, 64, 3) and all(np.array_equal(f, want) for f in rec)
    with pytest.raises(ValueError, match="needs the reference image"):
        reconstruct(vae, video, 64, (64, 64))
