"""EmoNet (Toisoul, Kossaifi, Bulat, Tzimiropoulos & Pantic, Nature Machine Intelligence 2021).

A re-statement of ``face-analysis/emonet`` ``emonet/models/emonet.py`` with the same module
names, so that the published ``pretrained/emonet_8.pth`` (8 expressions) or ``emonet_5.pth``
loads strictly (``module.`` prefixes stripped as the repository's ``test.py`` does). The
network is a 2-stack FAN (face-alignment network: ConvBlocks + 4-level hourglasses, 68
landmark heatmaps) whose features, multiplied by the summed heatmaps (attention), feed four
ConvBlock + max-pool stages, a 4x4 average pool and ``emo_fc_2``
(Linear 256-128, BatchNorm1d, ReLU, Linear 128-(n_expression + 2)).

Note: the original replaces ``nn.InstanceNorm2d`` by ``nn.BatchNorm2d`` globally, so every
"bn" here is a BatchNorm2d with running statistics (that is what the checkpoint holds).

Input: a 256 x 256 RGB face crop, float32 in [0, 1] (``ToTensor``), NCHW; the repository's
demo crops the detector's face box (square, resized to 256). Output dict: ``expression``
(N, 8) logits (neutral, happy, sad, surprise, fear, disgust, anger, contempt), ``valence``
(N,) and ``arousal`` (N,) in about [-1, 1], ``heatmap`` (N, 68, 64, 64).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hxbench.weights import WeightSpec, register_weights

EXPRESSIONS_8 = ("neutral", "happy", "sad", "surprise", "fear", "disgust", "anger", "contempt")

register_weights(WeightSpec(
    name="emonet-8", filename="emonet_8.pth", sha256=None,
    description="EmoNet 8-expression + valence/arousal (face-analysis/emonet pretrained/emonet_8.pth)",
    license="CC BY-NC-ND 4.0 (face-analysis/emonet; non-commercial)",
    urls=("https://github.com/face-analysis/emonet/raw/master/pretrained/emonet_8.pth",),
    notes=("Published in the face-analysis/emonet repository, file pretrained/emonet_8.pth. "
           "This workplace cannot reach GitHub, and no public source states its sha256 (public "
           "code searched for 'emonet_8.pth' next to a sha256: download scripts, model lists, "
           "manifests; none found), so it is not pinned (shown by `hxbench weights status` and "
           "recorded beside every number). "
           "Import with `hxbench weights import emonet-8 /path/to/emonet_8.pth`. The "
           "repository's demo.py states the expected output on its images/example.png: "
           "Happy, valence 0.064, arousal 0.143 (a check once the file is imported)."),
))


def _conv3x3(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=1, padding=1, bias=False)


class ConvBlock(nn.Module):
    """FAN bottleneck: three pre-activated 3x3 convs (out/2, out/4, out/4), concatenated."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = _conv3x3(cin, cout // 2)
        self.bn2 = nn.BatchNorm2d(cout // 2)
        self.conv2 = _conv3x3(cout // 2, cout // 4)
        self.bn3 = nn.BatchNorm2d(cout // 4)
        self.conv3 = _conv3x3(cout // 4, cout // 4)
        self.downsample = None
        if cin != cout:
            self.downsample = nn.Sequential(nn.BatchNorm2d(cin), nn.ReLU(True),
                                            nn.Conv2d(cin, cout, 1, stride=1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        o1 = self.conv1(F.relu(self.bn1(x)))
        o2 = self.conv2(F.relu(self.bn2(o1)))
        o3 = self.conv3(F.relu(self.bn3(o2)))
        res = x if self.downsample is None else self.downsample(x)
        return torch.cat((o1, o2, o3), 1) + res


class HourGlass(nn.Module):
    def __init__(self, depth: int = 4, features: int = 256):
        super().__init__()
        self.depth = depth
        self._build(depth, features)

    def _build(self, level: int, f: int) -> None:
        self.add_module(f"b1_{level}", ConvBlock(f, f))
        self.add_module(f"b2_{level}", ConvBlock(f, f))
        if level > 1:
            self._build(level - 1, f)
        else:
            self.add_module(f"b2_plus_{level}", ConvBlock(f, f))
        self.add_module(f"b3_{level}", ConvBlock(f, f))

    def _forward(self, level: int, x: torch.Tensor) -> torch.Tensor:
        up1 = self._modules[f"b1_{level}"](x)
        low = self._modules[f"b2_{level}"](F.max_pool2d(x, 2, stride=2))
        if level > 1:
            low = self._forward(level - 1, low)
        else:
            low = self._modules[f"b2_plus_{level}"](low)
        low = self._modules[f"b3_{level}"](low)
        return up1 + F.interpolate(low, scale_factor=2, mode="nearest")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._forward(self.depth, x)


class EmoNet(nn.Module):
    def __init__(self, n_expression: int = 8, num_modules: int = 2, n_blocks: int = 4, n_reg: int = 2):
        super().__init__()
        self.num_modules = num_modules
        self.n_expression = n_expression
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3)
        self.bn1 = nn.BatchNorm2d(64)
        self.conv2 = ConvBlock(64, 128)
        self.conv3 = ConvBlock(128, 128)
        self.conv4 = ConvBlock(128, 256)
        for i in range(num_modules):
            self.add_module(f"m{i}", HourGlass(4, 256))
            self.add_module(f"top_m_{i}", ConvBlock(256, 256))
            self.add_module(f"conv_last{i}", nn.Conv2d(256, 256, 1))
            self.add_module(f"bn_end{i}", nn.BatchNorm2d(256))
            self.add_module(f"l{i}", nn.Conv2d(256, 68, 1))
            if i < num_modules - 1:
                self.add_module(f"bl{i}", nn.Conv2d(256, 256, 1))
                self.add_module(f"al{i}", nn.Conv2d(68, 256, 1))
        self.conv1x1_input_emo_2 = nn.Conv2d(256 * (num_modules + 1), 256, 1)
        convs: list[nn.Module] = []
        for _ in range(n_blocks):
            convs += [ConvBlock(256, 256), nn.MaxPool2d(2, 2)]
        self.emo_net_2 = nn.Sequential(*convs)
        self.avg_pool_2 = nn.AvgPool2d(4)
        self.emo_fc_2 = nn.Sequential(nn.Linear(256, 128), nn.BatchNorm1d(128), nn.ReLU(inplace=True),
                                      nn.Linear(128, n_expression + n_reg))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.max_pool2d(self.conv2(x), 2, stride=2)
        x = self.conv4(self.conv3(x))
        previous = x
        feats = []
        tmp_out = None
        for i in range(self.num_modules):
            ll = self._modules[f"top_m_{i}"](self._modules[f"m{i}"](previous))
            ll = F.relu(self._modules[f"bn_end{i}"](self._modules[f"conv_last{i}"](ll)))
            tmp_out = self._modules[f"l{i}"](ll)
            if i < self.num_modules - 1:
                ll = self._modules[f"bl{i}"](ll)
                previous = previous + ll + self._modules[f"al{i}"](tmp_out)
            feats.append(ll)
        mask = torch.sum(tmp_out, dim=1, keepdim=True)
        emo_feat = torch.cat((x, torch.cat(feats, dim=1) * mask), dim=1)
        f = self.avg_pool_2(self.emo_net_2(self.conv1x1_input_emo_2(emo_feat)))
        f = self.emo_fc_2(f.view(f.shape[0], f.shape[1]))
        return {"heatmap": tmp_out, "expression": f[:, :-2], "valence": f[:, -2], "arousal": f[:, -1]}


def load_emonet(path, n_expression: int = 8) -> EmoNet:
    """Build EmoNet and load a published checkpoint (all parameters required); eval mode."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    state = {k.replace("module.", ""): v for k, v in state.items()}
    net = EmoNet(n_expression=n_expression)
    # the repository loads with strict=False; every parameter and buffer must still be present
    missing, _unexpected = net.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing:
        raise ValueError(f"{path}: not an EmoNet-{n_expression} checkpoint; missing {missing[:5]}")
    return net.eval()


def preprocess(faces) -> torch.Tensor:
    """(N, 256, 256, 3) uint8 RGB crops -> (N, 3, 256, 256) float32 in [0, 1]."""
    return torch.as_tensor(faces).permute(0, 3, 1, 2).float() / 255.0


@torch.no_grad()
def valence_arousal(net: EmoNet, faces, batch: int = 8) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(valence (N,), arousal (N,), expression softmax (N, n_expression)) for 256x256 crops."""
    vs, ars, ex = [], [], []
    for i in range(0, len(faces), batch):
        out = net(preprocess(faces[i:i + batch]))
        vs.append(out["valence"])
        ars.append(out["arousal"])
        ex.append(torch.softmax(out["expression"], dim=1))
    if not vs:
        return torch.zeros(0), torch.zeros(0), torch.zeros(0, net.n_expression)
    return torch.cat(vs), torch.cat(ars), torch.cat(ex)
