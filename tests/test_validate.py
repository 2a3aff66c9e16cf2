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


# -- holes a probe alone misses ------------------------------------------------------------------
def _one_sample(tmp_path, seconds: float):
    root = tmp_path / "data1"
    sample = Sample("v0", expected=Expected(fps=25, width=64, height=64, audio=True, duration=seconds))
    return write_manifest(root / "test.jsonl", [sample]), tmp_path / "out1"


def test_garbage_in_the_middle_names_the_frame(tmp_path):
    """8 KB of garbage in the middle of an mp4: the container still probes (68 frames), the
    decoder fails part-way; validate names the sample and the frame."""
    import numpy as np

    manifest, outputs = _one_sample(tmp_path, 2.72)
    path = outputs / "v0.mp4"
    media.write_video(path, moving_square_video(68, 64), 25, audio=tone(2.72))
    assert validate_outputs(manifest, outputs) == []
    data = path.read_bytes()
    mid = len(data) // 2
    path.write_bytes(data[:mid] + np.random.default_rng(0).bytes(8192) + data[mid + 8192:])
    assert media.probe(path).n_frames == 68  # the index is intact: only decoding finds it
    problems = validate_outputs(manifest, outputs)
    assert kinds(problems) == {("v0", "corrupt")}
    assert "decoding fails at frame" in problems[0].message and "of 68" in problems[0].message


def test_short_muxed_audio_fails(tmp_path):
    """1.0 s of audio muxed into a 2.72 s video (tolerance: one frame + 40 ms)."""
    manifest, outputs = _one_sample(tmp_path, 2.72)
    media.write_video(outputs / "v0.mp4", moving_square_video(68, 64), 25, audio=tone(1.0))
    problems = validate_outputs(manifest, outputs)
    assert kinds(problems) == {("v0", "audio")}
    assert "audio lasts 1.0" in problems[0].message and "video 2.720 s" in problems[0].message


def _faststart(src, dst):
    import av

    with av.open(str(src)) as inp, av.open(str(dst), "w", options={"movflags": "faststart"}) as out:
        streams = {s.index: out.add_stream_from_template(s) for s in inp.streams}
        for packet in inp.demux():
            if packet.dts is None:
                continue
            packet.stream = streams[packet.stream.index]
            out.mux(packet)


def test_truncated_fast_start_mp4_is_reported_as_truncated(tmp_path):
    """A fast-start mp4 (index first) cut at 60 %: the index lists 68 frames, the file holds
    fewer; reported as truncated, not as a variable frame rate."""
    manifest, outputs = _one_sample(tmp_path, 2.72)
    media.write_video(tmp_path / "src.mp4", moving_square_video(68, 64), 25, audio=tone(2.72))
    path = outputs / "v0.mp4"
    outputs.mkdir()
    _faststart(tmp_path / "src.mp4", path)
    assert path.read_bytes()[4:8] == b"ftyp" and b"moov" in path.read_bytes()[:4096]  # index first
    assert validate_outputs(manifest, outputs) == []
    path.write_bytes(path.read_bytes()[: path.stat().st_size * 6 // 10])
    problems = validate_outputs(manifest, outputs)
    assert kinds(problems) == {("v0", "truncated")}, problems
    assert "index lists 68 video frames" in problems[0].message
