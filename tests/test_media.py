from fractions import Fraction

import numpy as np
import pytest

from hxbench.io import media
from hxbench.errors import MediaError
from tests.conftest import moving_square_video, tone


def test_write_probe_read_roundtrip(tmp_path):
    frames = moving_square_video(30, 64)
    path = media.write_video(tmp_path / "v.mp4", frames, 25, audio=tone(1.2), crf=0)
    info = media.probe(path)
    assert (info.fps, info.n_frames, info.width, info.height) == (25.0, 30, 64, 64)
    assert info.has_audio and not info.variable_fps
    decoded = media.read_video(path)
    assert decoded.shape == frames.shape and decoded.dtype == np.uint8
    # lossless luma, 4:2:0 chroma: smooth content comes back within a few levels
    assert np.abs(decoded.astype(int) - frames).mean() < 3
    audio = media.read_audio(path, 16000)
    assert abs(len(audio) - 1.2 * 16000) < 2048  # AAC priming/padding
    assert 0.15 < np.abs(audio).max() < 0.45


def test_streaming_chunks_cover_all_frames(tmp_path):
    path = media.write_video(tmp_path / "v.mp4", moving_square_video(50, 32), 25)
    chunks = list(media.iter_frames(path, chunk_size=16))
    assert [len(c) for c in chunks] == [16, 16, 16, 2]


def test_fps_resampling(tmp_path):
    path = media.write_video(tmp_path / "v.mp4", moving_square_video(60, 32), 30)
    assert len(media.read_video(path, fps=25)) == 50
    assert list(media.resample_indices(6, 30, 25)) == [0, 1, 2, 3, 4]
    assert list(media.resample_indices(4, 12.5, 25)) == [0, 0, 1, 1, 2, 2, 3, 3]


@pytest.mark.parametrize("fps", [None, 25.0, 50.0])
def test_chunks_are_the_frames_whatever_the_chunking_and_resampling(tmp_path, fps):
    """Every chunking gives the same frames, in order, as one whole-video read (resampled
    frames included: duplicates at 50 fps may straddle a chunk boundary), in separate arrays
    (a chunk kept by its reader is never overwritten by the next one)."""
    import av

    path = media.write_video(tmp_path / "v.mp4", moving_square_video(30, 32), 30)
    with av.open(str(path)) as container:  # every frame, decoded here without hxbench
        decoded = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    whole = decoded if fps is None else decoded[media.resample_indices(30, 30.0, fps)]
    assert len(whole) == {None: 30, 25.0: 25, 50.0: 50}[fps]
    for size in (1, 3, 7, 64):
        chunks = list(media.iter_frames(path, chunk_size=size, fps=fps))  # all kept, then compared
        assert [len(c) for c in chunks[:-1]] == [size] * (len(chunks) - 1) and 0 < len(chunks[-1]) <= size
        np.testing.assert_array_equal(np.concatenate(chunks), whole)


def test_variable_frame_rate_is_detected(tmp_path):
    import av

    path = tmp_path / "vfr.mp4"
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.width = s.height = 32
        s.pix_fmt = "yuv420p"
        s.codec_context.time_base = Fraction(1, 1000)
        t = 0
        for i, img in enumerate(moving_square_video(20, 32)):
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts = t
            f.time_base = Fraction(1, 1000)
            t += 40 if i % 2 == 0 else 120  # irregular gaps
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    assert media.probe(path).variable_fps
    with pytest.raises(MediaError, match="variable frame rate"):
        media.read_video(path)


def test_bad_files_name_the_file_and_problem(tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(MediaError, match=r"empty\.mp4: file is empty"):
        media.probe(empty)
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    with pytest.raises(MediaError, match=r"corrupt\.mp4: cannot be read"):
        media.probe(corrupt)
    silent = media.write_video(tmp_path / "silent.mp4", moving_square_video(10, 32), 25)
    with pytest.raises(MediaError, match="no audio stream"):
        media.read_audio(silent)
    with pytest.raises(MediaError, match="no such file"):
        media.probe(tmp_path / "missing.mp4")


def test_truncated_video_fails_clearly(tmp_path):
    path = media.write_video(tmp_path / "v.mp4", moving_square_video(50, 64), 25)
    data = path.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 3])
    with pytest.raises(MediaError, match="cut.mp4"):
        media.read_video(cut)


