"""Can an audio-mouth score from the face mesh separate matched from shifted / foreign speech on
real videos? (issue 17's target; docs/validity.md)

    .venv/bin/python bench/av_sync_real_study.py --gen DIR --audio DIR --cache OUT.npz [--json OUT.json]

DIR: videos and their speech tracks paired by name (e.g. ``bench/mochabench.py links``, or the
clean copies of a validity run, ``OUT/copies/clean``). For every video: the mouth opening per
frame at 25 fps (``av_sync.mouth_from_mesh``, the metric's own signal), the same for a still
image (its first frame repeated, the length of the video), and the speech energy per frame
(``av_sync.frame_energy_db``); cached in ``--cache``. Then, per rule, the AUC of the matched
speech against: the speech shifted by +-5 and +-10 frames, another context's speech (the
partner of ``hxbench.io.perturb.partners``, a different speech file), and the still image with
the matched speech (AUC = P(matched scores higher); target >= 0.9 each, still image at chance).

Rules (fixed before looking at the numbers, none fitted to these videos):
- ``av_corr`` / ``av_conf``: the metric as it is (peak correlation over lags -15..15 / peak
  minus median);
- ``corr0``: the correlation at lag 0 (max over lags -1..1, one frame of encoder slack): a
  score that must drop when the audio is shifted, since its lag is fixed;
- ``conf0``: ``corr0`` minus the median over lags -15..15.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's hxbench

SHIFTS = (-10, -5, 5, 10)


def series(gen: Path, audio: Path, cache: Path) -> dict:
    from hxbench.errors import SampleError
    from hxbench.face import face_mesh
    from hxbench.face.detect import face_mesh_clip
    from hxbench.io.media import clip_from_video, read_audio
    from hxbench.metrics.av_sync import FPS, SAMPLE_RATE, mouth_from_mesh

    data = dict(np.load(cache, allow_pickle=True)) if cache.exists() else {}
    for video in sorted(gen.glob("*.mp4")):
        sid = video.stem
        if f"{sid}/mouth" in data or f"{sid}/error" in data:
            continue
        clip = clip_from_video(video, target_fps=FPS)
        try:
            mesh = face_mesh_clip(clip)
            mouth = mouth_from_mesh(mesh, sid)
            first = next(clip.iter_chunks(1))[0]
            still_mesh = face_mesh(np.repeat(first[None], len(mouth), axis=0))
            still = mouth_from_mesh(still_mesh, sid)
        except SampleError as err:
            data[f"{sid}/error"] = np.array(str(err))
            print(f"{sid}: {err}", flush=True)
            continue
        data[f"{sid}/mouth"] = mouth
        data[f"{sid}/still"] = still
        data[f"{sid}/audio"] = read_audio(audio / f"{sid}.wav", SAMPLE_RATE)
        data[f"{sid}/group"] = np.array(str((audio / f"{sid}.wav").resolve()))
        np.savez(cache, **data)
        print(f"{sid}: {len(mouth)} frames", flush=True)
    return data


def curve(mouth: np.ndarray, audio: np.ndarray) -> np.ndarray:
    from hxbench.metrics.av_sync import FPS, _detrend, frame_energy_db, lagged_correlation

    energy = frame_energy_db(audio, len(mouth))
    win = int(round(FPS))
    return lagged_correlation(_detrend(np.asarray(mouth, float), win), _detrend(energy, win))


def scores(c: np.ndarray) -> dict[str, float]:
    mid = len(c) // 2
    peak = float(np.nanmax(c))
    c0 = float(np.nanmax(c[mid - 1:mid + 2]))
    med = float(np.nanmedian(c))
    return {"av_corr": peak, "av_conf": peak - med, "corr0": c0, "conf0": c0 - med}


def main() -> None:
    from hxbench.io.perturb import partners, shift_audio
    from hxbench.stats.agreement import auc, paired_auc_ci

    ap = argparse.ArgumentParser()
    ap.add_argument("--gen", type=Path, required=True)
    ap.add_argument("--audio", type=Path, required=True)
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    data = series(args.gen, args.audio, args.cache)
    ids = sorted(k.split("/")[0] for k in data if k.endswith("/mouth"))
    groups = [str(data[f"{s}/group"]) for s in ids]
    partner = partners(ids, groups)
    cond: dict[str, list[dict]] = {"matched": [], "still": [], "other": []}
    for k in SHIFTS:
        cond[f"shift{k:+d}"] = []
    for sid in ids:
        mouth, still, audio = data[f"{sid}/mouth"], data[f"{sid}/still"], data[f"{sid}/audio"]
        cond["matched"].append(scores(curve(mouth, audio)))
        cond["still"].append(scores(curve(still, audio)))
        cond["other"].append(scores(curve(mouth, data[f"{partner[sid]}/audio"])))
        for k in SHIFTS:
            cond[f"shift{k:+d}"].append(scores(curve(mouth, shift_audio(audio, k, 25.0))))
    out = {"n": len(ids), "rules": {}}
    print(f"{len(ids)} videos; AUC matched vs ... (95% CI); mean score per condition")
    for rule in ("av_corr", "av_conf", "corr0", "conf0"):
        m = np.array([s[rule] for s in cond["matched"]])
        row = {"mean": {c: float(np.mean([s[rule] for s in v])) for c, v in cond.items()}, "auc": {}}
        for c in cond:
            if c == "matched":
                continue
            x = np.array([s[rule] for s in cond[c]])
            row["auc"][c] = (auc(x, m), paired_auc_ci(x, m))
        out["rules"][rule] = row
        print(f"{rule:8s} " + "  ".join(f"{c} {a:.3f} [{ci[0]:.2f}, {ci[1]:.2f}]" for c, (a, ci) in row["auc"].items()))
        print(f"{'':8s} means " + "  ".join(f"{c} {v:.3f}" for c, v in row["mean"].items()))
    per_model = {}
    for i, sid in enumerate(ids):
        per_model.setdefault(sid.rsplit("_", 1)[0], []).append(cond["matched"][i])
    for model, ss in per_model.items():
        print(f"{model:20s} n {len(ss)} " + " ".join(f"{r} {np.mean([s[r] for s in ss]):.3f}" for r in ss[0]))
    out["per_model"] = {m: {r: float(np.mean([s[r] for s in ss])) for r in ss[0]} for m, ss in per_model.items()}
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
