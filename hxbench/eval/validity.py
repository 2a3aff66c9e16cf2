"""Metric validity on the user's own videos: score clean and perturbed copies, check each
metric against its declared behaviour (``Metric.declared``, ``hxbench.metrics.base.Expect``).

``run_validity`` (``hxbench validity``):

1. prepares a clean copy of every sample in ``out_dir/copies/clean`` (optionally downscaled and
   cut; written losslessly) and its audio as 16 kHz WAV (``--audio`` or the video's own track);
   the inputs are only read;
2. writes every perturbation the selected metrics declare (``hxbench.io.perturb``) from the
   clean copies into ``out_dir/copies/<perturbation>/`` (an audio perturbation writes only a
   WAV and reuses the clean video);
3. scores the clean condition and each perturbed one with ``hxbench.eval.scoring.score`` (the
   code path of ``hxbench score``: one decoding pass per sample, batched networks, resumable:
   each condition has its run directory ``out_dir/runs/<condition>``);
4. compares, for every declared (perturbation, output), the perturbed values with the clean
   ones on the same samples (``compare``) and gives a verdict.

Full-reference metrics without ``--ref`` take the clean copy as the reference (so clean scores
perfect and any change is the perturbation's); ``other_ref`` hands them the partner sample's.
Set metrics (FID, FVD) extract each reference clip's features once per run and read them from
``out_dir/ref-features/`` in every later condition (``SetFeatureMetric.ref_cache_dir``, keyed
by sample id and the clip's content hash).

Verdicts (constants below), per row:

- WORSE: ``auc`` = P(perturbed worse than clean) over (clean, perturbed) pairs of values (a
  sample the metric refuses to score when perturbed, e.g. av_sync on silence, counts as
  worse); ``ok`` when auc >= ``AUC_PASS`` and the lower end of its bootstrap CI > 0.5, else
  ``FAILS``. Set metrics (FID, FVD; no per-sample values): ``ok`` when the perturbed set
  scores worse than the clean set.
- INVARIANT: ``effect`` = |mean change| / spread, the spread being the clean values'
  standard deviation across samples (where that is 0, e.g. SSIM against itself, the standard
  deviation of all its values in this run; a set metric: its largest declared-worse change);
  ``FAILS`` when effect > ``EFFECT_FAIL`` or the metric refuses more than ``REFUSE_FAIL`` of
  the samples it scored clean.
- TRACKS_SHIFT: ``share`` = fraction of samples whose offset changed by -k +- 1 frames under
  a shift of k; ``ok`` when share >= ``SHARE_PASS``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from hxbench.errors import HxbenchError
from hxbench.io import media
from hxbench.io import perturb as P
from hxbench.metrics._setstats import SetFeatureMetric
from hxbench.metrics.base import (HIGHER, INVARIANT, LOWER, TRACKS_SHIFT, WORSE, Metric, PerSampleMetric,
                                  SampleData, build_metric)
from hxbench.eval.scoring import SampleSource, score
from hxbench.stats.agreement import auc as auc_of, paired_auc_ci

AUC_PASS = 0.75
EFFECT_FAIL = 0.5
REFUSE_FAIL = 0.2
SHARE_PASS = 0.5
CLEAN = "clean"


@dataclass
class Prepared:
    """A sample's clean inputs in the work folder."""

    sample_id: str
    video: Path
    fps: float
    audio: Path | None
    ref: Path | None  # the prepared --ref video; None: the clean video is the reference
    group: str  # samples with the same group share content (same audio): never partners


@dataclass
class Row:
    metric: str
    output: str
    perturbation: str
    expect: str
    why: str
    n: int = 0                 # samples scored clean (and attempted perturbed)
    n_refused: int = 0         # of them, failed when perturbed
    clean: float | None = None  # mean clean value (set metric: its set value)
    perturbed: float | None = None
    delta: float | None = None  # mean of perturbed - clean over samples scored both ways
    share: float | None = None  # WORSE: share moving worse; INVARIANT: share moving > half the spread; TRACKS_SHIFT: share tracking
    auc: float | None = None
    auc_ci: tuple[float, float] | None = None
    effect: float | None = None
    verdict: str = "n/a"
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["auc_ci"] = list(self.auc_ci) if self.auc_ci else None
        # strict JSON: an infinite effect (a change where nothing varied) or a NaN is written as null
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()}


