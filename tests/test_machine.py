"""What results and hx-synth builds record about the machine."""

import numpy as np

from hxbench.eval.results import environment
from hxbench.machine import cpu_model, numpy_simd


def test_environment_names_the_cpu_and_its_kernels():
    env = environment()
    assert env["cpu"] == cpu_model() and env["cpu"]
    assert env["numpy"] == np.__version__
    assert env["numpy_simd"] == numpy_simd()
    import torch

    assert env["torch_cpu_capability"] == torch.backends.cpu.get_cpu_capability()


def test_numpy_simd_is_a_level_numpy_enabled():
    from numpy._core._multiarray_umath import __cpu_features__ as feats

    level = numpy_simd()
    assert level is None or feats[level]
    if feats.get("AVX2"):  # x86 with AVX2: the answer is AVX2 or a wider level
        assert level is not None and (level == "AVX2" or level.startswith("AVX512"))
