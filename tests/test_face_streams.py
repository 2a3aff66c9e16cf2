"""The face metrics stream: id_sim, emo_sim, command_accuracy, driving_accuracy, hkc/hkv and
sync read their videos in chunks from the shared decoding pass (clips that refuse whole-video
access, one frame per chunk) and give exactly the numbers of the whole-video computation; the
metrics that need the same face mesh or hand keypoints of a clip compute them once."""

from __future__ import annotations

import numpy as np
import pytest

from hxbench.metrics.base import SampleData, build_metric
try:
    from tests.test_dwpose import models  # noqa: F401 (fixture: stand-in DWPose ONNX models)
except (ImportError, pytest.skip.Exception):  # test_dwpose skips itself without onnxruntime
    @pytest.fixture
    def models():
        pytest.skip("onnxruntime is not installed")
from tests.test_streaming import BoundedClip, BoundedVideoClip, talking_pair  # noqa: F401 (fixture)


def fake_facenet(crops: np.ndarray) -> np.ndarray:
    """A deterministic stand-in for FaceNet (OpenCV 5 cannot load its TensorFlow graph): (N, 160,
    160, 3) crops -> (N, 512) unit rows of subsampled pixels, one row at a time as the real one."""
    x = crops[:, ::7, ::7, :].reshape(len(crops), -1)[:, :512].astype(np.float32) - 127.5
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


@pytest.fixture
def fake_identity_net(monkeypatch):
    import hxbench.nets.facenet as facenet

    calls = []

    def embed(crops):
        calls.append(len(crops))
        return fake_facenet(crops)

    monkeypatch.setattr(facenet, "facenet_embed", embed)
    return calls


@pytest.fixture
def one_frame_chunks(monkeypatch):
    from hxbench.face import clear_cache

    clear_cache()
    monkeypatch.setenv("HXBENCH_MEMORY_BUDGET", "1")  # one frame per chunk
    yield
    clear_cache()


def _count_mesh_frames(monkeypatch) -> dict:
    """Frames that go through a FaceMesh session, per session."""
    from hxbench.face.detect import FaceMeshSession

    seen: dict[int, int] = {}
    real = FaceMeshSession.feed

    def feed(self, chunk):
        seen[id(self)] = seen.get(id(self), 0) + len(chunk)
        return real(self, chunk)

    monkeypatch.setattr(FaceMeshSession, "feed", feed)
    return seen


def test_batcher_makes_the_whole_call_batches():
    from hxbench.metrics._mesh import Batcher

    calls = []

    def run(x):
        calls.append(len(x))
        return x * 2.0

    b = Batcher(run, 4)
    rows = np.arange(10, dtype=np.float32)[:, None]
    for start, stop in ((0, 1), (1, 6), (6, 7), (7, 10)):  # chunks of 1, 5, 1, 3 frames
        b.put(range(start, stop), rows[start:stop])
    b.flush()
    assert calls == [4, 4, 2]  # what run(all 10 rows) splitting by 4 does
    assert [float(b.out[i][0]) for i in range(10)] == [2.0 * i for i in range(10)]


def test_id_sim_streams_and_equals_the_whole_video(talking_pair, one_frame_chunks, fake_identity_net, monkeypatch):
    from hxbench.io.media import read_video
    from hxbench.metrics.id_sim import face_embeddings, id_similarity

    gen, ref = (BoundedVideoClip(p, 25) for p in talking_pair)
    got = build_metric("id_sim[facenet-512]").update(SampleData("a", gen=gen, ref=ref)).values
    assert gen.largest_chunk == 1 and ref.largest_chunk == 1
    # the whole-video computation (the metric before streaming): all frames of both videos
    emb_g, found_g = face_embeddings(read_video(talking_pair[0]), "facenet-512")
    emb_r, found_r = face_embeddings(read_video(talking_pair[1]), "facenet-512")
    expected = id_similarity(emb_r[int(np.argmax(found_r))], emb_g, found_g)
    assert got == expected  # same meshes, crops and network rows: bit-identical
    assert 0 < got["id_sim"] < 1 and got["face_frames"] == 1.0


def test_id_sim_stops_reading_the_reference_after_its_first_face(talking_pair, one_frame_chunks,
                                                                 fake_identity_net, monkeypatch):
    from hxbench.metrics.stream import run_streams

    seen = {"ref": 0}
    gen, ref = (BoundedVideoClip(p, 25) for p in talking_pair)
    real = ref.iter_chunks

    def counting(*a, **k):
        for chunk in real(*a, **k):
            seen["ref"] += len(chunk)
            yield chunk

    ref.iter_chunks = counting
    sample = SampleData("a", gen=gen, ref=ref)
    m = build_metric("id_sim[facenet-512]")
    stream = m.open_stream(sample)
    assert run_streams(sample, {0: stream}) == {0: None}
    # the first reference frame has a face and FaceNet batches 16 rows: 16 frames (+1 decoded ahead)
    assert seen["ref"] <= 17 < 24
    assert stream.finish()["id_sim"] == m.update(SampleData("a", gen=BoundedVideoClip(talking_pair[0], 25),
                                                            ref=BoundedVideoClip(talking_pair[1], 25))).values["id_sim"]


