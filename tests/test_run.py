"""`hxbench run`: adapters generate outputs (resumable), which are validated and scored."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from hxbench.io import media
from hxbench.io.manifest import Expected, Sample, write_manifest
from tests.conftest import moving_square_video, tone


@pytest.fixture
def manifest(tmp_path):
    root = tmp_path / "data"
    samples = []
    for i in range(3):
        sid = f"s{i}"
        ref = moving_square_video(25, 64, seed=i)
        media.write_video(root / f"{sid}.mp4", ref, 25, audio=tone(1.0))
        media.write_wav(root / f"{sid}.wav", tone(1.0))
        (root / "img").mkdir(exist_ok=True)
        Image.fromarray(ref[0]).save(root / "img" / f"{sid}.png")
        samples.append(Sample(sid, reference_image=f"img/{sid}.png", driving_audio=f"{sid}.wav",
                              reference_video=f"{sid}.mp4",
                              expected=Expected(fps=25, width=64, height=64, audio=True)))
    return write_manifest(root / "test.jsonl", samples)


ADAPTER = '''
import numpy as np
from hxbench.adapters import Adapter, GenerationOutput

class Copycat(Adapter):
    """Returns a fixed pattern; counts calls in a file so the test sees what was regenerated."""
    batch_size = 2
    def generate(self, batch):
        with open(__file__ + ".calls", "a") as f:
            f.write(" ".join(x.sample_id for x in batch) + "\\n")
        out = []
        for x in batch:
            assert x.reference_image.shape == (64, 64, 3) and x.driving_audio.dtype == np.float32
            n = int(round(x.duration * x.fps))
            out.append(GenerationOutput(video=np.repeat(x.reference_image[None], n, 0), fps=x.fps,
                                        audio=x.driving_audio))
        return out
'''


def hx(*args, env_path=None, check=True):
    import os

    env = dict(os.environ)
    if env_path:
        env["PYTHONPATH"] = f"{env_path}:{env.get('PYTHONPATH', '')}"
    proc = subprocess.run([sys.executable, "-m", "hxbench", *args], capture_output=True, text=True, env=env)
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def test_still_image_baseline_runs_and_scores(manifest, tmp_path):
    proc = hx("run", "--manifest", str(manifest.path), "--model", "still-image", "--run-dir", str(tmp_path / "run"),
              "--metrics", "ssim", "psnr", "--json")
    results = json.loads(proc.stdout)
    assert sorted(p.name for p in (tmp_path / "run" / "outputs").glob("*.mp4")) == ["s0.mp4", "s1.mp4", "s2.mp4"]
    info = media.probe(tmp_path / "run" / "outputs" / "s0.mp4")
    assert (info.fps, info.n_frames, info.has_audio) == (25.0, 25, True)
    ssim = results["metrics"]["ssim[rgb-255]"]["outputs"]["ssim"]
    assert ssim["n"] == 3 and 0.3 < ssim["value"] < 1.0  # a still frame is close but not equal to the motion


def test_module_class_adapter_mock_and_resume(manifest, tmp_path):
    (tmp_path / "mymodel.py").write_text(ADAPTER)
    calls = tmp_path / "mymodel.py.calls"
    mock = hx("run", "--manifest", str(manifest.path), "--model", "mymodel:Copycat", "--mock", env_path=tmp_path)
    assert "adapter ok on 2 samples" in mock.stdout
    calls.unlink()
    run_dir = tmp_path / "run"
    hx("run", "--manifest", str(manifest.path), "--model", "mymodel:Copycat", "--run-dir", str(run_dir),
       "--metrics", "psnr", env_path=tmp_path)
    assert calls.read_text().split() == ["s0", "s1", "s2"]
    (run_dir / "outputs" / "s1.mp4").unlink()  # as if killed before s1 was written
    hx("run", "--manifest", str(manifest.path), "--model", "mymodel:Copycat", "--run-dir", str(run_dir),
       "--metrics", "psnr", env_path=tmp_path)
    assert calls.read_text().split()[3:] == ["s1"]  # only the missing output was regenerated


def test_unknown_model_suggests_names(manifest):
    proc = hx("run", "--manifest", str(manifest.path), "--model", "still-imag", check=False)
    assert proc.returncode == 2
    assert "did you mean: still-image" in proc.stderr


def test_a_regenerated_output_is_rescored(manifest, tmp_path):
    run_dir = tmp_path / "run"
    first = json.loads(hx("run", "--manifest", str(manifest.path), "--model", "still-image", "--run-dir",
                          str(run_dir), "--metrics", "psnr", "--json").stdout)
    # replace s0's output by its reference video: a different file, so its stored score is stale
    (run_dir / "outputs" / "s0.mp4").write_bytes((manifest.root / "s0.mp4").read_bytes())
    second = json.loads(hx("run", "--manifest", str(manifest.path), "--model", "still-image", "--run-dir",
                           str(run_dir), "--metrics", "psnr", "--json").stdout)
    assert second["n_reused_records"] == 2
    assert second["metrics"]["psnr[rgb-255]"]["outputs"]["psnr"]["value"] > \
        first["metrics"]["psnr[rgb-255]"]["outputs"]["psnr"]["value"]


def test_html_report_of_two_runs(manifest, tmp_path):
    hx("run", "--manifest", str(manifest.path), "--model", "still-image", "--run-dir", str(tmp_path / "still"),
       "--metrics", "ssim", "psnr")
    gt = tmp_path / "gt"
    gt.mkdir()
    for s in manifest.samples:
        (gt / f"{s.sample_id}.mp4").write_bytes((manifest.root / f"{s.sample_id}.mp4").read_bytes())
    hx("run", "--manifest", str(manifest.path), "--model", f"folder:{gt}", "--run-dir", str(tmp_path / "gt-run"),
       "--metrics", "ssim", "psnr")
    hx("report", str(tmp_path / "still"), str(tmp_path / "gt-run"), "--out", str(tmp_path / "r.html"))
    page = (tmp_path / "r.html").read_text()
    assert "ssim[rgb-255]" in page and "psnr[rgb-255]" in page
    assert page.count("<svg") == 2  # one strip plot per per-sample output
    assert page.count("data:image/png;base64,") >= 2  # worst-sample thumbnails
    # the ground truth is best on both metrics and is marked so
    gt_row = page.split(f"folder:{gt}")[1].split("</tr>")[0]
    assert gt_row.count("class='best'") == 2


def test_outputs_of_another_checkpoint_are_not_mixed(manifest, tmp_path):
    from hxbench.adapters.baselines import StillImage
    from hxbench.errors import HxbenchError
    from hxbench.eval.runner import generate

    class Other(StillImage):
        def info(self):
            return {"class": "Other", "checkpoint_sha256": "abc"}

    out = tmp_path / "outputs"
    generate(StillImage(), manifest, out, manifest.samples[:1], progress=False)
    generate(StillImage(), manifest, out, manifest.samples[1:], progress=False)  # same model resumes
    assert len(list(out.glob("*.mp4"))) == 3
    with pytest.raises(HxbenchError, match="another model or checkpoint"):
        generate(Other(), manifest, out, progress=False)
