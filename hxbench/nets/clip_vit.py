"""CLIP ViT image tower (OpenAI ``clip`` layout) and the LAION aesthetic predictor head.

``ase[laion-vbench]`` (VBench's ``aesthetic_quality``) embeds each frame with OpenAI's CLIP
ViT-L/14 and reads the LAION-Aesthetics V1 linear head off the L2-normalised embedding.

- ``VisionTransformer``: OpenAI ``clip/model.py``'s ``VisionTransformer`` (conv patch embedding
  without bias, class token, positional embedding, ``ln_pre``, pre-LN residual attention blocks
  with QuickGELU MLPs, ``ln_post`` on the class token, ``@ proj``), with the same parameter
  names, so the ``visual.*`` tensors of the published checkpoint load strictly. Its size
  (width, layers, patch, resolution, output dim) is read off the tensors as ``clip.build_model``
  does (heads = width // 64); ViT-L/14: width 1024, 24 layers, patch 14, 224 px, 768-d output.
- Loading ``ViT-L-14.pt``: the file is a TorchScript archive. ``clip.load(jit=False)`` runs
  ``torch.jit.load(f).state_dict()`` and builds the eager model from that state dict;
  ``torch.load(weights_only=True)`` refuses TorchScript archives. hxbench reads the archive's
  tensors as data (``hxbench.weights.load_torchscript_state_dict``: a restricted unpickler; no
  TorchScript code compiled, no arbitrary global), takes the ``visual.*`` ones and casts them
  to float32 as ``clip.load`` does on the CPU (``model.float()``). On CUDA ``clip.load`` keeps
  the checkpoint's float16 (``convert_weights``); hxbench runs float32 on every device.
- The LAION head ``sa_0_4_vit_l_14_linear.pth`` is ``nn.Linear(768, 1)``'s state dict, read
  with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from hxbench.weights import WeightSpec, load_torchscript_state_dict, register_weights

CLIP_VIT_L14 = register_weights(WeightSpec(
    name="clip-vit-l-14-openai",
    filename="ViT-L-14.pt",
    # OpenAI's URL carries the file's sha256, which clip._download verifies
    sha256="b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836",
    description="OpenAI CLIP ViT-L/14 (TorchScript archive, as clip.load('ViT-L/14') downloads it)",
    license="MIT (openai/CLIP)",
    urls=("https://openaipublic.azureedge.net/clip/models/"
          "b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836/ViT-L-14.pt",),
    notes="The URL's path names the sha256 (openai/CLIP clip.py verifies it after download); VBench's "
          "aesthetic_quality loads this file. Read without torch.jit.load (hxbench.nets.clip_vit).",
))
LAION_HEAD = register_weights(WeightSpec(
    name="laion-aesthetic-vit-l-14",
    filename="sa_0_4_vit_l_14_linear.pth",
    # measured on the file in LAION-AI/aesthetic-predictor at 6d122ad (git blob d4135b63, 4071 bytes)
    sha256="2cd4e60f4f24ae3bcd57b847b13c1f3ba27edc28cc1a7f9ce74ee9f421243cba",
    description="LAION-Aesthetics V1 linear head on CLIP ViT-L/14 embeddings (sa_0_4_vit_l_14_linear.pth)",
    license="MIT (LAION-AI/aesthetic-predictor)",
    urls=("https://raw.githubusercontent.com/LAION-AI/aesthetic-predictor/main/sa_0_4_vit_l_14_linear.pth",),
    notes="The URL VBench's aesthetic_quality downloads; nn.Linear(768, 1) state dict (weight, bias).",
))


class QuickGELU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


class ResidualAttentionBlock(nn.Module):
    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads)
        self.ln_1 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(OrderedDict([
            ("c_fc", nn.Linear(width, width * 4)), ("gelu", QuickGELU()), ("c_proj", nn.Linear(width * 4, width))]))
        self.ln_2 = nn.LayerNorm(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (L, N, D)
        y = self.ln_1(x)
        x = x + self.attn(y, y, y, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width: int, layers: int, heads: int) -> None:
        super().__init__()
        self.resblocks = nn.Sequential(*[ResidualAttentionBlock(width, heads) for _ in range(layers)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.resblocks(x)


class VisionTransformer(nn.Module):
    """OpenAI CLIP's image tower: (N, 3, R, R) normalised images -> (N, output_dim) embeddings."""

    def __init__(self, resolution: int, patch: int, width: int, layers: int, output_dim: int) -> None:
        super().__init__()
        self.input_resolution = resolution
        self.conv1 = nn.Conv2d(3, width, kernel_size=patch, stride=patch, bias=False)
        scale = width ** -0.5
        self.class_embedding = nn.Parameter(scale * torch.randn(width))
        self.positional_embedding = nn.Parameter(scale * torch.randn((resolution // patch) ** 2 + 1, width))
        self.ln_pre = nn.LayerNorm(width)
        self.transformer = Transformer(width, layers, width // 64 or 1)
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(scale * torch.randn(width, output_dim))

    @classmethod
    def config_of(cls, state: dict) -> dict:
        """The tower's size from its tensors (``visual.``-stripped), as ``clip.build_model``."""
        width, _, patch, _ = state["conv1.weight"].shape
        grid = round((state["positional_embedding"].shape[0] - 1) ** 0.5)
        layers = len({k.split(".")[2] for k in state if k.startswith("transformer.resblocks.")})
        return {"resolution": patch * grid, "patch": patch, "width": width, "layers": layers,
                "output_dim": state["proj"].shape[1]}

    @classmethod
    def from_state_dict(cls, state: dict) -> "VisionTransformer":
        """The tower with every parameter taken from ``state`` (float32). Tensors of ``state``
        that are no parameter of the tower are ignored: an archive read as data also holds
        tensor attributes that ``torch.jit.load(...).state_dict()`` leaves out."""
        model = cls(**cls.config_of(state))
        missing = [k for k in model.state_dict() if k not in state]
        if missing:
            raise ValueError(f"CLIP image tower: the checkpoint lacks {', '.join(missing[:5])}"
                             + (f" and {len(missing) - 5} more" if len(missing) > 5 else ""))
        model.load_state_dict({k: state[k].float() for k in model.state_dict()}, strict=True)
        return model.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        x = x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)
        cls_tok = self.class_embedding.to(x.dtype) + torch.zeros(x.shape[0], 1, x.shape[-1], dtype=x.dtype,
                                                                   device=x.device)
        x = torch.cat([cls_tok, x], dim=1) + self.positional_embedding.to(x.dtype)
        x = self.ln_pre(x).permute(1, 0, 2)
        x = self.transformer(x).permute(1, 0, 2)
        return self.ln_post(x[:, 0, :]) @ self.proj


def clip_visual_state(path: str | Path) -> dict:
    """The ``visual.*`` tensors of an OpenAI CLIP checkpoint (prefix stripped): a TorchScript
    archive (the published ``.pt`` files) read as data, or a plain state dict file."""
    import zipfile

    path = Path(path)
    state = None
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            if any(n.endswith("/constants.pkl") or n.endswith("/code/__torch__.py") for n in zf.namelist()):
                state = load_torchscript_state_dict(path)
    if state is None:
        state = torch.load(path, map_location="cpu", weights_only=True)
    visual = {k[len("visual."):]: v for k, v in state.items() if k.startswith("visual.")}
    if not visual:
        raise ValueError(f"{path}: no visual.* tensors (not an OpenAI CLIP checkpoint)")
    return visual


def laion_head(path: str | Path) -> nn.Linear:
    """The LAION aesthetic head: ``nn.Linear(768, 1)`` as VBench's ``get_aesthetic_model``."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    head = nn.Linear(state["weight"].shape[1], 1)
    head.load_state_dict(state, strict=True)
    return head.eval()


_CACHE: dict[tuple, tuple] = {}
_LOCK = threading.Lock()


def load_laion_aesthetic(device: str = "cpu") -> tuple[VisionTransformer, nn.Linear]:
    """(CLIP ViT-L/14 image tower, LAION head) from the imported files, float32 on ``device``."""
    from hxbench.weights import resolve

    clip_path, head_path = resolve(CLIP_VIT_L14.name), resolve(LAION_HEAD.name)
    key = (str(clip_path), str(head_path), device)
    with _LOCK:
        if key not in _CACHE:
            visual = VisionTransformer.from_state_dict(clip_visual_state(clip_path)).to(device)
            _CACHE[key] = (visual, laion_head(head_path).to(device))
        return _CACHE[key]


def aesthetic_scores(visual: nn.Module, head: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """(N,) LAION scores of (N, 3, R, R) CLIP-normalised images: VBench's ``laion_aesthetic``
    (``encode_image``, float32, L2-normalise, head); the /10 is the caller's."""
    with torch.inference_mode():
        feats = visual(images).float()
        return head(F.normalize(feats, dim=-1, p=2)).squeeze(-1)
