"""Inference: reference image + audio (+ transcript / prompt) -> video, with the agent's schedule.

1. System 2: the agent (rule-based offline default, or an HTTP MLLM) turns the transcript and
   prompt into a shot schedule, one shot per generation pass.
2. System 1: for each pass the MMDiT samples N latent frames conditioned on the shot text
   (text branch), the log-mel of that window (audio branch, time-aligned RoPE), the
   reference image as a pseudo last frame (slot at RoPE time N-1+plf_shift, dropped after
   sampling) and, from the second pass on, the previous pass's last latent frame as the first
   frame (autoregressive continuation). Optional reflective re-planning looks at the last
   decoded frames before the next pass.
3. The 3D VAE decodes the concatenated latents (a ``vae_ref`` decoder with the reference image
   as well, in every ``ref_mode``: it is part of the decoder); frames are resized to the requested
   size.
"""

from __future__ import annotations

import json
import math
from importlib import resources
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .agent import AgentInputs, make_agent
from .data import log_mel, resize_frames
from .flow import sample_latents
from .model import OmniConfig, OmniMMDiT, tokenize
from .train import load_fp32, sha256
from .vae import VideoVAE, image_to_tensor, tensor_to_frames

DEFAULT_CKPT = Path(str(resources.files(__package__) / "checkpoints" / "tiny"))  # shipped in the wheel


