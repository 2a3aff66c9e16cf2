"""Alias of ``hxbench.synth.renderer`` (``from hxbench.synth.render import render`` works)."""

from hxbench.synth.renderer import *  # noqa: F401,F403
from hxbench.synth.renderer import (  # noqa: F401
    B,
    BEHAVIOUR_DIM,
    BEHAVIOUR_NAMES,
    FaceRig,
    RigError,
    behaviour_to_landmarks,
    build_rig,
    get_rig,
    render,
    render_landmarks,
)
