"""OmniHuman-style pipeline and adapter on a random-weight micro checkpoint (no training)."""

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

from reference_models.omnihuman.data import log_mel
from reference_models.omnihuman.model import OmniMMDiT, get_config
from reference_models.omnihuman.train import save_fp16
from reference_models.omnihuman.vae import VideoVAE

torch.set_num_threads(1)


def write_random_checkpoint(d: Path, cfg) -> Path:
    """A checkpoint folder as the adapter loads it (fp16 vae.pt / dit.pt, config.json,
    SHA256SUMS) with seeded random weights for ``cfg``."""
    torch.manual_seed(0)
    save_fp16(VideoVAE(cfg), d / "vae.pt")
    save_fp16(OmniMMDiT(cfg), d / "dit.pt")
    (d / "config.json").write_text(cfg.to_json())
    (d / "SHA256SUMS").write_text("".join(
        f"{hashlib.sha256((d / n).read_bytes()).hexdigest()}  {n}\n" for n in ("vae.pt", "dit.pt")))
    return d


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    cfg = get_config("tiny")
    cfg.d_model, cfg.n_layers, cfg.vae_base = 48, 2, 8
    return write_random_checkpoint(tmp_path_factory.mktemp("omni_ckpt"), cfg)


def test_log_mel_aligned_to_frames():
    sr = 16000
    audio = np.zeros(sr, np.float32)
    audio[int(0.4 * sr):int(0.6 * sr)] = np.sin(np.arange(int(0.2 * sr)) * 0.3)  # tone in 0.4-0.6 s
    mel = log_mel(audio, 25)
    assert mel.shape == (25, 80) and mel.dtype == np.float32
    peak = mel.max(1)
    assert np.array_equal(np.where(peak > 2.0)[0], np.arange(10, 15))  # frames 10..14 = 0.4-0.6 s
    assert np.all(peak[:9] == peak[0]) and np.all(peak[16:] == peak[0])  # silence elsewhere


def test_pipeline_autoregressive_length_and_schedule(ckpt):
    from reference_models.omnihuman.pipeline import OmniPipeline

    pipe = OmniPipeline(ckpt, steps=2, guidance=1.5)
    img = np.random.default_rng(0).integers(0, 255, (80, 100, 3)).astype(np.uint8)
    audio = np.random.default_rng(1).standard_normal(16000 * 2).astype(np.float32) * 0.1
    frames, sched = pipe.generate(img, audio, 1.6, transcript="Hello! Can you nod?")
    assert frames.shape == (40, 64, 64, 3) and frames.dtype == np.uint8
    assert pipe.n_passes(40) == 3 and len(sched["shots"]) == 3  # 16 + 12 + 12 frames
    assert "not an MLLM" in sched["source"]
    frames2, _ = pipe.generate(img, audio, 1.6, transcript="Hello! Can you nod?")
    assert np.array_equal(frames, frames2)  # seeded, deterministic


def test_pipeline_checks_hash(ckpt, tmp_path):
    from reference_models.omnihuman.pipeline import OmniPipeline

    bad = tmp_path / "bad"
    bad.mkdir()
    for n in ("vae.pt", "dit.pt", "config.json"):
        (bad / n).write_bytes((ckpt / n).read_bytes())
    (bad / "SHA256SUMS").write_text("0" * 64 + "  dit.pt\n")
    with pytest.raises(ValueError, match="sha256"):
        OmniPipeline(bad)
    with pytest.raises(FileNotFoundError, match="train"):
        OmniPipeline(tmp_path / "none")


def test_adapter_lip_sync_command_and_multi_person(ckpt):
    from hxbench.adapters.base import GenerationInput, load_adapter

    ad = load_adapter("omnihuman-tiny", checkpoint=str(ckpt), steps=2)
    img = np.full((64, 96, 3), 128, np.uint8)
    audio = np.zeros(16000, np.float32)
    outs = ad.generate([
        GenerationInput("a", reference_image=img, driving_audio=audio, duration=0.8, fps=25,
                        width=96, height=64),
        GenerationInput("b", reference_image=img, command="nod and smile", duration=0.6, fps=25),
        GenerationInput("c", reference_image=img, duration=0.64, fps=25,
                        extra={"speaker_audio": [audio, audio * 0 + 0.1]}),
    ])
    assert outs[0].video.shape == (20, 64, 96, 3) and outs[0].fps == 25
    assert outs[0].audio is audio
    assert outs[1].video.shape[0] == 15 and outs[2].video.shape[0] == 16
    assert "sha256" in ad.info()
    assert type(load_adapter("omnihuman-tiny-refimg", checkpoint=str(ckpt))).ref_mode == "first_frame"
