"""hx-synth: the offline benchmark and training-set generator.

- ``build(out_dir, size="tiny", seed=0, progress=True) -> Path`` writes every protocol's
  manifests and media (see ``hxbench.synth.build``);
- ``lip_sync_clip(seed, split, index, n_identities)`` / ``command_clip(...)``: the text, speech
  and behaviour of one clip of a build, without rendering it (training-data generators);
- ``render(reference_image, behaviour[T, 11], fps) -> frames``: the landmark-driven face
  renderer (layout ``BEHAVIOUR_NAMES``), also used by the HumanExpert reference model.
"""

from hxbench.synth.build import PROTOCOLS, SIZES, build, command_clip, lip_sync_clip
from hxbench.synth.renderer import BEHAVIOUR_DIM, BEHAVIOUR_NAMES, render

__all__ = ["PROTOCOLS", "SIZES", "build", "lip_sync_clip", "command_clip", "render", "BEHAVIOUR_DIM",
           "BEHAVIOUR_NAMES"]
