"""The step-driven, resumable training recipe (``reference_models/omnihuman/recipe.py``) at tiny
size on CPU: a stopped and resumed run gives the weights of a run that never stopped (bit for bit),
a short run's losses fall, and the ``small`` configuration's recipe shapes hold (on the meta
device; one real step on CPU is the slow test)."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from reference_models.omnihuman.model import count_params, get_config
from reference_models.omnihuman.recipe import Plan, Recipe
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
                   tmp_path / "on-vae", log=quiet).run()
    assert len(again.losses) == 2
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
