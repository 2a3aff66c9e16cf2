"""Tokenizers of the text-speech expert.

Text: tiktoken needs its encoding files from the network (openaipublic blob storage), which
this project cannot reach, so the project trains its own byte-level BPE (``ByteBPE``: GPT-2 /
tiktoken-style regex pre-split, 256 byte tokens + learned merges) on its own corpus.

Speech (paper §3.1, after GLM-4-Voice's tokenizer): log-mel spectrogram (16 kHz, 25 ms window,
10 ms hop, 80 bins) -> 1-D average pooling by k = 4 (25 tokens/s: one per video frame at 25 fps)
-> per-bin standardisation -> vector quantiser with EMA codebook updates and random restart of
dead codes (Dhariwal et al. 2020, Jukebox). No Whisper encoder: the pooled log-mel is the
feature (see README for this deviation).
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from pathlib import Path

import numpy as np
import torch

PRETOKENIZE = r"""'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]{1,3}| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+"""


class ByteBPE:
    """Byte-level BPE. ids 0..255 are bytes; id 256 + i is merge i. ``vocab_size`` = 256 + merges."""

    def __init__(self, merges: list[tuple[int, int]] | None = None, pattern: str = PRETOKENIZE) -> None:
        self.merges = [tuple(m) for m in (merges or [])]
        self.pattern = pattern
        self._re = re.compile(pattern)
        self.ranks = {m: i for i, m in enumerate(self.merges)}
        self.vocab = {i: bytes([i]) for i in range(256)}
        for i, (a, b) in enumerate(self.merges):
            self.vocab[256 + i] = self.vocab[a] + self.vocab[b]
        self._cache: dict[str, list[int]] = {}

    @property
    def vocab_size(self) -> int:
        return 256 + len(self.merges)

    @classmethod
    def train(cls, texts: list[str], vocab_size: int, pattern: str = PRETOKENIZE) -> "ByteBPE":
        """Greedy BPE training on word counts (most frequent pair first, ties by smallest pair)."""
        rx = re.compile(pattern)
        words = Counter(w for t in texts for w in rx.findall(t))
        seqs = {w: list(w.encode("utf-8")) for w in words}
        merges: list[tuple[int, int]] = []
        for new_id in range(256, vocab_size):
            pairs: Counter = Counter()
            for w, s in seqs.items():
                c = words[w]
                for p in zip(s, s[1:]):
                    pairs[p] += c
            if not pairs:
                break
            best = max(pairs.items(), key=lambda kv: (kv[1], -kv[0][0], -kv[0][1]))[0]
            if pairs[best] < 2:
                break
            merges.append(best)
            for w, s in seqs.items():
                seqs[w] = _merge(s, best, new_id)
        return cls(merges, pattern)

    def _encode_word(self, w: str) -> list[int]:
        if w in self._cache:
            return self._cache[w]
        s = list(w.encode("utf-8"))
        while len(s) > 1:
            pair = min(zip(s, s[1:]), key=lambda p: self.ranks.get(p, math.inf))
            if pair not in self.ranks:
                break
            s = _merge(s, pair, 256 + self.ranks[pair])
        self._cache[w] = s
        return s

    def encode(self, text: str) -> list[int]:
        return [i for w in self._re.findall(text) for i in self._encode_word(w)]

    def decode(self, ids: list[int]) -> str:
        return b"".join(self.vocab[i] for i in ids if i in self.vocab).decode("utf-8", errors="replace")

    def to_dict(self) -> dict:
        return {"type": "byte_bpe", "pattern": self.pattern, "merges": [list(m) for m in self.merges]}

    @classmethod
    def from_dict(cls, d: dict) -> "ByteBPE":
        return cls([tuple(m) for m in d["merges"]], d["pattern"])

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict()))

    @classmethod
    def load(cls, path: str | Path) -> "ByteBPE":
        return cls.from_dict(json.loads(Path(path).read_text()))


def _merge(s: list[int], pair: tuple[int, int], new_id: int) -> list[int]:
    out, i = [], 0
    while i < len(s):
        if i + 1 < len(s) and s[i] == pair[0] and s[i + 1] == pair[1]:
            out.append(new_id)
            i += 2
        else:
            out.append(s[i])
            i += 1
    return out


# --------------------------------------------------------------------------- speech


