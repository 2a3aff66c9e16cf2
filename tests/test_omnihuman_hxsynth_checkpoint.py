"""The committed ``checkpoints/tiny-hxsynth`` (adapter ``omnihuman-tiny-hxsynth``; config
``tiny-128-ref``: 128 px, x8 space, x4 time, 16 latent channels, the reference photo in the
decoder): hashes, size, VAE round trip on hx-synth faces and on a rendered hx-synth clip (above
the still image, the row the model has to beat), and that sampled clips show a face the MediaPipe
face mesh finds (the lip-sync metrics need it).

Frames are hx-synth identity images (the astronaut variants of ``hxbench.synth.photos``, drawn
with a seed the training data did not use) and the lip_sync task's first test clip (hx-synth tiny
seed 0; the checkpoint was trained on small seed 1), at 128 px, the model's size and the task's.
Bounds sit below the values measured when the checkpoint was committed (README "Results").
"""

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

CKPT = Path(__file__).resolve().parents[1] / "reference_models" / "omnihuman" / "checkpoints" / "tiny-hxsynth"
VAE_PSNR_BOUND = 28.0  # measured 30.4 dB (30.5, 30.6, 31.1, 29.5) on these 4 stills, with the photo as reference
VAE_CLIP_PSNR_BOUND = 26.5  # measured 28.0 dB on the first 32 frames of the lip_sync task's test clip 0
STILL_MARGIN_DB = 0.5  # measured: its 37-frame vae-recon at 27.70 dB against the still photo's 26.37 (+1.33)
FACE_FOUND_BOUND = 0.75  # measured 1.0 and 1.0 of the frames (10 Euler steps, CFG 1.5)

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
    assert cfg["name"] == "tiny-128-ref" and cfg["vae_ref"] and cfg["image_size"] // cfg["vae_sf"] == 16
    # the training record of both stages, and the data they read
    stage2 = json.loads((CKPT / "train_config.json").read_text())
    stage1 = json.loads((CKPT / "train_config.vae.json").read_text())
    assert stage2["vae_init_sha256"] == lines[0].split()[0] == hashlib.sha256((CKPT / "vae.pt").read_bytes()).hexdigest()
    assert stage1["data"]["content"] == stage2["data"]["content"]


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
    from reference_models.omnihuman.vae import frames_to_tensor, image_to_tensor, psnr, tensor_to_frames

    vals, rec = [], []
    with torch.no_grad():
        for img in faces:
            still = resize_frames(img[None], 128)
            x = frames_to_tensor(np.repeat(still, 16, 0))
            r = pipe.vae.decode(pipe.vae.encode(x), ref=image_to_tensor(still[0]))
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
        assert frames.shape == (25, 128, 128, 3)
        found.append(_found(frames[::2]))
    assert np.mean(found) >= FACE_FOUND_BOUND, found


@pytest.fixture(scope="module")
def rendered_clip():
    """The first 37 frames (128 px) of lip_sync test clip 0 of hx-synth tiny seed 0 (the lip_sync
    task's first test clip) and its reference photo, rendered without a build."""
    from hxbench.synth.build import SIZES, lip_sync_clip
    from hxbench.synth.photos import identities
    from hxbench.synth.renderer import behaviour_to_landmarks, get_rig, render_landmarks

    spec = SIZES["tiny"]
    ids = identities(spec.n_identities, spec.size, np.random.default_rng([0, 99]))
    clip = lip_sync_clip(0, "test", 0, len(ids))
    photo = ids[clip.identity].image
    rig = get_rig(photo)
    return render_landmarks(rig, behaviour_to_landmarks(rig, clip.behaviour[:37])), photo


def test_vae_round_trip_on_a_rendered_hxsynth_clip(rendered_clip, pipe):
    """32 frames at 128 px: latents (16 ch, 8 / 4 frames, 16 x 16), PSNR above
    VAE_CLIP_PSNR_BOUND (measured 28.0 dB; test clips 1 and 2: 27.7, 28.5)."""
    from reference_models.omnihuman.vae import frames_to_tensor, image_to_tensor, psnr

    frames, photo = rendered_clip
    x = frames_to_tensor(frames[:32])
    with torch.no_grad():
        z = pipe.vae.encode(x)
        r = pipe.vae.decode(z, ref=image_to_tensor(photo))
    assert z.shape == (1, 16, 8, 16, 16) and r.shape == x.shape
    assert psnr(r, x) > VAE_CLIP_PSNR_BOUND


def test_vae_recon_row_pads_time_keeps_the_task_size_and_beats_the_still_image(rendered_clip):
    """vae_recon.reconstruct (the vae-recon row): 37 frames (not a multiple of the VAE's 4) in,
    37 out at 128 px (the model's size: without the VAE the frames pass unchanged); the round
    trip is closer to the clip than the reference photo held still (the still-image row)."""
    from reference_models.omnihuman.vae_recon import load_vae, reconstruct

    frames, photo = rendered_clip
    vae = load_vae(CKPT)
    rec = reconstruct(vae, frames, 128, (128, 128), ref=photo)
    only = reconstruct(None, frames, 128, (128, 128))
    assert rec.shape == frames.shape == (37, 128, 128, 3)
    np.testing.assert_array_equal(only, frames)

    def db(a):
        return 10 * np.log10(255.0 ** 2 / np.mean((a.astype(np.float64) - frames) ** 2))

    still = np.repeat(photo[None], len(frames), 0)
    assert db(rec) > db(still) + STILL_MARGIN_DB, (db(rec), db(still))
