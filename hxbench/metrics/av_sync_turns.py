"""Audio-mouth synchrony per speaker turn of a two-clip dialogue (MoChaBench ``2p_2clip_2talk``).

**Not a lip-sync score for real videos** (``validity_caveat``): each turn is scored by
``av_sync[mouth-energy]``'s measure, which fails its validity checks on real generated videos
(docs/validity.md); this metric was not checked apart.

MoChaBench's dialogue contexts ask for two clips, Person1 speaking in the first and Person2 in
the second, over one speech track that holds both turns; it publishes no speaker mask or turn
times, and scores the whole video against the whole speech. The turn boundary is the cut
between the two clips of the generated video, so this metric finds it and scores each turn
apart, with the face the clip shows under its stretch of the speech:

- the cut: PySceneDetect's ContentDetector (threshold 27, as the SyncNet pipelines' shot
  split) on the video at 25 fps, downscaled to 256 px wide; of several cuts, the one nearest
  the middle of the video (a dialogue of two clips has one);
- each turn: the most prominent face of every frame (MediaPipe face mesh, as
  ``av_sync[mouth-energy]``), its mouth opening against the energy of the speech over the
  same frames, peak lagged correlation (``hxbench.metrics.av_sync.synchrony``).

Outputs: ``av_corr_turn1`` / ``av_corr_turn2`` (higher is better), their mean
``av_corr_turns``, and ``cut_s`` (NEUTRAL: where the turn boundary was found). A video with no
cut (one shot), or a turn where no face is found in half of its frames, fails the sample with
that reason. hxbench's own measure (no SyncNet weights needed), not MoChaBench's Sync-C.
"""

from __future__ import annotations

import numpy as np

from hxbench.errors import MetricUnavailable, SampleError
from hxbench.metrics.av_sync import FPS, SAMPLE_RATE, frame_energy_db, mouth_from_mesh, synchrony
from hxbench.metrics.base import HIGHER, NEUTRAL, PerSampleMetric, SampleData, register_metric

CUT_WIDTH = 256  # frames are downscaled to this width for the cut detector (its own default)


def turn_boundary(cuts: list[int], n_frames: int) -> int | None:
    """The cut nearest the middle (None without a cut)."""
    cuts = [c for c in cuts if 0 < c < n_frames]
    if not cuts:
        return None
    return min(cuts, key=lambda c: abs(c - n_frames / 2))


def _small_bgr(chunk: np.ndarray) -> np.ndarray:
    import cv2

    h, w = chunk.shape[1:3]
    if w <= CUT_WIDTH:
        return chunk[..., ::-1]
    size = (CUT_WIDTH, max(1, round(h * CUT_WIDTH / w)))
    return np.stack([cv2.resize(f, size, interpolation=cv2.INTER_LINEAR) for f in chunk])[..., ::-1]


@register_metric
class AVSyncTurns(PerSampleMetric):
    """Audio-mouth synchrony per speaker turn of a two-clip dialogue."""

    name = "av_sync_turns"
    version = "1"
    variants = ("mouth-energy-shots",)
    outputs = {"av_corr_turn1": HIGHER, "av_corr_turn2": HIGHER, "av_corr_turns": HIGHER, "cut_s": NEUTRAL}
    requires = ("gen",)
    description = "hxbench's offline audio-mouth synchrony, per speaker turn (the two clips of a dialogue)"
    validity_caveat = (
        "NOT a lip-sync score for real videos: each turn is scored by av_sync[mouth-energy]'s measure (mouth "
        "opening vs speech energy), which on MoChaBench's 80 real videos does not tell the matched speech from "
        "another context's or from shifted speech (AUC 0.46-0.56, docs/validity.md); not checked apart; use "
        "sync[mochabench] for lip sync")

    def check_available(self) -> None:
        from hxbench.face import require_mediapipe

        require_mediapipe()
        try:
            import scenedetect  # noqa: F401
        except ImportError:
            raise MetricUnavailable(self.key, "the scenedetect package is missing (it finds the cut between "
                                              "the turns)", "pip install scenedetect") from None

    def score_sample(self, sample: SampleData) -> dict[str, float]:
        from hxbench.face import FaceMeshResult, face_mesh_clip
        from hxbench.face.tracks import scene_cuts
        from hxbench.io.media import clip_from_video

        if sample.gen is None:
            raise SampleError(f"sample {sample.sample_id!r} has no video")
        clip = sample.gen
        rate = clip.target_fps or clip.fps
        if clip.kind == "video" and rate and abs(rate - FPS) > 1e-3:
            clip = clip_from_video(clip.source, target_fps=FPS)  # the measure is defined at 25 fps
        small = np.concatenate([_small_bgr(c) for c in clip.iter_chunks(64)], axis=0)
        n = len(small)
        cut = turn_boundary(scene_cuts(small) or [], n)
        if cut is None:
            raise SampleError(f"sample {sample.sample_id!r}: no cut between two clips (the video is one shot), "
                              "so its speaker turns cannot be told apart")
        audio = sample.load_audio(SAMPLE_RATE)
        if audio.size == 0 or float(np.max(np.abs(audio))) < 1e-4:
            raise SampleError(f"sample {sample.sample_id!r}: the audio is silent")
        mesh = face_mesh_clip(clip)
        hop = SAMPLE_RATE / FPS
        out: dict[str, float] = {}
        for turn, (a, b) in enumerate(((0, cut), (cut, n)), 1):
            part = FaceMeshResult(mesh.landmarks[a:b], mesh.found[a:b], mesh.width, mesh.height)
            where = f"{sample.sample_id} turn {turn} (frames {a}-{b - 1})"
            mouth = mouth_from_mesh(part, where)
            energy = frame_energy_db(audio[int(round(a * hop)):int(round(b * hop))], b - a)
            try:
                out[f"av_corr_turn{turn}"] = synchrony(mouth, energy)["av_corr"]
            except SampleError as err:
                raise SampleError(f"sample {where!r}: {err}") from None
        out["av_corr_turns"] = (out["av_corr_turn1"] + out["av_corr_turn2"]) / 2
        out["cut_s"] = cut / FPS
        return out
