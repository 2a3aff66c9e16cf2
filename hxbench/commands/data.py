"""`hxbench data status|import|fetch|examples`: public benchmarks as named, versioned data."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hxbench.commands._common import dump_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="show, import or fetch public benchmark data (MoChaBench)")
    dsub = p.add_subparsers(dest="data_command", required=True)
    s = dsub.add_parser("status", help="every data source: present or not, where, revision, contexts, changed files")
    s.add_argument("names", nargs="*", metavar="NAME")
    s.add_argument("--files", action="store_true", help="also every file: sha256, pinned or recorded at import")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=status)
    i = dsub.add_parser("import", help="check a local copy file by file and install it under $HXBENCH_HOME/data")
    i.add_argument("name")
    i.add_argument("path", type=Path, help="a clone, its benchmark/ folder, a partial copy or a Hugging Face snapshot")
    i.set_defaults(func=do_import)
    f = dsub.add_parser("fetch", help="download the official files at the pinned revision, verify, install "
                                      "(needs a network)")
    f.add_argument("name")
    f.add_argument("--examples", action="store_true",
                   help="also the published models' example outputs and ratings (eval-viescore/)")
    f.set_defaults(func=fetch)
    e = dsub.add_parser("examples", help="stage a published model's example outputs in the benchmark's own "
                                         "layout (<category>/<context_id>.mp4), ready for validate / score")
    e.add_argument("name")
    e.add_argument("--model", help="the model folder (default: list them)")
    e.add_argument("--out", type=Path, help="the outputs folder to write")
    e.add_argument("--contexts", type=Path, default=None,
                   help="NN -> category, context_id CSV (default: example_results_contexts.csv of the data)")
    e.add_argument("--copy", action="store_true", help="copy the videos instead of linking them")
    e.set_defaults(func=examples)


def _print_record(record: dict) -> None:
    print(f"  layout {record['layout']}, revision {record['revision'][:7]}, "
          f"{record['n_contexts']} of {record['n_contexts_total']} contexts")
    for cat, c in record.get("categories", {}).items():
        print(f"    {cat:30s} {c['present']:3d} / {c['total']}")
    files = record.get("files", {})
    n_pinned = sum(1 for f in files.values() if f.get("pinned"))
    print(f"  {len(files)} files: {n_pinned} equal to the pinned revision's sha256, "
          f"{len(files) - n_pinned} recorded at import")
    for model, n in record.get("example_outputs", {}).items():
        print(f"  example outputs: {model} ({n} videos)")
    for task, n in record.get("manifests", {}).items():
        print(f"  task {task}: {n} samples" + ("" if n else " (no contexts of its categories in this copy)"))


def status(args: argparse.Namespace) -> int:
    from hxbench.data import read_record
    from hxbench.data import status as data_status

    rows = data_status(args.names or None)
    if args.files:
        for r in rows:
            record = read_record(Path(r["path"])) if r["path"] else None
            r["file_hashes"] = (record or {}).get("files", {})
    if args.json:
        dump_json(rows)
        return 0
    for r in rows:
        where = r["path"] or "-"
        counts = f"{r['contexts']}/{r['n_contexts_total']} contexts" if r["contexts"] is not None else ""
        print(f"{r['name']:14s} {r['state']:9s} {r['revision'][:7]}  {counts:18s} {where}")
        if r["path"]:
            print(f"{'':14s} layout {r['layout']}, {r['files']} files ({r['files_pinned']} pinned), "
                  f"from {r.get('imported_from')}")
            for task, n in r["manifests"].items():
                print(f"{'':14s} task {task}: {n} samples")
        for rel, f in r.get("file_hashes", {}).items():
            print(f"{'':14s} {f['sha256'][:16]} {'pinned  ' if f['pinned'] else 'recorded'} {rel}")
        for c in r["changed"][:10]:
            print(f"{'':14s} changed: {c}")
        if r["fix"]:
            print(f"{'':14s} fix: {r['fix']}")
    return 0


def do_import(args: argparse.Namespace) -> int:
    from hxbench.data import data_root, import_data

    record = import_data(args.name, args.path)
    print(f"imported {args.name} from {args.path} into {data_root(args.name)}")
    _print_record(record)
    return 0


def fetch(args: argparse.Namespace) -> int:
    from hxbench.data import data_root, fetch_data

    record = fetch_data(args.name, with_examples=args.examples,
                        progress=lambda line: print(line, file=sys.stderr))
    print(f"fetched {args.name} into {data_root(args.name)}")
    _print_record(record)
    return 0


def examples(args: argparse.Namespace) -> int:
    from hxbench.data import DataError, data_root, get_source, read_record
    from hxbench.data.mochabench import example_models, stage_examples

    get_source(args.name)
    root = data_root(args.name)
    if read_record(root) is None:
        raise DataError(f"no {args.name} data in {root}; first: hxbench data import {args.name} PATH")
    if not args.model:
        models = example_models(root)
        print("\n".join(models) if models else f"the {args.name} copy holds no example outputs")
        return 0
    if args.out is None:
        raise DataError("--out DIR is required with --model")
    staged = stage_examples(root, args.model, args.out, args.contexts, copy=args.copy)
    print(f"staged {len(staged)} videos of {args.model} in {args.out} (<category>/<context_id>.mp4)")
    return 0
