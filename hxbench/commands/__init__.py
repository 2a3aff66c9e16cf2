"""Subcommands of the ``hxbench`` CLI: one module each, defining ``register(subparsers)``."""
