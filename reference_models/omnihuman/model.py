"""OmniHuman-1.5-style three-stream MMDiT (video latents / text / audio) with joint attention.

Reference: OmniHuman-1.5 §3.3 (../../../shared/papers/omnihuman-1.5.txt). Each of the three
branches has its own input projection, adaLN norms, QKV/output projections and FFN; the
branches are fused by ONE shared multi-head self-attention per layer over the concatenated
sequence [video | text | audio] (no cross-attention for audio, unlike OmniHuman-1).

Positions (3-axis RoPE, per head: time / y / x):
- video token of latent frame ``f`` and patch (i, j): (f, i, j);
- audio token of video frame ``k``: (k / vae_temporal_factor, cy, cx) - aligned in *time* with
  the video latents (time-aligned positions are what make lip sync learnable, see
  shared/design/reference-models.md) and placed at the spatial centre;
- text tokens: (0, 0, 0) on all axes, their order is given by a learned absolute embedding
  (as Flux does for text ids).

Conditioning frames (first frames for autoregressive continuity, last frame / pseudo last
frame for identity) are clean latent frames carried in the video stream with a flag channel
set to 1; see ``build_video_tokens`` in this module and ``flow.py`` for how they are placed.

Shapes: latents ``(B, C, T, h, w)`` float32; text ids ``(B, L)`` int64; audio features
``(B, Ta, n_mels)`` float32 (log-mel, one vector per video frame at 25 Hz).
"""

from __future__ import annotations

import dataclasses
import json
import math
import zlib
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F


