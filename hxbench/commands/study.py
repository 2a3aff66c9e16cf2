"""``hxbench study create|serve|report|export``: the user study (OmniHuman-1.5 §4.1)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hxbench.stats import DEFAULT_N_BOOT


def register(subparsers) -> None:  # noqa: ANN001
    p = subparsers.add_parser("study", help="user study: pairwise GSB / defects / best-choice in the browser",
                              description="Create a user study from two or more runs, serve it to "
                                          "raters, and report GSB, defect rates, Top-1, DA.")
    sub = p.add_subparsers(dest="study_command", metavar="ACTION")
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])

    c = sub.add_parser("create", help="build the comparison plan and print one link per rater")
    c.add_argument("--runs", nargs="+", required=True, metavar="NAME=PATH",
                   help="runs: folders of <sample_id>.mp4 (or RUN_DIR/outputs/); >= 2")
    c.add_argument("--protocol", choices=["pairwise", "best-choice"], default="pairwise")
    c.add_argument("--raters", type=int, required=True, help="number of raters (one link each)")
    c.add_argument("--out", "--study", dest="study", required=True, help="study directory to create")
    c.add_argument("--db", default=None, help="database URL (default: sqlite in the study directory; "
                                              "postgresql://user:pw@host/db for a shared study)")
    c.add_argument("--overlap", type=int, default=None,
                   help="raters per comparison (default: every rater judges every comparison)")
    c.add_argument("--checks", type=int, default=2, help="attention checks per rater (default 2)")
    c.add_argument("--da", action="store_true", help="also ask driving accuracy (persons / correctly animated)")
    c.add_argument("--seed", type=int, default=None, help="plan seed (default: random)")
    c.add_argument("--base-url", default="http://127.0.0.1:8000", help="URL prefix of the printed links")
    c.add_argument("--json", action="store_true", help="print the summary (links, admin token) as JSON")
    c.set_defaults(func=_create)

    s = sub.add_parser("serve", help="serve the study to raters (waitress)")
    s.add_argument("study", help="study directory")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--db", default=None, help="database URL (default: the study's)")
    s.add_argument("--threads", type=int, default=16)
    s.set_defaults(func=_serve)

    r = sub.add_parser("report", help="GSB with CIs, defect rates, Top-1, DA, agreement, ranking")
    r.add_argument("study", help="study directory")
    r.add_argument("--db", default=None)
    r.add_argument("--into", default=None, metavar="RUN_DIR",
                   help="also write study.json beside this run's results.json")
    r.add_argument("--n-boot", type=int, default=DEFAULT_N_BOOT, help="bootstrap draws (default %(default)s)")
    r.add_argument("--max-check-fail", type=float, default=0.5,
                   help="exclude raters failing more than this fraction of attention checks")
    r.set_defaults(func=_report)

    e = sub.add_parser("export", help="every item and vote as CSV or JSON")
    e.add_argument("study", help="study directory")
    e.add_argument("--db", default=None)
    e.add_argument("--format", choices=["csv", "json"], default="csv")
    e.add_argument("--output", "-o", default="-", help="file (default: stdout)")
    e.set_defaults(func=_export)


def _create(args: argparse.Namespace) -> int:
    from hxbench.study.core import create_study
    from hxbench.study.plan import parse_run_args

    runs = parse_run_args(args.runs)
    summary = create_study(args.study, runs, args.protocol, args.raters, db_url=args.db,
                           overlap=args.overlap, n_checks=args.checks, seed=args.seed, da=args.da,
                           base_url=args.base_url)
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(f"study created in {summary['study_dir']}: {summary['protocol']}, {summary['samples']} "
          f"matched samples, {summary['items']} items")
    for run, ids in summary["missing"].items():
        print(f"  run {run} lacks {len(ids)} sample(s) the others have: {', '.join(ids[:8])}"
              + (" ..." if len(ids) > 8 else ""))
    print("rater links (also in links.txt, mode 0600):")
    for link in summary["links"]:
        print(f"  {link['rater']}\t{link['url']}")
    print(f"admin token (results, export): {summary['admin_token']}")
    print(f"serve with: hxbench study serve {args.study}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from hxbench.study.app import make_server

    server = make_server(args.study, host=args.host, port=args.port, db_url=args.db,
                         threads=args.threads)
    print(f"serving {args.study} on http://{args.host}:{server.effective_port} (Ctrl-C stops)",
          flush=True)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        server.hxbench_store.close()
    return 0


def _report(args: argparse.Namespace) -> int:
    from hxbench.study.core import build_report

    rep = build_report(args.study, db_url=args.db, into=args.into, n_boot=args.n_boot,
                       max_check_fail=args.max_check_fail)
    v = rep["votes"]
    print(f"{v['used']} votes used ({v['answered']} answered of {v['items']} items; "
          f"{rep['attention']['failed']} attention checks failed; excluded raters: "
          f"{', '.join(v['excluded_raters']) or 'none'})")
    for p in rep.get("pairwise", {}).get("pairs", []):
        ci = p["gsb_ci95"]
        g = "n/a" if p["gsb"] is None else f"{p['gsb']:+.3f}"
        print(f"  GSB {p['a']} vs {p['b']}: {g}" + (f" [{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else "")
              + f"  (W/T/L {p['wins']}/{p['ties']}/{p['losses']})")
    for m, d in rep.get("pairwise", {}).get("defect_rates", {}).items():
        print(f"  {m}: " + ", ".join(f"{k} {'n/a' if d[k] is None else f'{d[k]:.3f}'}"
                                     for k in ("LSI", "MU", "ID")))
    for m, t in rep.get("best_choice", {}).get("top1", {}).items():
        print(f"  Top-1 {m}: {'n/a' if t is None else f'{t:.1%}'}")
    if rep["ranking"]["order"]:
        print("  Bradley-Terry order: " + " > ".join(rep["ranking"]["order"]))
    print(f"written {Path(args.study) / 'report.json'} and report.html"
          + (f", {Path(args.into) / 'study.json'}" if args.into else ""))
    return 0


def _export(args: argparse.Namespace) -> int:
    from hxbench.study.app import export_csv_text
    from hxbench.study.core import open_db

    store = open_db(args.study, args.db)
    try:
        rows = store.export()
        cfg = store.config()
    finally:
        store.close()
    text = export_csv_text(rows) if args.format == "csv" else json.dumps(
        {"config": cfg, "items": rows}, indent=1) + "\n"
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text)
    return 0
