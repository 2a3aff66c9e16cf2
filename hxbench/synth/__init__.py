"""hx-synth: the offline benchmark and training-set generator.

- ``build(out_dir, size="tiny", seed=0, progress=True) -> Path`` writes every protocol's
  manifests and media (see ``hxbench.synth.build``);
- ``render(reference_image, behaviour[T, 11], fps) -> frames``: the landmark-driven face
  renderer (layout ``BEHAVIOUR_NAMES``), also used by the HumanExpert reference model.
"""

from hxbench.synth.build import PROTOCOLS, SIZES, build
from hxbench.synth.renderer import BEHAVIOUR_DIM, BEHAVIOUR_NAMES, render

__all__ = ["PROTOCOLS", "SIZES", "build", "render", "BEHAVIOUR_DIM", "BEHAVIOUR_NAMES"]