# ---------------------------------------------------------------------------------------------
# configuration
# ---------------------------------------------------------------------------------------------
@dataclass
class OmniConfig:
    name: str = "tiny"
    # pixel space / VAE
    image_size: int = 64            # square frames, pixels
    clip_frames: int = 16           # video frames per generation pass (multiple of vae_tf)
    fps: float = 25.0
    vae_tf: int = 4                 # VAE temporal down-sampling factor
    vae_sf: int = 8                 # VAE spatial down-sampling factor
    latent_channels: int = 16
    vae_base: int = 32              # VAE channel width
    vae_stem_sf: int = 0            # VAE space-to-depth stem factor in space (0: vae_sf // 2;
                                    # = vae_sf: the stride-2 conv then halves time only)
    vae_blocks: int = 1             # residual 3D-conv blocks per VAE stage
    vae_ref: bool = False           # the VAE decoder also sees the reference image (vae.py;
                                    # a departure from the paper, issue 22)
    # DiT
    patch: int = 2                  # spatial patch over latents
    d_model: int = 96
    n_layers: int = 4
    n_heads: int = 4
    mlp_ratio: float = 4.0
    text_vocab: int = 1024          # hashed word vocabulary (no pretrained text encoder offline)
    text_len: int = 16
    n_mels: int = 80
    rope_theta: float = 10000.0
    # pseudo last frame / conditioning
    plf_shift: int = 1              # RoPE time distance (latent frames) of the pseudo last frame
                                    # beyond the last generated latent frame at inference
    max_last_gap: int = 2           # training: GT last-frame slot 0..max_last_gap frames beyond
    p_first: float = 0.5            # training: prob. of conditioning on GT first latent frame
    p_last: float = 0.5             # training: prob. of conditioning on a GT last frame slot
    p_drop_text: float = 0.1        # classifier-free-guidance dropout
    p_drop_audio: float = 0.1

    @property
    def latent_size(self) -> int:
        return self.image_size // self.vae_sf

    @property
    def latent_frames(self) -> int:
        return self.clip_frames // self.vae_tf

    @property
    def tokens_per_frame(self) -> int:
        return (self.latent_size // self.patch) ** 2

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        if not d["vae_ref"]:  # off: config.json and recipe states stay those of the plain VAE, byte for byte
            del d["vae_ref"]
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, indent=1)

    @classmethod
    def from_dict(cls, d: dict) -> "OmniConfig":
        """Strict: an unknown key means a checkpoint from another version of this model, whose
        weights would be misread, so it raises rather than being dropped."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown OmniConfig field(s) {unknown}; known: {sorted(known)}")
        return cls(**d)


CONFIGS: dict[str, OmniConfig] = {
    # CPU: 64x64, 16 frames (0.64 s) -> 4x8x8x16 latents -> 64 video tokens, 2.2M params
    # (d 96 keeps the committed fp16 checkpoint under 5 MB)
    "tiny": OmniConfig(),
    # CPU, hx-synth: 64x64 frames, a x4 (not x8) spatial VAE with 8 channels (4x16x16x8
    # latents, 24x compression; the x8 VAE blurred faces past what the face mesh detects) and
    # patch 4 (so still 64 video tokens per pass, 128 values each, d 128); the ground-truth
    # last-frame slot is used in 80 % of training windows (inference always fills it).
    "tiny-f4": OmniConfig(name="tiny-f4", vae_sf=4, vae_stem_sf=4, latent_channels=8, patch=4,
                          d_model=128, p_last=0.8),
    # CPU, hx-synth at the lip_sync task's own size (issue 22: at 64 px the resize alone loses
    # to a still image on LPIPS / FID / FVD): 128x128 frames, the x8-space x4-time VAE with 16
    # channels at width 32 (16 frames -> 4x16x16x16 latents, 48x compression as `tiny`) and
    # patch 2 as the paper's DiT (Seaweed / Wan: 1x2x2 latent patches): 8x8 = 64 tokens per
    # latent frame, 256 per pass, 64 values each. Patch 4 would keep 64 tokens per pass (3x
    # faster on CPU: 7.0 vs 2.3 steps/CPU-s measured) but with 256 values per token, more than
    # the d 128 residual stream carries, so the output projection could not set them freely.
    # d 128 and p_last 0.8 as `tiny-f4`.
    "tiny-128": OmniConfig(name="tiny-128", image_size=128, vae_sf=8, latent_channels=16, vae_base=32,
                           patch=2, d_model=128, p_last=0.8),
    # `tiny-128` whose VAE decoder also sees the reference image (issue 22: the VAE, not the
    # DiT, kept the model below a still image): a reference stem at both decoder resolutions
    # and output = reference + residual, the residual head zero-initialised (vae.py)
    "tiny-128-ref": OmniConfig(name="tiny-128-ref", image_size=128, vae_sf=8, latent_channels=16, vae_base=32,
                               patch=2, d_model=128, p_last=0.8, vae_ref=True),
    # one GPU: 128x128, 32 frames -> 8x16x16 latents -> 512 video tokens
    "small": OmniConfig(name="small", image_size=128, clip_frames=32, vae_base=64, d_model=384,
                        n_layers=12, n_heads=6, text_len=32, text_vocab=4096),
    # shaped like the paper's setting: 480p (here 480x480 square), 120 frames at 24 fps per
    # pass, a 4x8x8 3D VAE with 16 latent channels, a ~7B-class three-branch MMDiT (d 2048,
    # 32 layers, 16 heads of 128; 7.2B parameters with per-branch adaLN).
    # The paper does not publish width/depth; these mirror contemporary MMDiT video models.
    "paper": OmniConfig(name="paper", image_size=480, clip_frames=120, fps=24.0, vae_base=128,
                        d_model=2048, n_layers=32, n_heads=16, text_len=256, text_vocab=32768),
}


def get_config(name: str) -> OmniConfig:
    if name not in CONFIGS:
        raise KeyError(f"unknown omnihuman config {name!r}; known: {sorted(CONFIGS)}")
    return dataclasses.replace(CONFIGS[name])


# ---------------------------------------------------------------------------------------------
# text tokenizer (offline: hashed words, documented as such)
# ---------------------------------------------------------------------------------------------
def tokenize(texts: list[str], cfg: OmniConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Hashed word-level tokens: ``(ids (B, L) int64, mask (B, L) bool)``. id 0 is padding.

    No pretrained text encoder is available offline, so words (lower-cased, split on
    non-alphanumerics) are hashed with crc32 into ``text_vocab - 1`` buckets; the text branch
    learns their embeddings from the schedules it is trained on.
    """
    import re

    ids = torch.zeros(len(texts), cfg.text_len, dtype=torch.long)
    mask = torch.zeros(len(texts), cfg.text_len, dtype=torch.bool)
    for b, text in enumerate(texts):
        words = re.findall(r"[a-z0-9']+", (text or "").lower())[: cfg.text_len]
        for i, w in enumerate(words):
            ids[b, i] = 1 + zlib.crc32(w.encode()) % (cfg.text_vocab - 1)
            mask[b, i] = True
    return ids, mask