def test_id_sim_with_a_reference_image(talking_pair, one_frame_chunks, fake_identity_net):
    from hxbench.io.media import read_video
    from hxbench.metrics.id_sim import face_embeddings, id_similarity

    image = read_video(talking_pair[1])[3]
    gen = BoundedVideoClip(talking_pair[0], 25)
    got = build_metric("id_sim[facenet-512]").update(SampleData("a", gen=gen, ref_image=image)).values
    emb_g, found_g = face_embeddings(read_video(talking_pair[0]), "facenet-512")
    emb_i, _ = face_embeddings(image[None], "facenet-512")
    assert got == id_similarity(emb_i[0], emb_g, found_g)


def test_emo_sim_streams_and_equals_the_whole_video(talking_pair, one_frame_chunks):
    from hxbench.io.media import read_video
    from hxbench.metrics.emo_sim import emo_sim_sequences, emotion_sequence

    gen, ref = (BoundedVideoClip(p, 25) for p in talking_pair)
    got = build_metric("emo_sim[fer-7class]").update(SampleData("a", gen=gen, ref=ref)).values
    assert gen.largest_chunk == 1 and ref.largest_chunk == 1
    fg, okg = emotion_sequence(read_video(talking_pair[0]), "fer-7class")
    fr, okr = emotion_sequence(read_video(talking_pair[1]), "fer-7class")
    assert got == emo_sim_sequences(fg, okg, fr, okr, "fer-7class")
    assert got["face_pairs"] == 1.0


def test_command_accuracy_streams_and_equals_the_whole_video(talking_pair, one_frame_chunks):
    from hxbench.face import face_mesh
    from hxbench.io.media import read_video
    from hxbench.metrics.command_accuracy import judge, measure

    gen = BoundedVideoClip(talking_pair[0], 25)
    got = build_metric("command_accuracy").update(
        SampleData("a", gen=gen, meta={"command": "Open your mouth."})).values
    assert gen.largest_chunk == 1
    resp = judge("open_mouth", measure(face_mesh(read_video(talking_pair[0])).landmarks))
    assert got == {"command_accuracy": float(resp >= 1.0), "command_response": float(min(resp, 10.0))}
    assert got["command_accuracy"] == 1.0  # the rendered jaw opens


def test_face_metrics_of_a_run_share_one_mesh_per_video(talking_pair, one_frame_chunks, fake_identity_net,
                                                        monkeypatch):
    """id_sim, emo_sim, lmd, av_sync and command_accuracy in one decoding pass: each video goes
    through one face-mesh session, and every metric gives the numbers it gives alone."""
    from hxbench.face import clear_cache
    from hxbench.metrics.stream import run_streams

    keys = ["id_sim[facenet-512]", "emo_sim[fer-7class]", "lmd", "av_sync", "command_accuracy"]

    def sample():
        return SampleData("a", gen=BoundedVideoClip(talking_pair[0], 25), ref=BoundedVideoClip(talking_pair[1], 25),
                          meta={"command": "Open your mouth."})

    alone = {}
    for key in keys:
        clear_cache()
        alone[key] = build_metric(key).update(sample()).values
    clear_cache()
    seen = _count_mesh_frames(monkeypatch)
    s = sample()
    metrics = {key: build_metric(key) for key in keys}
    streams = {key: m.open_stream(s) for key, m in metrics.items()}
    assert all(e is None for e in run_streams(s, streams).values())
    together = {key: metrics[key].close_stream(s, streams[key]).values for key in keys}
    assert together == alone
    assert sorted(seen.values()) == [24, 24]  # gen and ref, 24 frames each, once


def test_driving_accuracy_streams_and_equals_the_whole_video(talking_pair, tmp_path, one_frame_chunks):
    from hxbench import face
    from hxbench.io.media import read_video, write_video
    from hxbench.metrics.driving_accuracy import driving_accuracy

    a, b = read_video(talking_pair[0]), read_video(talking_pair[1])
    two = np.concatenate([a, b[::-1]], axis=2)  # two people side by side, 384 x 192
    write_video(tmp_path / "two.mp4", two, 25)
    two = read_video(tmp_path / "two.mp4")
    labels = np.zeros((24, 2), bool)
    labels[:12, 0] = labels[12:, 1] = True
    np.save(tmp_path / "speaking.npy", labels)
    regions = [(0, 0, 192, 192), (192, 0, 384, 192)]
    meta = {"speaking": str(tmp_path / "speaking.npy"), "speakers": [{"region": list(r)} for r in regions]}
    gen = BoundedVideoClip(tmp_path / "two.mp4", 25)
    got = build_metric("driving_accuracy").update(SampleData("a", gen=gen, meta=meta)).values
    assert gen.largest_chunk == 1
    mouth = np.full((24, 2), np.nan)  # the whole-video computation
    for p, (x0, y0, x1, y1) in enumerate(regions):
        mouth[:, p] = face.mouth_opening(face.face_mesh(np.ascontiguousarray(two[:, y0:y1, x0:x1])).landmarks)
    assert got == driving_accuracy(mouth, labels)


