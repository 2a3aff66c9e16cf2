"""The metric interface: ``reset / update / merge / compute`` with mergeable state.

A metric is one class in one file under ``hxbench/metrics/``, registered by name::

    @register_metric
    class PSNR(PerSampleMetric):
        name = "psnr"
        version = "1"
        variants = ("rgb-255", "y-255")
        outputs = {"psnr": HIGHER}
        requires = ("gen", "ref")

        def score_sample(self, sample): ...  # -> {"psnr": float}

Its full name in every result is ``name[variant]`` (e.g. ``fvd[styleganv-16f]``), so that
numbers from different protocols are never mixed.

Two kinds:

- ``PerSampleMetric``: the aggregate is the mean of per-sample values (SSIM, PSNR, LPIPS,
  Sync-C/D, ID-SIM ...). State is float64 (n, sum, sum of squares) per output, so shards merge
  by addition and the standard error comes for free.
- ``Metric`` subclasses that override ``update/replay/merge/compute`` for set-level
  statistics (FID, FVD): their state is float64 sums and outer-product sums of features, and
  ``update`` returns the sample's features as ``payload`` so a resumed run rebuilds the state
  without recomputing anything (``replay``).

Streaming (``open_stream``): a metric that can reduce a video chunk by chunk returns a
``SampleStream`` for a sample; the scoring loop then decodes the sample's videos once and
feeds every metric's stream the same chunks (``hxbench.metrics.stream.run_streams``), so no
metric decodes again and none holds a whole video. ``update`` drives the same stream over the
sample alone, so both paths share one implementation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping, Sequence

import numpy as np

from hxbench.errors import SampleError
from hxbench.metrics.stream import SAMPLE_FAILURES, SampleStream, run_streams
from hxbench.registry import METRICS


HIGHER = "higher"
LOWER = "lower"
NEUTRAL = "neutral"  # e.g. an AV offset: reported, neither better high nor low

# Declared behaviour (``Metric.declared``): what an output must do under a perturbation of its
# inputs (the perturbations are named in ``hxbench.io.perturb``; ``hxbench validity`` checks it).
WORSE = "worse"            # the output must get worse (in its HIGHER / LOWER direction)
INVARIANT = "invariant"    # the output must not move much
TRACKS_SHIFT = "tracks_shift"  # an offset output must follow an audio shift of k frames (to -k)


@dataclass(frozen=True)
class Expect:
    """One declared behaviour: ``output`` must ``expect`` (WORSE / INVARIANT / TRACKS_SHIFT)
    under the perturbation ``perturbation`` (a name in ``hxbench.io.perturb.PERTURBATIONS``);
    ``why`` says in a few words why (shown in ``hxbench ls metrics`` and docs/validity.md)."""

    perturbation: str
    output: str
    expect: str
    why: str = ""


def expect_all(perturbations: Sequence[str], outputs: Sequence[str], expect: str, why: str = "") -> tuple[Expect, ...]:
    """Every (perturbation, output) pair with the same expectation."""
    return tuple(Expect(p, o, expect, why) for p in perturbations for o in outputs)


# groups of perturbations that declarations name together
AUDIO_PERTURBATIONS = ("shift+2", "shift-2", "shift+5", "shift-5", "shift+10", "shift-10", "other_speech",
                       "silence")
DEGRADATIONS = ("blur", "jpeg", "noise")
TEMPORAL = ("drop_frames", "freeze", "shuffle")


@dataclass
class SampleData:
    """Everything a metric may need for one sample, matched by ``sample_id``.

    gen / ref are ``hxbench.io.media.Clip`` objects (frames loaded on demand); audio is mono
    float32 in [-1, 1] at ``sample_rate``; ``meta`` holds manifest fields (text, command ...).
    """

    sample_id: str
    gen: Any = None
    ref: Any = None
    ref_image: np.ndarray | None = None  # (H, W, 3) uint8
    audio: np.ndarray | None = None
    sample_rate: int | None = None
    audio_path: str | None = None  # decoded on demand by load_audio()
    meta: dict[str, Any] = field(default_factory=dict)
    # reductions that several metrics of this sample share while it is being scored (e.g. one
    # face-mesh session over the generated video), keyed by what they compute
    shared: dict[Any, Any] = field(default_factory=dict, repr=False)

    def load_audio(self, sample_rate: int = 16000) -> np.ndarray:
        """The driving audio as mono float32 at ``sample_rate``: the given array, else the
        file at ``audio_path``, else the generated video's own audio stream."""
        from hxbench.io.media import read_audio, _resample_audio

        if self.audio is not None:
            return _resample_audio(self.audio, self.sample_rate or sample_rate, sample_rate)
        if self.audio_path is not None:
            return read_audio(self.audio_path, sample_rate)
        if self.gen is not None and getattr(self.gen, "kind", None) == "video":
            return self.gen.audio(sample_rate)
        raise SampleError(f"sample {self.sample_id!r} has no audio (give --audio or a video with sound)")


