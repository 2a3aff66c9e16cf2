"""``hxbench verify --rescore``: recompute a random subset of a bundle's samples from the
submitted outputs, to check that its numbers follow from those files (which neither the
integrity hash nor the HMAC can show)."""

from __future__ import annotations

import json
from pathlib import Path

from hxbench.board.bundle import BUNDLE_FILE
from hxbench.eval.schema import SampleRecord, load_samples
from hxbench.io.manifest import Manifest


def rescore_check(bundle: str | Path, manifest: Manifest, outputs: Path, n: int = 5, seed: int | None = None,
                  rtol: float = 1e-4, atol: float = 1e-4, device: str = "cpu") -> list[str]:
    """Recompute ``n`` random samples from the outputs and compare with the bundle's records
    (per-sample values and errors, and the sha256 of each output file). Set-level metrics
    (FID / FVD) have no per-sample values: only their file hashes are checked. Returns problems."""
    import random

    import numpy as np

    from hxbench.eval.inputs import from_manifest
    from hxbench.eval.scoring import score
    from hxbench.paths import cached_sha256

    bundle = Path(bundle)
    meta = json.loads((bundle / BUNDLE_FILE).read_text())
    if manifest.revision != meta.get("manifest_revision"):
        return [f"manifest revision {manifest.revision} differs from the bundle's {meta.get('manifest_revision')}"]
    latest = load_samples(bundle)
    keys = [k for k, m in meta["metrics"].items() if m.get("status") is None]
    rng = random.Random(seed)
    chosen = rng.sample(manifest.samples, min(n, len(manifest.samples)))
    probs = []
    from hxbench.paths import output_path

    for s in chosen:
        p = output_path(outputs, s)
        stored_sha = {r.input_sha256 for (sid, _), r in latest.items() if sid == s.sample_id} - {None}
        if p.is_file() and stored_sha and cached_sha256(p) not in stored_sha:
            probs.append(f"sample {s.sample_id!r}: output file differs from the one scored in the bundle")
    recs: list[SampleRecord] = []
    score(from_manifest(Manifest(manifest.path, chosen), outputs), keys, run_dir=None, device=device,
          progress=False, keep_records=recs)
    for rec in recs:
        old = latest.get((rec.sample_id, rec.metric))
        who = f"sample {rec.sample_id!r} {rec.metric}"
        if old is None:
            probs.append(f"{who}: not in the bundle")
            continue
        if (rec.error is None) != (old.error is None):
            probs.append(f"{who}: bundle has {'an error' if old.error is not None else 'values'}, rescoring gives "
                         f"{'an error: ' + rec.error if rec.error is not None else 'values'}")
            continue
        for out, v in (rec.values or {}).items():
            ov = (old.values or {}).get(out)
            if ov is None or not np.isclose(v, ov, rtol=rtol, atol=atol):
                probs.append(f"{who}.{out}: bundle {ov}, rescored {v}")
    return probs
