"""Audio front ends for lip-sync metrics, vectorised.

``mfcc`` reproduces ``python_speech_features.mfcc`` 0.6 (the front end of SyncNet in
``syncnet_python``) step by step, with its defaults: pre-emphasis 0.97, 25 ms frames every
10 ms (``round_half_up`` of the sample counts), the signal zero-padded so that the last frame
is complete, no analysis window, |rfft(512)|^2 / 512 power spectrum, 26 triangular mel filters
whose edges are ``floor((nfft + 1) * mel2hz(m) / sr)`` FFT bins, zero energies replaced by
float eps before the log, type-II orthonormal DCT (``scipy.fftpack.dct``) keeping 13
coefficients, a sinusoidal lifter L=22, and coefficient 0 replaced by the log frame energy.
The framing is a strided view and the filterbank is built once, instead of per-frame Python
loops; the numbers are the same to float64 rounding (tests/test_mfcc.py).

``to_int16_pcm`` converts float audio in [-1, 1] to the int16 samples that
``ffmpeg -acodec pcm_s16le`` writes (``lrintf(x * 32768)`` clipped), because syncnet_python
feeds *int16* samples, not floats, to ``mfcc``: the scale changes coefficient 0.
"""

from __future__ import annotations

import decimal
import functools
import math

import numpy as np


def _round_half_up(x: float) -> int:
    return int(decimal.Decimal(x).quantize(decimal.Decimal("1"), rounding=decimal.ROUND_HALF_UP))


def hz2mel(hz):
    return 2595 * np.log10(1 + hz / 700.0)


def mel2hz(mel):
    return 700 * (10 ** (mel / 2595.0) - 1)


@functools.lru_cache(maxsize=16)
def mel_filterbank(nfilt: int = 26, nfft: int = 512, samplerate: int = 16000,
                   lowfreq: float = 0, highfreq: float | None = None) -> np.ndarray:
    """(nfilt, nfft // 2 + 1) float64 triangular filters, as ``get_filterbanks``."""
    highfreq = highfreq or samplerate / 2
    if highfreq > samplerate / 2:
        raise ValueError("highfreq is greater than samplerate/2")
    melpoints = np.linspace(hz2mel(lowfreq), hz2mel(highfreq), nfilt + 2)
    bins = np.floor((nfft + 1) * mel2hz(melpoints) / samplerate)
    i = np.arange(nfft // 2 + 1, dtype=np.float64)[None, :]
    lo, mid, hi = bins[:-2, None], bins[1:-1, None], bins[2:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        rising = np.where((i >= lo) & (i < mid), (i - lo) / (mid - lo), 0.0)
        falling = np.where((i >= mid) & (i < hi), (hi - i) / (hi - mid), 0.0)
    fb = rising + falling  # the two ranges are disjoint, so this equals the loop's assignments
    fb.setflags(write=False)
    return fb


def frame_signal(sig: np.ndarray, frame_len: float, frame_step: float) -> np.ndarray:
    """(numframes, frame_len) frames of ``sig`` zero-padded at the end, as ``framesig``
    (with its default all-ones window); a read-only strided view of a padded copy."""
    slen = len(sig)
    frame_len = _round_half_up(frame_len)
    frame_step = _round_half_up(frame_step)
    if slen <= frame_len:
        numframes = 1
    else:
        numframes = 1 + int(math.ceil((1.0 * slen - frame_len) / frame_step))
    padlen = int((numframes - 1) * frame_step + frame_len)
    padded = np.concatenate((sig, np.zeros((padlen - slen,))))
    view = np.lib.stride_tricks.sliding_window_view(padded, frame_len)[::frame_step]
    return view[:numframes]


def mfcc(signal: np.ndarray, samplerate: int = 16000, winlen: float = 0.025,
         winstep: float = 0.01, numcep: int = 13, nfilt: int = 26, nfft: int = 512,
         lowfreq: float = 0, highfreq: float | None = None, preemph: float = 0.97,
         ceplifter: int = 22, append_energy: bool = True) -> np.ndarray:
    """MFCC features, (numframes, numcep) float64, identical to ``python_speech_features.mfcc``.

    ``signal``: 1-D samples in the scale the caller wants (syncnet_python passes int16 values).
    numframes = 1 + ceil((len - 400) / 160) at 16 kHz (100 frames per second).
    """
    from scipy.fftpack import dct  # the same DCT implementation python_speech_features uses

    signal = np.asarray(signal)
    if signal.ndim != 1:
        raise ValueError(f"mfcc expects a 1-D signal, got shape {signal.shape}")
    if len(signal) == 0:
        raise ValueError("mfcc of an empty signal")
    # preemphasis: append(s[0], s[1:] - c * s[:-1]); done in float64 as numpy promotes it
    emph = np.empty(len(signal), dtype=np.float64)
    emph[0] = signal[0]
    emph[1:] = signal[1:] - preemph * signal[:-1]
    frames = frame_signal(emph, winlen * samplerate, winstep * samplerate)
    # frames longer than nfft are truncated by rfft, as the reference does (with a warning)
    pspec = 1.0 / nfft * np.square(np.absolute(np.fft.rfft(frames, nfft)))
    energy = np.sum(pspec, 1)
    eps = np.finfo(float).eps
    energy = np.where(energy == 0, eps, energy)
    fb = mel_filterbank(nfilt, nfft, int(samplerate), lowfreq, highfreq or samplerate / 2)
    feat = np.dot(pspec, fb.T)
    feat = np.where(feat == 0, eps, feat)
    feat = np.log(feat)
    feat = dct(feat, type=2, axis=1, norm="ortho")[:, :numcep]
    if ceplifter > 0:
        n = np.arange(feat.shape[1])
        feat = (1 + (ceplifter / 2.0) * np.sin(np.pi * n / ceplifter)) * feat
    if append_energy:
        feat[:, 0] = np.log(energy)
    return feat


def to_int16_pcm(audio: np.ndarray) -> np.ndarray:
    """Float audio in [-1, 1] -> int16 as FFmpeg's flt->s16 conversion (round half to even
    of x * 32768, clipped to [-32768, 32767]). Exact inverse of s16 / 32768."""
    x = np.asarray(audio, dtype=np.float32).reshape(-1)
    return np.clip(np.rint(x * np.float32(32768.0)), -32768, 32767).astype(np.int16)
