"""ASE: no-reference aesthetics of generated videos (OmniHuman-1.5 Table 4 "ASE"), Q-Align.

Variants ``qalign-{1to5|0to1}-{1fps|all}-{frames|video}`` (``all`` only with ``frames``):
output ``ase``, higher is better, in [1, 5] (``1to5``: one-align's ``model.score(task_=
"aesthetics")``) or [0, 1] (``0to1``: Q-Align ``scorer.py``'s ``QAlignAestheticScorer``
weights; s_0to1 = (s_1to5 - 1) / 4). The prompt asks for "the aesthetics of this image|video";
everything else (level tokens, softmax, weights, sampling, modes) is the protocol of
``hxbench.metrics._qalign``, the same as ``iqa[qalign-*]``. The model is the user's imported
one-align snapshot (``hxbench.nets.qalign``): unavailable, with the fix, until imported.

Variant ``laion-vbench`` (VBench's ``aesthetic_quality``): output ``ase``, higher is better,
about 0.1-1: the LAION-Aesthetics V1 linear head on the L2-normalised OpenAI CLIP ViT-L/14
embedding of every frame, / 10, averaged over the frames (``hxbench.metrics._vbench``;
networks: ``hxbench.nets.clip_vit``); unavailable (with the fix) until both files are imported.
Its numbers are VBench's scale, not Q-Align's.

Inputs: ``gen`` clips, (T, H, W, 3) uint8 RGB. Sampling: ``hxbench.metrics._sampling``.
"""

from __future__ import annotations

from hxbench.io.budget import memory_budget
from hxbench.metrics import _qalign, _vbench
from hxbench.metrics.base import HIGHER, PerSampleMetric, SampleData, register_metric, require_fields
from hxbench.metrics.base import DEGRADATIONS, INVARIANT, WORSE, expect_all


@register_metric
class ASE(PerSampleMetric):
    name = "ase"
    version = "1"
    variants = _qalign.variants() + ("laion-vbench",)
    outputs = {"ase": HIGHER}
    requires = ("gen",)
    declared = (expect_all(DEGRADATIONS, ("ase",), WORSE, "aesthetics drop with image quality")
                + expect_all(("shift+5", "other_speech", "silence"), ("ase",), INVARIANT, "reads no audio"))
    description = "no-reference aesthetics (Q-Align one-align, or VBench's LAION predictor)"
    qalign = None  # an injected Q-Align model (tests); else the imported snapshot
    laion = None  # injected (CLIP image tower, LAION head) (tests); else the imported files

    @classmethod
    def scale(cls, variant: str) -> str:
        if variant == "laion-vbench":
            return _vbench.describe(variant)
        return _qalign.describe(variant, "aesthetics (ase)")

    @property
    def is_laion(self) -> bool:
        return self.variant == "laion-vbench"

    def weight_names(self) -> tuple[str, ...]:
        if self.is_laion:
            from hxbench.nets.clip_vit import CLIP_VIT_L14, LAION_HEAD

            return (CLIP_VIT_L14.name, LAION_HEAD.name)
        from hxbench.nets.qalign import ONEALIGN

        return (ONEALIGN.name,)

    def check_available(self) -> None:
        if self.is_laion:
            if self.laion is None:
                super().check_available()
            return
        if self.qalign is not None:
            return
        _qalign.check_pyiqa(self.key)
        super().check_available()

    def open_stream(self, sample: SampleData) -> "_vbench.VBenchStream | None":
        """The LAION variant streams every frame; Q-Align reads the clip itself."""
        if not self.is_laion:
            return None
        require_fields(self, sample)
        self.check_available()
        if self.laion is not None:
            visual, head = self.laion
        else:
            from hxbench.nets.clip_vit import load_laion_aesthetic

            visual, head = load_laion_aesthetic(self.device)
        return _vbench.VBenchStream("ase", _vbench.laion_scorer(visual, head, self.device), 10.0, _vbench.LAION_BATCH,
                                    sample.gen.source, f"{self.key}: sample {sample.sample_id!r}: ")

    def score_sample(self, sample: SampleData) -> dict[str, float]:
        if self.is_laion:
            return super().score_sample(sample)
        require_fields(self, sample)
        self.check_available()
        scale, sampling, mode = _qalign.parse_variant(self.variant)
        value, _ = _qalign.score_clip(_qalign.get_qalign(self), sample.gen, "aesthetics", scale, sampling, mode,
                                      memory_budget() // 16, f"{self.key}: sample {sample.sample_id!r}: ")
        return {"ase": value}
