"""Training data for the HumanExpert reference model: prompt formats and data builders.

Prompt formats (unified vocabulary: BPE text ids, then speech codes at ``speech_offset``,
then specials):

* text QA          ``<bos> <q> question <a> answer <eos>``            (LM targets: answer, <eos>)
* spoken QA (S->T) ``<bos> <q> <speech> s_1..s_L <a> answer <eos>``
* lip sync         ``<bos> <speech> s_1..s_T``; behaviour frame j gets the position of s_{j+1}
                   (25 speech tokens/s = 25 fps: time-aligned positions)
* command          ``<bos> <cmd> command <a>``; behaviour frame j gets position len(prefix) + j

Sources: ``toy`` (procedural, seconds to build: arithmetic QA, amplitude-modulated tone
"speech" whose envelope drives the mouth, nod/shake commands) for smoke tests, and
``hxsynth:<dir>`` for an hx-synth build.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from reference_models.humanexpert.model import SPECIALS
from reference_models.humanexpert.tokenizers import ByteBPE, SpeechTokenizer


@dataclass
class Example:
    """One training sample: a token prefix, optional LM targets, optional behaviour."""

    tokens: list[int]
    behaviour: np.ndarray | None = None  # [T, D] float32
    m_pos0: int = 0  # RoPE position of behaviour frame 0
    lm_mask: list[bool] | None = None  # which tokens are LM targets (predicted from the previous one)
    kind: str = ""


class Vocab:
    """Maps text / speech codes / specials into the unified id space."""

    def __init__(self, bpe: ByteBPE, n_speech: int) -> None:
        self.bpe, self.n_speech = bpe, n_speech
        self.speech_offset = bpe.vocab_size
        self.special_offset = bpe.vocab_size + n_speech

    def sp(self, name: str) -> int:
        return self.special_offset + SPECIALS.index(name)

    def text(self, s: str) -> list[int]:
        return self.bpe.encode(s)

    def speech(self, codes) -> list[int]:
        return [self.speech_offset + int(c) for c in codes]

    def decode_text(self, ids: list[int]) -> str:
        return self.bpe.decode([i for i in ids if i < self.speech_offset])

    # prompt builders -------------------------------------------------------
    def qa_prompt(self, question: str | None = None, q_codes=None) -> list[int]:
        toks = [self.sp("<bos>"), self.sp("<q>")]
        toks += self.text(question) if q_codes is None else [self.sp("<speech>")] + self.speech(q_codes)
        return toks + [self.sp("<a>")]

    def qa_example(self, answer: str, question: str | None = None, q_codes=None) -> Example:
        p = self.qa_prompt(question, q_codes)
        a = self.text(" " + answer.strip()) + [self.sp("<eos>")]
        return Example(p + a, lm_mask=[False] * len(p) + [True] * len(a), kind="qa_s" if q_codes is not None else "qa_t")

    def lipsync_prefix(self, codes) -> tuple[list[int], int]:
        return [self.sp("<bos>"), self.sp("<speech>")] + self.speech(codes), 2

    def command_prefix(self, command: str) -> tuple[list[int], int]:
        t = [self.sp("<bos>"), self.sp("<cmd>")] + self.text(command) + [self.sp("<a>")]
        return t, len(t)


@dataclass
class TrainingBundle:
    bpe: ByteBPE
    speech: SpeechTokenizer
    behaviour_dim: int
    lm_examples: list[Example]
    behaviour_examples: list[Example]
    qa_eval: list[dict] = field(default_factory=list)  # {"question", "answers", "q_codes"}
    source: str = ""
    behaviour_norm: dict | None = None  # {"mean": [D], "std": [D]}: model space = (x - mean) / std
    fps: float = 25.0

    @property
    def vocab(self) -> Vocab:
        return Vocab(self.bpe, self.speech.K)

    def describe(self) -> dict:
        kinds: dict[str, int] = {}
        for e in self.lm_examples + self.behaviour_examples:
            kinds[e.kind] = kinds.get(e.kind, 0) + 1
        return {"source": self.source, "examples": kinds, "behaviour_dim": self.behaviour_dim,
                "text_vocab": self.bpe.vocab_size, "speech_codes": self.speech.K}

    def save_tokenizers(self, out: Path) -> None:
        out = Path(out)
        self.bpe.save(out.parent / (out.name + ".bpe.json"))
        torch.save(self.speech.state_dict(), out.parent / (out.name + ".speech.pt"))


# --------------------------------------------------------------------------- toy data

NUM = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]
TOY_COMMANDS = {"nod your head": 0, "shake your head": 1, "tilt your head": 2}


def toy_behaviour(kind: str, T: int, rng: np.random.Generator, env: np.ndarray | None = None) -> np.ndarray:
    """[T, 8]: pitch, yaw, roll, mouth-open, 4 landmark offsets (small noise)."""
    x = np.zeros((T, 8), np.float32)
    t = np.arange(T) / 25.0
    if kind in TOY_COMMANDS:
        x[:, TOY_COMMANDS[kind]] = 0.8 * np.sin(2 * np.pi * 1.5 * t + rng.uniform(0, 0.3))
    if env is not None:
        x[:, 3] = 2 * env[:T] - 1
        x[:, 0] += 0.1 * np.sin(2 * np.pi * 0.5 * t)
    else:
        x[:, 3] = -1
    x[:, 4:] = 0.05 * rng.standard_normal((T, 4))
    return x


def toy_speech(T: int, rng: np.random.Generator, sr: int = 16000) -> tuple[np.ndarray, np.ndarray]:
    """Amplitude-modulated harmonic tone (T frames at 25 fps) and its per-frame envelope [T] in [0, 1]."""
    n_syl = max(1, T // 8)
    env = np.zeros(T)
    for _ in range(n_syl):
        c, w = rng.integers(0, T), rng.integers(3, 8)
        env[max(0, c - w // 2): c + w // 2] = rng.uniform(0.5, 1.0)
    t = np.arange(int(T * sr / 25)) / sr
    f0 = rng.uniform(110, 220)
    tone = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 6))
    amp = np.repeat(env, sr // 25)[: t.size]
    return (0.2 * amp * tone + 0.003 * rng.standard_normal(t.size)).astype(np.float32), env


def toy_bundle(seed: int = 0, n_qa: int = 400, n_lip: int = 200, n_cmd: int = 120, spoken_qa: bool = True) -> TrainingBundle:
    rng = np.random.default_rng(seed)
    qa = []
    for _ in range(n_qa):
        a, b = rng.integers(0, 6, 2)
        qa.append((f"what is {NUM[a]} plus {NUM[b]}?", NUM[a + b]))
    cmds = list(TOY_COMMANDS)
    corpus = [q + " " + a for q, a in qa] + cmds
    bpe = ByteBPE.train(corpus, 320)
    T = 75
    wavs, envs = zip(*(toy_speech(T, rng) for _ in range(n_lip)))
    spoken = {}  # question -> 16 kHz audio (espeak-ng), for spoken QA (S->T)
    try:
        from hxbench.io.speech import synthesize

        for q in sorted({q for q, _ in qa}) if spoken_qa else []:
            spoken[q] = synthesize(q).audio
    except Exception:  # espeak-ng missing: text QA only
        spoken = {}
    speech = SpeechTokenizer(codebook_size=64)
    feats = [speech.features(w, 16000) for w in list(wavs) + list(spoken.values())]
    speech.fit(feats, iters=30, seed=seed)
    voc = Vocab(bpe, speech.K)
    codes = {q: speech.encode(w, 16000) for q, w in spoken.items()}
    # QA is knowledge the text-speech expert memorises in pre-training (like TriviaQA facts);
    # the evaluation asks every distinct question and measures whether it is retained.
    lm = [voc.qa_example(a, q) for q, a in qa]
    lm += [voc.qa_example(a, q_codes=codes[q]) for q, a in qa if q in codes]
    qa_eval = [{"question": q, "answers": [a], "q_codes": codes.get(q)} for q, a in sorted(dict(qa).items())]
    beh = []
    for w, env in zip(wavs, envs):
        codes = speech.encode(w, 16000, n_tokens=T)
        toks, p0 = voc.lipsync_prefix(codes)
        beh.append(Example(toks, toy_behaviour("speech", T, rng, env), p0, kind="lip_sync"))
    for i in range(n_cmd):
        c = cmds[i % len(cmds)]
        toks, p0 = voc.command_prefix(c)
        beh.append(Example(toks, toy_behaviour(c, T, rng), p0, kind="command"))
    return TrainingBundle(bpe, speech, 8, lm, beh, qa_eval, source="toy")
