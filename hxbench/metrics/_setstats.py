"""The set-level metric base shared by FID and FVD, and the on-disk caches of reference
features and reference-set statistics.

State per side (gen / ref): a ``FeatureStats`` (float64 count, sum, sum of outer products;
``hxbench.stats.frechet``), so shards and processes combine by addition; the value is the
Fréchet distance of the two sides' Gaussians with the metric's ``ddof``.

Feature extraction is batched across samples (``SetFeatureMetric.update_batch``: network
inputs of several samples share forward passes, ``batch_rows`` rows each). Reference-side
features of samples that come from a manifest (``SampleData.meta["dataset_revision"]``) are
cached under ``$HXBENCH_HOME/stats/<key>-v<version>-<revision>-<weights sha>/`` one file per
sample (named by sample id and the reference clip's content hash); the next run loads them
instead of running the network on the real videos (``HXBENCH_REF_CACHE=0`` turns it off);
a metric's ``ref_cache_dir`` puts that cache in another folder and extends it to samples from
no manifest (``hxbench validity``: the clean references, the same in every condition).
Payloads still carry the ref features, so
resume/replay, shards and the set bootstrap are unchanged. ``reference_stats`` computes
whole-set statistics for a dict of clips (cached by dataset content hash).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Hashable, Iterator, Mapping

import numpy as np
import torch

from hxbench.errors import SampleError
from hxbench.metrics.base import SAMPLE_FAILURES, AggregateValue, Metric, SampleData, SampleScore, SampleStream
from hxbench.metrics.stream import chunk_bytes, run_streams
from hxbench.stats.bootstrap import set_bootstrap_ci
from hxbench.stats.frechet import FeatureStats, frechet_distance


# -- the set-level metric base ------------------------------------------------------------------
class SetFeatureMetric(Metric):
    """Base for FID / FVD: features per sample -> mergeable stats -> Fréchet distance.

    Subclasses set ``feature_dim``, ``ddof``, ``output`` and implement ``input_builder(sample,
    source)`` (chunks of frames -> preprocessed network inputs), ``forward(x)`` -> (k,
    feature_dim) and ``weight_names``. A video sample is scored by a ``SetStream`` fed by the
    scoring loop's shared decoding pass; ``update_batch`` batches forward passes across
    samples (image sets, arrays). ``update`` returns the features as
    payload {"gen": (k, d) float32, "ref": (k', d) float32} and no per-sample values; ``replay``
    re-adds a stored payload. With ``set_reference(stats)`` (e.g. from ``reference_stats``),
    the ref side is fixed and samples need no ``ref`` clip.
    """

    feature_dim: int = 0
    ddof: int = 1
    output: str = ""
    # below this many feature rows per set the value is flagged in the results (result_notes)
    min_meaningful_rows: int = 0
    row_unit: str = "feature rows"
    min_rows_source: str = ""

    def reset(self) -> None:
        self.gen_stats = FeatureStats(self.feature_dim)
        self.ref_stats = FeatureStats(self.feature_dim)
        self.n_samples = 0
        self.ref_fixed = False

    # -- feature extraction: network inputs -> batched forward passes -------------------------
    # how many network input rows (clips for FVD, frames for FID) one forward pass takes
    batch_rows: int = 8
    # cache reference-video features on disk when the sample comes from a manifest
    use_ref_cache: bool = True
    # a folder for that cache that also covers samples from no manifest (keyed by sample id and
    # the reference clip's content hash): ``hxbench validity`` sets it to OUT/ref-features, so
    # the clean references, the same in every condition, are extracted once per run
    ref_cache_dir: Path | None = None

    def input_builder(self, sample: SampleData, source: str) -> "InputBuilder":
        """A builder that turns one clip's chunks of uint8 frames into network inputs."""
        raise NotImplementedError

    def iter_inputs(self, clip, sample: SampleData) -> Iterator[torch.Tensor]:
        """Preprocessed network inputs for ``clip``, each (k, ...) with k >= 1 rows, built
        chunk by chunk (the clip is never held whole)."""
        builder = self.input_builder(sample, clip.source)
        chunks = clip.iter_chunks(1 << 16, max_bytes=chunk_bytes())
        try:
            for chunk in chunks:
                yield from builder.feed(np.asarray(chunk))
                if builder.done:
                    break
        finally:
            chunks.close()
        yield from builder.finish()

    def forward(self, x: torch.Tensor) -> np.ndarray:
        """(k, ...) network input -> (k, feature_dim) float32 features."""
        raise NotImplementedError

    def extract(self, clip, sample: SampleData) -> np.ndarray:
        """(rows, feature_dim) float32 features of one clip (one sample, no cross-sample batching)."""
        feats = self._extract_many([(0, "x", clip, sample)])
        if isinstance(feats[0], Exception):
            raise feats[0]
        return feats[0]["x"]

    def _extract_many(self, jobs: list[tuple[int, str, Any, SampleData]]) -> dict[int, Any]:
        """Features of several clips with forward passes batched across them.

        jobs: (sample index, side, clip, sample). Returns {index: {side: (rows, d) float32}}
        or {index: exception} for a sample whose input failed (its rows already queued are
        computed and discarded). Rows are passed to the network in input order, ``batch_rows``
        at a time, so at most one batch of preprocessed inputs is held in memory.
        """
        self.check_available()
        out: dict[int, Any] = {}
        batcher = RowBatcher(self)
        for i, side, clip, sample in jobs:
            if isinstance(out.get(i), Exception):
                continue
            try:
                for t in self.iter_inputs(clip, sample):
                    batcher.add((i, side), t)
            except SAMPLE_FAILURES as err:
                out[i] = err
                batcher.discard(lambda owner: owner[0] == i)
        batcher.flush()
        for i, side, _, sample in jobs:
            if isinstance(out.get(i), Exception):
                continue
            got = batcher.features.get((i, side))
            if not got:
                out[i] = SampleError(f"{self.key}: no frames in the {side} clip of sample {sample.sample_id!r}")
                continue
            out.setdefault(i, {})[side] = np.concatenate(got, axis=0)
        return out

    def open_stream(self, sample: SampleData) -> "SetStream | None":
        """A stream for a sample whose generated clip is a video or frame folder (decoding is
        what the fan-out saves); arrays and single images go through ``update_batch``, which
        batches network passes across samples."""
        if sample.gen is None or getattr(sample.gen, "kind", None) not in ("video", "frames"):
            return None
        if sample.ref is None and not self.ref_fixed:
            return None  # update_batch reports what is missing
        self.check_available()
        cached = None if self.ref_fixed else self._ref_cache_load(sample)
        return SetStream(self, sample, read_ref=not self.ref_fixed and cached is None, cached_ref=cached)

    def close_stream(self, sample: SampleData, stream: SampleStream) -> SampleScore:
        assert isinstance(stream, SetStream)
        feats = stream.finish()
        payload = {"gen": feats["gen"]}
        if not self.ref_fixed:
            payload["ref"] = stream.cached_ref if stream.cached_ref is not None else feats["ref"]
        return self._accept(sample, payload, save_ref=stream.cached_ref is None)

    def _accept(self, sample: SampleData, payload: dict[str, np.ndarray], save_ref: bool) -> SampleScore:
        """Add one sample's features to the state (after checking them); its record."""
        bad = [name for name, f in payload.items() if not np.all(np.isfinite(f))]
        if bad:
            raise SampleError(f"{self.key}: non-finite {bad[0]} features for sample {sample.sample_id!r}")
        if not self.ref_fixed and save_ref:
            self._ref_cache_save(sample, payload["ref"])
        score = SampleScore(values={}, payload=payload)
        self.replay(score)
        return score

    def set_reference(self, stats: FeatureStats) -> None:
        """Use precomputed reference-set statistics (the ref side is then frozen)."""
        self.ref_stats = stats
        self.ref_fixed = True

    def update(self, sample: SampleData) -> SampleScore:
        stream = self.open_stream(sample)
        if stream is not None:  # a video: the same stream as in a scoring run
            error = run_streams(sample, {0: stream})[0]
            if error is not None:
                raise error
            return self.close_stream(sample, stream)
        result = self.update_batch([sample])[0]
        if isinstance(result, Exception):
            raise result
        return result

    def update_batch(self, samples: list[SampleData]) -> list[SampleScore | Exception]:
        """Features of every sample's gen (and ref) clip, network passes batched across the
        samples; then each sample is added to the state in order. Equal to ``update`` on
        each sample up to float32 re-association inside the network (oneDNN picks kernels
        by batch size): measured <= 3e-5 on I3D logits; bit-identical bookkeeping (tested).

        Reference features of a sample from a manifest (``meta["dataset_revision"]``) are
        read from / written to the on-disk reference-feature cache (``ref_feature_cache``),
        so a second run over the same dataset never re-extracts the real videos."""
        results: list[SampleScore | Exception | None] = [None] * len(samples)
        jobs = []
        cached_ref: dict[int, np.ndarray] = {}
        for i, sample in enumerate(samples):
            if sample.gen is None:
                results[i] = SampleError(f"{self.key} needs gen for sample {sample.sample_id!r}")
                continue
            if sample.ref is None and not self.ref_fixed:
                results[i] = SampleError(f"{self.key} needs ref for sample {sample.sample_id!r} "
                                         "(or precomputed reference statistics)")
                continue
            jobs.append((i, "gen", sample.gen, sample))
            if not self.ref_fixed:
                hit = self._ref_cache_load(sample)
                if hit is not None:
                    cached_ref[i] = hit
                else:
                    jobs.append((i, "ref", sample.ref, sample))
        feats = self._extract_many(jobs) if jobs else {}
        for i, sample in enumerate(samples):
            if results[i] is not None:
                continue
            got = feats.get(i)
            if isinstance(got, Exception):
                results[i] = got
                continue
            payload = {"gen": got["gen"]}
            if not self.ref_fixed:
                payload["ref"] = cached_ref[i] if i in cached_ref else got["ref"]
            try:
                results[i] = self._accept(sample, payload, save_ref=i not in cached_ref)
            except SampleError as err:
                results[i] = err
        return results  # type: ignore[return-value]

    # -- reference-feature cache (samples from a manifest) ----------------------------------
    def _ref_cache_path(self, sample: SampleData) -> Path | None:
        revision = (sample.meta or {}).get("dataset_revision")
        if not revision and self.ref_cache_dir is not None:
            revision = "local"
        if (not self.use_ref_cache or not revision or sample.ref is None
                or os.environ.get("HXBENCH_REF_CACHE", "1") == "0"):
            return None
        return ref_feature_cache(self, revision, self.ref_cache_dir) / f"{_ref_file_key(sample)}.npy"

    def _ref_cache_load(self, sample: SampleData) -> np.ndarray | None:
        try:
            path = self._ref_cache_path(sample)
            if path is None or not path.is_file():
                return None
            f = np.load(path, allow_pickle=False)
        except (OSError, ValueError):
            return None  # unreadable clip or cache file: extract instead
        return f if f.ndim == 2 and f.shape[1] == self.feature_dim else None

    def _ref_cache_save(self, sample: SampleData, feats: np.ndarray) -> None:
        try:
            path = self._ref_cache_path(sample)
            if path is None:
                return
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{path.stem}.{os.getpid()}.part.npy")
            np.save(tmp, np.asarray(feats, np.float32))
            tmp.replace(path)  # atomic: concurrent shards never read a half-written file
        except OSError:
            pass  # a read-only cache never fails a run

    def replay(self, score: SampleScore) -> None:
        payload = score.payload or {}
        if "gen" in payload:
            self.gen_stats.add(payload["gen"])
        if "ref" in payload and not self.ref_fixed:
            self.ref_stats.add(payload["ref"])
        self.n_samples += 1

    def merge(self, other: Metric) -> None:
        self._check_merge(other)
        assert isinstance(other, SetFeatureMetric)
        self.gen_stats.merge(other.gen_stats)
        if not self.ref_fixed:
            self.ref_stats.merge(other.ref_stats)
        self.n_samples += other.n_samples

    def compute(self) -> dict[str, AggregateValue]:
        if self.gen_stats.n <= self.ddof or self.ref_stats.n <= self.ddof or self.n_samples < 2:
            need = max(2, self.ddof + 1)
            note = (f"{self.name.upper()} compares two sets of features and needs at least {need} "
                    f"samples on each side; this run has {self.n_samples} scored sample(s) "
                    f"({self.gen_stats.n} generated and {self.ref_stats.n} reference feature rows)")
            return {self.output: AggregateValue(float("nan"), self.n_samples, None, note=note)}
        mu1, s1 = self.gen_stats.mean_cov(self.ddof)
        mu2, s2 = self.ref_stats.mean_cov(self.ddof)
        return {self.output: AggregateValue(frechet_distance(mu1, s1, mu2, s2), self.n_samples, None)}

    def result_notes(self) -> list[str]:
        """The base notes, and a warning when either set has fewer feature rows than
        ``min_meaningful_rows``: the covariance of ``feature_dim``-d features is then
        rank-deficient and the distance depends strongly on the number of samples."""
        notes = super().result_notes()
        n = min(self.gen_stats.n, self.ref_stats.n)
        if 0 < n < self.min_meaningful_rows:
            notes.append(f"computed on {self.gen_stats.n} generated and {self.ref_stats.n} reference "
                         f"{self.row_unit}, fewer than the {self.min_meaningful_rows} that make a "
                         f"{self.feature_dim}-d Fréchet distance meaningful ({self.min_rows_source}); "
                         "compare it only with values on the same samples")
        return notes

    def bootstrap_ci(self, output: str, payloads: list[dict | None] | None = None,
                     n_boot: int | None = None) -> list[float] | None:
        """95 % CI of the set metric by resampling samples (``hxbench.stats.bootstrap``);
        ``payloads``: the per-sample {"gen", "ref"} features (None: no interval; samples
        without features are left out; a missing ref feature with a per-sample ref: none)."""
        if output != self.output or payloads is None:
            return None
        payloads = [p for p in payloads if p is not None and "gen" in p]
        gen = [np.asarray(p["gen"], np.float32) for p in payloads]
        if self.ref_fixed:
            return set_bootstrap_ci(gen, self.ref_stats, self.feature_dim, self.ddof, n_boot)
        if any(p.get("ref") is None for p in payloads):
            return None
        ref = [np.asarray(p["ref"], np.float32) for p in payloads]
        return set_bootstrap_ci(gen, ref, self.feature_dim, self.ddof, n_boot)

    def state_dict(self) -> dict[str, Any]:
        return {"gen": self.gen_stats.state_dict(), "ref": self.ref_stats.state_dict(),
                "n_samples": self.n_samples, "ref_fixed": self.ref_fixed}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.gen_stats.load_state_dict(state["gen"])
        self.ref_stats.load_state_dict(state["ref"])
        self.n_samples = int(state["n_samples"])
        self.ref_fixed = bool(state.get("ref_fixed", False))


# -- streaming: chunks of frames -> network inputs -> batched passes -> features -------------
class InputBuilder:
    """Turns one clip's chunks of uint8 frames (t, H, W, 3) into network inputs: ``feed``
    returns the inputs completed by a chunk, ``finish`` those completed by the clip's end
    (raising ``SampleError`` if the clip was too short); ``done``: no more frames needed."""

    done: bool = False

    def feed(self, chunk: np.ndarray) -> list[torch.Tensor]:
        raise NotImplementedError

    def finish(self) -> list[torch.Tensor]:
        return []


class RowBatcher:
    """Network inputs of one or more owners (a sample's side) queued for shared forward
    passes of at most ``metric.batch_rows`` rows of one input shape; features kept per owner."""

    def __init__(self, metric: "SetFeatureMetric") -> None:
        self.metric = metric
        self.pending: list[tuple[Hashable, torch.Tensor]] = []
        self.n_pending = 0
        self.features: dict[Hashable, list[np.ndarray]] = {}

    def add(self, owner: Hashable, x: torch.Tensor) -> None:
        rows = self.metric.batch_rows
        for j in range(0, x.shape[0], rows):  # a forward pass never exceeds batch_rows
            piece = x[j:j + rows]
            if self.pending and (self.n_pending + piece.shape[0] > rows
                                 or piece.shape[1:] != self.pending[0][1].shape[1:]):
                self.flush()  # full, or another input shape (e.g. whole videos of other lengths)
            self.pending.append((owner, piece))
            self.n_pending += piece.shape[0]
            if self.n_pending >= rows:
                self.flush()

    def discard(self, which) -> None:
        """Drop the queued and computed rows of the owners ``which(owner)`` selects."""
        self.pending = [(o, t) for o, t in self.pending if not which(o)]
        self.n_pending = sum(t.shape[0] for _, t in self.pending)
        for o in [o for o in self.features if which(o)]:
            del self.features[o]

    def flush(self) -> None:
        if not self.pending:
            return
        x = torch.cat([t for _, t in self.pending], dim=0)
        feats = np.asarray(self.metric.forward(x), np.float32)
        row = 0
        for owner, t in self.pending:
            k = t.shape[0]
            self.features.setdefault(owner, []).append(feats[row:row + k])
            row += k
        self.pending.clear()
        self.n_pending = 0


class SetStream(SampleStream):
    """One sample's features for a set metric, fed by the shared decoding pass: each side's
    chunks go through the metric's ``InputBuilder`` and into batched forward passes."""

    def __init__(self, metric: "SetFeatureMetric", sample: SampleData, read_ref: bool,
                 cached_ref: np.ndarray | None) -> None:
        self.metric, self.sample_id = metric, sample.sample_id
        self.sides = ("gen", "ref") if read_ref else ("gen",)
        self.cached_ref = cached_ref
        self.builders = {side: metric.input_builder(sample, getattr(sample, side).source) for side in self.sides}
        self.batcher = RowBatcher(metric)

    def feed(self, gen: np.ndarray | None, ref: np.ndarray | None) -> None:
        for side, chunk in (("gen", gen), ("ref", ref)):
            builder = self.builders.get(side)
            if chunk is None or builder is None or builder.done:
                continue
            for x in builder.feed(chunk):
                self.batcher.add(side, x)
        self.done = all(b.done for b in self.builders.values())

    def finish(self) -> dict[str, np.ndarray]:
        for side, builder in self.builders.items():
            for x in builder.finish():
                self.batcher.add(side, x)
        self.batcher.flush()
        out = {}
        for side in self.sides:
            got = self.batcher.features.get(side)
            if not got:
                raise SampleError(f"{self.metric.key}: no frames in the {side} clip of sample {self.sample_id!r}")
            out[side] = np.concatenate(got, axis=0)
        return out


# -- reference-set statistics cache -------------------------------------------------------------
def dataset_hash(clips: Mapping[str, Any]) -> str:
    """sha256 over sample ids and the content of every clip (file hashes are cached by
    path/size/mtime; arrays are hashed from their bytes, streaming)."""
    from hxbench.paths import cached_sha256

    h = hashlib.sha256()
    for sid in sorted(clips):
        clip = clips[sid]
        h.update(f"{sid}\0{clip.kind}\0".encode())
        if clip.kind == "array" and clip._array is not None:
            arr = clip._array
            h.update(f"{arr.shape}{arr.dtype}".encode())
            for i in range(arr.shape[0]):
                h.update(np.ascontiguousarray(arr[i]).tobytes())
        elif clip.kind == "video":
            h.update(cached_sha256(Path(clip.source)).encode())
        else:
            for p in clip._paths or []:
                h.update(cached_sha256(Path(p)).encode())
        h.update(f"{clip.target_fps}".encode())
    return h.hexdigest()


def ref_feature_cache(metric: SetFeatureMetric, dataset_revision: str,
                      cache_dir: str | Path | None = None) -> Path:
    """Folder of cached reference-video features for (dataset revision, network sha256,
    metric key and version): ``$HXBENCH_HOME/stats/<key>-v<version>-<revision>-<weights>/``,
    one ``<sample_id>-<clip sha256[:16]>.npy`` (rows, d) float32 per sample. The set's
    statistics are the float64 sums of these rows (``FeatureStats``), so any subset (a shard,
    the samples whose gen succeeded) is served from the same files; the clip's content hash in
    the file name means a replaced reference video is re-extracted."""
    from hxbench.paths import hxbench_home
    from hxbench.weights import weight_sha256

    cache_dir = Path(cache_dir) if cache_dir is not None else hxbench_home() / "stats"
    wsha = "-".join((weight_sha256(w) or "none")[:16] for w in metric.weight_names())
    safe_key = metric.key.replace("[", "_").replace("]", "").replace("/", "_")
    rev = "".join(c for c in str(dataset_revision) if c.isalnum())[:32]
    return cache_dir / f"{safe_key}-v{metric.version}-{rev}-{wsha}"


def _ref_file_key(sample: SampleData) -> str:
    clip = sample.ref
    fp = hashlib.sha256(f"{clip.fingerprint()}|{clip.target_fps}".encode()).hexdigest()[:16]
    return f"{sample.sample_id.replace('/', '__')}-{fp}"  # group/name ids: one flat cache folder


def reference_stats(metric: SetFeatureMetric, ref_clips: Mapping[str, Any],
                    cache_dir: str | Path | None = None) -> tuple[FeatureStats, Path]:
    """Reference-set statistics for ``metric`` on ``ref_clips``, cached on disk under
    ``cache_dir`` (default ``$HXBENCH_HOME/stats``) keyed by (dataset hash, network sha256,
    metric key and version). Returns (stats, cache file); a second call loads the file."""
    from hxbench.paths import hxbench_home
    from hxbench.weights import weight_sha256

    metric.check_available()
    cache_dir = Path(cache_dir) if cache_dir is not None else hxbench_home() / "stats"
    dhash = dataset_hash(ref_clips)
    wsha = "-".join((weight_sha256(w) or "none")[:16] for w in metric.weight_names())
    safe_key = metric.key.replace("[", "_").replace("]", "").replace("/", "_")
    path = cache_dir / f"{safe_key}-v{metric.version}-{dhash[:20]}-{wsha}.npz"
    stats = FeatureStats(metric.feature_dim)
    if path.is_file():
        with np.load(path) as z:
            meta = json.loads(str(z["meta"]))
            if meta.get("dataset_hash") == dhash and meta.get("key") == metric.key:
                stats.load_state_dict({"n": int(z["n"]), "s": z["s"], "ss": z["ss"]})
                return stats, path
    for sid in sorted(ref_clips):
        stats.add(metric.extract(ref_clips[sid], SampleData(sid, gen=None, ref=ref_clips[sid])))
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"dataset_hash": dhash, "key": metric.key, "version": metric.version,
            "weights": {w: weight_sha256(w) for w in metric.weight_names()}, "n_samples": len(ref_clips)}
    tmp = path.with_name(path.name + ".part.npz")
    np.savez(tmp, n=np.array(stats.n), s=stats.s, ss=stats.ss, meta=np.array(json.dumps(meta)))
    tmp.replace(path)
    return stats, path
