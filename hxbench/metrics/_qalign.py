"""The Q-Align scoring protocol (Wu et al. 2023), independent of the network that runs it.

Q-Align asks an LMM (mPLUG-Owl2, ``q-future/one-align``) to complete a rating sentence and
reads the next-token logits of the five level words; the score is the softmax over those five
logits, weighted by the level values:

- prompt: ``"USER: How would you rate the {task} of this {input}?\\n<|image|>\\nASSISTANT: The
  {task} of the {input} is"`` with task ``quality`` (IQA) or ``aesthetics`` (ASE) and input
  ``image`` (one frame) or ``video`` (several frames as one multi-image input), tokenised as
  mPLUG-Owl2's ``tokenizer_image_token`` does (BOS, text, the image placeholder id -200, text);
- level tokens: ``excellent, good, fair, poor, bad``, each the second id of
  ``tokenizer(word)["input_ids"]`` (the first is BOS), as both reference implementations take
  ``id_[1]``;
- level weights: ``1to5`` = (5, 4, 3, 2, 1), one-align's ``model.score`` (range [1, 5]);
  ``0to1`` = (1, 0.75, 0.5, 0.25, 0), Q-Align's ``scorer.py`` (range [0, 1]); the two differ
  by the affine map s_0to1 = (s_1to5 - 1) / 4 only;
- images: each frame padded to a square with the processor's mean colour
  (``expand2square``: (122, 116, 104) for CLIP's mean), then the CLIP image processor of the
  snapshot (resize the shorter side with bicubic, centre crop, scale to [0, 1], normalise);
- modes: ``frames`` scores each sampled frame as an image and averages the frame scores (the
  per-frame mean); ``video`` gives all sampled frames as one multi-image input with the
  ``video`` prompt (Q-Align's ``QAlignVideoScorer``) and yields one score.

The softmax and the weighting run in float32 here (the references hold the weights in
float16, whose rounding of the levels is exact and whose accumulation error is below 1e-3).

The model interface (what ``hxbench.nets.qalign`` loads, and what the tests' stand-in
implements): ``model(input_ids (B, L) long, images=tensor (B, 3, S, S) or list of (F, 3, S, S))``
returning a mapping with ``"logits"`` (B, L', V); ``tokenizer(text)`` returning a mapping with
``"input_ids"``; ``tokenizer.bos_token_id``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

IMAGE_TOKEN_INDEX = -200
IMAGE_TOKEN = "<|image|>"
LEVELS = ("excellent", "good", "fair", "poor", "bad")
SCALES = {"1to5": (5.0, 4.0, 3.0, 2.0, 1.0), "0to1": (1.0, 0.75, 0.5, 0.25, 0.0)}
TASKS = {"iqa": "quality", "ase": "aesthetics"}
MODES = ("frames", "video")


def prompt(task: str, input_: str) -> str:
    """The rating prompt; ``task`` in ('quality', 'aesthetics'), ``input_`` in ('image', 'video')."""
    return (f"USER: How would you rate the {task} of this {input_}?\n{IMAGE_TOKEN}\n"
            f"ASSISTANT: The {task} of the {input_} is")


def tokenizer_image_token(text: str, tokenizer) -> list[int]:
    """mPLUG-Owl2's ``tokenizer_image_token``: each text chunk tokenised, the chunks joined by
    IMAGE_TOKEN_INDEX, one leading BOS kept."""
    chunks = [tokenizer(c)["input_ids"] if c else [] for c in text.split(IMAGE_TOKEN)]
    ids: list[int] = []
    offset = 0
    if chunks and chunks[0] and chunks[0][0] == tokenizer.bos_token_id:
        offset = 1
        ids.append(chunks[0][0])
    sep = [IMAGE_TOKEN_INDEX] * (offset + 1)
    seq = [e for c in chunks for e in (c, sep)][:-1]
    for x in seq:
        ids.extend(x[offset:])
    return ids


def level_token_ids(tokenizer) -> list[int]:
    """The five level words' token ids: ``tokenizer(word)["input_ids"][1]``."""
    return [tokenizer(w)["input_ids"][1] for w in LEVELS]


