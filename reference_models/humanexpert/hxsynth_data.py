"""Training data from hx-synth: built manifests (``--data hxsynth:<dir>``) or generators (``hxsynth-gen``).

``hxsynth:<dir>[,<dir>...]`` reads the *train* split of one or more ``hxbench.synth.build``
outputs (``bundle_from_hxsynth``):

* ``lip_sync/train.jsonl``: driving WAV (16 kHz) -> speech tokens (25/s, one per video frame),
  behaviour = ``meta["behaviour"]`` [T, 11] in ``meta["behaviour_layout"]`` order;
* ``listen_to_command/train.jsonl``: ``command`` text -> behaviour ``meta["behaviour"]``;
* ``audio_qa/train.jsonl``: question text and ``question_audio`` -> ``answers[0]`` (LM
  pre-training of the text-speech expert, T and S->T); ``audio_qa/test.jsonl`` (if present)
  becomes ``qa_eval`` (held-out items: a tiny model cannot know those facts, so expect ~0).

Test splits are never trained on. Clip i of a split is drawn from
``rng([seed, protocol, i, split])``, so no size's train clip is another size's test clip;
training on another seed than the one evaluated is still the safe habit.

``hxsynth-gen`` (no build needed) generates the same kind of data with hx-synth's own pure
functions: espeak-ng sentences (``hxbench.io.speech``) ->
``speech_behaviour`` (mouth follows phonemes + loudness, idle head motion, blinks) for lip
sync, and ``command_behaviour`` for the ten listen-to-command commands; behaviour is the
renderer's 11-d layout (``hxbench.synth.renderer.BEHAVIOUR_NAMES``), standardised per dimension
(the stats are stored in the checkpoint). QA pre-training text is the toy arithmetic corpus.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from reference_models.humanexpert.data import NUM, Example, TrainingBundle, Vocab
from reference_models.humanexpert.tokenizers import ByteBPE, SpeechTokenizer

WORDS = ("the quick brown fox jumps over a lazy dog while seven bold pilots map open water "
         "people often talk about music books rivers mountains cities and summer mornings "
         "please remember to bring apples bread cheese and warm soup tomorrow evening").split()


def bundle_from_generators(seed: int = 0, n_speech: int = 60, n_cmd_each: int = 16, n_qa: int = 400) -> TrainingBundle:
    from hxbench.io.speech import synthesize
    from hxbench.synth.behaviour import COMMANDS, command_behaviour, speech_behaviour
    from hxbench.synth.renderer import BEHAVIOUR_DIM

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


# --------------------------------------------------------------------------- render-free hx-synth samples


def generate_hxsynth(seed: int, n_lip: int, n_cmd: int, n_identities: int = 12):
    """hx-synth training samples without rendering video (much faster than a build).

    Lip sample k is train lip_sync clip k of a build with this seed (``hxbench.synth.lip_sync_clip``).
    Commands cycle through the ten ``COMMANDS`` (balanced, unlike a build's random train draw),
    sample k with the random stream of train listen_to_command clip k and a "small" build's clip
    length. Use a seed that no evaluated build has. Returns (lips [(audio 16 kHz, behaviour
    [T, 11], text)], cmds [(command text, behaviour)]).
    """
    from hxbench.synth import SIZES, command_clip, lip_sync_clip
    from hxbench.synth.behaviour import COMMANDS

    lips = []
    for k in range(n_lip):
        clip = lip_sync_clip(seed, "train", k, n_identities)
        lips.append((clip.audio, clip.behaviour.astype(np.float32), clip.text))
    names = list(COMMANDS)
    cmds = []
    for k in range(n_cmd):
        cmd = names[k % len(names)]
        beh = command_clip(seed, "train", k, cmd, SIZES["small"].cmd_frames, n_identities).behaviour
        cmds.append((COMMANDS[cmd], beh.astype(np.float32)))
    return lips, cmds


# --------------------------------------------------------------------------- hx-synth build manifests


def _load_split(root: Path, protocol: str, split: str):
    from hxbench.io.manifest import load_manifest

    p = root / protocol / f"{split}.jsonl"
    return load_manifest(p) if p.is_file() else None


def _behaviour_array(man, s, layout: list[str]) -> np.ndarray:
    rel = s.meta.get("behaviour")
    if rel is None:
        raise ValueError(f"{man.path}: sample {s.sample_id} has no meta['behaviour']")
    got = list(s.meta.get("behaviour_layout") or layout)
    if got != layout:
        raise ValueError(f"{man.path}: sample {s.sample_id} behaviour_layout {got} != {layout}")
    b = np.load(man.resolve(rel)).astype(np.float32)
    if b.ndim != 2 or b.shape[1] != len(layout):
        raise ValueError(f"{man.path}: {rel} has shape {b.shape}, expected [T, {len(layout)}]")
    return b


def bundle_from_hxsynth(roots, seed: int = 0, bpe_size: int = 512, codebook_size: int = 128,
                        vq_iters: int = 40, gen: tuple[int, int, int] | None = None,
                        tokenizers: tuple[ByteBPE, SpeechTokenizer] | None = None) -> TrainingBundle:
    """Training bundle from the train splits of one or more ``hxbench.synth.build`` outputs.

    gen = (seed, n_lip, n_cmd) adds render-free samples (``generate_hxsynth``); tokenizers =
    (bpe, speech) reuses trained tokenizers (e.g. a checkpoint's, to keep its text-speech expert)
    instead of training new ones on this data."""
    from hxbench.io.media import read_audio
    from hxbench.synth.renderer import BEHAVIOUR_NAMES

    if isinstance(roots, (str, Path)):
        roots = [Path(r) for r in str(roots).split(",") if r]
    roots = [Path(r) for r in roots]
    layout = list(BEHAVIOUR_NAMES)
    lips, cmds, qa_train, qa_test, fps = [], [], [], [], None
    for root in roots:
        if not root.is_dir():
            raise FileNotFoundError(f"hx-synth build {root} not found. Fix: python -c \"from hxbench.synth import "
                                    f"build; build('{root}', 'small', seed=1)\"")
        info = json.loads((root / "dataset.json").read_text()) if (root / "dataset.json").is_file() else {}
        if info.get("behaviour_layout", layout) != layout:
            raise ValueError(f"{root}: behaviour_layout {info['behaviour_layout']} != renderer's {layout}")
        f = float(info.get("fps", 25))
        if fps is not None and f != fps:
            raise ValueError(f"{root}: fps {f} differs from another build's {fps}")
        fps = f
        if (m := _load_split(root, "lip_sync", "train")) is not None:
            for s in m.samples:
                b = _behaviour_array(m, s, layout)
                lips.append((read_audio(m.resolve(s.driving_audio), 16000), b, s.text or ""))
        if (m := _load_split(root, "listen_to_command", "train")) is not None:
            for s in m.samples:
                cmds.append((s.command, _behaviour_array(m, s, layout)))
        for split, dest in (("train", qa_train), ("test", qa_test)):
            if (m := _load_split(root, "audio_qa", split)) is not None:
                for s in m.samples:
                    aud = read_audio(m.resolve(s.question_audio), 16000) if s.question_audio else None
                    dest.append((s.question, list(s.answers or []), aud))
    if gen is not None:
        g_lips, g_cmds = generate_hxsynth(*gen)
        lips += g_lips
        cmds += g_cmds
    if not lips and not cmds:
        raise ValueError(f"no lip_sync/listen_to_command train samples under {', '.join(map(str, roots))}")
    if tokenizers is not None:
        bpe, tok = tokenizers
    else:
        corpus = [q + " " + " ".join(a) for q, a, _ in qa_train] + [c for c, _ in cmds] + [t for *_, t in lips]
        bpe = ByteBPE.train(corpus, bpe_size)
        tok = SpeechTokenizer(codebook_size=codebook_size)
        feats = [tok.features(a, 16000) for a, *_ in lips] + [tok.features(a, 16000) for *_, a in qa_train if a is not None]
        tok.fit(feats, iters=vq_iters, seed=seed)
    voc = Vocab(bpe, tok.K)
    allb = np.concatenate([b for _, b, _ in lips] + [b for _, b in cmds])
    mean, std = allb.mean(0), np.maximum(allb.std(0), 1e-2)
    beh_ex = []
    for a, b, _ in lips:
        toks, p0 = voc.lipsync_prefix(tok.encode(a, 16000, n_tokens=len(b)))
        beh_ex.append(Example(toks, ((b - mean) / std).astype(np.float32), p0, kind="lip_sync"))
    for text, b in cmds:
        toks, p0 = voc.command_prefix(text)
        beh_ex.append(Example(toks, ((b - mean) / std).astype(np.float32), p0, kind="command"))
    lm = []
    for q, ans, aud in qa_train:
        lm.append(voc.qa_example(ans[0], q))
        if aud is not None:
            lm.append(voc.qa_example(ans[0], q_codes=tok.encode(aud, 16000)))
    qa_eval = [{"question": q, "answers": ans, "q_codes": None if aud is None else tok.encode(aud, 16000)}
               for q, ans, aud in qa_test]
    return TrainingBundle(bpe, tok, len(layout), lm, beh_ex, qa_eval,
                          source="hxsynth:" + ",".join(str(r) for r in roots)
                          + (f" + generated(seed={gen[0]}, lip={gen[1]}, cmd={gen[2]})" if gen else ""),
                          behaviour_norm={"mean": mean.tolist(), "std": std.tolist()}, fps=fps or 25.0)
