"""The machine a run or a build happens on, as far as it changes the numbers.

Float32 network outputs and numpy's float kernels depend on the instruction set they dispatch
to, and hx-synth's face rig comes from the face mesh's float arithmetic, so the same inputs can
give other digits, and the same seed other bytes, on another CPU.
"""

from __future__ import annotations

import platform
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name (Linux ``/proc/cpuinfo``; ``platform.processor()`` elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def numpy_simd() -> str | None:
    """The widest SIMD level numpy dispatches to here (its float kernels differ by level)."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as feats
    except ImportError:  # numpy < 2
        try:
            from numpy.core._multiarray_umath import __cpu_features__ as feats
        except ImportError:
            return None
    for level in ("AVX512_SPR", "AVX512_ICL", "AVX512_SKX", "AVX512F", "AVX2", "SSE42", "SVE", "ASIMD"):
        if feats.get(level):
            return level
    return None