@dataclass
class SampleScore:
    """A metric's result for one sample.

    values: the per-sample numbers written to samples.jsonl.
    payload: arrays from which the metric's state is rebuilt on resume (e.g. features);
             None for per-sample metrics, whose state is rebuilt from ``values``.
    """

    values: dict[str, float]
    payload: dict[str, np.ndarray] | None = None


@dataclass
class AggregateValue:
    value: float
    n: int
    stderr: float | None = None
    note: str | None = None  # why there is no value, or what limits it (e.g. too few samples)


class Metric:
    """Base class. Subclasses set the class attributes and implement the state methods."""

    name: ClassVar[str]
    version: ClassVar[str] = "1"
    variants: ClassVar[tuple[str, ...]] = ("default",)
    outputs: ClassVar[Mapping[str, str]] = {}  # output name -> HIGHER / LOWER / NEUTRAL
    requires: ClassVar[tuple[str, ...]] = ("gen", "ref")  # SampleData fields that must be set
    description: ClassVar[str] = ""
    # how many samples the scoring loop hands to update_batch at once (networks batch across them)
    batch_samples: ClassVar[int] = 1
    # what each output must respond to and ignore (``Expect``); ``hxbench validity`` measures it
    declared: ClassVar[tuple[Expect, ...]] = ()
    # measured validity caveat (None: none known): where the metric failed its declaration on
    # real data, with the numbers; shown by ``hxbench ls metrics`` and written beside every result
    validity_caveat: ClassVar[str | None] = None
    # the same for single variants, keyed by variant or by its method (the part before the first '-')
    variant_caveats: ClassVar[Mapping[str, str]] = {}

    @classmethod
    def caveat(cls, variant: str) -> str | None:
        """The measured validity caveat of ``variant`` (its own, else the metric's), or None."""
        return cls.variant_caveats.get(variant) or cls.variant_caveats.get(variant.split("-")[0]) or cls.validity_caveat

    def __init__(self, variant: str | None = None, device: str = "cpu") -> None:
        variant = variant or self.variants[0]
        if variant not in self.variants:
            raise ValueError(
                f"unknown variant {variant!r} of metric {self.name!r}; choose one of: "
                + ", ".join(self.variants)
            )
        self.variant = variant
        self.device = device
        self.reset()

    # -- identity ---------------------------------------------------------------------------
    @property
    def key(self) -> str:
        """The full name used in results: ``name[variant]``."""
        return f"{self.name}[{self.variant}]"

    def weight_names(self) -> tuple[str, ...]:
        """Names in the weight registry that this variant needs (none by default)."""
        return ()

    def check_available(self) -> None:
        """Raise MetricUnavailable (with the fix) if this variant cannot run here."""
        from hxbench.weights import require_available

        for weight in self.weight_names():
            require_available(weight, metric=self.key)

    def info(self) -> dict[str, Any]:
        """Identity written beside every number: name, variant, version, weight hashes."""
        from hxbench.weights import weight_sha256

        return {
            "metric": self.name,
            "variant": self.variant,
            "key": self.key,
            "version": self.version,
            "weights": {w: weight_sha256(w) for w in self.weight_names()},
            "outputs": dict(self.outputs),
        }

    def result_notes(self) -> list[str]:
        """Caveats written beside this metric's numbers (``notes`` in results.json, printed
        under the score table): every weight it used that has no published sha256, imported
        unpinned, with the hash of the file that was used."""
        from hxbench.weights import get_spec, weight_sha256

        notes = [f"weights {w!r} are unpinned (no published sha256): this result used the file with "
                 f"sha256 {weight_sha256(w)}; compare it only with results that name the same hash"
                 for w in self.weight_names() if get_spec(w).sha256 is None]
        caveat = self.caveat(self.variant)
        if caveat:
            notes.append(f"validity: {caveat}")
        return notes

    # -- state ------------------------------------------------------------------------------
    def reset(self) -> None:
        raise NotImplementedError

    def update(self, sample: SampleData) -> SampleScore:
        """Score one sample, add it to the state, and return its per-sample record."""
        raise NotImplementedError

    def open_stream(self, sample: SampleData) -> SampleStream | None:
        """A stream that scores ``sample`` from chunks of its videos, or None when this metric
        scores it by ``update_batch`` instead (no video to stream, a protocol that decodes at
        another rate, a metric that needs no frames)."""
        return None

    def close_stream(self, sample: SampleData, stream: SampleStream) -> SampleScore:
        """Add a fully fed stream's result to the state and return the per-sample record."""
        raise NotImplementedError

    def update_batch(self, samples: list[SampleData]) -> list[SampleScore | Exception]:
        """``update`` over several samples; a per-sample failure is returned, not raised.

        Override it to batch network passes across samples; the result for each sample
        must equal what ``update`` alone would give.
        """
        out: list[SampleScore | Exception] = []
        for sample in samples:
            try:
                out.append(self.update(sample))
            except SAMPLE_FAILURES as err:
                out.append(err)
        return out

    def replay(self, score: SampleScore) -> None:
        """Add a previously stored per-sample record to the state (resume, no recompute)."""
        raise NotImplementedError

    def merge(self, other: "Metric") -> None:
        """Add another instance's state (another shard or process) to this one."""
        raise NotImplementedError

    def compute(self) -> dict[str, AggregateValue]:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        raise NotImplementedError

    def _check_merge(self, other: "Metric") -> None:
        if type(other) is not type(self) or other.variant != self.variant:
            raise ValueError(f"cannot merge {other.key} into {self.key}")


