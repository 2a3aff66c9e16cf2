"""`hxbench validity`: perturbation checks of the declared behaviour, and a planted bug is flagged."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hxbench.metrics.base import (HIGHER, INVARIANT, WORSE, Expect, PerSampleMetric, SampleData, expect_all,
                                  register_metric)
from hxbench.registry import METRICS

from conftest import moving_square_video, tone


class _Planted(PerSampleMetric):
    """Test metrics with planted bugs (registered only inside these tests)."""

    version = "1"
    requires = ("gen",)


class IgnoresInput(_Planted):
    """Claims to measure sharpness, but returns a constant: it ignores its input."""

    name = "planted_ignores_input"
    outputs = {"sharp": HIGHER}
    declared = expect_all(("blur", "noise"), ("sharp",), WORSE, "sharpness drops") + (
        Expect("silence", "sharp", INVARIANT, "reads no audio"),)

    def score_sample(self, sample: SampleData) -> dict[str, float]:
        return {"sharp": 0.5}


class ReadsAudio(_Planted):
    """Claims to be a video-only measure (ignores audio) but follows the loudness."""

    name = "planted_reads_audio"
    outputs = {"score": HIGHER}
    declared = (Expect("silence", "score", INVARIANT, "reads no audio"),
                Expect("freeze", "score", WORSE, "a still frame is worse"))

    def score_sample(self, sample: SampleData) -> dict[str, float]:
        frames = sample.gen.frames.astype(np.float64)
        motion = float(np.abs(np.diff(frames, axis=0)).mean()) if len(frames) > 1 else 0.0
        return {"score": motion + 100 * float(np.sqrt(np.mean(sample.load_audio() ** 2)))}


@pytest.fixture
def planted():
    for cls in (IgnoresInput, ReadsAudio):
        register_metric(cls)
    yield
    for cls in (IgnoresInput, ReadsAudio):
        METRICS._entries.pop(cls.name, None)


@pytest.fixture
def videos(tmp_path):
    from hxbench.io.media import write_video

    gen = tmp_path / "gen"
    for i in range(6):
        n = 20
        write_video(gen / f"s{i}.mp4", moving_square_video(n, 64, seed=i, phase=3 * i), 25.0,
                    audio=tone(n / 25, freq=200 + 40 * i))
    return gen


def test_planted_bugs_are_flagged_and_ssim_passes(videos, tmp_path, planted, capsys):
    from hxbench.cli import main

    out = tmp_path / "val"
    code = main(["validity", "--gen", str(videos), "--out", str(out), "--metrics", "ssim", "psnr",
                 "planted_ignores_input", "planted_reads_audio",
                 "--perturbations", "blur", "noise", "silence", "freeze", "identity", "shift+5"])
    text = capsys.readouterr().out
    assert code == 1  # a metric fails its declaration
    data = json.loads((out / "validity.json").read_text())
    rows = {(r["metric"].split("[")[0], r["output"], r["perturbation"]): r for r in data["rows"]}
    # the metric that ignores its input does not respond to blur or noise: flagged
    for p in ("blur", "noise"):
        r = rows[("planted_ignores_input", "sharp", p)]
        assert r["verdict"] == "FAILS" and r["auc"] == pytest.approx(0.5)
    assert rows[("planted_ignores_input", "sharp", "silence")]["verdict"] == "ok"
    # the one that reads the audio it declares to ignore: flagged under silence, fine under freeze
    r = rows[("planted_reads_audio", "score", "silence")]
    assert r["verdict"] == "FAILS" and r["effect"] > 1
    assert rows[("planted_reads_audio", "score", "freeze")]["verdict"] == "ok"
    # SSIM against the clean copy: 1 clean, exactly 1 on the lossless rewrite, lower under
    # blur / noise / freeze, unmoved by the audio
    assert rows[("ssim", "ssim", "identity")]["perturbed"] == pytest.approx(1.0)
    assert rows[("ssim", "ssim", "identity")]["verdict"] == "ok"
    for p in ("blur", "noise", "freeze"):
        r = rows[("ssim", "ssim", p)]
        assert r["verdict"] == "ok" and r["auc"] == 1.0 and r["auc_ci"][0] > 0.5 and r["delta"] < 0
    for p in ("silence", "shift+5"):
        assert rows[("ssim", "ssim", p)]["delta"] == 0 and rows[("ssim", "ssim", p)]["verdict"] == "ok"
    assert data["summary"]["ssim[rgb-255]"]["fails"] == []
    assert "planted_ignores_input[default]: FAILS" in text
    html = (out / "validity.html").read_text()
    assert "planted_ignores_input" in html and "<svg" in html and "FAILS" in html
    # the inputs were only read; the perturbed videos are gone once scored, the clean copies stay
    assert sorted(p.name for p in videos.iterdir()) == [f"s{i}.mp4" for i in range(6)]
    assert (out / "copies" / "clean" / "s0.mp4").exists() and not (out / "copies" / "blur").exists()
    # resumable: a re-run recomputes nothing
    before = {p: p.stat().st_size for p in (out / "runs").rglob("samples.jsonl")}
    assert main(["validity", "--gen", str(videos), "--out", str(out), "--metrics", "ssim", "psnr",
                 "planted_ignores_input", "planted_reads_audio", "--json", "--no-fail",
                 "--perturbations", "blur", "noise", "silence", "freeze", "identity", "shift+5"]) == 0
    assert {p: p.stat().st_size for p in (out / "runs").rglob("samples.jsonl")} == before


def test_every_declaration_names_a_known_perturbation_and_an_output():
    import hxbench.metrics  # noqa: F401  (registers every metric)
    from hxbench.io.perturb import PERTURBATIONS

    offline = ("ssim", "psnr", "lpips", "fid", "fvd", "lmd", "av_sync", "id_sim", "emo_sim", "hkc", "hkv", "iqa",
               "sync", "ase")
    for name in offline:
        cls = METRICS.get(name)
        assert cls.declared, f"{name} declares nothing"
        for e in cls.declared:
            assert e.perturbation in PERTURBATIONS and e.output in cls.outputs, (name, e)
            assert e.expect in (WORSE, INVARIANT, "tracks_shift"), (name, e)


def test_av_sync_says_what_it_is_valid_for(capsys):
    from hxbench.cli import main
    from hxbench.metrics.base import build_metric

    notes = build_metric("av_sync").result_notes()
    assert any(n.startswith("validity: valid for hx-synth-like renders only") for n in notes)
    assert main(["ls", "metrics"]) == 0
    out = capsys.readouterr().out
    block = out[out.index("av_sync"):out.index("command_accuracy")]
    assert "VALIDITY: valid for hx-synth-like renders only" in block and "NOT a lip-sync score for real videos" in block
    assert "worse under: blur, jpeg, noise, drop_frames, freeze, shuffle, reencode" in out[out.index("\nssim"):]
    assert out.count("VALIDITY:") == sum(1 for _, c in METRICS.items() if c.validity_caveat)
    assert "VALIDITY [piqe]: rates Gaussian noise" in out
    assert any("validity: rates Gaussian noise" in n for n in build_metric("iqa[piqe-1fps]").result_notes())
    assert not any(n.startswith("validity") for n in build_metric("ssim").result_notes())


def test_run_report_shows_the_validity_banner(tmp_path):
    from hxbench.board.report import validity_warnings
    from hxbench.eval.schema import MetricResult, RunResults

    res = RunResults(hxbench_version="x", git_hash=None, created="now", task=None, dataset=None, model=None,
                     environment={}, n_samples=1, n_reused_records=0,
                     metrics={"av_sync[mouth-energy]": MetricResult("av_sync[mouth-energy]", "ok", metric="av_sync",
                                                                   variant="mouth-energy", version="1",
                                                                   notes=["weights x are unpinned"]),
                              "ssim[rgb-255]": MetricResult("ssim[rgb-255]", "ok", metric="ssim", variant="rgb-255",
                                                            version="1")})
    html = "".join(validity_warnings(list(res.metrics), [res]))
    assert "class='banner'" in html and "av_sync[mouth-energy]" in html and "hx-synth-like renders only" in html
    assert "ssim" not in html and "weights x are unpinned" in html


class RefDistance(_Planted):
    """A correct full-reference metric: mean absolute pixel difference to the reference."""

    name = "planted_ref_distance"
    outputs = {"dist": "lower"}
    requires = ("gen", "ref")
    declared = (Expect("other_ref", "dist", WORSE, "another sample's reference"),
                Expect("identity", "dist", INVARIANT, "lossless rewrite"))

    def score_sample(self, sample: SampleData) -> dict[str, float]:
        return {"dist": float(np.abs(sample.gen.frames.astype(float) - sample.ref.frames.astype(float)).mean())}


def test_other_ref_and_given_references(videos, tmp_path):
    from hxbench.eval.validity import run_validity

    register_metric(RefDistance)
    try:
        # references given (here the same videos, prepared like gen): clean scores 0, another reference > 0
        res = run_validity(videos, [], tmp_path / "v", ref=videos, metrics=[RefDistance()], progress=False,
                           log=lambda *_: None)
    finally:
        METRICS._entries.pop(RefDistance.name, None)
    rows = {r.perturbation: r for r in res.rows}
    assert res.conditions == ["clean", "identity", "other_ref"]
    assert rows["other_ref"].verdict == "ok" and rows["other_ref"].auc == 1.0 and rows["other_ref"].clean == 0.0
    assert rows["identity"].verdict == "ok" and rows["identity"].delta == 0.0
    assert (tmp_path / "v" / "copies" / "ref" / "s0.mp4").exists()


class FrameMeans:
    """A toy set metric's input builder: each frame's mean RGB, counted per clip read."""

    built: list[str] = []

    def __init__(self, source: str) -> None:
        FrameMeans.built.append(source)
        self.done = False

    def feed(self, chunk):
        import torch

        return [torch.as_tensor(chunk.reshape(len(chunk), -1, 3).mean(axis=1), dtype=torch.float32)]

    def finish(self):
        return []


def test_set_metric_extracts_each_reference_once_per_run(videos, tmp_path):
    """FID / FVD under ``hxbench validity``: the clean reference of a sample is the same in every
    condition, so its features are extracted once (OUT/ref-features/) and read back after."""
    from hxbench.eval.validity import run_validity
    from hxbench.metrics._setstats import SetFeatureMetric

    class ToyFrameSet(SetFeatureMetric):
        name = "planted_toy_frame_set"
        variants = ("v",)
        version = "1"
        outputs = {"fd": "lower"}
        requires = ("gen", "ref")
        feature_dim = 3
        output = "fd"
        declared = (Expect("blur", "fd", WORSE, "frames change"), Expect("noise", "fd", WORSE, "frames change"),
                    Expect("silence", "fd", INVARIANT, "reads no audio"))

        def weight_names(self):
            return ()

        def input_builder(self, sample, source):
            return FrameMeans(source)

        def forward(self, x):
            return x.numpy()

    register_metric(ToyFrameSet)
    FrameMeans.built.clear()
    try:
        res = run_validity(videos, [], tmp_path / "v", metrics=[ToyFrameSet()], progress=False, log=lambda *_: None)
    finally:
        METRICS._entries.pop(ToyFrameSet.name, None)
    assert res.conditions == ["clean", "silence", "blur", "noise"]
    clean = [s for s in FrameMeans.built if "/copies/clean/" in s]
    # clean condition: gen and ref (both the clean copy) read; later conditions: gen only
    assert len(clean) == 6 * 2 + 6  # + the silence condition's gen, which is the clean video
    assert sum("/copies/blur/" in s for s in FrameMeans.built) == 6
    assert len(list((tmp_path / "v" / "ref-features").rglob("*.npy"))) == 6
    rows = {r.perturbation: r for r in res.rows}
    assert rows["silence"].verdict == "ok" and rows["silence"].delta == 0.0
    assert rows["blur"].clean == pytest.approx(0.0, abs=1e-6) and rows["noise"].verdict == "ok"


def test_measured_findings_show_in_ls_and_in_results(capsys):
    """Findings of the real-video runs (docs/validity.md) are carried like av_sync's: `hxbench ls
    metrics` prints them and every result of the failing variant has them in its notes."""
    from hxbench.cli import main
    from hxbench.metrics.base import build_metric

    assert main(["ls", "metrics"]) == 0
    out = capsys.readouterr().out
    hkc = out[out.index("\nhkc "):out.index("\nhkv ")]
    assert "VALIDITY [mediapipe]: does not reliably drop when the hands are degraded" in hkc
    assert any(n.startswith("validity: does not reliably drop") for n in build_metric("hkc[mediapipe]").result_notes())
    assert not any(n.startswith("validity") for n in build_metric("hkc[dwpose]").result_notes())  # not checked
    assert not any(n.startswith("validity") for n in build_metric("hkv[mediapipe]").result_notes())  # met it
    turns = out[out.index("\nav_sync_turns "):]
    assert "VALIDITY: NOT a lip-sync score for real videos" in turns
    lmd = out[out.index("\nlmd "):]
    assert "VALIDITY: mild degradation moves it" in lmd[:lmd.index("\n", lmd.index("VALIDITY"))]
    assert any(n.startswith("validity: mild degradation") for n in build_metric("lmd").result_notes())
    # and `hxbench report` names them in its banner (hkv, which met its declaration, is not there)
    from hxbench.board.report import validity_warnings

    html = "".join(validity_warnings(["hkc[mediapipe]", "hkv[mediapipe]", "lmd[mediapipe-lips40]"], []))
    assert "class='banner'" in html and "hkc[mediapipe]" in html and "lmd[mediapipe-lips40]" in html
    assert "hkv[mediapipe]" not in html
