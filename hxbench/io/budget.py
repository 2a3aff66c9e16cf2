"""The working-memory budget that chunk and batch sizes follow.

Metrics size their chunks of frames in bytes, not frames, so memory depends on the budget and
the frame size, never on a video's length. The budget is ``$HXBENCH_MEMORY_BUDGET`` (bytes, or
a size such as ``768M`` / ``2G``; ``hxbench score --memory-budget`` sets it), by default 1/32 of
the machine's memory clamped to [256 MiB, 1 GiB]: 768 MiB on a 24 GiB machine, which keeps a
run of the usual metrics (whose networks alone take about 2.4 GB) near 3.5 GB.
"""

from __future__ import annotations

import os
import re

ENV = "HXBENCH_MEMORY_BUDGET"
MIN_DEFAULT, MAX_DEFAULT = 256 << 20, 1 << 30
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(text: str) -> int:
    """'768M' / '2g' / '1.5G' / '1048576' -> bytes (binary units)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*", str(text).lower())
    if not m:
        raise ValueError(f"not a size: {text!r} (write bytes, or e.g. 768M, 2G)")
    value = int(float(m.group(1)) * _UNITS[m.group(2)])
    if value <= 0:
        raise ValueError(f"a memory budget must be positive, got {text!r}")
    return value


def _total_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def memory_budget() -> int:
    """Bytes of working memory one metric may use for one sample's frames."""
    text = os.environ.get(ENV)
    if text:
        return parse_size(text)
    return min(MAX_DEFAULT, max(MIN_DEFAULT, _total_memory() // 32))


def frames_per_chunk(frame_bytes: int, bytes_per_input_byte: float = 1.0, cap: int | None = None,
                     budget: int | None = None) -> int:
    """How many frames of ``frame_bytes`` (uint8, H*W*3) fit the budget when each input byte
    costs ``bytes_per_input_byte`` of working memory; at least 1, at most ``cap``."""
    budget = memory_budget() if budget is None else budget
    n = max(1, int(budget // max(1.0, frame_bytes * bytes_per_input_byte)))
    return min(n, cap) if cap else n



_LIBC: object = None
_HEAP_SET = False
# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
# the values glibc's dynamic thresholds reach (and stop at) once a block of 32 MiB or more, served
# by its own map, has been freed: blocks from 32 MiB up get their own map, and free() gives the
# heap's top back to the system once 64 MiB of it are free
MMAP_THRESHOLD, TRIM_THRESHOLD = 32 << 20, 64 << 20


def _libc():
    """glibc through ctypes, or False where the C library is not glibc."""
    global _LIBC
    if _LIBC is None:
        try:
            import ctypes

            _LIBC = ctypes.CDLL("libc.so.6")
            _LIBC.malloc_trim, _LIBC.mallopt  # both glibc
        except (OSError, AttributeError):
            _LIBC = False
    return _LIBC


def settle_heap_thresholds() -> None:
    """Set glibc's heap thresholds, once per process, to ``MMAP_THRESHOLD`` / ``TRIM_THRESHOLD``:
    the values its dynamic policy converges to anyway (a no-op where the C library is not glibc).
    A threshold the user set through glibc's own environment (``MALLOC_MMAP_THRESHOLD_``,
    ``MALLOC_TRIM_THRESHOLD_``, or ``GLIBC_TUNABLES`` naming it) is left as set: a low mmap
    threshold (1-4 MiB) keeps the heap from fragmenting over a long run, at +20-27 % CPU
    (docs/performance.md, "The heap over a long run").

    Why: until that policy has seen a large block freed, its trim threshold is twice the largest
    block freed so far, and a network pass over a few frames (one short video's frames) frees
    tens of MB of activations at the top of the heap: free() handed those pages back after every
    pass and the next pass faulted them in again (LPIPS at 4 pairs of 256 px per pass: ~42 MB
    per pass, ~10 % of its CPU time; docs/performance.md). The decoding pass still returns freed
    pages after each chunk (``trim_freed_memory``), so at most ``TRIM_THRESHOLD`` of freed heap
    stays resident between chunks. (A low fixed mmap threshold, 1 MiB, cost SSIM +35 % CPU:
    see ``trim_freed_memory``.)"""
    global _HEAP_SET
    if not _HEAP_SET:
        libc = _libc()
        if libc:
            tunables = os.environ.get("GLIBC_TUNABLES", "")
            for param, value, env, tunable in (
                    (_M_MMAP_THRESHOLD, MMAP_THRESHOLD, "MALLOC_MMAP_THRESHOLD_", "glibc.malloc.mmap_threshold"),
                    (_M_TRIM_THRESHOLD, TRIM_THRESHOLD, "MALLOC_TRIM_THRESHOLD_", "glibc.malloc.trim_threshold")):
                if env not in os.environ and tunable not in tunables:
                    libc.mallopt(param, value)
        _HEAP_SET = True


def trim_freed_memory() -> None:
    """Give the heap's free pages back to the system (glibc ``malloc_trim(0)``; a no-op where
    the C library is not glibc). The decoding pass calls it after each chunk: glibc serves
    frame-sized buffers from the heap once it has freed a larger block (its mmap threshold
    adapts upwards, to 32 MiB), and with the decoder's and the networks' threads the heap
    fragments, so that resident memory grew with the video's length although no frame was
    kept (measured: emo_sim[fer-7class] on a 20 s 1080p pair, 1.2 -> 2.6 GB over its 500
    frames; with the trim, flat at about 1.0 GB). Cost: within the noise of SSIM at 1080p, one
    frame per chunk. (Fixing the mmap threshold at 1 MiB instead also kept memory flat but
    made SSIM's 16 MB float64 intermediates fresh maps, page-faulted on every frame: +35 % CPU.)"""
    libc = _libc()
    if libc:
        libc.malloc_trim(0)