class PerSampleMetric(Metric):
    """A metric whose aggregate is the mean over samples of a per-sample value."""

    def score_sample(self, sample: SampleData) -> dict[str, float]:
        """The per-sample values (a streaming metric: its stream run over the sample alone)."""
        stream = self.open_stream(sample)
        if stream is None:
            raise NotImplementedError
        error = run_streams(sample, {0: stream})[0]
        if error is not None:
            raise error
        return stream.finish()

    def reset(self) -> None:
        # float64 running sums per output: n, sum, sum of squares
        self._n = {k: 0 for k in self.outputs}
        self._sum = {k: 0.0 for k in self.outputs}
        self._sumsq = {k: 0.0 for k in self.outputs}

    def _add(self, values: Mapping[str, float]) -> None:
        for k in self.outputs:
            v = values.get(k)
            if v is None:
                continue
            v = float(v)
            self._n[k] += 1
            self._sum[k] += v
            self._sumsq[k] += v * v

    def update(self, sample: SampleData) -> SampleScore:
        stream = self.open_stream(sample)
        if stream is not None:
            error = run_streams(sample, {0: stream})[0]
            if error is not None:
                raise error
            return self.close_stream(sample, stream)
        return self._accept(self.score_sample(sample))

    def close_stream(self, sample: SampleData, stream: SampleStream) -> SampleScore:
        return self._accept(stream.finish())

    def _accept(self, values: Mapping[str, float]) -> SampleScore:
        values = {k: float(v) for k, v in values.items()}
        bad = [k for k, v in values.items() if not math.isfinite(v)]
        if bad:
            raise SampleError(f"{self.key} gave a non-finite value for {', '.join(bad)}")
        self._add(values)
        return SampleScore(values=values)

    def replay(self, score: SampleScore) -> None:
        self._add(score.values)

    def merge(self, other: Metric) -> None:
        self._check_merge(other)
        assert isinstance(other, PerSampleMetric)
        for k in self.outputs:
            self._n[k] += other._n[k]
            self._sum[k] += other._sum[k]
            self._sumsq[k] += other._sumsq[k]

    def compute(self) -> dict[str, AggregateValue]:
        out = {}
        for k in self.outputs:
            n = self._n[k]
            if n == 0:
                out[k] = AggregateValue(float("nan"), 0, None)
                continue
            mean = self._sum[k] / n
            stderr = None
            if n > 1:
                var = max(self._sumsq[k] - n * mean * mean, 0.0) / (n - 1)
                stderr = math.sqrt(var / n)
            out[k] = AggregateValue(mean, n, stderr)
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"n": dict(self._n), "sum": dict(self._sum), "sumsq": dict(self._sumsq)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self._n = dict(state["n"])
        self._sum = dict(state["sum"])
        self._sumsq = dict(state["sumsq"])


def register_metric(cls: type[Metric]) -> type[Metric]:
    """Class decorator: register a metric class under its ``name``."""
    METRICS.add(cls.name, cls)
    return cls


def parse_metric_key(key: str) -> tuple[str, str | None]:
    """'fvd[styleganv-16f]' -> ('fvd', 'styleganv-16f'); 'ssim' -> ('ssim', None)."""
    if key.endswith("]") and "[" in key:
        name, variant = key[:-1].split("[", 1)
        return name, variant
    return key, None


def build_metric(key: str, device: str = "cpu") -> Metric:
    """Instantiate a metric from ``name`` or ``name[variant]``."""
    name, variant = parse_metric_key(key)
    cls = METRICS.get(name)
    return cls(variant=variant, device=device)


def require_fields(metric: Metric, sample: SampleData, fields: Sequence[str] | None = None) -> None:
    """Raise SampleError naming the missing inputs of a sample."""
    missing = [f for f in (fields or metric.requires) if getattr(sample, f) is None]
    if missing:
        raise SampleError(f"{metric.key} needs {', '.join(missing)} for sample {sample.sample_id!r}")