class OmniPipeline:
    def __init__(self, ckpt_dir: str | Path = DEFAULT_CKPT, steps: int = 10, guidance: float = 1.5,
                 use_planner: bool = True, ref_mode: str = "pseudo_last", reflect: bool = True,
                 agent: str | None = None, seed: int = 0, verify: bool = True,
                 guidance_text: float | None = None, guidance_audio: float | None = None,
                 plf_shift: int | None = None, time_shift: float = 1.0, device: str = "cpu") -> None:
        """steps: Euler steps per pass; guidance: CFG scale over text and audio jointly, or
        ``guidance_text`` / ``guidance_audio`` separately; ref_mode: "pseudo_last" (default),
        "first_frame", "both" or "none" (flow.sample_latents); plf_shift: RoPE distance of the
        pseudo last frame (default cfg.plf_shift); time_shift: SD3 time shift of the steps;
        device: where the VAE and DiT run (float32 everywhere; the noise is drawn on the CPU from
        ``seed``, so CPU and CUDA sample from the same noise and differ only by arithmetic)."""
        ckpt = Path(ckpt_dir)
        for name in ("config.json", "vae.pt", "dit.pt"):
            if not (ckpt / name).is_file():
                raise FileNotFoundError(f"{ckpt / name} is missing: train it with "
                                        "python -m reference_models.omnihuman.train (see README)")
        if verify and (ckpt / "SHA256SUMS").is_file():
            for line in (ckpt / "SHA256SUMS").read_text().splitlines():
                digest, name = line.split()
                if sha256(ckpt / name) != digest:
                    raise ValueError(f"{ckpt / name}: sha256 does not match SHA256SUMS")
        self.cfg = OmniConfig.from_dict(json.loads((ckpt / "config.json").read_text()))
        self.device = device
        self.vae = load_fp32(VideoVAE(self.cfg), ckpt / "vae.pt").eval().to(device)
        self.dit = load_fp32(OmniMMDiT(self.cfg), ckpt / "dit.pt").eval().to(device)
        self.ckpt = ckpt
        self.steps, self.guidance, self.use_planner = steps, guidance, use_planner
        self.ref_mode, self.reflect, self.agent, self.seed = ref_mode, reflect, agent, seed
        # sampler settings beyond the defaults (named in info() only when set, so that the
        # identity of outputs made with the defaults stays what it was)
        self.extra = {k: v for k, v in dict(guidance_text=guidance_text, guidance_audio=guidance_audio,
                                            plf_shift=plf_shift, time_shift=time_shift).items()
                      if v is not None and not (k == "time_shift" and v == 1.0)}

    def info(self) -> dict:
        sums = (self.ckpt / "SHA256SUMS").read_text() if (self.ckpt / "SHA256SUMS").is_file() else ""
        return {"checkpoint": str(self.ckpt), "sha256": sums, "steps": self.steps,
                "guidance": self.guidance, "planner": self.use_planner, "ref_mode": self.ref_mode,
                "agent": self.agent or "rule-based (offline default, not an MLLM)", **self.extra,
                **({"device": self.device} if self.device != "cpu" else {})}  # CPU outputs keep their identity

    def n_passes(self, n_frames: int) -> int:
        cfg = self.cfg
        step = (cfg.latent_frames - 1) * cfg.vae_tf
        return 1 + max(0, math.ceil((n_frames - cfg.clip_frames) / step))

    @torch.no_grad()
    def generate(self, image: np.ndarray, audio: np.ndarray | None, duration: float,
                 transcript: str = "", prompt: str | None = None, sample_rate: int = 16000,
                 speaker_audio: list[np.ndarray] | None = None,
                 speaker_boxes: list[list[float]] | None = None) -> tuple[np.ndarray, dict]:
        """image uint8 (H, W, 3); audio float32 mono at 16 kHz. Returns (frames uint8
        (T, S, S, 3) at cfg.fps with T = round(duration * fps), schedule dict)."""
        cfg = self.cfg
        T = max(int(round(duration * cfg.fps)), 1)
        n_pass = self.n_passes(T)
        step = (cfg.latent_frames - 1) * cfg.vae_tf
        total = cfg.clip_frames + (n_pass - 1) * step
        img = resize_frames(np.asarray(image)[None], cfg.image_size)[0]
        dev = self.device
        img_t = image_to_tensor(img).to(dev)  # (1, 3, S, S) in [-1, 1]
        ref = self.vae.encode_image(img_t)
        tracks = speaker_audio if speaker_audio else [audio]
        mels = [log_mel(a if a is not None else np.zeros(1, np.float32), total, cfg.fps, cfg.n_mels, sample_rate)
                for a in tracks]
        analyzer, planner = make_agent(self.agent)
        inputs = AgentInputs(transcript=transcript or "", duration=T / cfg.fps, prompt=prompt,
                             speakers=[{"id": i} for i in range(len(tracks))] if speaker_audio else None)
        schedule = planner.plan(analyzer.analyze(inputs), inputs, n_pass)
        g = torch.Generator().manual_seed(self.seed)
        lat_all, first = [], None
        # multi-person: per-speaker regions over the latent patch grid
        video_speaker = audio_speaker = audio_pos = None
        if speaker_audio and len(speaker_audio) > 1:
            gsz = cfg.latent_size // cfg.patch
            boxes = speaker_boxes or [[i / len(tracks), 0.0, (i + 1) / len(tracks), 1.0]
                                      for i in range(len(tracks))]
            grid = torch.full((gsz, gsz), -1, dtype=torch.long)
            c = (torch.arange(gsz).float() + 0.5) / gsz
            for s, (x0, y0, x1, y1) in enumerate(boxes):
                inside = ((c[:, None] >= y0) & (c[:, None] < y1)) & ((c[None] >= x0) & (c[None] < x1))
                grid[inside] = s
            video_speaker = grid.flatten().repeat(cfg.latent_frames)[None].to(dev)
            Ta = cfg.clip_frames
            audio_speaker = torch.arange(len(tracks)).repeat_interleave(Ta)[None].to(dev)
            audio_pos = torch.cat([self.dit.audio_positions(1, Ta, dev)] * len(tracks), 1)
        for k in range(n_pass):
            a0 = k * step
            text = schedule["shots"][k]["text"] if self.use_planner else (prompt or "")
            ids, mask = (t.to(dev) for t in tokenize([text], cfg))
            mel = torch.cat([torch.as_tensor(m[a0:a0 + cfg.clip_frames]) for m in mels], 0)[None].to(dev)
            noise = torch.randn((1, cfg.latent_channels, cfg.latent_frames, cfg.latent_size,
                                 cfg.latent_size), generator=g).to(dev)
            lat = sample_latents(self.dit, ids, mask, mel, first=first, ref=ref,
                                 ref_mode=self.ref_mode, steps=self.steps, guidance=self.guidance,
                                 noise=noise, audio_speaker=audio_speaker, audio_pos=audio_pos,
                                 video_speaker=video_speaker, **self.extra)
            lat_all.append(lat if k == 0 else lat[:, :, 1:])
            first = lat[:, :, -1:]
            if self.reflect and self.use_planner and k + 1 < n_pass:
                recent = tensor_to_frames(self.vae.decode(lat[:, :, -1:], ref=img_t)[0])
                schedule = planner.replan(schedule, k, recent, img)
        frames = tensor_to_frames(self.vae.decode(torch.cat(lat_all, 2), ref=img_t)[0])[:T]
        return frames, schedule


def resize_video(frames: np.ndarray, width: int | None, height: int | None) -> np.ndarray:
    if not width or not height or frames.shape[1:3] == (height, width):
        return frames
    x = torch.as_tensor(frames).permute(0, 3, 1, 2).float()
    x = F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False)
    return x.round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()
