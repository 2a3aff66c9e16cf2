"""The ``hxbench`` command line.

Each subcommand lives in ``hxbench/commands/<name>.py`` and defines
``register(subparsers)``, which adds its parser and sets ``func`` (a callable taking the
parsed args and returning an exit code). Modules are discovered automatically.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

import hxbench
from hxbench.errors import HxbenchError
from hxbench.registry import UnknownNameError


def build_parser() -> argparse.ArgumentParser:
    import hxbench.commands as commands

    parser = argparse.ArgumentParser(
        prog="hxbench",
        description="Benchmark and evaluation suite for humanoid / talking-avatar generation.",
    )
    parser.add_argument("--version", action="version", version=f"hxbench {hxbench.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{commands.__name__}.{info.name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        if getattr(args, "memory_budget", None):
            from hxbench.io.budget import ENV, parse_size

            os.environ[ENV] = str(parse_size(args.memory_budget))  # checked now, read by metrics
        return int(args.func(args) or 0)
    except (HxbenchError, UnknownNameError, FileNotFoundError, ValueError) as err:
        print(f"hxbench: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("hxbench: interrupted; completed samples are kept, re-run to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
