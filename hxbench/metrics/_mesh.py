"""The face-mesh stream shared by the landmark metrics (LMD, av_sync).

A ``MeshStream`` feeds each clip it reads into the sample's one face-mesh tracking session for
that clip (``hxbench.metrics.stream.shared_reduction``), so LMD and av_sync in the same run
track each video once, from the shared decoding pass; a clip whose mesh is already in the face
cache (``hxbench.face``) is not read at all. The landmarks equal ``face_mesh_clip``'s (one
session, frames in order).
"""

from __future__ import annotations

import numpy as np

from hxbench.face.detect import FaceMeshResult, FaceMeshSession, cache_lookup, clip_cache_key, single_face
from hxbench.metrics.base import SampleData, SampleStream
from hxbench.metrics.stream import shared_reduction

MESH_OPTIONS = (1, False, 0.5)  # max_faces, static, min_confidence: face_mesh_clip's defaults


class MeshStream(SampleStream):
    """Face meshes of the sample's ``sides``; ``mesh(side)`` after the stream is fed."""

    def __init__(self, sample: SampleData, sides: tuple[str, ...]) -> None:
        self.sample_id = sample.sample_id
        self.counts = {side: 0 for side in sides}
        self.cached: dict[str, FaceMeshResult] = {}
        self.sessions = {}
        for side in sides:
            clip = getattr(sample, side)
            key = clip_cache_key(clip) if clip is not None else None
            hit = cache_lookup("face_mesh_clip", MESH_OPTIONS, key) if key is not None else None
            if hit is not None:
                self.cached[side] = hit
                continue
            self.sessions[side] = shared_reduction(
                sample, ("face_mesh", side, MESH_OPTIONS), lambda key=key: FaceMeshSession(*MESH_OPTIONS, key=key))
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