def test_arrays_validated(tmp_path):
    good = np.random.default_rng(0).random((2, 3, 8, 8, 3)).astype(np.float32)
    np.save(tmp_path / "good.npy", good)
    clips = media.open_inputs(tmp_path / "good.npy")
    assert list(clips) == ["0", "1"]
    frames = clips["1"].frames
    assert frames.dtype == np.uint8 and frames.shape == (3, 8, 8, 3)
    assert np.array_equal(frames, (good[1] * 255 + 0.5).astype(np.uint8))

    bad = good.copy()
    bad[0, 0, 0, 0, 0] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    with pytest.raises(MediaError, match="NaN"):
        media.open_inputs(tmp_path / "nan.npy")["0"].frames
    np.save(tmp_path / "range.npy", good * 2)
    with pytest.raises(MediaError, match=r"\[0, 1\]"):
        media.open_inputs(tmp_path / "range.npy")["0"].frames
    np.save(tmp_path / "shape.npy", good[0])
    with pytest.raises(MediaError, match=r"\(N, T, H, W, C\)"):
        media.open_inputs(tmp_path / "shape.npy")


def test_open_inputs_for_every_kind(tmp_path):
    from PIL import Image

    vids = tmp_path / "videos"
    vids.mkdir()
    for name in ("b", "a"):
        media.write_video(vids / f"{name}.mp4", moving_square_video(5, 32), 25)
    assert list(media.open_inputs(vids)) == ["a", "b"]
    assert media.open_inputs(vids)["a"].frames.shape == (5, 32, 32, 3)
    assert list(media.open_inputs(vids / "a.mp4")) == ["a"]

    imgs = tmp_path / "images"
    imgs.mkdir()
    for i in range(3):
        Image.fromarray(moving_square_video(1, 32, seed=i)[0]).save(imgs / f"im{i}.png")
    clips = media.open_inputs(imgs)
    assert list(clips) == ["im0", "im1", "im2"] and clips["im0"].frames.shape == (1, 32, 32, 3)

    frames = tmp_path / "frames"
    for clip in ("x", "y"):
        (frames / clip).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(moving_square_video(4, 32)[i]).save(frames / clip / f"{i:03d}.png")
    clips = media.open_inputs(frames)
    assert list(clips) == ["x", "y"] and clips["y"].frames.shape == (4, 32, 32, 3)

    (imgs / "stray.mp4").write_bytes(b"x")
    with pytest.raises(MediaError, match="mixes"):
        media.open_inputs(imgs)


def test_decoding_installs_no_python_log_callback(tmp_path):
    """PyAV's Python log callback deadlocks a threaded decoder freed while the main thread holds
    the GIL (an abandoned frame generator: the report's thumbnails); hxbench keeps it off."""
    import av

    path = tmp_path / "v.mp4"
    media.write_video(path, moving_square_video(12), fps=25)
    av.logging.set_level(av.logging.ERROR)  # as a user's own code might
    first = next(media.iter_frames(path, chunk_size=1))  # generator abandoned mid-stream
    assert first.shape[0] == 1
    assert av.logging.get_level() is None


def test_corrupt_stream_prints_no_unnamed_ffmpeg_lines(tmp_path, capfd):
    """FFmpeg's own log lines ("[h264 @ 0x..] error while decoding MB") name no file; hxbench
    keeps them off stderr and reports the problem once, in a MediaError that names the file."""
    path = media.write_video(tmp_path / "v.mp4", moving_square_video(50, 64), 25)
    data = bytearray(path.read_bytes())
    rng = np.random.default_rng(1)
    for k in rng.integers(len(data) // 4, len(data) * 7 // 8, 40):  # flip bytes in the payload
        data[k] ^= 0xFF
    bad = tmp_path / "flipped.mp4"
    bad.write_bytes(bytes(data))
    capfd.readouterr()
    try:
        for _ in media.iter_frames(bad):
            pass
    except MediaError as err:
        assert "flipped.mp4" in str(err)
    err_text = capfd.readouterr().err
    assert not [ln for ln in err_text.splitlines() if ln.strip() and "flipped.mp4" not in ln], err_text


def test_written_video_is_the_same_file_every_time(tmp_path):
    """libx264's macroblock-tree rate control gave different bitstreams for the same frames from
    one run to the next on a loaded machine; write_video turns it off (and encodes with one
    thread), so a video's bytes, and every score computed from it, are reproducible."""
    import hashlib

    ref = moving_square_video(6, 32, seed=0)
    noise = np.random.default_rng(0).integers(-20, 20, ref.shape)
    frames = np.clip(ref.astype(int) + noise, 0, 255).astype(np.uint8)
    hashes = {hashlib.sha256(media.write_video(tmp_path / f"v{i}.mp4", frames, 25).read_bytes()).hexdigest()
              for i in range(40)}  # with mbtree: 2-4 distinct files in 40-60 encodes under load (measured)
    assert len(hashes) == 1
