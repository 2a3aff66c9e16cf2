"""Sync-C / Sync-D parity with the syncnet-python package (same random seeded weights).

The package's own ``SyncNetInstance.evaluate`` (the syncnet_python computation) reads a folder
of frames and ``audio.wav``; frames are written losslessly (PNG bytes under .jpg names: cv2
decodes by content) so both sides see identical pixels.
"""

import io
import os
import types

import numpy as np
import pytest
import torch

pytest.importorskip("syncnet_python")
cv2 = pytest.importorskip("cv2")
pytest.importorskip("python_speech_features")

from hxbench.errors import MetricUnavailable, SampleError  # noqa: E402
from hxbench.face.tracks import FaceTrack, TrackParams, crop_track, make_tracks, track_shot  # noqa: E402
from hxbench.metrics.base import SampleData  # noqa: E402
from hxbench.metrics.sync import PROTOCOLS, SyncNetSync, syncnet_scores  # noqa: E402
from hxbench.nets.syncnet import package_module, syncnet_model  # noqa: E402

T = 18  # frames: 13 SyncNet windows, keeps each comparison a few seconds on CPU


def random_state(seed=0):
    torch.manual_seed(seed)
    net = package_module("SyncNetModel").S()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d, torch.nn.BatchNorm3d)):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.1, 0.1)
        net.netcnnlip[0].weight.mul_(1 / 64.0)  # keep activations O(1) for 0..255 inputs
    return {k: v.clone() for k, v in net.state_dict().items()}


@pytest.fixture(scope="module")
def state():
    return random_state(0)


def talking(n_frames=T, size=224, seed=0, shift_frames=0):
    """A synthetic talking face: the mouth opening follows the syllable envelope of the audio."""
    rng = np.random.default_rng(seed)
    sr, n = 16000, n_frames * 640
    t = np.arange(n) / sr
    env = np.clip(np.sin(2 * np.pi * 2.7 * t) + 0.4 * np.sin(2 * np.pi * 5.3 * t + 1), 0, None)
    voice = sum(np.sin(2 * np.pi * f * t) / k for k, f in enumerate((140, 280, 420, 700), 1))
    audio = 0.3 * env * voice / 2 + 0.005 * rng.standard_normal(n)
    frame_env = env.reshape(n_frames, 640).mean(1)
    frame_env = np.roll(frame_env, shift_frames)
    yy, xx = np.mgrid[0:size, 0:size] / size
    frames = np.empty((n_frames, size, size, 3), np.uint8)
    for i, e in enumerate(frame_env):
        img = np.zeros((size, size, 3)) + [40, 60, 90]
        face = ((xx - 0.5) / 0.28) ** 2 + ((yy - 0.5) / 0.38) ** 2 < 1
        img[face] = [200, 160, 130]
        for ex in (0.4, 0.6):
            img[((xx - ex) / 0.04) ** 2 + ((yy - 0.4) / 0.02) ** 2 < 1] = [30, 30, 30]
        mouth = ((xx - 0.5) / 0.1) ** 2 + ((yy - 0.66) / (0.01 + 0.06 * e)) ** 2 < 1
        img[mouth] = [90, 20, 30]
        frames[i] = np.clip(img + rng.normal(0, 2, img.shape), 0, 255).astype(np.uint8)
    pcm = np.clip(np.rint(audio * 32768), -32768, 32767).astype(np.int16)
    return frames, pcm


