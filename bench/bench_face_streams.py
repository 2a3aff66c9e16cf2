"""Peak memory of one face metric on one long video, in its own process, for any checkout.

Runs ``build_metric(KEY).update(sample)`` (the metric alone, its videos read as the scoring run
reads them), or with several ``--metric`` keys one shared decoding pass feeding all their
streams (what a scoring run does per sample), in a child process started in ``--repo`` (so a checkout before and after a change
can be compared with the same interpreter), and reports the child's peak RSS (``ru_maxrss``:
the networks and libraries included), wall and CPU seconds and the values. A watchdog stops the
child when its resident memory passes ``--limit-gb`` (then the peak is reported as "over").

Stand-ins, for networks whose weights or loader this machine lacks (the same in both checkouts,
so memory and the face pipeline are compared, not the network):

- ``--stand-in-facenet``: ``hxbench.nets.facenet.facenet_embed`` replaced by subsampled crop
  pixels; the face mesh, the crops and everything else are the metric's own. (Without it the
  real FaceNet runs; checkouts from before its OpenCV 5.1 fix get ``cv2.dnn.readNet`` as
  ``readNetFromTensorflow``.)
- ``sync[...]``: SyncNet with seeded random weights (``tests/test_sync.random_state``), as the
  parity tests; ``syncnet_v2`` is not installed here.

    .venv/bin/python bench/bench_face_streams.py --repo . --metric "id_sim[facenet-512]" \\
        --gen gen_1080p_20s.mp4 --ref ref_1080p_20s.mp4 --stand-in-facenet
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
import numpy as np
sys.path.insert(0, {repo!r})
import hxbench
from hxbench.io.media import clip_from_video
from hxbench.metrics.base import SampleData, build_metric

import cv2
if not hasattr(cv2.dnn, "readNetFromTensorflow"):  # OpenCV 5.1: lets an older checkout load FaceNet
    cv2.dnn.readNetFromTensorflow = cv2.dnn.readNet
if {facenet}:
    import hxbench.nets.facenet as facenet

    def stand_in(crops):
        x = crops[:, ::7, ::7, :].reshape(len(crops), -1)[:, :512].astype(np.float32) - 127.5
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)

    facenet.facenet_embed = stand_in
metrics = {{}}
for key in {metrics!r}:
    m = build_metric(key)
    if m.name == "sync":
        from hxbench.nets.syncnet import syncnet_model
        from tests.test_sync import random_state

        m._net = syncnet_model(random_state(0))
        m.check_available = lambda: None  # the stand-in replaces the missing weights
    metrics[key] = m
gen = clip_from_video({gen!r})
ref = clip_from_video({ref!r}) if {ref!r} else None
sample = SampleData("bench", gen=gen, ref=ref, meta={{"command": "Open your mouth."}})
t0, c0 = time.perf_counter(), time.process_time()
if len(metrics) == 1:
    values = m.update(sample).values
else:  # one decoding pass for all, as a scoring run does for a sample
    from hxbench.metrics.stream import run_streams

    streams = {{k: m.open_stream(sample) for k, m in metrics.items()}}
    errors = run_streams(sample, streams)
    values = {{k: (repr(errors[k]) if errors[k] is not None else metrics[k].close_stream(sample, streams[k]).values)
              for k in metrics}}
print(json.dumps({{"hxbench": hxbench.__file__, "values": values, "wall_s": time.perf_counter() - t0,
                  "cpu_s": time.process_time() - c0,
                  "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}}))
"""


def rss_gb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return 0.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repo", required=True, help="checkout whose hxbench is measured")
    ap.add_argument("--metric", required=True, nargs="+",
                    help="one metric (scored alone, update), or several (one shared decoding pass)")
    ap.add_argument("--gen", required=True)
    ap.add_argument("--ref", default="")
    ap.add_argument("--stand-in-facenet", action="store_true")
    ap.add_argument("--limit-gb", type=float, default=8.0)
    args = ap.parse_args()
    repo = str(Path(args.repo).resolve())
    code = CHILD.format(repo=repo, metrics=args.metric, gen=str(Path(args.gen).resolve()),
                        ref=str(Path(args.ref).resolve()) if args.ref else "", facenet=args.stand_in_facenet)
    t0 = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", code], cwd=repo, stdout=subprocess.PIPE, text=True)
    peak = 0.0
    while child.poll() is None:
        peak = max(peak, rss_gb(child.pid))
        if peak > args.limit_gb:
            child.kill()
            child.wait()
            print(json.dumps({"repo": repo, "metric": args.metric, "stopped": True,
                              "peak_rss_gb": f"> {args.limit_gb:g}", "after_s": round(time.perf_counter() - t0, 1)}))
            return 1
        time.sleep(0.2)
    out = child.stdout.read().strip().splitlines()
    if child.returncode != 0 or not out:
        print(json.dumps({"repo": repo, "metric": args.metric, "error": child.returncode}))
        return 1
    res = json.loads(out[-1])
    res.update(repo=repo, metric=args.metric)
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
