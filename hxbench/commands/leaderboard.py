"""`hxbench leaderboard build|show`: static leaderboard site from result bundles.

``build`` renders every board under ``--boards`` (default: the bundled ``hxbench/resources/leaderboards``) into ``--out``:
HTML + CSS, no server. Entries are verified bundles in ``<board>/entries/``; incompatible
ones (other task, manifest revision, metric version or weights) stop the build with the
reasons unless ``--exclude-incompatible``. ``show BOARD`` prints the ranking.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hxbench.paths import BOARDS_DIR as DEFAULT_BOARDS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("leaderboard", help="build the static leaderboard site, or show a board's ranking")
    lsub = p.add_subparsers(dest="lb_command", metavar="ACTION")
    b = lsub.add_parser("build", help="render boards to a static site (HTML + CSS)")
    b.add_argument("--boards", type=Path, default=DEFAULT_BOARDS, help="folder of boards (default: the bundled boards)")
    b.add_argument("--out", type=Path, default=Path("site"), help="output folder (default: ./site)")
    b.add_argument("--board", nargs="+", default=None, help="only these boards")
    b.add_argument("--exclude-incompatible", action="store_true",
                   help="drop incompatible/unverified entries (listed on the page) instead of failing")
    b.set_defaults(func=run_build)
    s = lsub.add_parser("show", help="print a board's ranking")
    s.add_argument("board", help="board name or folder")
    s.add_argument("--boards", type=Path, default=DEFAULT_BOARDS)
    s.add_argument("--exclude-incompatible", action="store_true")
    s.set_defaults(func=run_show)
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])


def run_build(args: argparse.Namespace) -> int:
    from hxbench.board.site import build_site

    boards = build_site(args.boards, args.out, args.board, args.exclude_incompatible)
    for b in boards:
        what = "reported" if b.kind == "reported" else f"{len(b.entries)} entries"
        extra = f", {len(b.excluded)} excluded" if b.excluded else ""
        print(f"{b.name}: {what}{extra}")
    print(f"site: {args.out / 'index.html'}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    from hxbench.board.leaderboard import load_board

    path = Path(args.board)
    board = load_board(path if (path / "board.yaml").is_file() else args.boards / args.board,
                       exclude_incompatible=args.exclude_incompatible)
    if board.kind == "reported":
        for t in board.tables:
            print(f"{t['source']} (reported, not reproduced): {len(t['rows'])} rows")
        return 0
    print(board.ranking_text())
    head = ["#", "model"] + [c.label for c in board.columns]
    rows = [head] + [[str(e.rank), e.name] + ["-" if e.values.get(c.id) is None else format(e.values[c.id], c.format)
                                             for c in board.columns] for e in board.entries]
    w = [max(len(r[i]) for r in rows) for i in range(len(head))]
    for r in rows:
        print("  ".join(x.ljust(wi) for x, wi in zip(r, w)).rstrip())
    for n, reason in board.excluded:
        print(f"excluded {n}: {reason}")
    return 0
