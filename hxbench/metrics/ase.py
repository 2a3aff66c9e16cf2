"""ASE: no-reference aesthetics of generated videos (OmniHuman-1.5 Table 4 "ASE"), Q-Align.

Variants ``qalign-{1to5|0to1}-{1fps|all}-{frames|video}`` (``all`` only with ``frames``):
output ``ase``, higher is better, in [1, 5] (``1to5``: one-align's ``model.score(task_=
"aesthetics")``) or [0, 1] (``0to1``: Q-Align ``scorer.py``'s ``QAlignAestheticScorer``
weights; s_0to1 = (s_1to5 - 1) / 4). The prompt asks for "the aesthetics of this image|video";
everything else (level tokens, softmax, weights, sampling, modes) is the protocol of
``hxbench.metrics._qalign``, the same as ``iqa[qalign-*]``. The model is the user's imported
one-align snapshot (``hxbench.nets.qalign``): unavailable, with the fix, until imported.

Inputs: ``gen`` clips, (T, H, W, 3) uint8 RGB. Sampling: ``hxbench.metrics._sampling``.
"""

from __future__ import annotations

from hxbench.io.budget import memory_budget
from hxbench.metrics import _qalign
from hxbench.metrics.base import HIGHER, PerSampleMetric, SampleData, register_metric, require_fields
from hxbench.metrics.base import DEGRADATIONS, INVARIANT, WORSE, expect_all


@register_metric
class ASE(PerSampleMetric):
    name = "ase"
    version = "1"
    variants = _qalign.variants()
    outputs = {"ase": HIGHER}
    requires = ("gen",)
    declared = (expect_all(DEGRADATIONS, ("ase",), WORSE, "aesthetics drop with image quality")
                + expect_all(("shift+5", "other_speech", "silence"), ("ase",), INVARIANT, "reads no audio"))
    description = "no-reference aesthetics (Q-Align one-align)"
    qalign = None  # an injected Q-Align model (tests); else the imported snapshot

    @classmethod
    def scale(cls, variant: str) -> str:
        return _qalign.describe(variant, "aesthetics (ase)")

    def weight_names(self) -> tuple[str, ...]:
        from hxbench.nets.qalign import ONEALIGN

        return (ONEALIGN.name,)

    def check_available(self) -> None:
        if self.qalign is not None:
            return
        _qalign.check_pyiqa(self.key)
        super().check_available()

    def score_sample(self, sample: SampleData) -> dict[str, float]:
        require_fields(self, sample)
        self.check_available()
        scale, sampling, mode = _qalign.parse_variant(self.variant)
        value, _ = _qalign.score_clip(_qalign.get_qalign(self), sample.gen, "aesthetics", scale, sampling, mode,
                                      memory_budget() // 16, f"{self.key}: sample {sample.sample_id!r}: ")
        return {"ase": value}