def package_evaluate(state, frames_bgr, pcm, tmp_path, batch_size=20):
    """Run the package's SyncNetInstance.evaluate; returns (offset, conf, dist, dists)."""
    from scipy.io import wavfile

    inst_mod = package_module("SyncNetInstance")
    net = package_module("SyncNetModel").S()
    net.load_state_dict(state)
    inst = inst_mod.SyncNetInstance(net=net, device="cpu")
    d = tmp_path / "pkg"
    d.mkdir(exist_ok=True)
    for i, f in enumerate(frames_bgr):
        ok, buf = cv2.imencode(".png", f)
        (d / f"{i + 1:06d}.jpg").write_bytes(buf.tobytes())
    wavfile.write(str(d / "audio.wav"), 16000, pcm)
    captured = {}
    orig = inst_mod.calc_pdist

    def spy(a, b, vshift=10):
        out = orig(a, b, vshift=vshift)
        captured["dists"] = torch.stack(out, 0).numpy()
        return out

    inst_mod.calc_pdist = spy
    try:
        opt = types.SimpleNamespace(tmp_dir=str(d), batch_size=batch_size, vshift=15)
        off, conf, dist = inst.evaluate(opt)
    finally:
        inst_mod.calc_pdist = orig
    return off, conf, dist, captured["dists"]


def assert_same(ours, ref):
    off, conf, dist, dists = ref
    assert ours.dists.shape == dists.shape
    np.testing.assert_allclose(ours.dists, dists, atol=1e-4, rtol=0)
    np.testing.assert_allclose(ours.mdist, dists.mean(0), atol=1e-4, rtol=0)
    assert abs(ours.conf - conf) <= 1e-4
    assert abs(ours.dist - dist) <= 1e-4
    assert ours.offset == off


def test_core_parity_with_package(state, tmp_path):
    frames, pcm = talking()
    bgr = np.ascontiguousarray(frames[..., ::-1])
    ref = package_evaluate(state, bgr, pcm, tmp_path)
    ours = syncnet_scores(syncnet_model(state), bgr, pcm)
    assert_same(ours, ref)
    assert np.ptp(ours.mdist) > 1e-3  # the random net is not degenerate: offsets differ


def test_core_parity_audio_longer_and_shorter(state, tmp_path):
    n = 14
    frames, pcm = talking(n_frames=n)
    bgr = np.ascontiguousarray(frames[..., ::-1])
    for audio in (pcm[: 640 * (n - 3) + 100], np.concatenate([pcm, pcm[:5000]])):
        ref = package_evaluate(state, bgr, audio, tmp_path)
        assert_same(syncnet_scores(syncnet_model(state), bgr, audio), ref)


@pytest.mark.parametrize("variant,size", [("wav2lip-lrs", 256), ("demo-syncnet", 224)])
def test_whole_frame_variants_match_package(state, tmp_path, variant, size):
    frames, pcm = talking(size=size)
    metric = SyncNetSync(variant)
    metric._net = syncnet_model(state)
    out = metric.score_frames(frames, pcm)
    bgr = np.ascontiguousarray(frames[..., ::-1])
    if variant == "wav2lip-lrs":  # Wav2Lip: cv2.resize(img, (224, 224)) before the package code
        bgr = np.stack([cv2.resize(f, (224, 224)) for f in bgr])
    ref = package_evaluate(state, bgr, pcm, tmp_path)
    assert_same(out["tracks"][0], ref)
    assert out["values"]["sync_c"] == pytest.approx(ref[1], abs=1e-4)
    assert out["values"]["sync_d"] == pytest.approx(ref[2], abs=1e-4)
    assert out["values"]["offset"] == ref[0]


def test_demo_variant_rejects_other_sizes(state):
    frames, pcm = talking(n_frames=12, size=128)
    metric = SyncNetSync("demo-syncnet")
    metric._net = syncnet_model(state)
    with pytest.raises(SampleError, match="224x224"):
        metric.score_frames(frames, pcm)


# -- face tracks: the package's SyncNetPipeline._track / _crop ----------------------------------
def _pipeline_mod():
    try:
        return package_module("syncnet_pipeline")
    except ImportError as err:  # ffmpeg-python / scenedetect missing
        pytest.skip(f"syncnet_pipeline not importable: {err}")


