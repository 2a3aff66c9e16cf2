"""ArcFace IResNet-50 / IResNet-100 (insightface ``recognition/arcface_torch/backbones/iresnet.py``).

A re-statement of the arcface_torch backbone with identical module names, so that a published
``backbone.pth`` (e.g. ``ms1mv3_arcface_r50_fp16/backbone.pth``, ``glint360k_cosface_r100``)
loads with ``load_state_dict(strict=True)``. Key layout::

    conv1.weight (64,3,3,3)  bn1.{weight,bias,running_mean,running_var,num_batches_tracked}
    prelu.weight (64,)
    layer{1..4}.{i}.{bn1,conv1,bn2,prelu,conv2,bn3}.*   layer{k}.0.downsample.{0,1}.*
    bn2.*  (512)   fc.weight (512, 25088)  fc.bias (512,)   features.* (BatchNorm1d 512)

Blocks per stage: r50 = (3, 4, 14, 3), r100 = (3, 13, 30, 3).

Used by the variants ``id_sim[arcface-r50-torch]`` / ``[arcface-r100-torch]`` (weights
``arcface-r50-torch`` / ``arcface-r100-torch``). The insightface model packs (ONNX) are
``hxbench.nets.arcface_onnx``.

Input: aligned 112 x 112 RGB faces (``hxbench.face.align.align_arcface``), float32
``(x / 255 - 0.5) / 0.5`` in [-1, 1], NCHW. Output: (N, 512) embedding (not normalised;
``embed`` L2-normalises). fp16 checkpoints are cast to float32 at load.
"""

from __future__ import annotations

import torch
from torch import nn

from hxbench.weights import WeightSpec, register_weights

LAYERS = {"r50": (3, 4, 14, 3), "r100": (3, 13, 30, 3), "r34": (3, 4, 6, 3), "r18": (2, 2, 2, 2)}

_NOTE = ("arcface_torch model zoo (insightface, recognition/arcface_torch README): the "
         "backbone.pth of {run}. The zoo links to OneDrive / Baidu folders, not to stable "
         "file URLs, so no URL is registered and no sha256 could be established here: the "
         "file's sha256 is shown by `hxbench weights status` and recorded beside every number. "
         "Not the same weights as id_sim[arcface-r50|r100] (insightface ONNX model packs).")

# Variant / weight names end in "-torch": these are arcface_torch PyTorch checkpoints run by
# this file's IResNet, distinct from the insightface ONNX packs (hxbench.nets.arcface_onnx:
# arcface-r50 = buffalo_l w600k_r50.onnx, arcface-r100 = antelopev2 glintr100.onnx).
register_weights(WeightSpec(
    name="arcface-r50-torch", filename="backbone.pth", sha256=None,
    description="ArcFace IResNet-50, arcface_torch ms1mv3_arcface_r50_fp16 backbone.pth (PyTorch)",
    license="insightface: code MIT; pretrained models for non-commercial research only",
    notes=_NOTE.format(run="ms1mv3_arcface_r50_fp16"),
))
register_weights(WeightSpec(
    name="arcface-r100-torch", filename="backbone.pth", sha256=None,
    description="ArcFace IResNet-100, arcface_torch ms1mv3_arcface_r100_fp16 backbone.pth (PyTorch)",
    license="insightface: code MIT; pretrained models for non-commercial research only",
    notes=_NOTE.format(run="ms1mv3_arcface_r100_fp16"),
))


def _conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)


class IBasicBlock(nn.Module):
    """bn1 -> conv1 -> bn2 -> prelu -> conv2 (stride) -> bn3, plus (downsampled) identity."""

    def __init__(self, cin: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin, eps=1e-5)
        self.conv1 = _conv3x3(cin, planes)
        self.bn2 = nn.BatchNorm2d(planes, eps=1e-5)
        self.prelu = nn.PReLU(planes)
        self.conv2 = _conv3x3(planes, planes, stride)
        self.bn3 = nn.BatchNorm2d(planes, eps=1e-5)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn3(self.conv2(self.prelu(self.bn2(self.conv1(self.bn1(x))))))
        identity = x if self.downsample is None else self.downsample(x)
        return out + identity


class IResNet(nn.Module):
    fc_scale = 7 * 7

    def __init__(self, layers: tuple[int, ...], num_features: int = 512):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64, eps=1e-5)
        self.prelu = nn.PReLU(64)
        self.layer1 = self._make_layer(64, layers[0])
        self.layer2 = self._make_layer(128, layers[1])
        self.layer3 = self._make_layer(256, layers[2])
        self.layer4 = self._make_layer(512, layers[3])
        self.bn2 = nn.BatchNorm2d(512, eps=1e-5)
        self.dropout = nn.Dropout(p=0.0)
        self.fc = nn.Linear(512 * self.fc_scale, num_features)
        self.features = nn.BatchNorm1d(num_features, eps=1e-5)

    def _make_layer(self, planes: int, blocks: int) -> nn.Sequential:
        downsample = nn.Sequential(
            nn.Conv2d(self.inplanes, planes, 1, stride=2, bias=False),
            nn.BatchNorm2d(planes, eps=1e-5),
        )
        mods = [IBasicBlock(self.inplanes, planes, 2, downsample)]
        self.inplanes = planes
        mods += [IBasicBlock(planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*mods)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.prelu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = torch.flatten(self.bn2(x), 1)
        return self.features(self.fc(self.dropout(x)))


def iresnet(arch: str) -> IResNet:
    """``arch`` in r18 / r34 / r50 / r100 (arcface_torch ``get_model`` names without 'i')."""
    if arch not in LAYERS:
        raise ValueError(f"unknown IResNet {arch!r}; choose one of {', '.join(LAYERS)}")
    return IResNet(LAYERS[arch])


def load_iresnet(arch: str, path) -> IResNet:
    """Build ``arch`` and load an arcface_torch state dict (``module.`` prefixes stripped,
    fp16 cast to float32, strict). Returned in eval mode."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    state = {k[7:] if k.startswith("module.") else k: v for k, v in state.items()}
    state = {k: (v.float() if torch.is_floating_point(v) else v) for k, v in state.items()}
    net = iresnet(arch)
    net.load_state_dict(state, strict=True)
    return net.eval()


def preprocess(faces) -> torch.Tensor:
    """(N, 112, 112, 3) uint8 RGB aligned faces -> (N, 3, 112, 112) float32 in [-1, 1]."""
    x = torch.as_tensor(faces).permute(0, 3, 1, 2).float()
    return (x / 255.0 - 0.5) / 0.5


@torch.no_grad()
def embed(net: IResNet, faces, batch: int = 32) -> torch.Tensor:
    """L2-normalised (N, 512) embeddings of aligned faces (N, 112, 112, 3) uint8."""
    out = []
    for i in range(0, len(faces), batch):
        out.append(torch.nn.functional.normalize(net(preprocess(faces[i:i + batch])), dim=1))
    return torch.cat(out) if out else torch.zeros(0, 512)