# ---------------------------------------------------------------------------------------------
# RoPE over (time, y, x)
# ---------------------------------------------------------------------------------------------
def rope_axis_dims(head_dim: int) -> tuple[int, int, int]:
    """Split of the head dimension among (t, y, x); every part is even."""
    s = 2 * (head_dim // 6)
    return head_dim - 2 * s, s, s


def rope_cos_sin(pos: torch.Tensor, head_dim: int, theta: float = 10000.0):
    """pos (B, N, 3) float (t, y, x) -> cos, sin each (B, 1, N, head_dim/2)."""
    angles = []
    for axis, d in enumerate(rope_axis_dims(head_dim)):
        if d == 0:
            continue
        freqs = theta ** (-torch.arange(0, d, 2, dtype=torch.float64, device=pos.device) / d)
        angles.append(pos[..., axis : axis + 1].double() * freqs)  # (B, N, d/2)
    ang = torch.cat(angles, dim=-1).float()
    return ang.cos()[:, None], ang.sin()[:, None]


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x (B, H, N, D): rotate consecutive pairs (x0, x1) by the position angles."""
    x1, x2 = x[..., 0::2], x[..., 1::2]
    out = torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)
    return out.flatten(-2).to(x.dtype)


# ---------------------------------------------------------------------------------------------
# building blocks
# ---------------------------------------------------------------------------------------------
def timestep_embedding(t: torch.Tensor, dim: int, scale: float = 1000.0) -> torch.Tensor:
    """Sinusoidal embedding of flow time t in [0, 1] -> (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device) / half)
    args = (t.float() * scale)[:, None] * freqs[None]
    return torch.cat([args.cos(), args.sin()], dim=-1)


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale[:, None]) + shift[:, None]


