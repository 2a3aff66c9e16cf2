"""hxbench: benchmark and evaluation suite for humanoid / talking-avatar generation."""

__version__ = "0.1.0"

from hxbench import _moved  # noqa: E402

_moved.install()