@pytest.fixture(scope="module")
def hand_video(tmp_path_factory):
    from hxbench.face.synthetic_hand import draw_hand

    ph = np.linspace(0, 2 * np.pi, 10, endpoint=False)
    return np.stack([draw_hand(cx=128 + 30 * np.sin(p), angle=25 * np.sin(p)) for p in ph])


def test_hkc_and_hkv_stream_share_one_hand_pass_and_equal_the_whole_video(hand_video, one_frame_chunks,
                                                                          monkeypatch):
    from hxbench.face.detect import HandsSession
    from hxbench.metrics.hand_keypoints import hand_keypoint_confidence, hand_keypoint_variance, mediapipe_hands
    from hxbench.metrics.stream import run_streams

    kp = mediapipe_hands(hand_video)  # the whole-video computation
    expected = {"hkc": hand_keypoint_confidence(kp), "hkv": hand_keypoint_variance(kp),
                "hand_frames": float(kp.found.any(axis=1).mean())}
    seen = []
    real = HandsSession.feed
    monkeypatch.setattr(HandsSession, "feed", lambda self, c: (seen.append(len(c)), real(self, c))[1])
    gen = BoundedClip(hand_video)
    s = SampleData("a", gen=gen)
    metrics = {k: build_metric(k) for k in ("hkc", "hkv")}
    streams = {k: m.open_stream(s) for k, m in metrics.items()}
    assert run_streams(s, streams) == {"hkc": None, "hkv": None}
    got = {k: metrics[k].close_stream(s, streams[k]).values for k in streams}
    assert gen.largest_chunk == 1 and sum(seen) == 10  # one Hands session for both metrics
    assert got["hkc"] == {"hkc": expected["hkc"], "hand_frames": expected["hand_frames"]}
    assert got["hkv"] == {"hkv": expected["hkv"], "hand_frames": expected["hand_frames"]}
    assert expected["hand_frames"] == 1.0


# -- sync: the SyncNet protocols -----------------------------------------------------------------
@pytest.mark.slow
def test_lip_stream_equals_lip_embeddings_whatever_the_chunks():
    torch = pytest.importorskip("torch")
    pytest.importorskip("syncnet_python")
    from hxbench.nets.syncnet import FoldedSyncNet, LipStream, syncnet_model
    from tests.test_sync import random_state

    folded = FoldedSyncNet(syncnet_model(random_state(0)))
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (32, 224, 224, 3), dtype=np.uint8)
    whole = folded.lip_embeddings(frames, 27)  # batches of windows 0-23 and 24-26
    for sizes, max_windows in (([1] * 32, 27), ([5, 20, 7], 100), ([32], 20)):
        n_windows = min(32, max_windows + 5) - 5
        lips, start = LipStream(folded, max_windows), 0
        for k in sizes:
            lips.feed(frames[start:start + k])
            start += k
            assert len(lips.frames) <= 24 + 5 + k  # never the whole clip
        got = lips.finish(n_windows)
        assert torch.equal(got, whole if n_windows == 27 else folded.lip_embeddings(frames, n_windows))


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["wav2lip-lrs", "mochabench", "mochabench-stride5"])
def test_sync_streams_and_equals_the_whole_video(variant, monkeypatch):
    """Sync-C/D of a clip read one frame per chunk (the track variants read it twice: detection,
    then crops) equal score_frames on the whole array, bit for bit."""
    pytest.importorskip("syncnet_python")
    from hxbench.metrics.sync import SyncNetSync
    from hxbench.nets.syncnet import syncnet_model
    from tests.test_sync import random_state, talking

    frames, pcm = talking(n_frames=60, size=256)
    frames[:, :, 150:] = frames[:, :, 150:][::-1]  # some change across frames for the scene detector
    # a box that drifts (tracks, medians and crops vary); a stand-in detector per frame
    boxes = {i: [60.0 + i / 3, 40.0 + i / 5, 196.0 + i / 3, 216.0 + i / 5] for i in range(60)}

    def detector(fr):
        key = [int(f[0, 0, 0]) for f in fr]  # frame id painted in the corner
        return [[{"frame": 0, "bbox": boxes[k], "conf": 0.99}] for k in key]

    for i in range(60):
        frames[i, 0, 0] = i
    metric = SyncNetSync(variant)
    metric._net = syncnet_model(random_state(0))
    metric._detector = detector
    whole = metric.score_frames(frames, pcm)
    monkeypatch.setenv("HXBENCH_MEMORY_BUDGET", "1")
    gen = BoundedClip(frames)
    got = metric.update(SampleData("a", gen=gen, audio=pcm / 32768.0, sample_rate=16000)).values
    assert gen.largest_chunk == 1
    assert got == whole["values"]


