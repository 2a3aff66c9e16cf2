"""`hxbench ls tasks|metrics|models|weights`: what is registered."""

from __future__ import annotations

import argparse

from hxbench.registry import CEILINGS, METRICS, MODELS, TASKS, WEIGHTS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ls", help="list registered tasks, metrics, models or weights")
    p.add_argument("kind", choices=["tasks", "metrics", "models", "ceilings", "weights"])
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.kind == "metrics":
        for name, cls in METRICS.items():
            outs = ", ".join(f"{k} ({v})" for k, v in cls.outputs.items())
            print(f"{name:14s} v{cls.version:4s} variants: {', '.join(cls.variants)}")
            print(f"{'':14s}       outputs: {outs}")
            scale = getattr(cls, "scale", None)
            if callable(scale):  # metrics whose variants differ in scale say so, one line each
                for v in cls.variants:
                    print(f"{'':14s}       [{v}] {scale(v)}")
            for line in declared_lines(cls):
                print(f"{'':14s}       {line}")
    elif args.kind == "tasks":
        for name, lazy in TASKS.items():
            spec = lazy.spec()
            flag = f" (superseded by {spec.superseded_by})" if spec.superseded_by else ""
            print(f"{name:20s} v{spec.version}  main: {spec.main_metric}{flag}")
    elif args.kind == "models":
        for name, obj in MODELS.items():
            doc = (getattr(obj, "description", "") or obj.__doc__ or "").strip().splitlines()
            print(f"{name:24s} {doc[0] if doc else ''}")
    elif args.kind == "ceilings":
        for name, write in CEILINGS.items():
            doc = (write.__doc__ or "").strip().splitlines()
            print(f"{name:24s} {doc[0] if doc else ''}")
    else:
        for name, spec in WEIGHTS.items():
            print(f"{name:28s} {spec.description}")
    return 0


def declared_lines(cls) -> list[str]:
    """The metric's declared behaviour in two lines (worse under / ignores), and its measured
    validity caveat (``hxbench validity``; docs/validity.md) when it fails its declaration."""
    from hxbench.metrics.base import INVARIANT, TRACKS_SHIFT, WORSE

    def names(kind: str) -> str:
        seen: list[str] = []
        for e in cls.declared:
            if e.expect == kind and e.perturbation not in seen:
                seen.append(e.perturbation)
        return ", ".join(seen)

    out = []
    for kind, label in ((WORSE, "worse under"), (INVARIANT, "ignores"), (TRACKS_SHIFT, "offset follows")):
        if names(kind):
            out.append(f"{label}: {names(kind)}")
    if cls.declared and not (cls.validity_caveat or cls.variant_caveats):
        out.append("validity: check with `hxbench validity`; measured on real videos: docs/validity.md")
    if cls.validity_caveat:
        out.append(f"VALIDITY: {cls.validity_caveat}")
    for key, caveat in cls.variant_caveats.items():
        out.append(f"VALIDITY [{key}]: {caveat}")
    return out
