"""The face-mesh stream shared by the landmark and face-crop metrics (LMD, av_sync, id_sim,
emo_sim, command_accuracy).

Every metric that needs MediaPipe face meshes of one of a sample's clips feeds that clip into
the sample's one face-mesh tracking session for it (``hxbench.metrics.stream.shared_reduction``
under ``("face_mesh", side, MESH_OPTIONS)``), so the metrics of a run track each video once,
from the shared decoding pass. The landmarks equal ``face_mesh_clip``'s and ``face_mesh``'s on
the whole video (one video-mode session, frames in order; ``face_mesh`` of a one-frame video
runs in static mode, whose single frame gives the same landmarks as a video-mode session's
first frame: tests/test_face_streams.py checks it for the mesh, hands and pose).

- ``MeshStream``: the meshes of whole clips for metrics that need only landmarks (a clip whose
  mesh is already in the face cache, ``hxbench.face``, is not read at all).
- ``SideMesh``: one clip's meshes chunk by chunk, for metrics that also need the frame's
  pixels (face crops): ``feed(chunk)`` returns that chunk's (t, 478, 3) landmarks.
- ``Batcher``: rows of a per-frame network input collected across chunks into the batches the
  whole-video call would have made, so the network sees the same batches and gives the same
  numbers bit for bit.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from hxbench.face.detect import FaceMeshResult, FaceMeshSession, cache_lookup, clip_cache_key, single_face
from hxbench.metrics.base import SampleData, SampleStream
from hxbench.metrics.stream import SharedReduction, shared_reduction

MESH_OPTIONS = (1, False, 0.5)  # max_faces, static, min_confidence: face_mesh_clip's defaults


def side_session(sample: SampleData, side: str) -> tuple[FaceMeshResult | None, SharedReduction | None]:
    """(the cached one-face mesh of the clip, None) or (None, the sample's shared session)."""
    clip = getattr(sample, side)
    key = clip_cache_key(clip) if clip is not None else None
    hit = cache_lookup("face_mesh_clip", MESH_OPTIONS, key) if key is not None else None
    if hit is not None:
        return hit, None
    return None, shared_reduction(sample, ("face_mesh", side, MESH_OPTIONS),
                                  lambda key=key: FaceMeshSession(*MESH_OPTIONS, key=key))


class MeshStream(SampleStream):
    """Face meshes of the sample's ``sides``; ``mesh(side)`` after the stream is fed."""

    def __init__(self, sample: SampleData, sides: tuple[str, ...]) -> None:
        self.sample_id = sample.sample_id
        self.counts = {side: 0 for side in sides}
        self.cached: dict[str, FaceMeshResult] = {}
        self.sessions = {}
        for side in sides:
            hit, session = side_session(sample, side)
            if hit is not None:
                self.cached[side] = hit
            else:
                self.sessions[side] = session
        self.sides = tuple(self.sessions)

    def feed(self, gen: np.ndarray | None, ref: np.ndarray | None) -> None:
        for side, chunk in (("gen", gen), ("ref", ref)):
            if chunk is not None and side in self.sessions:
                self.sessions[side].feed(chunk, self.counts[side])
                self.counts[side] += len(chunk)

    def mesh(self, side: str) -> FaceMeshResult:
        """The (T, 478, 3) landmarks of one face per frame of ``side``."""
        result = self.cached.get(side)
        if result is None:
            result = self.sessions[side].result()
        return single_face(result)


class SideMesh:
    """One clip's face meshes, chunk by chunk, from the cache or the sample's shared session."""

    def __init__(self, sample: SampleData, side: str) -> None:
        self.cached, self.session = side_session(sample, side)
        self.count = 0

    def feed(self, chunk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(t, 478, 3) float32 landmark pixels (NaN where no face) and (t,) found of the chunk's
        frames (t, H, W, 3) uint8, the next frames of the clip."""
        start, self.count = self.count, self.count + len(chunk)
        if self.cached is not None:
            lm, found = self.cached.landmarks[start:self.count], self.cached.found[start:self.count]
        else:
            self.session.feed(chunk, start)
            lm, found = self.session.reducer.meshes(start, self.count)
        return lm[:, 0], found[:, 0]

    def result(self) -> FaceMeshResult:
        """The whole clip's (T, 478, 3) mesh (ends the shared session: call after the last feed)."""
        return single_face(self.cached if self.cached is not None else self.session.result())


class Batcher:
    """Per-frame network rows gathered into fixed batches across chunks.

    ``run`` maps (n, ...) inputs to (n, D) outputs and is called on exactly ``batch`` inputs at
    a time (the last call of a clip: fewer), in frame order: the batches a whole-video call
    ``run(all_inputs)`` splitting by ``batch`` would make, so outputs are bit-identical. At most
    ``batch - 1`` inputs wait between chunks. ``put(index, rows)`` adds inputs for the given
    frame indices; ``out`` maps frame index -> output row once computed."""

    def __init__(self, run: Callable[[np.ndarray], np.ndarray], batch: int) -> None:
        self.run, self.batch = run, max(1, int(batch))
        self.index: list[int] = []
        self.rows: list[np.ndarray] = []
        self.out: dict[int, np.ndarray] = {}

    def put(self, index, rows: np.ndarray) -> None:
        for i, r in zip(index, rows):
            self.index.append(int(i))
            self.rows.append(r)
            if len(self.rows) == self.batch:
                self._flush()

    def flush(self) -> None:
        if self.rows:
            self._flush()

    def _flush(self) -> None:
        y = np.asarray(self.run(np.stack(self.rows)))
        for i, row in zip(self.index, y):
            self.out[i] = row
        self.index, self.rows = [], []


def whole_array_features(frames: np.ndarray, backbone,
                         key: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame features of the main face in a whole (T, H, W, 3) or (H, W, 3) uint8 array (an
    image, or a video already in memory; the metrics stream clips instead) through a face
    ``backbone`` (``prepare(frames, landmarks, found) -> (inputs, found)``, ``run``, ``dim``).
    Returns (features (T, dim) float32 with NaN rows where no face, found (T,) bool)."""
    from hxbench.face.align import faces_for

    frames = np.asarray(frames)
    if frames.ndim == 3:
        frames = frames[None]
    mesh = faces_for(frames, key=key)
    inputs, found = backbone.prepare(frames, mesh.landmarks, mesh.found.copy())
    feats = np.full((len(frames), backbone.dim), np.nan, np.float32)
    if found.any():
        feats[found] = backbone.run(inputs)
    return feats, found