def random_detections(n_frames, seed):
    rng = np.random.default_rng(seed)
    dets = []
    base = [np.array([40.0, 30, 190, 200]), np.array([300.0, 50, 420, 190])]
    for f in range(n_frames):
        faces = []
        for k, b in enumerate(base):
            if rng.random() < 0.15:  # missed detection
                continue
            jitter = rng.normal(0, 3, 4)
            if rng.random() < 0.05:
                jitter += 80  # a jump: IoU drops, the track breaks or skips it
            box = b + jitter + f * np.array([0.5, 0.2, 0.5, 0.2]) * (1 if k == 0 else -1)
            faces.append({"frame": f, "bbox": box.tolist(), "conf": float(0.9 + 0.1 * rng.random())})
        if rng.random() < 0.1:
            faces.append({"frame": f, "bbox": [0.0, 0, 30, 30], "conf": 0.95})
        rng.shuffle(faces)
        dets.append(faces)
    return dets


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tracking_matches_package(seed):
    mod = _pipeline_mod()
    cfg = mod.PipelineConfig(min_track=20, min_face_size=50)
    pipe = mod.SyncNetPipeline.__new__(mod.SyncNetPipeline)
    pipe.cfg = cfg
    dets = random_detections(90, seed)
    ref = pipe._track([[dict(f) for f in fs] for fs in dets])
    p = PROTOCOLS["mochabench"].track_params()
    p.min_track, p.min_face_size = 20, 50
    ours = track_shot([[dict(f) for f in fs] for fs in dets], p)
    assert len(ours) == len(ref) and len(ref) >= 1
    for a, b in zip(ours, ref):
        np.testing.assert_array_equal(a.frames, b["frame"])
        np.testing.assert_array_equal(a.boxes, b["bbox"])


def test_crop_matches_package(tmp_path, monkeypatch):
    mod = _pipeline_mod()
    rng = np.random.default_rng(3)
    frames = rng.integers(0, 255, (20, 240, 320, 3), dtype=np.uint8)
    paths = []
    for i, f in enumerate(frames):
        p = tmp_path / f"{i:06d}.png"
        cv2.imwrite(str(p), f)
        paths.append(str(p))
    n = 20
    boxes = np.stack([np.linspace(10, 60, n), np.linspace(-20, 30, n),  # box partly outside the frame
                      np.linspace(150, 230, n), np.linspace(160, 250, n)], 1) + rng.normal(0, 2, (n, 4))
    track = {"frame": np.arange(n), "bbox": boxes}
    written = []

    class FakeWriter:
        def __init__(self, *a, **k):
            pass

        def write(self, img):
            written.append(img.copy())

        def release(self):
            pass

    monkeypatch.setattr(mod.cv2, "VideoWriter", FakeWriter)
    monkeypatch.setattr(mod.subprocess, "run", lambda *a, **k: None)
    monkeypatch.setattr(mod.os, "remove", lambda *a, **k: None)
    pipe = mod.SyncNetPipeline.__new__(mod.SyncNetPipeline)
    pipe.cfg = mod.PipelineConfig()
    pipe._crop(track, paths, str(tmp_path / "a.wav"), tmp_path / "crop" / "00000")
    ours = crop_track(frames, FaceTrack(track["frame"], boxes), TrackParams())
    assert len(written) == n
    np.testing.assert_array_equal(ours, np.stack(written))


@pytest.mark.slow
def test_track_variant_end_to_end_with_injected_detector(state):
    """mochabench protocol with a stand-in detector (the S3FD weights are not available here):
    tracks -> crops -> SyncNet, equal to scoring the crops directly."""
    frames, pcm = talking(n_frames=60, size=256)
    box = {"bbox": [60.0, 40.0, 196.0, 216.0], "conf": 0.99}
    metric = SyncNetSync("mochabench")
    metric._net = syncnet_model(state)
    metric._detector = lambda fr: [[dict(box, frame=i)] for i in range(len(fr))]
    out = metric.score_frames(frames, pcm)
    params = PROTOCOLS["mochabench"].track_params()
    tracks = make_tracks(metric._detector(frames), len(frames), params)
    assert len(tracks) == 1 and len(out["tracks"]) == 1
    crops = crop_track(np.ascontiguousarray(frames[..., ::-1]), tracks[0], params)
    direct = syncnet_scores(metric._net, crops, pcm)
    assert out["values"]["sync_c"] == pytest.approx(direct.conf, abs=1e-6)
    # no face: reported per sample, not dropped
    metric._detector = lambda fr: [[] for _ in fr]
    with pytest.raises(SampleError, match="no face track"):
        metric.score_frames(frames, pcm, "s1")


