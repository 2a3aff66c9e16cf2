"""Audio features and training data for the OmniHuman-style reference model.

Audio: log-mel, one 80-bin vector per video frame (16 kHz, hop 640 samples = 25 Hz, Hann
window 1024 samples centred on the frame's midpoint, mel filters from
``hxbench.io.audio_features.mel_filterbank`` over 0-8 kHz, log(1e-5 + energy), then a fixed
affine normalisation ``(x + 5) / 4`` so values are ~N(0, 1) for speech).

Data: any hxbench manifest whose samples carry a talking video (``reference_video``) and its
audio (``driving_audio`` or the video's own audio track); the transcript is taken from
``sample.text``, ``sample.meta["transcript"]`` or ``sample.command`` (in that order) and turned
into the shot text by the rule-based agent, exactly as at inference. The sample's
``reference_image``, when given, is kept (resized as the pipeline resizes it) for a decoder that
sees the reference (``OmniConfig.vae_ref``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

SR = 16000


def log_mel(audio: np.ndarray, n_frames: int, fps: float = 25.0, n_mels: int = 80,
            sample_rate: int = SR) -> np.ndarray:
    """(S,) float audio -> (n_frames, n_mels) float32, frame k centred on (k + 0.5) / fps."""
    from hxbench.io.audio_features import mel_filterbank

    nfft = 1024
    hop = sample_rate / fps
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    pad = nfft
    x = np.pad(audio, (pad, pad + int(n_frames * hop) + nfft))
    centres = ((np.arange(n_frames) + 0.5) * hop).astype(np.int64) + pad
    idx = centres[:, None] + np.arange(nfft)[None] - nfft // 2
    frames = x[idx] * np.hanning(nfft)[None].astype(np.float32)
    power = np.abs(np.fft.rfft(frames, n=nfft, axis=1)) ** 2 / nfft
    fb = mel_filterbank(n_mels, nfft, sample_rate, 0, sample_rate // 2)
    mel = np.log(1e-5 + power @ fb.T)
    return ((mel + 5.0) / 4.0).astype(np.float32)


def resize_frames(frames: np.ndarray, size: int) -> np.ndarray:
    """uint8 (T, H, W, 3) -> uint8 (T, size, size, 3): centre square crop + area resize."""
    T, H, W, _ = frames.shape
    s = min(H, W)
    y0, x0 = (H - s) // 2, (W - s) // 2
    crop = np.ascontiguousarray(frames[:, y0:y0 + s, x0:x0 + s])
    if not crop.flags.writeable:  # decoded frames can be read-only; torch warns on those
        crop = crop.copy()
    x = torch.from_numpy(crop).permute(0, 3, 1, 2).float()
    if s != size:
        x = F.interpolate(x, size=(size, size), mode="area" if s > size else "bilinear",
                          align_corners=None if s > size else False)
    return x.round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()


def transcript_of(sample) -> str:
    meta = sample.meta or {}
    return sample.text or meta.get("transcript") or sample.command or ""


@dataclass
class Video:
    sample_id: str
    frames: np.ndarray        # uint8 (T, S, S, 3), T a multiple of vae_tf
    mel: np.ndarray           # float32 (T, n_mels)
    transcript: str
    prompt: str | None
    shot_texts: list[str]     # one per clip_frames window, from the rule-based planner
    ref: np.ndarray | None = None  # uint8 (S, S, 3): the sample's reference image, if any (what a
                                   # vae_ref decoder sees; train.video_ref falls back to frame 0)


def load_videos(manifest_path: str | Path, cfg, max_videos: int | None = None,
                max_frames: int | None = None) -> list[Video]:
    from hxbench.io.manifest import load_manifest
    from hxbench.io.media import read_audio, read_image, read_video

    from .agent import AgentInputs, run_agent

    man = load_manifest(manifest_path)
    out: list[Video] = []
    for s in man.samples:
        if max_videos is not None and len(out) >= max_videos:
            break
        vpath = man.resolve(s.reference_video)
        if vpath is None or not vpath.is_file():
            continue
        frames = read_video(vpath, fps=cfg.fps)
        if max_frames:
            frames = frames[:max_frames]
        T = (len(frames) // cfg.vae_tf) * cfg.vae_tf
        if T < cfg.clip_frames + cfg.max_last_gap * cfg.vae_tf:
            continue
        frames = resize_frames(frames[:T], cfg.image_size)
        apath = man.resolve(s.driving_audio) or vpath
        try:
            audio = read_audio(apath, SR)
        except Exception:
            audio = np.zeros(int(T / cfg.fps * SR), np.float32)
        mel = log_mel(audio, T, cfg.fps, cfg.n_mels)
        text = transcript_of(s)
        n_shots = math.ceil(T / cfg.clip_frames)
        sched = run_agent(AgentInputs(transcript=text, duration=T / cfg.fps,
                                      prompt=s.command), n_shots)
        ipath = man.resolve(s.reference_image)
        # resized as the pipeline resizes the reference photo it is given
        ref = resize_frames(read_image(ipath)[None], cfg.image_size)[0] if ipath and ipath.is_file() else None
        out.append(Video(s.sample_id, frames, mel, text, s.command,
                         [sh["text"] for sh in sched["shots"]], ref))
    return out
