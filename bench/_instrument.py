"""Where a scoring run's wall time goes: the timing shared by bench_real_sizes.py and
bench_end_to_end.py.

``instrument_shared(seconds)`` wraps the parts that several metrics share (the one decoding
pass, the MediaPipe face mesh; with ``detail``, also MediaPipe Hands and Pose, the FaceNet
forward pass and output validation) and ``instrument_metric(m, seconds)`` one metric's own
work (its stream's feed/finish, or update_batch). Each adds its wall time to ``seconds[key]``
(and, given ``cpu_seconds``, the process's CPU time to ``cpu_seconds[key]``) exclusive of the
timed calls inside it, so the parts add up without double counting (a
metric's time excludes the shared face mesh it triggers). Given ``peaks``, each part also
records ``peaks[key] = (peak, rise)``, MiB: the largest resident size reached during any of its
calls, and the largest rise within one call above the size at its start (Linux: the kernel's
high-water mark, reset at each call's start through ``/proc/self/clear_refs``), so a run's peak
can be attributed to the part it came from.
"""

from __future__ import annotations

import time
from typing import Any, Callable

_NESTED: list[list[float]] = []  # [wall, CPU] of timed calls inside the timed call in progress
_PATCHED: set[str] = set()  # the shared parts already wrapped (each is wrapped once per process)
_HWM_CARRY: list[float] = []  # per timed call in progress: the largest resident size seen before an inner reset


def _hwm_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


_RUN_PEAK = [0.0]  # the largest high-water mark read before a reset (the resets also clear ru_maxrss)


def _reset_hwm() -> None:
    _RUN_PEAK[0] = max(_RUN_PEAK[0], _hwm_mib())
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets the peak resident size to the current one (Linux >= 4.0)


def peak_mib() -> float:
    """The process's peak resident size, MiB. Once ``peaks`` are recorded, ``ru_maxrss`` only
    covers the time since the last reset (the kernel keeps one mark for both); this does not."""
    return max(_RUN_PEAK[0], _hwm_mib())


def timed(fn: Callable, seconds: dict[str, float], key: str, cpu_seconds: dict[str, float] | None = None,
          peaks: dict[str, tuple[float, float]] | None = None, peak_key: str | None = None) -> Callable:
    """``fn`` adding its own wall time to ``seconds[key]`` (and its process CPU time to
    ``cpu_seconds[key]``), exclusive of timed calls inside it. The CPU time is the whole
    process's during the call (MediaPipe's, torch's and the decoder's threads included): the
    parts run one after the other, so it is the part's own (but for decoder threads working
    ahead, a small share), and unlike wall time it does not grow when other jobs share the cores."""
    def wrapper(*a, **k):
        _NESTED.append([0.0, 0.0])
        if peaks is not None:
            if _HWM_CARRY:  # the enclosing call's peak so far, before this call resets the mark
                _HWM_CARRY[-1] = max(_HWM_CARRY[-1], _hwm_mib())
            _reset_hwm()
            _HWM_CARRY.append(0.0)
            start = _hwm_mib()  # the resident size now: the mark was just reset to it
        t, c = time.perf_counter(), time.process_time()
        try:
            return fn(*a, **k)
        finally:
            wall, cpu = time.perf_counter() - t, time.process_time() - c
            if peaks is not None:
                mine = max(_HWM_CARRY.pop(), _hwm_mib())
                pk = peak_key or key
                peak, rise = peaks.get(pk, (0.0, 0.0))
                peaks[pk] = (max(peak, mine), max(rise, mine - start))
                if _HWM_CARRY:
                    _HWM_CARRY[-1] = max(_HWM_CARRY[-1], mine)
            inner_wall, inner_cpu = _NESTED.pop()
            seconds[key] += wall - inner_wall
            if cpu_seconds is not None:
                cpu_seconds[key] += cpu - inner_cpu
            if _NESTED:
                _NESTED[-1][0] += wall
                _NESTED[-1][1] += cpu
    return wrapper


def instrument_shared(seconds: dict[str, float], detail: bool = False,
                      cpu_seconds: dict[str, float] | None = None, peaks: dict[str, tuple[float, float]] | None = None) -> None:
    """Time the shared decoding pass ("decode") and the face mesh ("face mesh"); with
    ``detail`` also "hands", "pose" (MediaPipe), "FaceNet" (the embedding network) and
    "validate" (``hxbench score``'s check of the outputs, which decodes every frame)."""
    import hxbench.eval.validate as validate
    import hxbench.face.detect as detect
    import hxbench.metrics.stream as stream
    import hxbench.nets.facenet as facenet

    parts = [(stream._Side, "fill", "decode"), (detect.FaceMeshSession, "feed", "face mesh")]
    if detail:
        # facenet_embed and validate_outputs are looked up at call time (imported inside
        # id_sim's backbone and score_outputs), so their module attributes are the ones to wrap
        parts += [(detect.HandsSession, "feed", "hands"), (detect.PoseSession, "feed", "pose"),
                  (facenet, "facenet_embed", "FaceNet"), (validate, "validate_outputs", "validate")]
    for owner, attr, key in parts:
        if key not in _PATCHED:
            setattr(owner, attr, timed(getattr(owner, attr), seconds, key, cpu_seconds, peaks))
            _PATCHED.add(key)


def instrument_metric(m: Any, seconds: dict[str, float], cpu_seconds: dict[str, float] | None = None,
                      peaks: dict[str, tuple[float, float]] | None = None) -> Any:
    """``m`` with its streams' feed/finish and its update_batch timed under its key."""
    open_stream = m.open_stream

    def timed_open(sample, _open=open_stream, _key=m.key):
        s = _open(sample)
        if s is not None:
            s.feed = timed(s.feed, seconds, _key, cpu_seconds, peaks)
            s.finish = timed(s.finish, seconds, _key, cpu_seconds, peaks, peak_key=_key + " finish")
        return s

    m.open_stream = timed_open
    m.update_batch = timed(m.update_batch, seconds, m.key, cpu_seconds, peaks)
    return m


def instrumented_metrics(keys: list[str], seconds: dict[str, float],
                         peaks: dict[str, tuple[float, float]] | None = None) -> list:
    """The metrics, with the shared decoding pass, the face mesh and each metric's own work
    timed into ``seconds`` (and, given ``peaks``, their peak resident sizes)."""
    from hxbench.metrics.base import build_metric

    instrument_shared(seconds, peaks=peaks)
    return [instrument_metric(build_metric(key), seconds, peaks=peaks) for key in keys]
