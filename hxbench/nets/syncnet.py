"""SyncNet (Chung & Zisserman, "Out of time", 2016): the network, its weights and an inference
form with BatchNorm folded.

The network definition is the ``syncnet-python`` package's (``syncnet_python/SyncNetModel.py``,
the ``joonson/syncnet_python`` model), imported without the package's pipeline imports
(``package_module``). ``FoldedSyncNet`` runs ``forward_lip`` / ``forward_aud`` of that model for
inference; the metric protocol around it is ``hxbench.metrics.sync``.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from pathlib import Path

import numpy as np
import torch

from hxbench.errors import SampleError
from hxbench.weights import WeightSpec, register_weights

SYNCNET_WEIGHTS = register_weights(WeightSpec(
    name="syncnet_v2",
    filename="syncnet_v2.model",
    sha256="961e8696f888fce4f3f3a6c3d5b3267cf5b343100b238e79b2659bff2c605442",
    description="SyncNet v2 lip-sync network (Chung & Zisserman 2016), syncnet_python state dict",
    license="see https://github.com/joonson/syncnet_python (research use)",
    urls=("https://www.robots.ox.ac.uk/~vgg/software/lipsync/data/syncnet_v2.model",),
    notes="54,573,114 bytes. Not on any package registry. sha256 as pinned by several public "
          "projects that verify the official Oxford VGG file (not measured by hxbench itself).",
))


# -- the syncnet-python package's own modules, without its pipeline's imports -------------------
_PKG_ALIAS = "_hxbench_syncnet_python"


def package_module(relname: str) -> types.ModuleType:
    """Import ``syncnet_python.<relname>`` from the installed ``syncnet-python`` package without
    running its ``__init__`` (which imports ffmpeg-python, scenedetect and cv2 for the CLI
    pipeline). ``SyncNetModel`` needs only torch; ``detectors.s3fd`` needs cv2."""
    if _PKG_ALIAS not in sys.modules:
        spec = importlib.util.find_spec("syncnet_python")
        if spec is None or not spec.submodule_search_locations:
            raise ImportError("the syncnet-python package is not installed "
                              "(pip install syncnet-python==0.2.3 --no-deps)")
        pkg = types.ModuleType(_PKG_ALIAS)
        pkg.__path__ = list(spec.submodule_search_locations)
        pkg.__package__ = _PKG_ALIAS
        sys.modules[_PKG_ALIAS] = pkg
    return importlib.import_module(f"{_PKG_ALIAS}.{relname}")


def syncnet_model(state_dict: dict | None = None) -> torch.nn.Module:
    """The package's ``SyncNetModel.S`` in eval mode, with ``state_dict`` loaded (strict)."""
    net = package_module("SyncNetModel").S(num_layers_in_fc_layers=1024)
    if state_dict is not None:
        net.load_state_dict(state_dict)
    return net.eval()


def load_state(path: Path) -> dict:
    """A state dict from a checkpoint file. ``torch.load(weights_only=True)`` first; the
    registered files are sha256-verified before they get here, so a legacy pickle that needs
    the full unpickler (or a whole pickled module, whose ``state_dict()`` is taken) is accepted."""
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception:
        state = torch.load(str(path), map_location="cpu", weights_only=False)
    if isinstance(state, torch.nn.Module):
        state = state.state_dict()
    if not isinstance(state, dict):
        raise SampleError(f"{path}: expected a state dict, got {type(state).__name__}")
    return state


# -- inference with BatchNorm folded ------------------------------------------------------------
def _fold(seq: torch.nn.Sequential) -> list[tuple]:
    """A SyncNet ``Sequential`` as a list of functional 2-D ops, every eval-mode BatchNorm folded
    into the conv / linear before it (w * g / sqrt(var + eps), (b - mean) * g / sqrt(var + eps)
    + beta). Conv3d / MaxPool3d layers with a temporal extent of 1 become their 2-D
    equivalents; the lip CNN's first Conv3d (temporal kernel 5, stride 1, no temporal padding)
    becomes a 2-D conv over 5 x 3 stacked channels (channel dt * 3 + c = frame v + dt, colour c).
    Ops: ("conv", w, b, stride, padding), ("linear", w, b), ("relu",), ("pool", kernel, stride,
    padding)."""
    def hw(v):
        return tuple(v[-2:]) if isinstance(v, tuple) else (v, v)

    mods, ops, i = list(seq), [], 0
    while i < len(mods):
        m = mods[i]
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Conv3d, torch.nn.Linear)):
            w, b = m.weight.detach(), m.bias.detach()
            if i + 1 < len(mods) and isinstance(mods[i + 1], torch.nn.modules.batchnorm._BatchNorm):
                bn = mods[i + 1]
                scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
                w = w * scale.view(-1, *([1] * (w.dim() - 1)))
                b = (b - bn.running_mean) * scale + bn.bias.detach()
                i += 1
            if isinstance(m, torch.nn.Linear):
                ops.append(("linear", w.contiguous(), b))
            else:
                if isinstance(m, torch.nn.Conv3d):
                    if m.stride[0] != 1 or m.padding[0] != 0 or m.dilation[0] != 1:
                        raise TypeError("unexpected temporal stride / padding in SyncNet")
                    co, ci, kt, kh, kw = w.shape
                    w = w.permute(0, 2, 1, 3, 4).reshape(co, kt * ci, kh, kw)
                w = w.contiguous(memory_format=torch.channels_last)
                ops.append(("conv", w, b, hw(m.stride), hw(m.padding)))
        elif isinstance(m, torch.nn.ReLU):
            ops.append(("relu",))
        elif isinstance(m, (torch.nn.MaxPool2d, torch.nn.MaxPool3d)):
            if isinstance(m, torch.nn.MaxPool3d) and (m.kernel_size[0], m.stride[0]) != (1, 1):
                raise TypeError("unexpected temporal pooling in SyncNet")
            ops.append(("pool", hw(m.kernel_size), hw(m.stride), hw(m.padding)))
        else:
            raise TypeError(f"unexpected layer {type(m).__name__} in SyncNet")
        i += 1
    return ops


