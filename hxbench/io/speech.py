"""Speech synthesis with Debian's espeak-ng, through its C library (ctypes), with timings.

``synthesize(text, voice="en-us", rate=160)`` returns a ``Speech``: 16 kHz mono float32 audio
plus the phoneme and word events espeak-ng reports while it speaks (sample-accurate onsets),
so that a renderer can move the mouth with the speech. Requires the Debian packages
``espeak-ng`` and ``libespeak-ng1`` (``apt-get install espeak-ng libespeak-ng1``, listed in
``apt-packages.txt``); without them ``SpeechUnavailable`` says so.

Voices must be names that ``espeak-ng --voices`` lists (``en-us``, ``en-gb``, ``en-gb-x-rp``,
``en-gb-scotland``, ``en-029`` ...), optionally with a variant (``en-us+f3``, ``en-gb+m4``).
The library is a process-wide singleton; calls are serialised with a lock. Output is
deterministic for the same text, voice, rate and pitch.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from dataclasses import dataclass, field

import numpy as np

from hxbench.errors import HxbenchError

SAMPLE_RATE = 16000

# espeak_EVENT_TYPE
_EV_WORD, _EV_SENTENCE, _EV_END, _EV_MSG_TERMINATED, _EV_PHONEME = 1, 2, 5, 6, 7
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INIT_PHONEME_EVENTS = 0x0001
_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_P_RATE, _P_VOLUME, _P_PITCH, _P_RANGE = 1, 2, 3, 4


class SpeechUnavailable(HxbenchError):
    """espeak-ng (the Debian library) is not installed or cannot speak the request."""


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                             ctypes.POINTER(_Event))


@dataclass
class Phoneme:
    symbol: str  # espeak-ng phoneme mnemonic, e.g. "a", "@", "p", "_:" (pause)
    start: float  # seconds
    end: float


@dataclass
class Word:
    text: str
    start: float
    end: float


@dataclass
class Speech:
    """Synthesised speech: ``audio`` (S,) float32 in [-1, 1] at ``sample_rate``."""

    text: str
    voice: str
    rate: int
    audio: np.ndarray
    sample_rate: int = SAMPLE_RATE
    phonemes: list[Phoneme] = field(default_factory=list)
    words: list[Word] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return len(self.audio) / self.sample_rate

    def to_meta(self) -> dict:
        """JSON-ready timings: {"phonemes": [[sym, start, end], ...], "words": [...]}."""
        return {
            "phonemes": [[p.symbol, round(p.start, 4), round(p.end, 4)] for p in self.phonemes],
            "words": [[w.text, round(w.start, 4), round(w.end, 4)] for w in self.words],
        }


class _Engine:
    def __init__(self) -> None:
        name = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
        try:
            self.lib = ctypes.CDLL(name)
        except OSError as err:
            raise SpeechUnavailable(
                f"the espeak-ng library cannot be loaded ({err}). Fix: apt-get install espeak-ng "
                "libespeak-ng1 (or: bash scripts/setup.sh)") from None
        lib = self.lib
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                     ctypes.c_uint, ctypes.c_uint, ctypes.POINTER(ctypes.c_uint),
                                     ctypes.c_void_p]
        lib.espeak_Synth.restype = ctypes.c_int
        self.native_rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, None,
                                                 _INIT_PHONEME_EVENTS)
        if self.native_rate <= 0:
            raise SpeechUnavailable("espeak_Initialize failed (is espeak-ng-data installed? "
                                    "Fix: apt-get install espeak-ng)")
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple[int, int, int, int, bytes]] = []
        self._cb = _CALLBACK(self._callback)  # keep a reference: the C side holds it
        lib.espeak_SetSynthCallback(self._cb)
        self.lock = threading.Lock()

    def _callback(self, wav, numsamples, events) -> int:
        if numsamples > 0 and wav:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(numsamples,)).copy())
        i = 0
        while True:
            ev = events[i]
            if ev.type == 0:  # espeakEVENT_LIST_TERMINATED
                break
            payload = bytes(ev.id.string).split(b"\0")[0] if ev.type == _EV_PHONEME else b""
            self._events.append((ev.type, ev.sample, ev.text_position, ev.length, payload))
            i += 1
        return 0

    def speak(self, text: str, voice: str, rate: int, pitch: int) -> tuple[np.ndarray, list]:
        with self.lock:
            if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise SpeechUnavailable(f"espeak-ng has no voice {voice!r}; "
                                        "list the voices with: espeak-ng --voices=en")
            self.lib.espeak_SetParameter(_P_RATE, int(rate), 0)
            self.lib.espeak_SetParameter(_P_PITCH, int(pitch), 0)
            self.lib.espeak_SetParameter(_P_VOLUME, 100, 0)
            self._chunks, self._events = [], []
            data = text.encode("utf-8") + b"\0"
            err = self.lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8,
                                        None, None)
            if err != 0:
                raise SpeechUnavailable(f"espeak_Synth failed with code {err} for {text!r}")
            audio = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
            return audio, list(self._events)


_engine: _Engine | None = None


def _get_engine() -> _Engine:
    global _engine
    if _engine is None:
        _engine = _Engine()
    return _engine


def available() -> bool:
    """True when espeak-ng can speak here (checked in a forked child, once per process)."""
    global _available
    if _available is None:
        try:
            _speak_fresh("a", "en-us", 160, 50)
            _available = True
        except SpeechUnavailable:
            _available = False
    return _available


_available: bool | None = None


def version() -> str | None:
    """The espeak-ng library's version string (``espeak_Info``), None when it cannot load.

    Recorded with hx-synth builds: another espeak-ng release can speak the same text with other
    samples, which changes every clip built from it."""
    name = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        return None
    lib.espeak_Info.restype = ctypes.c_char_p
    lib.espeak_Info.argtypes = [ctypes.c_void_p]
    raw = lib.espeak_Info(None)
    return raw.decode(errors="replace") if raw else None


def _speak_fresh(text: str, voice: str, rate: int, pitch: int) -> tuple[np.ndarray, list, int]:
    """Speak in a forked child with a freshly initialised engine.

    espeak-ng keeps synthesis state (and libc ``rand``) between utterances inside one
    process, so the same request gives slightly different samples on a second call. A fresh
    engine with ``srand(1)`` per utterance is bit-identical to a fresh ``espeak-ng`` run.
    """
    import os
    import pickle

    if not hasattr(os, "fork"):
        eng = _get_engine()
        pcm, events = eng.speak(text, voice, rate, pitch)
        return pcm, events, eng.native_rate
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        code = 0
        try:
            os.close(rfd)
            ctypes.CDLL(None).srand(1)
            eng = _Engine()
            try:
                result = ("ok", eng.speak(text, voice, rate, pitch), eng.native_rate)
            except SpeechUnavailable as err:
                result = ("err", str(err), 0)
            data = pickle.dumps(result)
            with os.fdopen(wfd, "wb") as f:
                f.write(data)
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(wfd)
    with os.fdopen(rfd, "rb") as f:
        data = f.read()
    os.waitpid(pid, 0)
    if not data:
        raise SpeechUnavailable(f"espeak-ng failed to speak {text!r} with voice {voice!r}")
    status, payload, native = pickle.loads(data)
    if status != "ok":
        raise SpeechUnavailable(payload)
    return payload[0], payload[1], native


def synthesize(text: str, voice: str = "en-us", rate: int = 160, pitch: int = 50,
               sample_rate: int = SAMPLE_RATE) -> Speech:
    """Speak ``text``; ``rate`` in words per minute (80..450), ``pitch`` 0..99.

    Returns 16 kHz (``sample_rate``) mono float32 audio, the phoneme events (espeak-ng
    mnemonics; a phoneme lasts until the next event) and the word events (text spans of the
    input, timed from their first sample to the next word's onset or the end of speech).
    """
    if not text.strip():
        raise ValueError("synthesize: empty text")
    pcm, events, native = _speak_fresh(text, voice, int(rate), int(pitch))
    audio = pcm.astype(np.float32) / 32768.0
    if sample_rate != native:
        from scipy.signal import resample_poly
        import math

        g = math.gcd(native, sample_rate)
        audio = resample_poly(audio, sample_rate // g, native // g).astype(np.float32)
    audio = np.clip(audio, -1.0, 1.0)
    total = len(audio) / sample_rate
    scale = 1.0 / native
    raw_text = text.encode("utf-8")
    phon = [(e[1] * scale, e[4].decode("utf-8", "replace")) for e in events if e[0] == _EV_PHONEME]
    phonemes = [Phoneme(sym, t, phon[i + 1][0] if i + 1 < len(phon) else total)
                for i, (t, sym) in enumerate(phon)]
    wev = [(e[1] * scale, e[2], e[3]) for e in events if e[0] == _EV_WORD]
    words = []
    for i, (t, pos, length) in enumerate(wev):
        # text_position is 1-based in characters; our text is mostly ASCII, map via bytes
        span = raw_text[max(pos - 1, 0):max(pos - 1, 0) + length].decode("utf-8", "replace")
        end = wev[i + 1][0] if i + 1 < len(wev) else total
        words.append(Word(span, t, end))
    return Speech(text, voice, int(rate), audio, sample_rate, phonemes, words)


def envelope(audio: np.ndarray, sample_rate: int = SAMPLE_RATE, fps: float = 25.0,
             n_frames: int | None = None) -> np.ndarray:
    """RMS envelope of ``audio`` per video frame: (T,) float32, one value per 1/fps window."""
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    hop = sample_rate / fps
    if n_frames is None:
        n_frames = int(np.ceil(len(audio) / hop))
    out = np.zeros(n_frames, np.float32)
    for k in range(n_frames):
        seg = audio[int(round(k * hop)):int(round((k + 1) * hop))]
        out[k] = float(np.sqrt(np.mean(seg ** 2))) if len(seg) else 0.0
    return out
