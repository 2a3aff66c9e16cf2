"""qa_accuracy: spoken/text question answering accuracy against accepted aliases.

Protocol (as speech-LM papers report Web Questions / Llama Questions / TriviaQA, e.g.
SpeechGPT, Moshi, GLM-4-Voice, and HumanExpert Table 3): the model's answer (text, or speech
transcribed with Whisper tiny.en, see ``_qa_models``) and every accepted alias are normalised
SQuAD-style (lower case, punctuation removed, articles a/an/the removed, whitespace
collapsed); the answer is correct when some normalised alias occurs in the normalised answer
as a whole-word span ("contains" match, so "The answer is Paris." is correct for "Paris").
``exact_match`` is SQuAD's EM (normalised answer == some normalised alias).

A judge adds a semantic score in [0, 1] and a judged correctness. Variants:

- ``alias-minilm`` (default): judge = all-MiniLM-L6-v2 cosine similarity. Words of the
  question are first removed from the answer (an answer that repeats the question earns
  nothing for it; the judge therefore cannot credit an answer made only of question words,
  e.g. "red" to "Is it red or blue?": alias match still does), then the best cosine between an alias and any span of the remaining words
  (1 .. alias length + 2 words, or the whole remainder) is the ``judge_score``;
  ``judge_correct`` = judge_score >= 0.8. Measured on hx-synth items: correct answers 1.0,
  answers drawn from other items <= 0.65.
- ``alias``: alias match only (no judge outputs).
- ``alias-<name>``: a judge plugged in with ``register_judge(name, judge)`` (e.g. an LLM
  judge): ``judge(question, answer, aliases) -> float in [0, 1]`` with attribute
  ``threshold`` (default 0.5) for ``judge_correct``.

Inputs: ``sample.meta`` holds ``answers`` (aliases), ``question`` or ``question_text``, and
``answer_text`` (text output) or ``answer_audio`` (path of a speech output).
Outputs (per sample, averaged): accuracy, exact_match, judge_score, judge_correct; all in
[0, 1], higher is better. T and S->T are separate tasks (audio_qa_text, audio_qa_speech).
"""

from __future__ import annotations

import re
import string
from typing import Callable

import numpy as np

from hxbench.errors import SampleError
from hxbench.metrics.base import HIGHER, PerSampleMetric, SampleData, register_metric

_PUNCT = set(string.punctuation)
JUDGES: dict[str, Callable] = {}


def normalize_answer(text: str) -> str:
    """SQuAD v1.1 ``normalize_answer``: lower, drop punctuation, articles, extra whitespace."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCT)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def exact_match(answer: str, aliases: list[str]) -> bool:
    a = normalize_answer(answer)
    return any(a == normalize_answer(x) for x in aliases)


def contains_match(answer: str, aliases: list[str]) -> bool:
    """Some normalised alias is a whole-word span of the normalised answer."""
    a = f" {normalize_answer(answer)} "
    return any(n and f" {n} " in a for n in (normalize_answer(x) for x in aliases))


def _spans(words: list[str], k: int) -> list[str]:
    out = [" ".join(words)] if words else []
    for n in range(1, min(len(words), k + 2) + 1):
        out += [" ".join(words[i:i + n]) for i in range(len(words) - n + 1)]
    return out


def minilm_judge(question: str | None, answer: str, aliases: list[str]) -> float:
    """Best MiniLM cosine between an alias and a span of the answer minus the question's words."""
    from hxbench.nets.qa_models import embed

    qwords = set(normalize_answer(question or "").split())
    words = [w for w in normalize_answer(answer).split() if w not in qwords]
    if not words:
        return 0.0
    best = 0.0
    for alias in aliases:
        spans = _spans(words, len(normalize_answer(alias).split()))
        e = embed(spans + [alias])
        best = max(best, float(np.max(e[:-1] @ e[-1])))
    return float(min(max(best, 0.0), 1.0))


minilm_judge.threshold = 0.8  # type: ignore[attr-defined]


@register_metric
class QAAccuracy(PerSampleMetric):
    name = "qa_accuracy"
    version = "1"
    variants = ("alias-minilm", "alias")
    outputs = {"accuracy": HIGHER, "exact_match": HIGHER, "judge_score": HIGHER, "judge_correct": HIGHER}
    requires = ()
    description = "alias-match QA accuracy (SQuAD normalisation, contains match) + pluggable judge (MiniLM)"

    def weight_names(self) -> tuple[str, ...]:
        return ("all-minilm-l6-v2",) if self.variant == "alias-minilm" else ()

    def _judge(self) -> Callable | None:
        if self.variant == "alias":
            return None
        if self.variant == "alias-minilm":
            return minilm_judge
        return JUDGES[self.variant.removeprefix("alias-")]

    def answer_text(self, sample: SampleData) -> str:
        meta = sample.meta
        if meta.get("answer_text") is not None:
            return str(meta["answer_text"])
        if meta.get("answer_audio") is not None:
            from hxbench.io.media import read_audio
            from hxbench.weights import is_available

            import hxbench.nets.qa_models as qm

            if not is_available(qm.ASR_WEIGHTS.name):
                raise SampleError(f"{self.key}: speech answers need Whisper weights: {qm.ASR_WEIGHTS.fix_command()}")
            try:
                import faster_whisper  # noqa: F401
            except ImportError:
                raise SampleError(f"{self.key}: speech answers need faster-whisper: "
                                  "pip install faster-whisper==1.2.1 --no-deps ctranslate2 tokenizers "
                                  "huggingface_hub --no-deps") from None
            return qm.transcribe(read_audio(meta["answer_audio"], 16000))
        raise SampleError(f"{self.key}: sample {sample.sample_id!r} has no answer (text or speech)")

    def score_sample(self, sample: SampleData) -> dict[str, float]:
        aliases = sample.meta.get("answers")
        if not aliases:
            raise SampleError(f"{self.key}: sample {sample.sample_id!r} has no accepted answers")
        answer = self.answer_text(sample)
        out = {"accuracy": float(contains_match(answer, aliases)),
               "exact_match": float(exact_match(answer, aliases))}
        judge = self._judge()
        if judge is not None:
            question = sample.meta.get("question") or sample.meta.get("question_text")
            s = float(judge(question, answer, list(aliases)))
            out["judge_score"] = s
            out["judge_correct"] = float(s >= getattr(judge, "threshold", 0.5))
        return out


def register_judge(name: str, judge: Callable) -> None:
    """Plug in a judge: ``judge(question, answer, aliases) -> float in [0, 1]`` (attribute
    ``threshold`` for judge_correct, default 0.5); metric variant ``qa_accuracy[alias-<name>]``."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", name):
        raise ValueError(f"judge name {name!r}: use lower-case letters, digits, - and _")
    JUDGES[name] = judge
    variant = f"alias-{name}"
    if variant not in QAAccuracy.variants:
        QAAccuracy.variants = QAAccuracy.variants + (variant,)