def _run(ops: list[tuple], x: torch.Tensor) -> torch.Tensor:
    import torch.nn.functional as F

    for op in ops:
        if op[0] == "conv":
            x = F.conv2d(x, op[1], op[2], op[3], op[4])
        elif op[0] == "relu":
            x = F.relu(x)
        elif op[0] == "pool":
            x = F.max_pool2d(x, op[1], op[2], op[3])
        else:
            x = F.linear(x.flatten(1), op[1], op[2])
    return x


class FoldedSyncNet:
    """SyncNet for inference: ``forward_lip`` / ``forward_aud`` of the package's ``S`` with
    BatchNorm folded, 2-D channels-last convolutions and no autograd (``_fold``). Same
    arithmetic up to float32 re-association (tests/test_sync.py compares with the package to
    1e-4 absolute on the distances).

    The lip input is built per window straight from the uint8 frames: window v is the 15
    channels (frames v..v+4) x (B, G, R), channels-last, float 0..255 as the reference feeds.
    """

    def __init__(self, net: torch.nn.Module, device: str = "cpu") -> None:
        with torch.no_grad():
            self.lip = _fold(net.netcnnlip) + _fold(net.netfclip)
            self.aud = _fold(net.netcnnaud) + _fold(net.netfcaud)
        self.lip = [tuple(t.to(device) if torch.is_tensor(t) else t for t in op) for op in self.lip]
        self.aud = [tuple(t.to(device) if torch.is_tensor(t) else t for t in op) for op in self.aud]
        self.device = device

    @torch.inference_mode()
    def lip_embeddings(self, frames_bgr: np.ndarray, n_windows: int, chunk: int = 24) -> torch.Tensor:
        """(n_windows, 1024) ``forward_lip`` of the 5-frame windows v..v+4, v < n_windows;
        frames_bgr (T, H, W, 3) uint8."""
        t, h, w, c = frames_bgr.shape
        feats = []
        for start in range(0, n_windows, chunk):
            stop = min(start + chunk, n_windows)
            # (n, H, W, 5, 3) -> channels-last (n, 15, H, W) without a float copy of the video
            win = np.lib.stride_tricks.sliding_window_view(frames_bgr[start:stop + 4], 5, axis=0)
            win = win[:stop - start].transpose(0, 1, 2, 4, 3).reshape(stop - start, h, w, 5 * c)
            x = torch.from_numpy(win).to(self.device).float().permute(0, 3, 1, 2)
            feats.append(_run(self.lip, x).cpu())
        return torch.cat(feats, 0)

    @torch.inference_mode()
    def audio_embeddings(self, mfcc_t: np.ndarray, n_windows: int, batch: int = 512) -> torch.Tensor:
        """(n_windows, 1024) ``forward_aud`` of MFCC windows [:, 4v:4v+20]; mfcc_t is (13, M)."""
        cct = torch.from_numpy(mfcc_t.astype(float)).float()
        idx = torch.arange(20)[None, :] + 4 * torch.arange(n_windows)[:, None]  # (n, 20)
        feats = []
        for start in range(0, n_windows, batch):
            win = cct[:, idx[start:start + batch]]  # (13, b, 20)
            x = win.permute(1, 0, 2).unsqueeze(1).contiguous(memory_format=torch.channels_last)
            feats.append(_run(self.aud, x.to(self.device)).cpu())
        return torch.cat(feats, 0)


class LipStream:
    """``FoldedSyncNet.lip_embeddings`` of frames fed chunk by chunk: the windows are embedded in
    the batches of ``chunk`` windows (v = 0..23, 24..47, ...) that one call on the whole video
    makes, so the embeddings are the same bit for bit; at most ``chunk + 4`` frames plus the
    current chunk are held. ``max_windows``: the most windows the audio allows (its length in
    video frames minus 5); a batch is embedded once it is sure to be whole (``finish`` embeds
    the rest, for the ``n_windows`` the clip's length gives)."""

    def __init__(self, net: FoldedSyncNet, max_windows: int, chunk: int = 24) -> None:
        self.net, self.max_windows, self.chunk = net, max_windows, chunk
        self.frames: list[np.ndarray] = []  # frames from window ``done`` on
        self.done = 0
        self.n = 0
        self.feats: list[torch.Tensor] = []

    def feed(self, frames_bgr: np.ndarray) -> None:
        """(t, 224, 224, 3) uint8 BGR frames, the next of the clip."""
        self.frames.extend(frames_bgr)
        self.n += len(frames_bgr)
        while self.n >= self.done + self.chunk + 5 and self.done + self.chunk <= self.max_windows:
            self._run(self.chunk)

    def _run(self, k: int) -> None:
        self.feats.append(self.net.lip_embeddings(np.stack(self.frames[:k + 4]), k, self.chunk))
        del self.frames[:k]
        self.done += k

    def finish(self, n_windows: int) -> torch.Tensor:
        """(n_windows, 1024) embeddings (n_windows <= both limits: frames fed - 5, max_windows)."""
        while self.done < n_windows:
            self._run(min(self.chunk, n_windows - self.done))
        self.frames = []
        return torch.cat(self.feats, 0) if self.feats else torch.zeros(0, 1024)
