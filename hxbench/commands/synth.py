"""`hxbench synth --out DIR --size tiny|small|full --seed N`: build the hx-synth benchmark."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("synth", help="generate the offline hx-synth benchmark / training set",
                       description="Generate talking-face, command, multi-person, whole-body and "
                                   "audio-QA samples with manifests for every protocol (needs "
                                   "espeak-ng and mediapipe; see README).")
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--size", default="tiny", choices=["tiny", "small", "full"])
    p.add_argument("--seed", default=0, type=int)
    p.add_argument("--photos", type=Path, nargs="*", default=None,
                   help="extra reference photos (one frontal face each) to add identities")
    p.add_argument("--protocols", nargs="*", default=None,
                   help="only these protocols (default: all)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hxbench.synth.build import PROTOCOLS, build

    out = build(args.out, size=args.size, seed=args.seed, progress=not args.no_progress,
                photo_paths=args.photos, protocols=tuple(args.protocols or PROTOCOLS))
    info = json.loads((out / "dataset.json").read_text())
    print(f"hx-synth {info['size']} (seed {info['seed']}) -> {out}  revision {info['revision']}")
    for key, m in sorted(info["manifests"].items()):
        print(f"  {key:28s} {m['n']:5d} samples  {m['path']}")
    for proto, digest in sorted(info["content"].items()):
        print(f"  {proto:28s} content {digest}")
    print("  built with " + ", ".join(f"{k} {v}" for k, v in sorted(info["built_with"].items())))
    return 0
