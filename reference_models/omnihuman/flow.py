"""Rectified flow (flow matching) objective and an Euler ODE sampler, kept apart from the net.

Convention (SD3 / rectified flow): x_t = (1 - t) x0 + t eps, t in [0, 1], t = 1 is pure noise;
the network predicts the velocity v = dx_t/dt = eps - x0; sampling integrates dx/dt = v from
t = 1 down to t = 0 with Euler steps x_{t'} = x_t + (t' - t) v(x_t, t).

Conditioning frames in the video stream (see model.py):
- first frames (autoregressive continuity, training prob. p_first): the first k latent frames
  are replaced by clean ground-truth latents, flag 1, excluded from the loss;
- last frame (training prob. p_last): one clean ground-truth latent frame appended as an extra
  *slot* whose RoPE time is (N - 1) + g, g in 0..max_last_gap (the GT frame that lies g latent
  frames beyond the clip's last one; g = 0 is the clip's own last frame);
- pseudo last frame (inference): the reference image's latent goes in that slot with RoPE time
  (N - 1) + plf_shift, a fixed distance beyond the generated content, and the slot is dropped
  after sampling. There is no reference-image branch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from .model import OmniMMDiT, VideoTokens, frame_positions, patchify, unpatchify


# ---------------------------------------------------------------------------------------------
# generic ODE integration
# ---------------------------------------------------------------------------------------------
def flow_timesteps(steps: int, shift: float = 1.0) -> torch.Tensor:
    """steps+1 times from 1 to 0; ``shift`` > 1 spends more steps at high noise (SD3 shift)."""
    t = torch.linspace(1.0, 0.0, steps + 1, dtype=torch.float64)
    t = shift * t / (1 + (shift - 1) * t)
    return t


def euler_sample(velocity: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                 x1: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
    """Integrate dx/dt = velocity(x, t) from timesteps[0] to timesteps[-1] with Euler steps.

    velocity(x, t) takes t as a (B,) float tensor. Exact when the velocity is constant along
    each trajectory (straight rectified-flow paths).
    """
    x = x1
    B = x.shape[0]
    for i in range(len(timesteps) - 1):
        t, t_next = float(timesteps[i]), float(timesteps[i + 1])
        v = velocity(x, torch.full((B,), t, dtype=torch.float32, device=x.device))
        x = x + (t_next - t) * v
    return x


def interpolate(x0: torch.Tensor, eps: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """x_t = (1 - t) x0 + t eps, t (B,) broadcast over the other dims."""
    tt = t.view(-1, *([1] * (x0.dim() - 1)))
    return (1 - tt) * x0 + tt * eps


# ---------------------------------------------------------------------------------------------
# video-stream layout
# ---------------------------------------------------------------------------------------------
def layout_video(x: torch.Tensor, patch: int, first: torch.Tensor | None = None,
                 first_keep: torch.Tensor | None = None, slot: torch.Tensor | None = None,
                 slot_time: torch.Tensor | float | None = None) -> tuple[VideoTokens, torch.Tensor]:
    """Assemble the video stream.

    x (B, C, N, h, w): the latents being denoised at positions 0..N-1.
    first (B, C, k, h, w): clean latents replacing frames 0..k-1 where ``first_keep`` (B,) bool
    (default all True). slot (B, C, 1, h, w): a clean frame appended at RoPE time ``slot_time``
    (float or (B,) tensor). Returns (VideoTokens, key_valid (B, Nv) bool).
    """
    B, C, N, h, w = x.shape
    dev = x.device
    g = h // patch
    tpf = g * g
    cond = torch.zeros(B, N, device=dev)
    if first is not None:
        k = first.shape[2]
        keep = torch.ones(B, dtype=torch.bool, device=dev) if first_keep is None else first_keep
        x = x.clone()
        x[:, :, :k] = torch.where(keep.view(B, 1, 1, 1, 1), first, x[:, :, :k])
        cond[:, :k] = keep[:, None].float()
    times = torch.arange(N, device=dev, dtype=torch.float32)[None].expand(B, N)
    frames = x
    if slot is not None:
        st = torch.as_tensor(slot_time, dtype=torch.float32, device=dev).reshape(-1).expand(B)
        frames = torch.cat([x, slot], 2)
        times = torch.cat([times, st[:, None]], 1)
        cond = torch.cat([cond, torch.ones(B, 1, device=dev)], 1)
    tokens = patchify(frames, patch)
    vt = VideoTokens(tokens=tokens, cond=cond.repeat_interleave(tpf, 1),
                     pos=frame_positions(times, g), n_frames=frames.shape[2])
    return vt, torch.ones(B, tokens.shape[1], dtype=torch.bool, device=dev)


def key_mask(video_valid: torch.Tensor, n_text: int, n_audio: int) -> torch.Tensor:
    """(B, Nv) bool valid video tokens -> (B, 1, 1, N) key mask over [video | text | audio]."""
    B = video_valid.shape[0]
    rest = torch.ones(B, n_text + n_audio, dtype=torch.bool, device=video_valid.device)
    return torch.cat([video_valid, rest], 1)[:, None, None]


# ---------------------------------------------------------------------------------------------
# training objective
# ---------------------------------------------------------------------------------------------
@dataclass
class FlowBatch:
    latents: torch.Tensor          # (B, C, N + max_last_gap, h, w) clean latents of a window
    text_ids: torch.Tensor         # (B, L)
    text_mask: torch.Tensor        # (B, L)
    audio: torch.Tensor            # (B, 4N, n_mels) log-mel per video frame of the N frames


def flow_loss(model: OmniMMDiT, batch: FlowBatch, generator: torch.Generator | None = None,
              t_sampling: str = "logit_normal") -> torch.Tensor:
    """Rectified-flow MSE on the generated (non-conditioning) tokens of the video stream.

    Per sample: with p_first the GT first latent frame is given clean; with p_last a GT frame
    g in 0..max_last_gap frames beyond the clip end is given as the last-frame slot (otherwise
    the slot is masked out of attention); text / audio are dropped with p_drop_text/audio.
    """
    cfg = model.cfg
    N = cfg.latent_frames
    lat = batch.latents
    B = lat.shape[0]
    dev = lat.device

    def rand(*shape):
        return torch.rand(*shape, generator=generator, device="cpu").to(dev)

    x0 = lat[:, :, :N]
    eps = torch.randn(x0.shape, generator=generator, device="cpu").to(dev)
    if t_sampling == "logit_normal":  # SD3's default: more weight on the middle times
        t = torch.sigmoid(torch.randn(B, generator=generator, device="cpu")).to(dev)
    else:
        t = rand(B)
    xt = interpolate(x0, eps, t)
    first_keep = rand(B) < cfg.p_first
    last_keep = rand(B) < cfg.p_last
    gap = torch.randint(0, cfg.max_last_gap + 1, (B,), generator=generator).to(dev)
    slot = lat[torch.arange(B, device=dev), :, N - 1 + gap][:, :, None]
    vt, valid = layout_video(xt, cfg.patch, first=x0[:, :, :1], first_keep=first_keep,
                             slot=slot, slot_time=(N - 1 + gap).float())
    tpf = cfg.tokens_per_frame
    valid[:, -tpf:] = last_keep[:, None]
    mask = key_mask(valid, batch.text_ids.shape[1], batch.audio.shape[1])
    text_keep = rand(B) >= cfg.p_drop_text
    audio_keep = rand(B) >= cfg.p_drop_audio
    v = model(vt, t, batch.text_ids, batch.text_mask, batch.audio, text_keep=text_keep,
              audio_keep=audio_keep, attn_mask=mask)
    target = patchify(eps - x0, cfg.patch)
    v = v[:, : N * tpf]
    w = (1 - vt.cond[:, : N * tpf])[..., None]
    return ((v - target) ** 2 * w).sum() / (w.sum() * target.shape[-1]).clamp_min(1)


# ---------------------------------------------------------------------------------------------
# sampling
# ---------------------------------------------------------------------------------------------
@torch.no_grad()
def sample_latents(model: OmniMMDiT, text_ids: torch.Tensor, text_mask: torch.Tensor,
                   audio: torch.Tensor | None, n_frames: int | None = None,
                   first: torch.Tensor | None = None, ref: torch.Tensor | None = None,
                   ref_mode: str = "pseudo_last", plf_shift: int | None = None,
                   steps: int = 20, guidance: float = 1.0, time_shift: float = 1.0,
                   guidance_text: float | None = None, guidance_audio: float | None = None,
                   generator: torch.Generator | None = None, noise: torch.Tensor | None = None,
                   audio_speaker=None, audio_pos=None, video_speaker=None,
                   return_layout: bool = False):
    """Sample video latents (B, C, N, h, w) with the Euler ODE sampler.

    first (B, C, k, h, w): clean first latent frames (previous clip's last frames).
    ref (B, C, 1, h, w): the reference image's latent. ref_mode "pseudo_last" puts it in the
    last-frame slot at RoPE time (N - 1) + plf_shift and drops it from the output;
    "first_frame" uses it as a first frame instead (the conventional reference-in-sequence
    conditioning, for the ablation); "both" does both (pseudo last frame, and the first frame
    when no ``first`` is given); "none" ignores it.
    guidance: classifier-free guidance scale over (text, audio) jointly (1 = off).
    guidance_text / guidance_audio: separate scales (default: ``guidance``); when they differ,
    three passes per step: v = v_0 + s_text (v_text - v_0) + s_audio (v_text,audio - v_text)
    (v_0: both dropped; v_text: audio dropped), the joint formula when the two are equal.
    video_speaker (B, Nv_gen) long: multi-person regions (see model.speaker_attention_mask).
    """
    from .model import speaker_attention_mask

    cfg = model.cfg
    N = n_frames or cfg.latent_frames
    shift = cfg.plf_shift if plf_shift is None else plf_shift
    dev = text_ids.device
    h = cfg.latent_size
    B = text_ids.shape[0]
    if noise is None:
        noise = torch.randn((B, cfg.latent_channels, N, h, h), generator=generator).to(dev)
    slot = slot_time = None
    if ref is not None and ref_mode == "pseudo_last":
        slot, slot_time = ref, float(N - 1 + shift)
    elif ref is not None and ref_mode == "first_frame" and first is None:
        first = ref
    elif ref is not None and ref_mode == "both":
        slot, slot_time = ref, float(N - 1 + shift)
        first = ref if first is None else first
    if ref_mode not in ("pseudo_last", "first_frame", "both", "none"):
        raise ValueError(f"unknown ref_mode {ref_mode!r}")
    g_text = guidance if guidance_text is None else guidance_text
    g_audio = guidance if guidance_audio is None else guidance_audio
    layout_info = {}

    def velocity(x, t):
        vt, valid = layout_video(x, cfg.patch, first=first, slot=slot, slot_time=slot_time)
        layout_info["video"] = vt
        if video_speaker is not None:
            vs = video_speaker
            if slot is not None:  # the identity slot belongs to no speaker
                vs = torch.cat([vs, torch.full((B, cfg.tokens_per_frame), -2, device=dev,
                                               dtype=vs.dtype)], 1)
            mask = speaker_attention_mask(vs, text_ids.shape[1], audio_speaker)
        else:
            mask = None
        v = model(vt, t, text_ids, text_mask, audio, audio_speaker=audio_speaker,
                  audio_pos=audio_pos, attn_mask=mask)
        off = torch.zeros(B, dtype=torch.bool, device=dev)
        if g_text != g_audio:
            vu = model(vt, t, text_ids, text_mask, audio, text_keep=off, audio_keep=off,
                       audio_speaker=audio_speaker, audio_pos=audio_pos, attn_mask=mask)
            vtx = model(vt, t, text_ids, text_mask, audio, audio_keep=off,
                        audio_speaker=audio_speaker, audio_pos=audio_pos, attn_mask=mask)
            v = vu + g_text * (vtx - vu) + g_audio * (v - vtx)
        elif g_text != 1.0:
            vu = model(vt, t, text_ids, text_mask, audio, text_keep=off, audio_keep=off,
                       audio_speaker=audio_speaker, audio_pos=audio_pos, attn_mask=mask)
            v = vu + g_text * (v - vu)
        v = v[:, : N * cfg.tokens_per_frame]
        v = unpatchify(v, cfg.latent_channels, N, h, h, cfg.patch)
        if first is not None:  # conditioning frames stay fixed
            v[:, :, : first.shape[2]] = 0
        return v

    x = noise
    if first is not None:
        x = x.clone()
        x[:, :, : first.shape[2]] = first
    out = euler_sample(velocity, x, flow_timesteps(steps, time_shift))
    return (out, layout_info["video"]) if return_layout else out