class StreamParams(nn.Module):
    """One branch's private weights inside an MMDiT block (SD3-style stream)."""

    def __init__(self, d: int, n_heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.mod = nn.Linear(d, 6 * d)
        nn.init.zeros_(self.mod.weight)
        nn.init.zeros_(self.mod.bias)
        self.norm1 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.qkv = nn.Linear(d, 3 * d)
        self.q_norm = nn.RMSNorm(d // n_heads, eps=1e-6)
        self.k_norm = nn.RMSNorm(d // n_heads, eps=1e-6)
        self.proj = nn.Linear(d, d)
        self.norm2 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        hidden = int(d * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(d, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, d))


def joint_attention(qs, ks, vs, attn_mask: torch.Tensor | None = None):
    """Shared multi-head self-attention over the concatenation of several streams.

    qs/ks/vs: lists of (B, H, N_i, D) tensors, one per stream. Returns a list of (B, H, N_i, D)
    outputs split back per stream. ``attn_mask`` (B, 1|H, N, N) bool, True = may attend.
    Mathematically identical to one attention over the concatenated sequence.
    """
    sizes = [q.shape[2] for q in qs]
    q, k, v = torch.cat(qs, 2), torch.cat(ks, 2), torch.cat(vs, 2)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
    return list(out.split(sizes, dim=2))


class MMDiTBlock(nn.Module):
    """Per-stream norms/projections/FFNs + one shared joint attention over all streams."""

    def __init__(self, d: int, n_heads: int, mlp_ratio: float, n_streams: int = 3) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.streams = nn.ModuleList([StreamParams(d, n_heads, mlp_ratio) for _ in range(n_streams)])

    def forward(self, xs: list[torch.Tensor], c: torch.Tensor, cos, sin, attn_mask=None):
        """xs: per-stream (B, N_i, d); c: (B, d) conditioning (timestep); cos/sin (B,1,N,D/2)."""
        B = c.shape[0]
        qs, ks, vs, mods = [], [], [], []
        for x, p in zip(xs, self.streams):
            mod = p.mod(F.silu(c)).chunk(6, dim=-1)
            mods.append(mod)
            h = modulate(p.norm1(x), mod[0], mod[1])
            q, k, v = p.qkv(h).view(B, x.shape[1], 3, self.n_heads, -1).permute(2, 0, 3, 1, 4)
            qs.append(p.q_norm(q))
            ks.append(p.k_norm(k))
            vs.append(v)
        q = apply_rope(torch.cat(qs, 2), cos, sin)
        k = apply_rope(torch.cat(ks, 2), cos, sin)
        sizes = [x.shape[1] for x in xs]
        outs = joint_attention(list(q.split(sizes, 2)), list(k.split(sizes, 2)), vs, attn_mask)
        new = []
        for x, o, p, mod in zip(xs, outs, self.streams, mods):
            o = o.transpose(1, 2).reshape(B, x.shape[1], -1)
            x = x + mod[2][:, None] * p.proj(o)
            x = x + mod[5][:, None] * p.mlp(modulate(p.norm2(x), mod[3], mod[4]))
            new.append(x)
        return new


# ---------------------------------------------------------------------------------------------
# the network
# ---------------------------------------------------------------------------------------------
VIDEO, TEXT, AUDIO = 0, 1, 2


@dataclass
class VideoTokens:
    """Video stream inputs: latent tokens + flags + RoPE positions."""

    tokens: torch.Tensor      # (B, Nv, C*p*p) latent patches (noisy or clean)
    cond: torch.Tensor        # (B, Nv) float: 1 = clean conditioning frame, 0 = to denoise
    pos: torch.Tensor         # (B, Nv, 3) float (t, y, x)
    n_frames: int             # latent frames in the stream (generated + slots)
    extra: dict = field(default_factory=dict)


def patchify(lat: torch.Tensor, p: int) -> torch.Tensor:
    """(B, C, T, h, w) -> (B, T*(h/p)*(w/p), C*p*p), frame-major."""
    B, C, T, h, w = lat.shape
    x = lat.view(B, C, T, h // p, p, w // p, p).permute(0, 2, 3, 5, 1, 4, 6)
    return x.reshape(B, T * (h // p) * (w // p), C * p * p)


def unpatchify(tok: torch.Tensor, C: int, T: int, h: int, w: int, p: int) -> torch.Tensor:
    B = tok.shape[0]
    x = tok.view(B, T, h // p, w // p, C, p, p).permute(0, 4, 1, 2, 5, 3, 6)
    return x.reshape(B, C, T, h, w)


def frame_positions(times: torch.Tensor, grid: int) -> torch.Tensor:
    """times (B, T) float latent-frame positions -> (B, T*grid*grid, 3) positions (t, y, x)."""
    B, T = times.shape
    yy, xx = torch.meshgrid(torch.arange(grid), torch.arange(grid), indexing="ij")
    sp = torch.stack([yy.flatten(), xx.flatten()], -1).float().to(times.device)  # (g*g, 2)
    t = times[:, :, None, None].expand(B, T, grid * grid, 1)
    s = sp[None, None].expand(B, T, grid * grid, 2)
    return torch.cat([t, s], -1).reshape(B, T * grid * grid, 3)


class OmniMMDiT(nn.Module):
    """Three-branch MMDiT predicting the rectified-flow velocity of the video latents."""

    def __init__(self, cfg: OmniConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        in_v = cfg.latent_channels * cfg.patch ** 2
        # video branch input: latent patch + conditioning flag
        self.video_in = nn.Linear(in_v + 1, d)
        # text branch input: hashed word embeddings + learned order embedding
        self.text_emb = nn.Embedding(cfg.text_vocab, d)
        self.text_pos = nn.Parameter(torch.zeros(1, cfg.text_len, d))
        self.text_null = nn.Parameter(torch.zeros(1, 1, d))
        # audio branch input: log-mel frame + local temporal context (conv k=3)
        self.audio_in = nn.Linear(cfg.n_mels, d)
        self.audio_conv = nn.Conv1d(d, d, 3, padding=1)
        self.audio_null = nn.Parameter(torch.zeros(1, 1, d))
        self.speaker_emb = nn.Embedding(4, d)  # multi-person: speaker index of audio tokens
        nn.init.zeros_(self.speaker_emb.weight)
        # timestep conditioning
        self.t_mlp = nn.Sequential(nn.Linear(256, d), nn.SiLU(), nn.Linear(d, d))
        self.blocks = nn.ModuleList(MMDiTBlock(d, cfg.n_heads, cfg.mlp_ratio) for _ in range(cfg.n_layers))
        self.final_mod = nn.Linear(d, 2 * d)
        self.final_norm = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.final = nn.Linear(d, in_v)
        for m in (self.final_mod, self.final):
            nn.init.zeros_(m.weight)
            nn.init.zeros_(m.bias)
        nn.init.normal_(self.text_pos, std=0.02)

    # --- branch parameter groups (for the two-stage MM-branch warm-up) ---
    def branch_state(self, branch: int) -> dict[str, torch.Tensor]:
        """State-dict entries that belong to one branch (VIDEO, TEXT or AUDIO)."""
        own = {VIDEO: ("video_in", "final", "final_mod", "t_mlp"),
               TEXT: ("text_emb", "text_pos", "text_null"),
               AUDIO: ("audio_in", "audio_conv", "audio_null", "speaker_emb")}[branch]
        out = {}
        for k, v in self.state_dict().items():
            if k.startswith("blocks."):
                if f".streams.{branch}." in k:
                    out[k] = v
            elif k.split(".")[0] in own:
                out[k] = v
        return out

    # --- token builders ---
    def audio_positions(self, B: int, Ta: int, device) -> torch.Tensor:
        c = (self.cfg.latent_size // self.cfg.patch - 1) / 2.0
        t = torch.arange(Ta, device=device, dtype=torch.float32) / self.cfg.vae_tf
        pos = torch.stack([t, torch.full_like(t, c), torch.full_like(t, c)], -1)
        return pos[None].expand(B, Ta, 3)

    def forward(self, video: VideoTokens, t: torch.Tensor, text_ids: torch.Tensor,
                text_mask: torch.Tensor, audio: torch.Tensor | None,
                text_keep: torch.Tensor | None = None, audio_keep: torch.Tensor | None = None,
                audio_speaker: torch.Tensor | None = None, audio_pos: torch.Tensor | None = None,
                attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Velocity for the video tokens, (B, Nv, C*p*p).

        t (B,) flow time in [0, 1] (1 = pure noise). text_keep / audio_keep (B,) bool: False
        replaces that branch's tokens by its learned null token (CFG / condition dropout).
        audio (B, Ta, n_mels) or None (no audio: a single null audio token is used).
        audio_speaker (B, Ta) long speaker index (multi-person), attn_mask (B, 1, N, N) bool.
        """
        cfg = self.cfg
        B = video.tokens.shape[0]
        dev = video.tokens.device
        xv = self.video_in(torch.cat([video.tokens, video.cond[..., None].to(video.tokens.dtype)], -1))
        L = text_ids.shape[1]
        xt = self.text_emb(text_ids) + self.text_pos[:, :L]
        xt = torch.where(text_mask[..., None], xt, self.text_null.expand_as(xt))
        if text_keep is not None:
            xt = torch.where(text_keep[:, None, None], xt, self.text_null.expand_as(xt))
        if audio is None:
            xa = self.audio_null.expand(B, 1, -1)
            pos_a = self.audio_positions(B, 1, dev)
        else:
            Ta = audio.shape[1]
            xa = self.audio_in(audio)
            xa = xa + self.audio_conv(xa.transpose(1, 2)).transpose(1, 2)
            if audio_speaker is not None:
                xa = xa + self.speaker_emb(audio_speaker)
            if audio_keep is not None:
                xa = torch.where(audio_keep[:, None, None], xa, self.audio_null.expand_as(xa))
            # multi-person: tracks are concatenated; positions come from ``audio_pos`` if the
            # caller gives them (each speaker's track then restarts at time 0)
            pos_a = audio_pos if audio_pos is not None else self.audio_positions(B, Ta, dev)
        pos_t = torch.zeros(B, L, 3, device=dev)
        pos = torch.cat([video.pos, pos_t, pos_a], 1)
        cos, sin = rope_cos_sin(pos, cfg.head_dim, cfg.rope_theta)
        c = self.t_mlp(timestep_embedding(t, 256))
        xs = [xv, xt, xa]
        for blk in self.blocks:
            xs = blk(xs, c, cos, sin, attn_mask)
        shift, scale = self.final_mod(F.silu(c)).chunk(2, -1)
        return self.final(modulate(self.final_norm(xs[VIDEO]), shift, scale))


def speaker_attention_mask(video_speaker: torch.Tensor, n_text: int,
                           audio_speaker: torch.Tensor) -> torch.Tensor:
    """Multi-person mask (OmniHuman-1.5 §4.3 / InterActHuman): audio of speaker s is injected
    only into the video tokens of speaker s's region, in both attention directions.

    video_speaker (B, Nv) long: speaker index whose region holds the token, -1 = background
    (background tokens exchange attention with no audio token). Text is unrestricted.
    audio_speaker (B, Na) long. Returns (B, 1, N, N)
    bool, True = may attend, N = Nv + n_text + Na.
    """
    B, Nv = video_speaker.shape
    Na = audio_speaker.shape[1]
    N = Nv + n_text + Na
    m = torch.ones(B, N, N, dtype=torch.bool, device=video_speaker.device)
    va = video_speaker[:, :, None] == audio_speaker[:, None, :]  # (B, Nv, Na)
    a0 = Nv + n_text
    m[:, :Nv, a0:] = va
    m[:, a0:, :Nv] = va.transpose(1, 2)
    return m[:, None]


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
