"""The shared face module: MediaPipe detectors on frame arrays and measurements on them.

- ``detect_faces(frames) -> FaceBoxes``: BlazeFace boxes per frame;
- ``face_mesh(frames) -> FaceMeshResult``: (T, 478, 3) landmarks in pixels + found mask
  (``face_mesh_clip(clip)``: the same for a video read in chunks);
  (``face_mesh_multi`` for several faces);
- ``hands(frames) -> HandsResult``, ``pose(frames) -> PoseResult``;
- measurements: ``mouth_opening``, ``mouth_width``, ``mouth_corner_lift``, ``brow_height``,
  ``eye_aspect_ratio``, ``head_pose`` (yaw / pitch / roll, degrees).

Streams (``hxbench.metrics``) feed a video chunk by chunk to a detector's session instead
(``detect.FaceMeshSession``, ``HandsSession``, ``PoseSession``, ``FaceDetectionSession``): one
session over the frames in order, the same results as the functions above on the whole video.

Each detector runs once per video: results are cached by video content (see ``detect``);
``cached`` puts another per-video detector (e.g. ``hxbench.nets.dwpose``) in the same cache.
MediaPipe is imported only when a detector first runs; ``require_mediapipe()`` checks that it
can be (``MetricUnavailable`` with the install command otherwise). The mediapipe networks'
weights are registered in ``hxbench.nets.mediapipe``.
"""

from hxbench.face.detect import (
    N_MESH,
    FaceBoxes,
    FaceMeshResult,
    HandsResult,
    PoseResult,
    cache_stats,
    cached,
    clear_cache,
    detect_faces,
    face_mesh,
    face_mesh_clip,
    face_mesh_multi,
    hands,
    pose,
    require_mediapipe,
    video_digest,
)
from hxbench.face.geometry import (
    brow_height,
    eye_aspect_ratio,
    head_pose,
    interocular,
    mouth_corner_lift,
    mouth_opening,
    mouth_width,
)

__all__ = [
    "N_MESH", "FaceBoxes", "FaceMeshResult", "HandsResult", "PoseResult", "cache_stats", "cached",
    "clear_cache", "detect_faces", "face_mesh", "face_mesh_clip", "face_mesh_multi", "hands", "pose",
    "require_mediapipe", "video_digest", "brow_height", "eye_aspect_ratio", "head_pose", "interocular",
    "mouth_corner_lift", "mouth_opening", "mouth_width",
]
