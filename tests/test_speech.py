"""espeak-ng speech with timings (hxbench.io.speech)."""

import numpy as np
import pytest

from hxbench.io import speech

pytestmark = pytest.mark.skipif(not speech.available(),
                                reason="espeak-ng not installed (apt-get install espeak-ng libespeak-ng1)")


def test_synthesize_audio_and_events():
    s = speech.synthesize("Hello world, the quick brown fox.", voice="en-us", rate=170)
    assert s.sample_rate == 16000 and s.audio.dtype == np.float32 and s.audio.ndim == 1
    assert 1.0 < s.duration < 4.0
    assert 0.05 < np.abs(s.audio).max() <= 1.0
    assert [w.text for w in s.words] == ["Hello", "world", "the", "quick", "brown", "fox"]
    starts = [p.start for p in s.phonemes]
    assert len(s.phonemes) > 15 and starts == sorted(starts)
    assert all(p.end >= p.start for p in s.phonemes) and s.phonemes[-1].end <= s.duration + 1e-6
    # phoneme events carry real timing: the loudest 100 ms of audio lies inside a vowel
    env = speech.envelope(s.audio, 16000, fps=10)
    t_peak = (np.argmax(env) + 0.5) / 10
    sym = [p.symbol for p in s.phonemes if p.start <= t_peak < p.end]
    assert sym and sym[0][0] in "aAeEiIoOuUV3@"


def test_rate_changes_duration_and_voices_differ():
    slow = speech.synthesize("Good morning to everyone here.", voice="en-us", rate=120)
    fast = speech.synthesize("Good morning to everyone here.", voice="en-us", rate=220)
    assert slow.duration > 1.4 * fast.duration
    other = speech.synthesize("Good morning to everyone here.", voice="en-gb-x-rp+f4", rate=120)
    assert len(other.audio) != len(slow.audio) or not np.array_equal(other.audio, slow.audio)


def test_deterministic_across_calls():
    a = speech.synthesize("Determinism matters.", voice="en-us+f3", rate=160, pitch=40)
    speech.synthesize("Something else in between.", voice="en-gb-x-rp")
    b = speech.synthesize("Determinism matters.", voice="en-us+f3", rate=160, pitch=40)
    assert np.array_equal(a.audio, b.audio)
    assert a.to_meta() == b.to_meta()


def test_errors():
    with pytest.raises(speech.SpeechUnavailable, match="no voice"):
        speech.synthesize("hi", voice="no-such-voice")
    with pytest.raises(ValueError):
        speech.synthesize("   ")


def test_envelope_shape():
    env = speech.envelope(np.ones(16000, np.float32) * 0.5, 16000, fps=25)
    assert env.shape == (25,) and np.allclose(env, 0.5)
