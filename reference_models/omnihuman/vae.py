"""A small 3D (spatio-temporal) VAE: frames (B, 3, T, H, W) in [-1, 1] <-> latents.

Down-sampling: x``sf`` in space and x``tf`` in time (a space-to-depth stem by tf/2 in time and
sf/2 in space, or ``vae_stem_sf`` in space, then one stride-2 3D conv), so 16x64x64 RGB ->
16x4x8x8 latents for ``tiny`` (48x compression, as SD / Wan-style video VAEs) and 8x4x16x16
for ``tiny-f4`` (x4 in space, 24x compression). A single image is encoded as a
static clip of ``tf`` copies (one latent frame), which is how the reference image becomes a
pseudo last frame. Latents are returned as ``(mean - shift) * scale`` so they are roughly
zero-mean, unit-variance for the flow model (shift/scale are measured on training data and
stored in the checkpoint).

With ``cfg.vae_ref`` the decoder also sees the reference image (B, 3, H, W), a departure from the
paper (whose pre-trained 3D VAE decodes latents alone) measured against the VAE ceiling of issue
22: a 2D conv stem turns the reference into features at both decoder resolutions (added,
broadcast over time) and the output is ``reference + residual`` with the residual head
zero-initialised, so an untrained decoder already outputs the reference (the still image's
score is the floor). The encoder does not see it; see ``VideoVAE.__init__``.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .model import OmniConfig


def _gn(c: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(8, c), c, eps=1e-6)


class ResBlock3d(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.n1, self.c1 = _gn(cin), nn.Conv3d(cin, cout, 3, padding=1)
        self.n2, self.c2 = _gn(cout), nn.Conv3d(cout, cout, 3, padding=1)
        self.skip = nn.Conv3d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x):
        h = self.c1(F.silu(self.n1(x)))
        h = self.c2(F.silu(self.n2(h)))
        return self.skip(x) + h


def space_to_depth(x: torch.Tensor, ft: int, fs: int) -> torch.Tensor:
    """(B, C, T, H, W) -> (B, C*ft*fs*fs, T/ft, H/fs, W/fs)."""
    B, C, T, H, W = x.shape
    x = x.view(B, C, T // ft, ft, H // fs, fs, W // fs, fs).permute(0, 1, 3, 5, 7, 2, 4, 6)
    return x.reshape(B, C * ft * fs * fs, T // ft, H // fs, W // fs)


def depth_to_space(x: torch.Tensor, ft: int, fs: int) -> torch.Tensor:
    B, C, T, H, W = x.shape
    c = C // (ft * fs * fs)
    x = x.view(B, c, ft, fs, fs, T, H, W).permute(0, 1, 5, 2, 6, 3, 7, 4)
    return x.reshape(B, c, T * ft, H * fs, W * fs)


class VideoVAE(nn.Module):
    """Encoder: space-to-depth stem (tf/2 in time, ``stem`` in space), ``vae_blocks`` residual
    3D convs, one stride-2 3D conv (time x2; space x sf/stem), ``vae_blocks`` residual convs,
    a conv to 2*C (mean, logvar). The decoder mirrors it (nearest up-sampling + conv,
    depth-to-space head). The stem keeps 3D convolutions off the full-resolution grid, which
    is what makes CPU training possible. ``stem`` is ``cfg.vae_stem_sf`` or sf/2 when 0.
    """

    def __init__(self, cfg: OmniConfig) -> None:
        super().__init__()
        self.cfg = cfg
        stem = cfg.vae_stem_sf or cfg.vae_sf // 2
        assert cfg.vae_tf % 2 == 0 and cfg.vae_sf % stem == 0 and cfg.vae_sf // stem in (1, 2)
        self.st, self.ss = cfg.vae_tf // 2, stem
        down = cfg.vae_sf // stem  # spatial stride of the down-sampling conv
        b, nb = cfg.vae_base, cfg.vae_blocks
        c_in = 3 * self.st * self.ss * self.ss
        self.encoder = nn.Sequential(
            nn.Conv3d(c_in, b, 3, padding=1), *[ResBlock3d(b, b) for _ in range(nb)],
            nn.Conv3d(b, 2 * b, 3, stride=(2, down, down), padding=1),
            *[ResBlock3d(2 * b, 2 * b) for _ in range(nb)],
            _gn(2 * b), nn.SiLU(), nn.Conv3d(2 * b, 2 * cfg.latent_channels, 3, padding=1))
        self.decoder = nn.Sequential(
            nn.Conv3d(cfg.latent_channels, 2 * b, 3, padding=1),
            *[ResBlock3d(2 * b, 2 * b) for _ in range(nb)],
            nn.Upsample(scale_factor=(2, down, down), mode="nearest"),
            nn.Conv3d(2 * b, b, 3, padding=1),
            *[ResBlock3d(b, b) for _ in range(nb)], _gn(b), nn.SiLU(), nn.Conv3d(b, c_in, 3, padding=1))
        if cfg.vae_ref:
            # Decoder only: the latents stay a function of the video alone, so the DiT's targets,
            # the reference's latent in the pseudo-last-frame slot (a reference-aware encoder
            # would code the reference itself as "no change", emptying the paper's identity
            # carrier) and a frozen encoder's latents keep their meaning; the skip path gives
            # the decoder the texture the 48x bottleneck loses.
            # reference stem, on the space-to-depth grid the decoder ends on:
            # (B, 3*ss*ss, H/ss, W/ss) -> (B, b, H/ss, W/ss) -> (B, 2b, H/sf, W/sf)
            c_ref = 3 * self.ss * self.ss
            self.ref_hi = nn.Sequential(nn.Conv2d(c_ref, b, 3, padding=1), nn.SiLU(), nn.Conv2d(b, b, 3, padding=1))
            self.ref_lo = nn.Sequential(nn.SiLU(), nn.Conv2d(b, 2 * b, 3, stride=down, padding=1))
            # residual head at zero: output = reference until training moves it
            nn.init.zeros_(self.decoder[-1].weight)
            nn.init.zeros_(self.decoder[-1].bias)
        self.register_buffer("lat_shift", torch.zeros(()))
        self.register_buffer("lat_scale", torch.ones(()))

    def decoder_parameters(self) -> list[nn.Parameter]:
        """What decoder-only fine-tuning trains: the decoder and, with vae_ref, the reference stem."""
        ref = [*self.ref_hi.parameters(), *self.ref_lo.parameters()] if self.cfg.vae_ref else []
        return [*self.decoder.parameters(), *ref]

    def _enc(self, x):
        return self.encoder(space_to_depth(x, self.st, self.ss))

    def _dec(self, z: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
        """Raw latents (B, C, t, h, w) -> frames (B, 3, T, H, W), unclamped. ``ref`` (B or 1, 3,
        H, W) in [-1, 1] is required when cfg.vae_ref and ignored otherwise."""
        if not self.cfg.vae_ref:
            return depth_to_space(self.decoder(z), self.st, self.ss)
        if ref is None:
            raise ValueError(f"config {self.cfg.name!r} has vae_ref: decoding needs the reference image")
        if ref.shape[0] not in (1, z.shape[0]):
            raise ValueError(f"ref batch {ref.shape[0]} vs latents batch {z.shape[0]}")
        ref = ref.to(z.dtype).contiguous()  # Bref = 1 (broadcast over the batch) or B
        nb, d = self.cfg.vae_blocks, self.decoder
        hi = self.ref_hi(space_to_depth(ref[:, :, None], 1, self.ss)[:, :, 0])  # (Bref, b, H/ss, W/ss)
        lo = self.ref_lo(hi)                                                   # (Bref, 2b, H/sf, W/sf)
        # the decoder's Sequential, run stage by stage (its state-dict keys stay those of the
        # plain VAE): conv in | res blocks, up-sample, conv | res blocks, norm, conv out
        h = d[0](z) + lo[:, :, None]                     # (B, 2b, t, h, w)
        h = d[1:nb + 3](h) + hi[:, :, None]              # (B, b, T/st, H/ss, W/ss)
        res = depth_to_space(d[nb + 3:](h), self.st, self.ss)  # (B, 3, T, H, W)
        return ref[:, :, None] + res

    def encode_dist(self, x: torch.Tensor):
        """x (B, 3, T, H, W) in [-1, 1], T a multiple of tf -> (mean, logvar) raw latents."""
        mean, logvar = self._enc(x).chunk(2, dim=1)
        return mean, logvar.clamp(-20, 10)

    def encode(self, x: torch.Tensor, sample: bool = False) -> torch.Tensor:
        """Normalised latents (B, C, T/tf, H/sf, W/sf)."""
        mean, logvar = self.encode_dist(x)
        z = mean + torch.randn_like(mean) * (0.5 * logvar).exp() if sample else mean
        return (z - self.lat_shift) * self.lat_scale

    def decode(self, z: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
        """Normalised latents -> frames (B, 3, T, H, W), clamped to [-1, 1]; ``ref``: the
        reference image (B or 1, 3, H, W) in [-1, 1], required when cfg.vae_ref."""
        return self._dec(z / self.lat_scale + self.lat_shift, ref).clamp(-1, 1)

    def encode_image(self, img: torch.Tensor) -> torch.Tensor:
        """img (B, 3, H, W) in [-1, 1] -> one latent frame (B, C, 1, h, w) (static clip)."""
        return self.encode(img[:, :, None].expand(-1, -1, self.cfg.vae_tf, -1, -1).contiguous())

    def loss(self, x: torch.Tensor, kl_weight: float = 1e-6, ref: torch.Tensor | None = None):
        """Reconstruction (L1 + MSE) + small KL; returns (loss, recon (B,3,T,H,W)). ``ref`` as
        in ``decode``."""
        mean, logvar = self.encode_dist(x)
        z = mean + torch.randn_like(mean) * (0.5 * logvar).exp()
        rec = self._dec(z, ref)
        kl = 0.5 * (mean ** 2 + logvar.exp() - 1 - logvar).mean()
        loss = (rec - x).abs().mean() + F.mse_loss(rec, x) + kl_weight * kl
        return loss, rec

    def decoder_loss(self, x: torch.Tensor, ref: torch.Tensor | None = None):
        """Decoder-only fine-tuning: the encoder's mean latents, computed without gradient (so
        the latents a DiT was trained on stay valid), decoded; L1 + MSE. Returns (loss, recon).
        ``ref`` as in ``decode``."""
        with torch.no_grad():
            z = self.encode_dist(x)[0]
        rec = self._dec(z, ref)
        return (rec - x).abs().mean() + F.mse_loss(rec, x), rec


def frames_to_tensor(frames) -> torch.Tensor:
    """uint8 (T, H, W, 3) numpy -> (1, 3, T, H, W) float in [-1, 1]."""
    x = torch.as_tensor(frames).float().div(127.5).sub(1.0)
    return x.permute(3, 0, 1, 2)[None].contiguous()


def image_to_tensor(img) -> torch.Tensor:
    """uint8 (H, W, 3) numpy -> (1, 3, H, W) float in [-1, 1] (a reference image)."""
    return torch.as_tensor(img).float().div(127.5).sub(1.0).permute(2, 0, 1)[None].contiguous()


def tensor_to_frames(x: torch.Tensor):
    """(3, T, H, W) float in [-1, 1] -> uint8 (T, H, W, 3) numpy."""
    return ((x.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 3, 0).cpu().numpy()


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB of two tensors in [-1, 1] (peak-to-peak 2)."""
    mse = F.mse_loss(a.float(), b.float()).item()
    return float("inf") if mse == 0 else 10 * math.log10(4.0 / mse)