@dataclass
class ValidityResult:
    rows: list[Row]
    n_samples: int
    conditions: list[str]
    settings: dict[str, Any]
    unavailable: dict[str, str] = field(default_factory=dict)

    def failing(self) -> dict[str, list[Row]]:
        out: dict[str, list[Row]] = {}
        for r in self.rows:
            if r.verdict == "FAILS":
                out.setdefault(r.metric, []).append(r)
        return out

    def to_json(self) -> dict[str, Any]:
        summary = {}
        for r in self.rows:
            s = summary.setdefault(r.metric, {"declared": 0, "checked": 0, "fails": []})
            s["declared"] += 1
            if r.verdict in ("ok", "FAILS"):
                s["checked"] += 1
            if r.verdict == "FAILS":
                s["fails"].append(f"{r.output} under {r.perturbation} ({r.expect})")
        return {"n_samples": self.n_samples, "conditions": self.conditions, "settings": self.settings,
                "thresholds": {"auc_pass": AUC_PASS, "effect_fail": EFFECT_FAIL, "refuse_fail": REFUSE_FAIL,
                               "share_pass": SHARE_PASS},
                "unavailable": self.unavailable, "summary": summary, "rows": [r.to_json() for r in self.rows]}


# -- preparation ---------------------------------------------------------------------------------
def _write_wav_if_missing(path: Path, audio: np.ndarray) -> None:
    if not path.exists():
        tmp = path.with_name(path.stem + ".part.wav")
        media.write_wav(tmp, audio, P.SAMPLE_RATE)
        tmp.replace(path)


def prepare(gen: Path, audio: Path | None, ref: Path | None, work: Path, max_side: int | None,
            max_seconds: float | None, progress: bool = False) -> list[Prepared]:
    """Clean copies of every sample (resumable: existing files are kept)."""
    from hxbench.eval.scoring import _progress

    from hxbench.eval.inputs import _audio_lookup
    from hxbench.paths import cached_sha256

    gens = media.open_inputs(gen)
    refs = media.open_inputs(ref) if ref is not None else None
    if refs is not None and set(refs) != set(gens):
        raise HxbenchError("--gen and --ref hold different samples (they are paired by name)")
    audios = _audio_lookup(audio)
    out = []
    (work / CLEAN).mkdir(parents=True, exist_ok=True)
    for sid, clip in _progress(sorted(gens.items()), len(gens), "preparing", progress):
        fps = clip.fps or 25.0
        max_frames = int(round(max_seconds * fps)) if max_seconds else None
        video = work / CLEAN / f"{sid}.mp4"
        if not video.exists():
            P.prepare_clean(clip.iter_chunks(32), fps, video, max_side, max_frames)
        apath = audios.get(sid) if isinstance(audios, dict) else audios
        if isinstance(audios, dict) and apath is None:
            raise HxbenchError(f"--audio holds no file for sample {sid!r}")
        wav = work / CLEAN / f"{sid}.wav"
        group = sid
        if apath is not None or clip.kind == "video":
            try:
                track = media.read_audio(apath, P.SAMPLE_RATE) if apath else clip.audio(P.SAMPLE_RATE)
            except media.MediaError:
                track = None  # a video without sound and no --audio: no audio perturbations
            if track is not None:
                n_frames = media.probe(video).n_frames
                if max_seconds:  # the cut video's length; zeros after the end of a shorter track
                    n = int(round(n_frames / fps * P.SAMPLE_RATE))
                    track = np.pad(track[:n], (0, max(0, n - len(track))))
                _write_wav_if_missing(wav, track.astype(np.float32))
                group = cached_sha256(Path(apath)) if apath else sid
        refv = None
        if refs is not None:
            refv = work / "ref" / f"{sid}.mp4"
            refv.parent.mkdir(parents=True, exist_ok=True)
            if not refv.exists():
                rclip = refs[sid]
                P.prepare_clean(rclip.iter_chunks(32), rclip.fps or fps, refv, max_side, max_frames)
        out.append(Prepared(sid, video, fps, wav if wav.exists() else None, refv, group))
    return out