def score_from_logits(level_logits: torch.Tensor, scale: str) -> torch.Tensor:
    """(B, 5) logits of the level tokens -> (B,) scores: softmax, dot the level weights."""
    w = torch.tensor(SCALES[scale], dtype=torch.float32, device=level_logits.device)
    return torch.softmax(level_logits.float(), dim=-1) @ w


def expand2square(frame: np.ndarray, background: Sequence[int]) -> np.ndarray:
    """(H, W, 3) uint8 -> (S, S, 3), S = max(H, W), the frame centred (offset (S - side) // 2)
    on ``background``, as Q-Align's ``expand2square``."""
    h, w = frame.shape[:2]
    s = max(h, w)
    if h == w:
        return frame
    out = np.empty((s, s, 3), np.uint8)
    out[:] = np.asarray(background, np.uint8)
    y, x = (s - h) // 2, (s - w) // 2
    out[y:y + h, x:x + w] = frame
    return out


@dataclass(frozen=True)
class ImageProcessorConfig:
    """What the CLIP image processor of a snapshot does (``preprocessor_config.json``)."""

    shortest_edge: int
    crop: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    rescale: float = 1 / 255

    @classmethod
    def from_json(cls, cfg: dict) -> "ImageProcessorConfig":
        size = cfg.get("size", 224)
        edge = size.get("shortest_edge", size.get("height")) if isinstance(size, dict) else size
        crop = cfg.get("crop_size", edge)
        crop = crop.get("height", edge) if isinstance(crop, dict) else crop
        return cls(int(edge), int(crop), tuple(cfg["image_mean"]), tuple(cfg["image_std"]),
                   float(cfg.get("rescale_factor", 1 / 255)))

    @property
    def background(self) -> tuple[int, int, int]:
        return tuple(int(x * 255) for x in self.mean)


def clip_preprocess(frame: np.ndarray, cfg: ImageProcessorConfig) -> torch.Tensor:
    """(H, W, 3) uint8 -> (3, crop, crop) float32, as transformers 4.x ``CLIPImageProcessor``
    (the version Q-Align was released with) on a PIL image: shorter side to ``shortest_edge`` (PIL bicubic, the longer side
    int(edge * long / short)), centre crop (top = (h - crop) // 2, left likewise),
    x * rescale, (x - mean) / std."""
    from PIL import Image

    h, w = frame.shape[:2]
    e = cfg.shortest_edge
    if h <= w:
        nh, nw = e, int(e * w / h)
    else:
        nh, nw = int(e * h / w), e
    img = np.asarray(Image.fromarray(frame).resize((nw, nh), Image.Resampling.BICUBIC))
    c = cfg.crop
    top, left = (nh - c) // 2, (nw - c) // 2
    img = img[max(top, 0):max(top, 0) + c, max(left, 0):max(left, 0) + c]
    x = img.astype(np.float32) * np.float32(cfg.rescale)
    x = (x - np.asarray(cfg.mean, np.float32)) / np.asarray(cfg.std, np.float32)
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))


@dataclass
class QAlign:
    """A loaded Q-Align model with its tokenizer and image processor config."""

    model: Any
    tokenizer: Any
    processor: ImageProcessorConfig
    device: str = "cpu"
    dtype: torch.dtype = torch.float32

    def preprocess(self, frames: Sequence[np.ndarray]) -> torch.Tensor:
        """(n, 3, S, S) model inputs of (H, W, 3) uint8 frames (expand2square, CLIP processor)."""
        bg = self.processor.background
        x = torch.stack([clip_preprocess(expand2square(f, bg), self.processor) for f in frames])
        return x.to(self.device, self.dtype)

    def level_logits(self, images: torch.Tensor, task: str, mode: str) -> torch.Tensor:
        """(B, 5) level logits of preprocessed ``images`` (n, 3, S, S): B = n in ``frames``
        mode (each image alone, the ``image`` prompt), 1 in ``video`` mode (all n images as one
        input, the ``video`` prompt)."""
        input_ = "image" if mode == "frames" else "video"
        ids = torch.tensor(tokenizer_image_token(prompt(task, input_), self.tokenizer),
                           dtype=torch.long, device=self.device)[None]
        levels = level_token_ids(self.tokenizer)
        with torch.inference_mode():
            if mode == "frames":
                out = self.model(ids.repeat(len(images), 1), images=images)
            else:
                out = self.model(ids, images=[images])
        return out["logits"][:, -1, levels]

    def score(self, frames: Sequence[np.ndarray], task: str, mode: str, scale: str) -> torch.Tensor:
        """Scores of ``frames``: (len(frames),) in ``frames`` mode, (1,) in ``video`` mode."""
        return score_from_logits(self.level_logits(self.preprocess(frames), task, mode), scale)


