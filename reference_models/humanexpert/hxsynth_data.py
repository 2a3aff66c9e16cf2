"""Training data from hx-synth's behaviour generators (``--data hxsynth-gen``).

Until ``hxbench.synth.build`` manifests exist, this generates the same kind of data hx-synth's
tasks use, with hx-synth's own pure functions: espeak-ng sentences (``hxbench.speech``) ->
``speech_behaviour`` (mouth follows phonemes + loudness, idle head motion, blinks) for lip
sync, and ``command_behaviour`` for the ten listen-to-command commands; behaviour is the
renderer's 11-d layout (``hxbench.synth.render.BEHAVIOUR_NAMES``), standardised per dimension
(the stats are stored in the checkpoint). QA pre-training text is the toy arithmetic corpus.
"""

from __future__ import annotations

import numpy as np

from reference_models.humanexpert.data import NUM, TrainingBundle, Vocab
from reference_models.humanexpert.tokenizers import ByteBPE, SpeechTokenizer
from reference_models.humanexpert.train import Example

WORDS = ("the quick brown fox jumps over a lazy dog while seven bold pilots map open water "
         "people often talk about music books rivers mountains cities and summer mornings "
         "please remember to bring apples bread cheese and warm soup tomorrow evening").split()


def bundle_from_generators(seed: int = 0, n_speech: int = 60, n_cmd_each: int = 16, n_qa: int = 400) -> TrainingBundle:
    from hxbench.speech import synthesize
    from hxbench.synth.behaviour import COMMANDS, command_behaviour, speech_behaviour
    from hxbench.synth.render import BEHAVIOUR_DIM

    rng = np.random.default_rng(seed)
    fps = 25.0
    sents = [" ".join(rng.choice(WORDS, int(rng.integers(4, 9)))) for _ in range(n_speech)]
    qa = []
    for _ in range(n_qa):
        a, b = rng.integers(0, 6, 2)
        qa.append((f"what is {NUM[a]} plus {NUM[b]}?", NUM[a + b]))
    bpe = ByteBPE.train([q + " " + a for q, a in qa] + list(COMMANDS.values()) + sents, 512)
    speech_items = []
    for s in sents:
        sp = synthesize(s, voice=str(rng.choice(["en-us", "en-us+f3", "en-us+m4"])))
        n = int(np.ceil(len(sp.audio) / sp.sample_rate * fps))
        beh = speech_behaviour(sp.phonemes, sp.audio, sp.sample_rate, n, rng, fps)
        speech_items.append((sp.audio, sp.sample_rate, beh))
    spoken = {q: synthesize(q).audio for q in sorted({q for q, _ in qa})}
    tok = SpeechTokenizer(codebook_size=128)
    tok.fit([tok.features(a, sr) for a, sr, _ in speech_items] + [tok.features(a, 16000) for a in spoken.values()],
            iters=40, seed=seed)
    voc = Vocab(bpe, tok.K)
    cmds = []
    for key, text in COMMANDS.items():
        for _ in range(n_cmd_each):
            cmds.append((text, command_behaviour(key, int(rng.integers(60, 90)), rng)))
    allb = np.concatenate([b for *_, b in speech_items] + [b for _, b in cmds])
    mean, std = allb.mean(0), np.maximum(allb.std(0), 1e-2)
    beh_ex = []
    for a, sr, b in speech_items:
        codes = tok.encode(a, sr, n_tokens=len(b))
        toks, p0 = voc.lipsync_prefix(codes)
        beh_ex.append(Example(toks, ((b - mean) / std).astype(np.float32), p0, kind="lip_sync"))
    for text, b in cmds:
        toks, p0 = voc.command_prefix(text)
        beh_ex.append(Example(toks, ((b - mean) / std).astype(np.float32), p0, kind="command"))
    lm = [voc.qa_example(a, q) for q, a in qa] + [voc.qa_example(a, q_codes=tok.encode(spoken[q], 16000)) for q, a in qa]
    qa_eval = [{"question": q, "answers": [a], "q_codes": tok.encode(spoken[q], 16000)} for q, a in sorted(dict(qa).items())]
    return TrainingBundle(bpe, tok, BEHAVIOUR_DIM, lm, beh_ex, qa_eval, source="hxsynth-gen",
                          behaviour_norm={"mean": mean.tolist(), "std": std.tolist()}, fps=fps)