def materialize(name: str, samples: Sequence[Prepared], work: Path, partner: dict[str, str]) -> None:
    """Write perturbation ``name`` of every sample into ``work/<name>/`` (kept: resumable)."""
    kind = P.PERTURBATIONS[name].side
    folder = work / name
    folder.mkdir(parents=True, exist_ok=True)
    by_id = {s.sample_id: s for s in samples}
    for s in samples:
        if kind == "video":
            out = folder / f"{s.sample_id}.mp4"
            if not out.exists():
                P.write_perturbed_video(name, s.video, out)
        elif kind == "audio" and s.audio is not None:
            out = folder / f"{s.sample_id}.wav"
            if out.exists():
                continue
            clean = media.read_audio(s.audio, P.SAMPLE_RATE)
            other = None
            if name == "other_speech":
                p = partner.get(s.sample_id)
                if p is None or by_id[p].audio is None:
                    continue
                other = media.read_audio(by_id[p].audio, P.SAMPLE_RATE)
            _write_wav_if_missing(out, P.perturb_audio(name, clean, s.fps, other))


def sources_for(condition: str, samples: Sequence[Prepared], work: Path, partner: dict[str, str]) -> list[SampleSource]:
    """Samples of one condition (clean or a perturbation) as the scoring loop takes them."""
    kind = P.PERTURBATIONS[condition].side if condition != CLEAN else None
    by_id = {s.sample_id: s for s in samples}
    out = []
    for s in samples:
        video, audio = s.video, s.audio
        ref = s.ref or s.video
        if kind == "video":
            video = work / condition / f"{s.sample_id}.mp4"
        elif kind == "audio":
            audio = work / condition / f"{s.sample_id}.wav"
            if not audio.exists():
                continue  # no audio, or no partner: not scored under this perturbation
        elif kind == "ref":
            p = partner.get(s.sample_id)
            if p is None:
                continue
            ref = by_id[p].ref or by_id[p].video

        def load(sid=s.sample_id, video=video, audio=audio, ref=ref) -> SampleData:
            return SampleData(sample_id=sid, gen=media.clip_from_video(video), ref=media.clip_from_video(ref),
                              audio_path=str(audio) if audio is not None else None)

        def fingerprint(video=video, audio=audio, ref=ref) -> str:
            import hashlib

            from hxbench.paths import cached_sha256

            parts = [cached_sha256(Path(video)), cached_sha256(Path(ref)), cached_sha256(Path(audio)) if audio else ""]
            return hashlib.sha256("|".join(parts).encode()).hexdigest()

        out.append(SampleSource(s.sample_id, load, fingerprint))
    return out


# -- the run ---------------------------------------------------------------------------------------
def plan(metrics: Sequence[Metric], perturbations: Sequence[str] | None = None) -> list[str]:
    """The perturbations the metrics declare something about (in catalogue order), limited to
    ``perturbations`` when given."""
    wanted = {e.perturbation for m in metrics for e in m.declared if e.output in m.outputs}
    if perturbations:
        unknown = [p for p in perturbations if p not in P.PERTURBATIONS]
        if unknown:
            raise HxbenchError(f"unknown perturbation(s) {unknown}; choose from: {', '.join(P.PERTURBATIONS)}")
        wanted &= set(perturbations)
    return [p for p in P.PERTURBATIONS if p in wanted]