def test_one_frame_video_mode_equals_static_mode():
    """The whole-array functions run MediaPipe in static mode on a one-frame video and the
    streams always in video mode (a stream does not know the clip's length when it starts): on
    a single frame the two give the same landmarks."""
    pytest.importorskip("mediapipe")
    from PIL import Image

    from hxbench.face import face_mesh, hands, pose
    from hxbench.face.synthetic_hand import draw_hand
    from hxbench.synth.photos import astronaut

    face = np.asarray(Image.fromarray(astronaut()).resize((256, 256), Image.BILINEAR))[None]
    hand = draw_hand(cx=130, angle=10)[None]
    a, b = face_mesh(face, static=True), face_mesh(face, static=False)
    assert a.found.all() and b.found.all()
    np.testing.assert_array_equal(a.landmarks, b.landmarks)
    a, b = hands(hand, static=True), hands(hand, static=False)
    assert a.found.any() and (a.found == b.found).all()
    np.testing.assert_array_equal(a.landmarks, b.landmarks)
    np.testing.assert_array_equal(a.scores, b.scores)
    a, b = pose(face, static=True), pose(face, static=False)
    np.testing.assert_array_equal(a.landmarks, b.landmarks)
    np.testing.assert_array_equal(a.visibility, b.visibility)


@pytest.mark.slow
def test_sync_track_variants_share_one_detection_pass(monkeypatch):
    """Two S3FD track variants in one decoding pass detect each frame once (the detections and
    scene cuts are a shared reduction), and each gives the values it gives alone."""
    pytest.importorskip("syncnet_python")
    from hxbench.metrics.stream import run_streams
    from hxbench.metrics.sync import SyncNetSync
    from hxbench.nets.syncnet import syncnet_model
    from tests.test_sync import random_state, talking

    frames, pcm = talking(n_frames=60, size=256)
    detected = []

    class Detector:  # stands in for S3FD (weights not installed): a session like S3FDDetector's
        def session(self):
            class Session:
                def feed(self, fr, indices):
                    detected.extend(indices)
                    return [(int(i), [{"frame": int(i), "bbox": [60.0, 40.0, 196.0, 216.0], "conf": 0.99}])
                            for i in indices]

                def finish(self):
                    return []
            return Session()

    def metric(variant):
        m = SyncNetSync(variant)
        m._net = syncnet_model(random_state(0))
        m._detector = m._builtin_detector = Detector()  # as if built by detector()
        return m

    def sample():
        return SampleData("a", gen=BoundedClip(frames), audio=pcm / 32768.0, sample_rate=16000)

    alone = {v: metric(v).update(sample()).values for v in ("mochabench", "latentsync")}
    detected.clear()
    s = sample()
    metrics = {v: metric(v) for v in ("mochabench", "latentsync")}
    streams = {v: m.open_stream(s) for v, m in metrics.items()}
    assert run_streams(s, streams) == {"mochabench": None, "latentsync": None}
    assert {v: metrics[v].close_stream(s, streams[v]).values for v in metrics} == alone
    assert sorted(detected) == list(range(60))  # each frame detected once for both variants


def test_dwpose_hand_keypoints_stream_and_equal_the_whole_video(models, monkeypatch):  # noqa: F811
    """hkc/hkv[dwpose] (DWPose per frame, stand-in ONNX models of tests/test_dwpose.py) read one
    frame per chunk equal the whole-array computation."""
    from hxbench.metrics.hand_keypoints import dwpose_hands, hand_keypoint_confidence, hand_keypoint_variance
    from tests.test_dwpose import _frame

    monkeypatch.setenv("HXBENCH_MEMORY_BUDGET", "1")
    waving = np.stack([_frame(160 + 30 * np.sin(i), 120) for i in range(8)])
    kp = dwpose_hands(waving)
    for key, value in (("hkc[dwpose]", hand_keypoint_confidence(kp)), ("hkv[dwpose]", hand_keypoint_variance(kp))):
        gen = BoundedClip(waving)
        got = build_metric(key).update(SampleData("w", gen=gen)).values
        assert gen.largest_chunk == 1
        assert got[key.split("[")[0]] == value and got["hand_frames"] == float(kp.found.any(axis=1).mean())