def test_errors_and_unavailable(state, tmp_path, monkeypatch):
    monkeypatch.setenv("HXBENCH_HOME", str(tmp_path / "home"))
    metric = SyncNetSync("wav2lip-lrs")
    with pytest.raises(MetricUnavailable, match="hxbench weights import syncnet_v2"):
        metric.check_available()
    metric._net = syncnet_model(state)
    frames, pcm = talking(n_frames=5)
    with pytest.raises(SampleError, match="too short"):
        metric.score_frames(frames, pcm)
    from hxbench.metrics.sync import check_audio

    with pytest.raises(SampleError, match="silent"):
        check_audio(np.zeros(16000, np.int16), "x")


def test_video_file_sample_matches_arrays(state, tmp_path, monkeypatch):
    """A video file with its own audio stream, scored through score_sample (decode, 25 fps,
    int16 conversion), equals score_frames on the same decoded frames and audio."""
    from hxbench.io.audio_features import to_int16_pcm
    from hxbench.io.media import clip_from_video, read_audio, read_video, write_video

    frames, pcm = talking(n_frames=14, size=224)
    path = write_video(tmp_path / "v.mp4", frames, fps=25, audio=pcm / 32768.0, sample_rate=16000)
    metric = SyncNetSync("demo-syncnet")
    metric._net = syncnet_model(state)
    monkeypatch.setattr(metric, "check_available", lambda: None)
    vals = metric.score_sample(SampleData("v", gen=clip_from_video(path)))
    direct = metric.score_frames(read_video(path), to_int16_pcm(read_audio(path)))["values"]
    assert vals == pytest.approx(direct, abs=1e-6)


def test_mediapipe_detector_finds_the_rendered_face():
    pytest.importorskip("mediapipe")
    from PIL import Image

    from hxbench.face.tracks import mediapipe_detector
    from hxbench.synth.photos import astronaut

    img = np.asarray(Image.fromarray(astronaut()).resize((256, 256), Image.BILINEAR))
    dets = mediapipe_detector()(np.stack([img, img]))
    assert [d[0]["frame"] for d in dets] == [0, 1]
    x1, y1, x2, y2 = dets[0][0]["bbox"]
    assert 0 <= x1 < x2 <= 256 and 0 <= y1 < y2 <= 256 and dets[0][0]["conf"] > 0.5


def test_scene_cuts_match_scenedetect_scene_manager(tmp_path):
    pytest.importorskip("scenedetect")
    from scenedetect import ContentDetector, SceneManager, StatsManager
    from scenedetect.video_manager import VideoManager

    from hxbench.face.tracks import scene_cuts, shots_from_cuts
    from hxbench.io.media import read_video, write_video

    a, _ = talking(n_frames=40, size=320, seed=0)
    b = np.ascontiguousarray(255 - a[:30, ::-1])
    path = write_video(tmp_path / "cut.mp4", np.concatenate([a, b, a[:25]]), 25, crf=10)
    frames = read_video(path)
    ours = shots_from_cuts(scene_cuts(np.ascontiguousarray(frames[..., ::-1])), len(frames))
    vm = VideoManager([str(path)])  # what the MoChaBench pipeline runs on its AVI
    sm = SceneManager(StatsManager())
    sm.add_detector(ContentDetector())
    vm.start()
    sm.detect_scenes(frame_source=vm)
    ref = [(s[0].frame_num, s[1].frame_num) for s in sm.get_scene_list()]
    assert ours == ref == [(0, 40), (40, 70), (70, 95)]