def run_validity(gen: Path, metric_keys: Sequence[str], out_dir: Path, audio: Path | None = None,
                 ref: Path | None = None, perturbations: Sequence[str] | None = None,
                 max_side: int | None = None, max_seconds: float | None = None, device: str = "cpu",
                 progress: bool = True, metrics: Sequence[Metric] | None = None, keep_work: bool = False,
                 log=print) -> ValidityResult:
    """Prepare, perturb, score and compare (module docstring). ``metrics``: instances to use
    instead of building ``metric_keys`` (tests plant metrics this way); each condition scores
    fresh copies built from their class and variant. A perturbed video folder is deleted once
    scored unless ``keep_work`` (a re-run writes it again, identically, and reuses the records)."""
    import shutil

    from hxbench.face.detect import set_cache_capacity

    out_dir = Path(out_dir)
    work = out_dir / "copies"
    protos = list(metrics) if metrics is not None else [build_metric(k, device=device) for k in metric_keys]
    conditions = plan(protos, perturbations)
    samples = prepare(Path(gen), audio, ref, work, max_side, max_seconds, progress)
    if not samples:
        raise HxbenchError(f"{gen}: no samples")
    partner = P.partners([s.sample_id for s in samples], [s.group for s in samples])
    # audio perturbations reuse the clean video: keep every clean face mesh in memory between conditions
    old_capacity = set_cache_capacity(4 * len(samples) + 64)
    values: dict[str, dict[str, dict[str, dict[str, float] | None]]] = {}  # condition -> metric -> sample -> values
    aggregates: dict[str, dict[str, dict[str, float | None]]] = {}
    unavailable: dict[str, str] = {}
    try:
        for i, cond in enumerate([CLEAN] + conditions):
            todo = [m for m in protos if cond == CLEAN or any(e.perturbation == cond and e.output in m.outputs
                                                                for e in m.declared)]
            if not todo:
                continue
            if cond != CLEAN:
                materialize(cond, samples, work, partner)
            sources = sources_for(cond, samples, work, partner)
            log(f"[validity] {i + 1}/{len(conditions) + 1} {cond}: {len(sources)} samples x "
                f"{', '.join(m.key for m in todo)}")
            fresh = [type(m)(variant=m.variant, device=device) for m in todo]
            for m in fresh:  # set metrics: each reference's features once per run, not once per condition
                if isinstance(m, SetFeatureMetric):
                    m.ref_cache_dir = out_dir / "ref-features"
            records = []
            results = score(sources, [m.key for m in fresh], run_dir=out_dir / "runs" / cond, device=device,
                            progress=progress, metrics=fresh, keep_records=records,
                            dataset={"gen": str(gen), "condition": cond})
            per = values.setdefault(cond, {})
            for rec in records:
                per.setdefault(rec.metric, {})[rec.sample_id] = rec.values
            agg = aggregates.setdefault(cond, {})
            for key, entry in results.metrics.items():
                if not entry.ok:
                    unavailable[key] = f"{entry.reason} (fix: {entry.fix})"
                    continue
                agg[key] = {o: v.value for o, v in entry.outputs.items()}
            if cond != CLEAN and P.PERTURBATIONS[cond].side == "video" and not keep_work:
                shutil.rmtree(work / cond, ignore_errors=True)
    finally:
        set_cache_capacity(old_capacity)
    rows = [row for m in protos if m.key not in unavailable
            for row in compare(m, values, aggregates, conditions)]
    settings = {"gen": str(gen), "audio": str(audio) if audio else None, "ref": str(ref) if ref else None,
                "max_side": max_side, "max_seconds": max_seconds, "metrics": [m.key for m in protos]}
    return ValidityResult(rows, len(samples), [CLEAN] + conditions, settings, unavailable)


# -- comparison ------------------------------------------------------------------------------------
def _badness(direction: str, v: np.ndarray) -> np.ndarray:
    return -v if direction == HIGHER else v if direction == LOWER else v


