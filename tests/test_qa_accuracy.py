"""qa_accuracy: SQuAD normalisation, alias match, the MiniLM judge (parity with
sentence-transformers), and audio_qa T / S->T / S->S end to end with oracle and random adapters."""

import difflib
import json

import numpy as np
import pytest

from hxbench.adapters.base import Adapter, GenerationOutput
from hxbench.metrics.base import SampleData
from hxbench.metrics.qa_accuracy import (QAAccuracy, contains_match, exact_match, minilm_judge,
                                         normalize_answer, register_judge)


def test_squad_normalisation_and_matches():
    assert normalize_answer("  The Pacific  Ocean! ") == "pacific ocean"
    assert normalize_answer("An apple, a day.") == "apple day"
    assert exact_match("the Sun.", ["Sun"]) and not exact_match("It is the Sun", ["Sun"])
    assert contains_match("I think it's Paris, France.", ["Paris"])
    assert not contains_match("Parisian food", ["Paris"])  # whole words only
    assert contains_match("Eight legs", ["eight", "8"]) and contains_match("it has 8", ["eight", "8"])
    assert not contains_match("", ["x"])


def test_minilm_matches_sentence_transformers_readme():
    """sentence-transformers README (all-MiniLM-L6-v2): similarities 0.6660, 0.1046, 0.1411."""
    from hxbench.nets.qa_models import embed

    e = embed(["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."])
    sim = e @ e.T
    assert np.allclose(np.diag(sim), 1.0, atol=1e-5)
    assert np.allclose([sim[0, 1], sim[0, 2], sim[1, 2]], [0.6660, 0.1046, 0.1411], atol=6e-4)


def test_judge_separates_right_wrong_and_echo():
    q = "What is the capital city of Norway?"
    assert minilm_judge(q, "The answer is Oslo.", ["Oslo", "Oslo city"]) >= 0.99
    assert minilm_judge(q, "Lisbon", ["Oslo", "Oslo city"]) < 0.8
    assert minilm_judge(q, q, ["Oslo", "Oslo city"]) == 0.0  # repeating the question earns nothing
    m = QAAccuracy()
    v = m.score_sample(SampleData("x", meta={"answers": ["Oslo"], "question": q, "answer_text": "oslo!"}))
    assert v == {"accuracy": 1.0, "exact_match": 1.0, "judge_score": pytest.approx(1.0, abs=1e-5),
                 "judge_correct": 1.0}


def test_pluggable_judge():
    def strict(question, answer, aliases):
        return 1.0 if answer.strip() == aliases[0] else 0.0

    register_judge("strict-test", strict)
    m = QAAccuracy("alias-strict-test")
    assert m.weight_names() == ()
    v = m.score_sample(SampleData("x", meta={"answers": ["Oslo"], "answer_text": "The answer is Oslo"}))
    assert v["accuracy"] == 1.0 and v["judge_correct"] == 0.0


# -- end to end on hx-synth audio_qa ------------------------------------------------------------
def _items():
    from hxbench.synth.qa import items

    return items()


def _lookup(question: str) -> dict:
    table = {normalize_answer(it["question"]): it for it in _items()}
    best = difflib.get_close_matches(normalize_answer(question), list(table), n=1, cutoff=0.0)
    return table[best[0]]


def _by_sample_id(sample_id: str) -> dict:
    """The ground-truth item of an hx-synth QA sample (sample ids are qa_<split>_<item id>)."""
    return {it["id"]: it for it in _items()}[sample_id.split("_", 2)[2]]


class OracleText(Adapter):
    """Answers from the ground truth (the generator's item of the sample) as text."""

    batch_size = 4
    speak = False

    def answer(self, x) -> str:
        return _by_sample_id(x.sample_id)["answer"]

    def generate(self, batch):
        outs = []
        for x in batch:
            answer = self.answer(x)
            if self.speak:  # spoken with espeak-ng, restating the question as speech LMs do;
                from hxbench.io import speech  # hxbench transcribes it with Whisper

                question = _by_sample_id(x.sample_id)["question"]
                outs.append(GenerationOutput(audio=speech.synthesize(
                    f"{question} The answer is {answer}.", rate=140).audio))
            else:
                outs.append(GenerationOutput(text=answer))
        return outs