def test_batched_s3fd_matches_package_detect_faces():
    """hxbench's batched S3FD wrapper vs the package's per-frame S3FD.detect_faces, same random
    S3FDNet (threshold lowered so that random weights yield boxes)."""
    s3fd = package_module("detectors.s3fd")
    nets = package_module("detectors.s3fd.nets")
    box_utils = package_module("detectors.s3fd.box_utils")
    from hxbench.face.tracks import S3FDDetector

    torch.manual_seed(1)
    net = nets.S3FDNet(device="cpu").eval()
    frames, _ = talking(n_frames=3, size=256)
    ref_det = s3fd.S3FD(net=net, device="cpu")
    conf_th = 0.5
    ours = S3FDDetector(net, box_utils.nms_, conf_th=conf_th, scale=0.25, batch_size=3)(frames)
    n_boxes = 0
    for i, f in enumerate(frames):
        ref = ref_det.detect_faces(f, conf_th=conf_th, scales=[0.25])
        got = np.array([d["bbox"] + [d["conf"]] for d in ours[i]]).reshape(-1, 5)
        assert got.shape == ref.shape
        np.testing.assert_allclose(got, ref, atol=1e-3)
        n_boxes += len(ref)
    assert n_boxes > 0


def test_strided_detections():
    """Detection on a stride: stride 1 is the detector itself; boxes moving linearly are
    reproduced exactly between detected frames; a face without a match is not carried over;
    the detector only sees the strided frames (and the last one)."""
    from hxbench.face.tracks import strided_detections

    n = 23
    seen = []

    def detector(frames):
        seen.append(len(frames))
        out = []
        for i, f in enumerate(frames):
            t = int(f[0, 0, 0])  # the frame index is written into the pixels
            faces = [{"frame": i, "bbox": [10.0 + 2 * t, 20.0, 110.0 + 2 * t, 130.0], "conf": 0.99}]
            if t == 10:  # a face seen once only
                faces.append({"frame": i, "bbox": [300.0, 300.0, 400.0, 400.0], "conf": 0.95})
            out.append(faces)
        return out

    frames = np.zeros((n, 8, 8, 3), np.uint8)
    frames[:, 0, 0, 0] = np.arange(n)
    full = detector(frames)
    assert strided_detections(detector, frames, 1) == full
    seen.clear()
    got = strided_detections(detector, frames, 5)
    assert seen == [6]  # frames 0, 5, 10, 15, 20 and the last (22)
    assert len(got) == n
    for t in range(n):
        assert [d["frame"] for d in got[t]] == [t] * len(got[t])
        np.testing.assert_allclose(got[t][0]["bbox"], full[t][0]["bbox"], atol=1e-9)
    assert [len(g) for g in got] == [2 if t == 10 else 1 for t in range(n)]
    params = PROTOCOLS["mochabench-stride5"].track_params()
    params.min_track, params.min_face_size = 10, 50
    exact = make_tracks([list(f) for f in full], n, params)
    strided = make_tracks(got, n, params)
    assert len(exact) == len(strided) == 1
    np.testing.assert_allclose(strided[0].boxes, exact[0].boxes, atol=1e-9)
    assert PROTOCOLS["mochabench-stride5"].detect_stride == 5 and PROTOCOLS["mochabench"].detect_stride == 1


def test_stride_variant_end_to_end(state):
    """sync[mochabench-stride5] runs the detector on every 5th frame only; with a face that
    does not move it gives exactly the mochabench numbers."""
    frames, pcm = talking(n_frames=60, size=256)
    box = {"bbox": [60.0, 40.0, 196.0, 216.0], "conf": 0.99}
    calls = []

    def detector(fr):
        calls.append(len(fr))
        return [[dict(box, frame=i)] for i in range(len(fr))]

    out = {}
    for variant in ("mochabench", "mochabench-stride5"):
        metric = SyncNetSync(variant)
        metric._net = syncnet_model(state)
        metric._detector = detector
        out[variant] = metric.score_frames(frames, pcm)["values"]
    # frames 0, 5, ..., 55 (in the chunk) and 59 (the last, at the end of the clip)
    assert calls[0] == 60 and calls[1:] == [12, 1]
    assert out["mochabench-stride5"] == pytest.approx(out["mochabench"], abs=1e-6)