def compare(metric: Metric, values: dict, aggregates: dict, conditions: Sequence[str]) -> list[Row]:
    """The rows of one metric: one per declared (perturbation, output) that was run."""
    rows = []
    key = metric.key
    clean = values.get(CLEAN, {}).get(key, {})
    set_metric = not isinstance(metric, PerSampleMetric)
    for e in metric.declared:
        if e.output not in metric.outputs:
            continue
        row = Row(key, e.output, e.perturbation, e.expect, e.why)
        if e.perturbation not in conditions:
            row.verdict = row.note = "not run"
            rows.append(row)
            continue
        direction = metric.outputs[e.output]
        if set_metric:
            _compare_set(row, metric, aggregates, direction)
            rows.append(row)
            continue
        pert = values.get(e.perturbation, {}).get(key, {})
        sids = [s for s in pert if clean.get(s) is not None and e.output in clean[s]]
        row.n = len(sids)
        if not sids:
            row.note = "no sample scored clean"
            rows.append(row)
            continue
        c = np.array([clean[s][e.output] for s in sids], np.float64)
        ok = np.array([pert[s] is not None and e.output in pert[s] for s in sids])
        p = np.array([pert[s][e.output] if ok[i] else np.nan for i, s in enumerate(sids)], np.float64)
        row.n_refused = int((~ok).sum())
        row.clean = float(c.mean())
        if ok.any():
            row.perturbed = float(p[ok].mean())
            row.delta = float((p[ok] - c[ok]).mean())
        if e.expect == WORSE:
            bc = _badness(direction, c)
            bp = np.where(ok, _badness(direction, np.nan_to_num(p)), np.inf)
            row.share = float((bp > bc).mean())
            row.auc = auc_of(bc, bp)
            row.auc_ci = paired_auc_ci(bc, bp)
            good = row.auc >= AUC_PASS and (row.auc_ci is None or row.auc_ci[0] > 0.5)
            row.verdict = "ok" if good else "FAILS"
            if row.n_refused:
                row.note = f"{row.n_refused} refused when perturbed (counted as worse)"
        elif e.expect == INVARIANT:
            spread = float(c.std(ddof=1)) if len(c) > 1 else 0.0
            if spread < 1e-9:
                allv = [v[e.output] for cond in values.values() for vs in [cond.get(key, {})]
                        for v in vs.values() if v is not None and e.output in v]
                spread = float(np.std(allv, ddof=1)) if len(allv) > 1 else 0.0
            d = (p[ok] - c[ok]) if ok.any() else np.zeros(0)
            bc, bp = _badness(direction, c[ok]), _badness(direction, p[ok])
            if ok.sum() >= 1:
                row.auc = auc_of(bc, bp)
                row.auc_ci = paired_auc_ci(bc, bp)
            if spread > 0 and d.size:
                row.effect = float(abs(d.mean()) / spread)
                row.share = float((np.abs(d) > EFFECT_FAIL * spread).mean())
            elif d.size:
                row.effect = 0.0 if np.all(d == 0) else float("inf")
                row.share = float((d != 0).mean())
            refused = row.n_refused / row.n
            moved = row.effect is not None and row.effect > EFFECT_FAIL
            row.verdict = "FAILS" if moved or refused > REFUSE_FAIL else "ok"
            if refused:
                row.note = f"{row.n_refused} refused when perturbed"
        elif e.expect == TRACKS_SHIFT:
            k = P.shift_frames(e.perturbation)
            if k is None:
                row.note = "not a shift"
            elif ok.any():
                d = p[ok] - c[ok]
                row.share = float((np.abs(d - (-k)) <= 1).sum() / row.n)
                row.verdict = "ok" if row.share >= SHARE_PASS else "FAILS"
                row.note = f"expected change {-k:+d} frames"
        rows.append(row)
    return rows


def _compare_set(row: Row, metric: Metric, aggregates: dict, direction: str) -> None:
    key = metric.key
    c = aggregates.get(CLEAN, {}).get(key, {}).get(row.output)
    p = aggregates.get(row.perturbation, {}).get(key, {}).get(row.output)
    if c is None or p is None or not (math.isfinite(c) and math.isfinite(p)):
        row.note = "no set value (too few samples?)"
        return
    row.clean, row.perturbed, row.delta = c, p, p - c
    worse = (p - c) if direction == LOWER else (c - p)
    row.note = "set metric: one value per condition, no per-sample AUC"
    if row.expect == WORSE:
        row.verdict = "ok" if worse > 0 else "FAILS"
    elif row.expect == INVARIANT:
        ref_changes = [abs(aggregates.get(e.perturbation, {}).get(key, {}).get(row.output, c) - c)
                       for e in metric.declared if e.expect == WORSE and e.output == row.output
                       and aggregates.get(e.perturbation, {}).get(key, {}).get(row.output) is not None]
        scale = max(ref_changes) if ref_changes else 0.0
        if scale > 0:
            row.effect = abs(p - c) / scale
            row.verdict = "FAILS" if row.effect > EFFECT_FAIL else "ok"
        else:
            row.note += "; no declared-worse change to compare with"
