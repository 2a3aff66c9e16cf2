"""The committed ``checkpoints/tiny-hxsynth`` (adapter ``omnihuman-tiny-hxsynth``): hashes, size,
VAE round trip on hx-synth faces, and that sampled clips show a face the MediaPipe face mesh
finds (the lip-sync metrics need it).

Frames are hx-synth identity images (the astronaut variants of ``hxbench.synth.photos``, drawn
with a seed the training data did not use), 64x64 as the model works, upsampled to 128x128
(hx-synth tiny's size) before the face mesh, as the adapter does for a task.
Bounds sit below the values measured when the checkpoint was committed (README "Results").
"""

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

CKPT = Path(__file__).resolve().parents[1] / "reference_models" / "omnihuman" / "checkpoints" / "tiny-hxsynth"
VAE_PSNR_BOUND = 23.0  # measured 25.5 dB (29.4, 24.3, 23.5, 24.9) on these 4 stills
VAE_CLIP_PSNR_BOUND = 23.0  # measured 24.7 dB on the first 32 frames of the lip_sync task's test clip 0
VAE_RECON_128_BOUND = 21.0  # measured 23.5 dB on its first 37 frames at 128 px (resize only: 28.3)
FACE_FOUND_BOUND = 0.75  # measured 1.0 and 0.85 of the frames (10 Euler steps, CFG 1.5)

torch.set_num_threads(1)
pytestmark = pytest.mark.skipif(not (CKPT / "dit.pt").is_file(), reason="no committed tiny-hxsynth checkpoint")


def test_checkpoint_hashes_config_and_size():
    import json

    lines = (CKPT / "SHA256SUMS").read_text().splitlines()
    assert {ln.split()[1] for ln in lines} == {"vae.pt", "dit.pt", "config.json"}
    for ln in lines:
        digest, name = ln.split()
        data = (CKPT / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == digest
        assert len(data) < 8 * 2 ** 20
    cfg = json.loads((CKPT / "config.json").read_text())
    assert cfg["name"] == "tiny-f4" and cfg["image_size"] // cfg["vae_sf"] == 16
    assert (CKPT / "train_config.json").is_file()


@pytest.fixture(scope="module")
def faces():
    from hxbench.synth.photos import identities

    return [i.image for i in identities(4, 128, np.random.default_rng(123))]


@pytest.fixture(scope="module")
def pipe():
    from reference_models.omnihuman.pipeline import OmniPipeline

    return OmniPipeline(CKPT, steps=10)


def _found(frames: np.ndarray) -> float:
    from hxbench.face.detect import face_mesh
    from reference_models.omnihuman.pipeline import resize_video

    return face_mesh(resize_video(frames, 128, 128), static=True).found_fraction


def test_vae_round_trip_psnr_and_face_survives(faces, pipe):
    from reference_models.omnihuman.data import resize_frames
    from reference_models.omnihuman.vae import frames_to_tensor, psnr, tensor_to_frames

    vals, rec = [], []
    with torch.no_grad():
        for img in faces:
            x = frames_to_tensor(np.repeat(resize_frames(img[None], 64), 16, 0))
            r = pipe.vae.decode(pipe.vae.encode(x))
            vals.append(psnr(r, x))
            rec.append(tensor_to_frames(r[0])[0])
    assert np.mean(vals) > VAE_PSNR_BOUND, vals
    assert _found(np.stack(rec)) == 1.0


def test_sampled_clips_show_a_detectable_face(faces, pipe):
    t = np.arange(16000) / 16000
    audio = (0.2 * (np.sin(2 * np.pi * 3 * t) > 0) * np.sin(2 * np.pi * 180 * t)).astype(np.float32)
    found = []
    for img in faces[:2]:
        frames, _ = pipe.generate(img, audio, 1.0, transcript="The quick fox opens the door.")
        assert frames.shape == (25, 64, 64, 3)
        found.append(_found(frames[::2]))
    assert np.mean(found) >= FACE_FOUND_BOUND, found


@pytest.fixture(scope="module")
def rendered_clip():
    """The first 37 frames (128 px) of lip_sync test clip 0 of hx-synth tiny seed 0 (the lip_sync
    task's first test clip; the checkpoint was trained on small seed 1), rendered without a build."""
    from hxbench.synth.build import SIZES, lip_sync_clip
    from hxbench.synth.photos import identities
    from hxbench.synth.renderer import behaviour_to_landmarks, get_rig, render_landmarks

    spec = SIZES["tiny"]
    ids = identities(spec.n_identities, spec.size, np.random.default_rng([0, 99]))
    clip = lip_sync_clip(0, "test", 0, len(ids))
    rig = get_rig(ids[clip.identity].image)
    return render_landmarks(rig, behaviour_to_landmarks(rig, clip.behaviour[:37]))


def test_vae_round_trip_on_a_rendered_hxsynth_clip(rendered_clip, pipe):
    """32 frames at the model's 64 px: latents (8 ch, 8 / 4 frames, 16 x 16), PSNR above
    VAE_CLIP_PSNR_BOUND (measured 24.7 dB; test clips 1 and 2: 23.0, 23.1)."""
    from reference_models.omnihuman.data import resize_frames
    from reference_models.omnihuman.vae import frames_to_tensor, psnr

    x = frames_to_tensor(resize_frames(rendered_clip[:32], 64))
    with torch.no_grad():
        z = pipe.vae.encode(x)
        r = pipe.vae.decode(z)
    assert z.shape == (1, 8, 8, 16, 16) and r.shape == x.shape
    assert psnr(r, x) > VAE_CLIP_PSNR_BOUND


def test_vae_recon_row_pads_time_and_keeps_the_task_size(rendered_clip):
    """vae_recon.reconstruct (the vae-recon row): 37 frames (not a multiple of the VAE's 4) in,
    37 out at 128 px; without the VAE it is the 128 -> 64 -> 128 resize alone, which loses less."""
    from reference_models.omnihuman.data import resize_frames
    from reference_models.omnihuman.pipeline import resize_video
    from reference_models.omnihuman.vae_recon import load_vae, reconstruct

    vae = load_vae(CKPT)
    rec = reconstruct(vae, rendered_clip, 64, (128, 128))
    only = reconstruct(None, rendered_clip, 64, (128, 128))
    assert rec.shape == only.shape == rendered_clip.shape == (37, 128, 128, 3)
    np.testing.assert_array_equal(only, resize_video(resize_frames(rendered_clip, 64), 128, 128))

    def db(a):
        return 10 * np.log10(255.0 ** 2 / np.mean((a.astype(np.float64) - rendered_clip) ** 2))

    assert db(only) > db(rec) + 2 and db(rec) > VAE_RECON_128_BOUND, (db(only), db(rec))
