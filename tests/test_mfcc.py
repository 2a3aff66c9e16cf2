"""hxbench.io.audio_features.mfcc against python_speech_features.mfcc (the SyncNet front end)."""

import numpy as np
import pytest

from hxbench.io.audio_features import mel_filterbank, mfcc, to_int16_pcm

psf = pytest.importorskip("python_speech_features")


def _speechlike(n, seed):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 16000.0
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 3.0 * t)
    x = env * (0.3 * np.sin(2 * np.pi * 220 * t) + 0.1 * rng.standard_normal(n))
    return to_int16_pcm(np.clip(x, -1, 1))


@pytest.mark.parametrize("n", [1, 399, 400, 401, 560, 16000, 16000 * 3 + 123])
def test_mfcc_matches_python_speech_features_int16(n):
    x = _speechlike(n, n)
    ref = psf.mfcc(x, 16000)
    ours = mfcc(x, 16000)
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-9)


def test_mfcc_silence_and_float_input():
    x = np.zeros(3200, dtype=np.int16)  # zero energy -> eps, as the reference
    np.testing.assert_allclose(mfcc(x), psf.mfcc(x, 16000), rtol=1e-10, atol=1e-9)
    xf = np.random.default_rng(1).uniform(-1, 1, 8000)
    np.testing.assert_allclose(mfcc(xf), psf.mfcc(xf, 16000), rtol=1e-10, atol=1e-9)


def test_other_rates_and_filterbank():
    x = _speechlike(22050, 3)
    np.testing.assert_allclose(mfcc(x, 22050), psf.mfcc(x, 22050), rtol=1e-10, atol=1e-9)
    for nfilt, sr in [(26, 16000), (40, 16000), (26, 8000)]:
        np.testing.assert_array_equal(mel_filterbank(nfilt, 512, sr),
                                      psf.get_filterbanks(nfilt, 512, sr))


def test_int16_conversion_is_inverse_of_pcm_scaling():
    pcm = np.arange(-32768, 32768, 7, dtype=np.int16)
    np.testing.assert_array_equal(to_int16_pcm(pcm.astype(np.float32) / 32768.0), pcm)
    assert to_int16_pcm(np.array([1.5, -1.5]))[0] == 32767
    assert to_int16_pcm(np.array([1.5, -1.5]))[1] == -32768
