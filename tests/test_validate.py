import json
import subprocess
import sys

import pytest

from hxbench.io import media
from hxbench.io.manifest import Expected, Sample, write_manifest
from hxbench.eval.validate import validate_outputs
from tests.conftest import moving_square_video, tone


@pytest.fixture
def bench(tmp_path):
    """A 4-sample manifest with driving audio and a valid outputs folder."""
    root = tmp_path / "data"
    samples = []
    for i in range(4):
        sid = f"s{i}"
        media.write_wav(root / "audio" / f"{sid}.wav", tone(1.0), 16000)
        samples.append(Sample(sid, driving_audio=f"audio/{sid}.wav",
                              expected=Expected(fps=25, width=64, height=64, audio=True)))
    manifest = write_manifest(root / "test.jsonl", samples)
    outputs = tmp_path / "outputs"
    for s in samples:
        media.write_video(outputs / f"{s.sample_id}.mp4", moving_square_video(25, 64), 25, audio=tone(1.0))
    return manifest, outputs


def kinds(problems):
    return {(p.sample_id, p.kind) for p in problems}


def test_valid_outputs_pass(bench):
    manifest, outputs = bench
    assert validate_outputs(manifest, outputs) == []


def test_missing_sample(bench):
    manifest, outputs = bench
    (outputs / "s1.mp4").unlink()
    problems = validate_outputs(manifest, outputs)
    assert kinds(problems) == {("s1", "missing")}
    assert "s1.mp4 is missing" in str(problems[0]) and "'s1'" in str(problems[0])


def test_extra_file(bench):
    manifest, outputs = bench
    (outputs / "s9.mp4").write_bytes((outputs / "s0.mp4").read_bytes())
    problems = validate_outputs(manifest, outputs)
    assert kinds(problems) == {(None, "extra")}
    assert "s9.mp4" in str(problems[0])


def test_corrupt_mp4(bench):
    manifest, outputs = bench
    (outputs / "s2.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not a video" * 20)
    assert kinds(validate_outputs(manifest, outputs)) == {("s2", "corrupt")}


def test_zero_byte_file(bench):
    manifest, outputs = bench
    (outputs / "s3.mp4").write_bytes(b"")
    problems = validate_outputs(manifest, outputs)
    assert kinds(problems) == {("s3", "empty")}
    assert "zero-byte" in str(problems[0])


def test_wrong_fps(bench):
    manifest, outputs = bench
    media.write_video(outputs / "s0.mp4", moving_square_video(30, 64), 30, audio=tone(1.0))
    problems = validate_outputs(manifest, outputs)
    assert kinds(problems) == {("s0", "fps")}
    assert "30.000 fps, expected 25" in str(problems[0])


def test_duration_mismatch(bench):
    manifest, outputs = bench
    media.write_video(outputs / "s1.mp4", moving_square_video(40, 64), 25, audio=tone(1.6))
    problems = validate_outputs(manifest, outputs)
    assert kinds(problems) == {("s1", "duration")}
    assert "1.600 s, expected 1.000 s" in str(problems[0])


def test_resolution_and_missing_audio(bench):
    manifest, outputs = bench
    media.write_video(outputs / "s2.mp4", moving_square_video(25, 32), 25, audio=None)
    assert kinds(validate_outputs(manifest, outputs)) == {("s2", "resolution"), ("s2", "audio")}


def test_cli_exit_code_and_json(bench):
    manifest, outputs = bench
    (outputs / "s1.mp4").unlink()
    cmd = [sys.executable, "-m", "hxbench", "validate", "--manifest", str(manifest.path),
           "--outputs", str(outputs), "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    assert report["valid"] is False
    assert report["problems"] == [{"sample_id": "s1", "kind": "missing", "message": "expected output s1.mp4 is missing"}]
    (outputs / "s1.mp4").write_bytes((outputs / "s0.mp4").read_bytes())
    assert subprocess.run(cmd, capture_output=True).returncode == 0