def mel_filterbank(sr: int, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None) -> torch.Tensor:
    """HTK-mel triangular filters [n_mels, n_fft // 2 + 1] (unnormalised)."""
    fmax = fmax or sr / 2
    mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)  # noqa: E731
    imel = lambda m: 700.0 * (10 ** (m / 2595.0) - 1.0)  # noqa: E731
    pts = imel(np.linspace(mel(fmin), mel(fmax), n_mels + 2))
    freqs = np.linspace(0, sr / 2, n_fft // 2 + 1)
    fb = np.zeros((n_mels, freqs.size))
    for i in range(n_mels):
        lo, c, hi = pts[i], pts[i + 1], pts[i + 2]
        fb[i] = np.maximum(0, np.minimum((freqs - lo) / (c - lo), (hi - freqs) / (hi - c)))
    return torch.tensor(fb, dtype=torch.float32)


def log_mel(wav: np.ndarray, sr: int, target_sr: int = 16000, n_mels: int = 80) -> torch.Tensor:
    """Mono waveform (float, any sample rate) -> log-mel [frames at 100 Hz, n_mels]."""
    wav = np.asarray(wav, dtype=np.float32)
    if wav.ndim == 2:
        wav = wav.mean(axis=0 if wav.shape[0] < wav.shape[1] else 1)
    if sr != target_sr:
        from scipy.signal import resample_poly

        g = math.gcd(int(sr), target_sr)
        wav = resample_poly(wav, target_sr // g, int(sr) // g).astype(np.float32)
    x = torch.from_numpy(wav)
    n_fft, hop = 400, 160
    if x.numel() < n_fft:
        x = torch.nn.functional.pad(x, (0, n_fft - x.numel()))
    spec = torch.stft(x, n_fft, hop, window=torch.hann_window(n_fft), center=True, return_complex=True).abs() ** 2
    mel = mel_filterbank(target_sr, n_fft, n_mels) @ spec
    return torch.log(mel.clamp_min(1e-10)).T  # [frames, n_mels]


class SpeechTokenizer:
    """log-mel -> average pooling (k) -> standardise -> VQ codebook (EMA + random restart).

    25 tokens per second (100 Hz mel frames pooled by 4). ``encode(wav, sr, n_tokens=None)``
    returns int64 codes [L]; with n_tokens the sequence is cut/padded (edge) to that length.
    """

    def __init__(self, codebook_size: int = 256, n_mels: int = 80, pool: int = 4, decay: float = 0.99,
                 restart_threshold: float = 1.0) -> None:
        self.K, self.n_mels, self.pool = codebook_size, n_mels, pool
        self.decay, self.restart_threshold = decay, restart_threshold
        self.codebook = torch.zeros(codebook_size, n_mels)
        self.mean = torch.zeros(n_mels)
        self.std = torch.ones(n_mels)

    def features(self, wav: np.ndarray, sr: int) -> torch.Tensor:
        mel = log_mel(wav, sr, n_mels=self.n_mels)
        L = mel.shape[0] // self.pool
        if L == 0:
            return mel.mean(0, keepdim=True)
        return mel[: L * self.pool].reshape(L, self.pool, -1).mean(1)

    def _norm(self, f: torch.Tensor) -> torch.Tensor:
        return (f - self.mean) / self.std

    def quantize(self, z: torch.Tensor) -> torch.Tensor:
        d = (z.pow(2).sum(1, keepdim=True) - 2 * z @ self.codebook.T + self.codebook.pow(2).sum(1)[None])
        return d.argmin(1)

    def fit(self, feats: list[torch.Tensor], iters: int = 40, batch: int = 4096, seed: int = 0) -> dict:
        """Train the codebook on pooled features (list of [L_i, n_mels]). Returns usage stats."""
        g = torch.Generator().manual_seed(seed)
        allf = torch.cat(feats, 0)
        self.mean, self.std = allf.mean(0), allf.std(0).clamp_min(1e-3)
        z_all = self._norm(allf)
        n = z_all.shape[0]
        self.codebook = z_all[torch.randint(0, n, (self.K,), generator=g)].clone()
        ema_count = torch.ones(self.K)
        ema_sum = self.codebook.clone()
        restarts = 0
        for _ in range(iters):
            z = z_all[torch.randint(0, n, (min(batch, n),), generator=g)]
            codes = self.quantize(z)
            onehot = torch.nn.functional.one_hot(codes, self.K).float()
            ema_count = self.decay * ema_count + (1 - self.decay) * onehot.sum(0)
            ema_sum = self.decay * ema_sum + (1 - self.decay) * onehot.T @ z
            cnt = (ema_count + 1e-5) / (ema_count.sum() + self.K * 1e-5) * ema_count.sum()
            self.codebook = ema_sum / cnt[:, None]
            dead = ema_count < self.restart_threshold * (1 - self.decay)  # random restart
            if dead.any():
                nd = int(dead.sum())
                new = z[torch.randint(0, z.shape[0], (nd,), generator=g)]
                self.codebook[dead] = new
                ema_sum[dead] = new
                ema_count[dead] = 1.0
                restarts += nd
        codes = self.quantize(z_all)
        used = int(codes.unique().numel())
        err = float((z_all - self.codebook[codes]).pow(2).mean())
        return {"codes_used": used, "codebook_size": self.K, "mse": err, "restarts": restarts}

    def encode(self, wav: np.ndarray, sr: int, n_tokens: int | None = None) -> torch.Tensor:
        codes = self.quantize(self._norm(self.features(wav, sr)))
        if n_tokens is not None:
            if codes.numel() >= n_tokens:
                codes = codes[:n_tokens]
            else:
                codes = torch.cat([codes, codes[-1:].expand(n_tokens - codes.numel())])
        return codes

    def state_dict(self) -> dict:
        return {"codebook": self.codebook, "mean": self.mean, "std": self.std,
                "config": {"codebook_size": self.K, "n_mels": self.n_mels, "pool": self.pool, "decay": self.decay}}

    @classmethod
    def from_state_dict(cls, sd: dict) -> "SpeechTokenizer":
        c = sd["config"]
        tok = cls(c["codebook_size"], c["n_mels"], c["pool"], c["decay"])
        tok.codebook, tok.mean, tok.std = sd["codebook"], sd["mean"], sd["std"]
        return tok