class OracleSpeech(OracleText):
    speak = True


class ListeningOracle(OracleText):
    """Knows every fact but must *hear* the question: Whisper tiny.en transcribes the spoken
    question and the closest known question is answered (ASR errors cost accuracy)."""

    def answer(self, x) -> str:
        from hxbench.nets.qa_models import transcribe

        return _lookup(x.question if x.question else transcribe(x.question_audio))["answer"]


class RandomAnswer(Adapter):
    """Answers with another item's answer (seeded), never looking at the question."""

    batch_size = 4

    def __init__(self):
        self.rng = np.random.default_rng(0)
        self.answers = sorted({it["answer"] for it in _items()})

    def generate(self, batch):
        return [GenerationOutput(text=str(self.rng.choice(self.answers))) for x in batch]


class RandomSpeech(RandomAnswer):
    def generate(self, batch):
        from hxbench.io import speech

        return [GenerationOutput(audio=speech.synthesize(f"The answer is {o.text}.", rate=150).audio)
                for o in super().generate(batch)]


@pytest.fixture(scope="module")
def qa_data(tmp_path_factory):
    import hxbench.synth as synth

    root = tmp_path_factory.mktemp("qa")
    synth.build(root, "tiny", 0, progress=False, protocols=("audio_qa",))
    return root


def _run(task, model, data, run_dir):
    from hxbench.cli import main

    rc = main(["run", "--task", task, "--model", model, "--data", str(data), "--run-dir", str(run_dir), "--json"])
    assert rc == 0
    res = json.loads((run_dir / "results.json").read_text())
    return {k: v["value"] for k, v in res["metrics"]["qa_accuracy[alias-minilm]"]["outputs"].items()}


def test_text_questions_oracle_100_random_near_0(qa_data, tmp_path, capsys):
    oracle = _run("audio_qa_text", "tests.test_qa_accuracy:OracleText", qa_data, tmp_path / "o")
    rand = _run("audio_qa_text", "tests.test_qa_accuracy:RandomAnswer", qa_data, tmp_path / "r")
    assert oracle["accuracy"] == oracle["exact_match"] == oracle["judge_correct"] == 1.0
    assert rand["accuracy"] <= 0.25 and rand["judge_correct"] <= 0.25
    for name in ("results.json", "samples.jsonl", "config.json"):
        assert (tmp_path / "o" / name).is_file()


def test_spoken_question_oracle_100_random_near_0(qa_data, tmp_path, capsys):
    """S->T: spoken (espeak-ng) questions, text answers."""
    oracle = _run("audio_qa_speech", "tests.test_qa_accuracy:OracleText", qa_data, tmp_path / "o")
    rand = _run("audio_qa_speech", "tests.test_qa_accuracy:RandomAnswer", qa_data, tmp_path / "r")
    assert oracle["accuracy"] == oracle["judge_correct"] == 1.0
    assert rand["accuracy"] <= 0.25 and rand["judge_correct"] <= 0.25


@pytest.mark.slow
def test_spoken_answers_and_questions_through_real_asr(qa_data, tmp_path, capsys):
    """S->S: the ground-truth answer spoken by espeak-ng and transcribed by hxbench with Whisper
    tiny.en scores far above a random spoken answer; not 100 %: Whisper tiny.en mishears
    espeak-ng's isolated names and symbols ("Au" -> "gold", "Oslo" -> "also"), which is why
    the S->T task takes text answers. A model that hears the question through the same ASR
    (ListeningOracle) loses what the ASR gets wrong ("six plus three" -> "zig plus 3")."""
    s2s = _run("audio_qa_spoken", "tests.test_qa_accuracy:OracleSpeech", qa_data, tmp_path / "s2s")
    assert s2s["accuracy"] >= 0.5, s2s
    rand = _run("audio_qa_spoken", "tests.test_qa_accuracy:RandomSpeech", qa_data, tmp_path / "s2s_r")
    assert rand["accuracy"] <= 0.25 and rand["accuracy"] < s2s["accuracy"]
    listening = _run("audio_qa_speech", "tests.test_qa_accuracy:ListeningOracle", qa_data, tmp_path / "l")
    assert 0.5 <= listening["accuracy"] <= 1.0