def score_clip(qalign: QAlign, clip, task: str, scale: str, sampling: str, mode: str,
               max_bytes: int | None = None, where: str = "", batch: int = 8) -> tuple[float, int]:
    """(score, number of frames used) of one clip: the mean of the per-frame scores
    (``frames``) or the one multi-image score (``video``). Frames are streamed and turned into
    model inputs as they arrive (``video`` mode holds the (n, 3, S, S) inputs, not the frames)."""
    from hxbench.metrics._sampling import iter_sampled_frames

    total, n = 0.0, 0
    pending: list[np.ndarray] = []
    inputs: list[torch.Tensor] = []

    def flush() -> None:
        nonlocal total, n
        s = score_from_logits(qalign.level_logits(qalign.preprocess(pending), task, "frames"), scale)
        total += float(s.double().sum())
        n += len(pending)
        pending.clear()

    for _, frame in iter_sampled_frames(clip, sampling, max_bytes, where):
        if mode == "frames":
            pending.append(frame)
            if len(pending) >= batch:
                flush()
        else:
            inputs.append(qalign.preprocess([frame]))
    if mode == "frames":
        if pending:
            flush()
        return total / n, n
    images = torch.cat(inputs)
    return float(score_from_logits(qalign.level_logits(images, task, "video"), scale)[0]), len(images)


# -- variants: scale, sampling, mode ---------------------------------------------------------------
VARIANT_COMBOS = (("1fps", "frames"), ("all", "frames"), ("1fps", "video"))


def variants() -> tuple[str, ...]:
    """``qalign-{1to5|0to1}-{1fps|all}-{frames|video}`` (video mode only at 1 fps, as
    ``QAlignVideoScorer``)."""
    return tuple(f"qalign-{sc}-{sa}-{mo}" for sc in SCALES for sa, mo in VARIANT_COMBOS)


def parse_variant(variant: str) -> tuple[str, str, str]:
    """'qalign-1to5-1fps-frames' -> ('1to5', '1fps', 'frames')."""
    _, scale, sampling, mode = variant.split("-")
    return scale, sampling, mode


def describe(variant: str, what: str) -> str:
    scale, sampling, mode = parse_variant(variant)
    rng = "1 (bad) .. 5 (excellent), one-align model.score" if scale == "1to5" else \
        "0 (bad) .. 1 (excellent), Q-Align scorer.py"
    frames = "1 frame per second" if sampling == "1fps" else "every frame"
    how = "mean of per-frame scores" if mode == "frames" else "frames as one multi-image video input"
    return f"Q-Align {what} in {rng}; {frames}; {how}; higher is better"


def get_qalign(metric) -> QAlign:
    """The metric's Q-Align model: an injected one (``metric.qalign``, tests) or the imported
    snapshot (``hxbench.nets.qalign``)."""
    model = getattr(metric, "qalign", None)
    if model is not None:
        return model
    from hxbench.nets.qalign import load_qalign

    model, tokenizer, proc, device, dtype = load_qalign(metric.device)
    return QAlign(model, tokenizer, ImageProcessorConfig.from_json(proc), device, dtype)


def check_pyiqa(metric_key: str) -> None:
    """MetricUnavailable when the package carrying the mPLUG-Owl2 code is missing."""
    import importlib.util

    from hxbench.errors import MetricUnavailable
    from hxbench.nets.qalign import PYIQA_PIP

    if importlib.util.find_spec("pyiqa") is None:
        raise MetricUnavailable(metric_key, "the pyiqa package (the mPLUG-Owl2 model code) is not installed",
                                f"pip install {PYIQA_PIP}")
    if importlib.util.find_spec("transformers") is None:
        raise MetricUnavailable(metric_key, "the transformers package is not installed", "pip install transformers")
