"""S3FD (Zhang et al. 2017), the face detector of the syncnet_python face-track pipeline: its
weights and the ``syncnet-python`` package's network and NMS. ``hxbench.face.tracks.S3FDDetector``
runs it as the pipeline does."""

from __future__ import annotations

from typing import Callable

import torch

from hxbench.nets.syncnet import package_module
from hxbench.weights import WeightSpec, register_weights

S3FD_WEIGHTS = register_weights(WeightSpec(
    name="s3fd_sfd_face",
    filename="sfd_face.pth",
    sha256="d54a87c2b7543b64729c9a25eafd188da15fd3f6e02f0ecec76ae1b30d86c491",
    description="S3FD face detector used by the syncnet_python face-track pipeline",
    license="see https://github.com/joonson/syncnet_python (research use)",
    urls=("https://www.robots.ox.ac.uk/~vgg/software/lipsync/data/sfd_face.pth",),
    notes="89,844,381 bytes. Not on any package registry. sha256 as pinned by several public "
          "projects that verify the official Oxford VGG file (not measured by hxbench itself).",
))


def s3fd_net(state_dict: dict | None = None, device: str = "cpu") -> torch.nn.Module:
    """The package's ``detectors.s3fd.nets.S3FDNet``, with ``state_dict`` loaded (strict)."""
    net = package_module("detectors.s3fd.nets").S3FDNet(device=device)
    if state_dict is not None:
        net.load_state_dict(state_dict)
    return net


def s3fd_nms() -> Callable:
    """The package's ``detectors.s3fd.box_utils.nms_``: (boxes (n, 5) x1 y1 x2 y2 score,
    IoU threshold) -> indices kept."""
    return package_module("detectors.s3fd.box_utils").nms_
