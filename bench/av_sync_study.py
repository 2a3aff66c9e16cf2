"""av_sync design study on hx-synth clips: does speech activity (silero-vad) or a mouth-motion
floor separate in-sync, shifted, mismatched and still-image videos better?

    .venv/bin/python bench/av_sync_study.py DATA_DIR [DATA_DIR ...] [--max-clips 40]

DATA_DIR is an hx-synth ``lip_sync`` folder (``hxbench synth``; its ``*.jsonl`` manifests and
``media/*.mp4`` ground-truth videos with their ``.wav``). For every clip the MediaPipe mouth
series is computed once for the ground-truth video and for a still image (its first frame
repeated, H.264-encoded and decoded again, as a still-image model's output is); then each
scoring rule is applied to:

- ``gt``: the video with its own audio (expected: lag 0, high score);
- ``shift+5``: the audio delayed by 5 frames (expected offset -5, SyncNet's sign);
- ``mismatch``: the audio of another clip (expected: low score);
- ``still``: the still image with the clip's audio (expected: low score).

Printed per rule: mean av_corr per condition, the fraction of GT clips with |offset| <= 1,
the fraction of shifted clips whose offset is within 1 frame of -5, and the AUC of gt vs
still and gt vs mismatch (probability that a random GT clip scores higher).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SHIFT = 5
FPS = 25
SAMPLE_RATE = 16000
_VAD = None
RULES = ("energy", "energy+floor", "vad-gated", "vad-gated+floor", "vad-prob+floor")


def speech_probability(audio: np.ndarray, n_frames: int, fps: float = FPS) -> np.ndarray:
    """(n_frames,) silero-vad speech probability in [0, 1] per video frame: the model shipped
    with the ``silero-vad`` package (pip install silero-vad==6.2.3), run over 512-sample
    chunks of the 16 kHz audio, linearly interpolated from chunk centres to frame centres."""
    import torch
    from silero_vad import load_silero_vad

    global _VAD
    if _VAD is None:
        _VAD = load_silero_vad()
    x = torch.from_numpy(np.asarray(audio, np.float32).reshape(-1))
    n_chunks = max(1, int(np.ceil(len(x) / 512)))
    x = torch.nn.functional.pad(x, (0, n_chunks * 512 - len(x)))
    _VAD.reset_states()
    with torch.inference_mode():
        probs = np.array([float(_VAD(x[i * 512:(i + 1) * 512], SAMPLE_RATE)) for i in range(n_chunks)])
    centres = (np.arange(n_chunks) + 0.5) * 512 / SAMPLE_RATE
    return np.interp((np.arange(n_frames) + 0.5) / fps, centres, probs)


def score_series(mouth: np.ndarray, audio: np.ndarray, rule: str, vad: np.ndarray) -> dict[str, float]:
    """av_sync outputs under a scoring rule: "energy": band energy (av_sync v1); "+floor":
    with av_sync's MOTION_FLOOR (v2, the default now); "vad-gated": the energy pulled to its
    floor by (1 - speech probability); "vad-prob": the speech probability as the audio signal."""
    from hxbench.metrics import av_sync as A

    n = len(mouth)
    energy = A.frame_energy_db(audio, n)
    if rule.startswith("vad-gated"):
        floor = energy.min()
        energy = floor + (energy - floor) * vad
    elif rule.startswith("vad-prob"):
        energy = vad
    return A.synchrony(mouth, energy, motion_floor=A.MOTION_FLOOR if rule.endswith("+floor") else 0.0)


def clips(dirs: list[Path], max_clips: int) -> list[tuple[Path, Path]]:
    out = []
    for d in dirs:
        for man in sorted(d.glob("*.jsonl")):
            for line in man.read_text().splitlines():
                rec = json.loads(line)
                audio = d / rec["driving_audio"]
                video = audio.with_suffix(".mp4")
                if video.exists():
                    out.append((video, audio))
    return out[:max_clips]


def auc(pos: list[float], neg: list[float]) -> float:
    pos, neg = np.asarray(pos)[:, None], np.asarray(neg)[None, :]
    return float(np.mean((pos > neg) + 0.5 * (pos == neg)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dirs", nargs="+", type=Path)
    ap.add_argument("--max-clips", type=int, default=40)
    args = ap.parse_args()

    import torch

    torch.set_num_threads(1)
    from hxbench.io.media import read_audio, read_video, write_video
    from hxbench.metrics import av_sync as A

    items = clips(args.dirs, args.max_clips)
    if len(items) < 3:
        sys.exit("need at least 3 clips")
    data = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (video, audio_path) in enumerate(items):
            frames = read_video(video, fps=25)
            audio = read_audio(audio_path, 16000)
            still_path = write_video(Path(tmp) / f"still{i}.mp4", np.repeat(frames[:1], len(frames), 0), fps=25)
            still = read_video(still_path)
            try:
                m_gt = A.mouth_series(frames)
                m_still = A.mouth_series(still)
            except Exception as err:  # noqa: BLE001 - a clip without a face is skipped, reported
                print(f"skip {video.name}: {err}")
                continue
            data.append({"name": video.stem, "n": len(frames), "audio": audio, "m_gt": m_gt, "m_still": m_still})
    print(f"{len(data)} clips ({', '.join(str(d) for d in args.dirs)})")
    for d in data:
        d["vad"] = speech_probability(d["audio"], d["n"])
    speech_frac = np.mean([np.mean(d["vad"] > 0.5) for d in data])
    print(f"silero-vad: mean fraction of frames with speech probability > 0.5: {speech_frac:.3f}")

    def delayed(audio, frames):
        k = frames * 640
        return np.concatenate([np.zeros(k, audio.dtype), audio[:len(audio) - k]])

    rules = RULES
    print(f"{'rule':22s} {'gt':>6s} {'shift':>6s} {'mism':>6s} {'still':>6s}  {'gt|off|<=1':>10s} "
          f"{'shift ok':>8s}  {'AUC gt>still':>12s} {'AUC gt>mism':>11s}")
    for rule in rules:
        res = {k: [] for k in ("gt", "shift", "mismatch", "still")}
        offs = {"gt": [], "shift": []}
        for j, d in enumerate(data):
            other = data[(j + 1) % len(data)]
            shifted = delayed(d["audio"], SHIFT)
            conds = {"gt": (d["m_gt"], d["audio"], d["vad"]),
                     "shift": (d["m_gt"], shifted, speech_probability(shifted, d["n"])),
                     "mismatch": (d["m_gt"], other["audio"], speech_probability(other["audio"], d["n"])),
                     "still": (d["m_still"], d["audio"], d["vad"])}
            for name, (mouth, audio, vad) in conds.items():
                try:
                    r = score_series(mouth, audio, rule, vad)
                except Exception:  # noqa: BLE001 - constant mouth etc.: scored as no sync
                    r = {"av_corr": 0.0, "av_offset": np.nan}
                res[name].append(r["av_corr"])
                if name in offs:
                    offs[name].append(r["av_offset"])
        gt_ok = np.mean(np.abs(np.asarray(offs["gt"])) <= 1)
        sh_ok = np.mean(np.abs(np.asarray(offs["shift"]) + SHIFT) <= 1)
        print(f"{rule:22s} {np.mean(res['gt']):6.3f} {np.mean(res['shift']):6.3f} {np.mean(res['mismatch']):6.3f} "
              f"{np.mean(res['still']):6.3f}  {gt_ok:10.2f} {sh_ok:8.2f}  {auc(res['gt'], res['still']):12.3f} "
              f"{auc(res['gt'], res['mismatch']):11.3f}", flush=True)


if __name__ == "__main__":
    main()
