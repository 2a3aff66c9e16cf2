"""hxbench adapters of the HumanExpert reference model (``--model humanexpert-tiny`` ...).

Importing this module registers them (hxbench loads it as a plug-in, see ``hxbench.registry``).
An adapter loads a checkpoint written by ``train.py`` (state dict + config JSON + tokenizers)
and answers three kinds of samples:

* QA (``question`` or ``question_audio``): greedy text answer from the text-speech expert;
* lip sync (``driving_audio``): the audio is tokenised (teacher-forced speech tokens, as the
  paper does for audio-driven evaluation), behaviour is sampled by diffusion forcing (DDIM,
  CFG 1.5, chunk streaming) with time-aligned positions (frame j at the position of speech token
  j; with ``align_context`` checkpoints frame j's input also carries that token's embedding),
  and rendered onto the reference image
  with ``hxbench.synth.renderer``; the driving audio is muxed in;
* command (``command`` / ``text`` without audio): silent behaviour from the command text.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from hxbench.adapters.base import Adapter, GenerationInput, GenerationOutput, register_model
from hxbench.errors import HxbenchError

CHECKPOINTS = Path(str(resources.files(__package__) / "checkpoints"))  # shipped in the wheel
TRAIN_CMD = ("python -m reference_models.humanexpert.train --size {size} --data hxsynth:<hx-synth dir> "
             "--out reference_models/humanexpert/checkpoints/humanexpert-{size}")


class HumanExpertAdapter(Adapter):
    batch_size = 1
    size = "tiny"
    description = "HumanExpert-style MoT reference model (project-trained on hx-synth)"

    def __init__(self, checkpoint: str | None = None, n_steps: int = 50, guidance: float = 1.5, seed: int = 0,
                 device: str | None = None, default_seconds: float = 4.0, threads: int | None = 1) -> None:
        import torch

        from reference_models.humanexpert.data import Vocab
        from reference_models.humanexpert.model import load_checkpoint
        from reference_models.humanexpert.tokenizers import ByteBPE, SpeechTokenizer

        path = Path(checkpoint) if checkpoint else CHECKPOINTS / f"humanexpert-{self.size}"
        if not path.with_suffix(".json").is_file():
            raise HxbenchError(f"HumanExpert checkpoint {path}.json not found. Fix: {TRAIN_CMD.format(size=self.size)}")
        self.model, self.meta = load_checkpoint(path)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model.to(self.device)
        bpe = ByteBPE.load(path.parent / (path.name + ".bpe.json"))
        self.speech = SpeechTokenizer.from_state_dict(torch.load(path.parent / (path.name + ".speech.pt"), weights_only=True))
        self.vocab = Vocab(bpe, self.speech.K)
        norm = self.meta.get("behaviour_norm") or {}
        D = self.model.cfg.behaviour_dim
        self.b_mean = np.asarray(norm.get("mean", [0.0] * D), np.float32)
        self.b_std = np.asarray(norm.get("std", [1.0] * D), np.float32)
        self.fps = float(self.meta.get("fps", 25.0))
        self.n_steps, self.guidance, self.seed = n_steps, guidance, seed
        self.default_seconds = default_seconds
        self.threads = threads
        self.path = path

    def info(self) -> dict[str, Any]:
        return {**super().info(), "checkpoint": str(self.path), "sha256": self.meta.get("sha256"),
                "config": self.model.cfg.name, "n_steps": self.n_steps, "guidance": self.guidance, "seed": self.seed}

    # ------------------------------------------------------------------
    def _behaviour(self, prefix: list[int], m_pos0: int, T: int, seed: int) -> np.ndarray:
        from reference_models.humanexpert.evaluate import sample_behaviour
        from reference_models.humanexpert.sampler import GuidanceConfig

        g = GuidanceConfig(mode="cfg", scale=self.guidance) if self.guidance != 1.0 else GuidanceConfig(mode="none")
        x = sample_behaviour(self.model, prefix, m_pos0, T, seed=seed, n_steps=self.n_steps, guidance=g)
        return x.float().cpu().numpy() * self.b_std + self.b_mean

    def _render(self, x: GenerationInput, beh: np.ndarray, fps: float) -> np.ndarray:
        try:
            from hxbench.synth.renderer import render
        except ImportError as e:
            raise HxbenchError(f"sample {x.sample_id}: the hx-synth renderer (hxbench.synth.renderer) is not available: {e}") from None
        if x.reference_image is None:
            raise HxbenchError(f"sample {x.sample_id}: HumanExpert needs a reference image to render behaviour")
        video = np.asarray(render(x.reference_image, beh, fps))
        if x.width and x.height and video.shape[1:3] != (x.height, x.width):
            from PIL import Image

            video = np.stack([np.asarray(Image.fromarray(f).resize((x.width, x.height), Image.BILINEAR)) for f in video])
        return video

    def _n_frames(self, x: GenerationInput, fps: float) -> int:
        dur = x.duration
        if dur is None and x.driving_audio is not None:
            dur = len(x.driving_audio) / x.sample_rate
        return max(1, int(round((dur or self.default_seconds) * fps)))

    def generate(self, batch: list[GenerationInput]) -> list[GenerationOutput]:
        """CPU: the tiny/small networks' matrices are too small for intra-op threads to pay off, and
        on a busy machine extra threads spin (README.md, "Inference threads"), so generation runs
        with ``threads`` (default 1) torch threads and restores the process setting afterwards."""
        import torch

        if self.device != "cpu" or not self.threads:
            return self._generate(batch)
        before = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            return self._generate(batch)
        finally:
            torch.set_num_threads(before)

    def _generate(self, batch: list[GenerationInput]) -> list[GenerationOutput]:
        from reference_models.humanexpert.evaluate import answer

        outs = []
        for x in batch:
            if x.question is not None or x.question_audio is not None:
                if x.question_audio is not None:
                    codes = self.speech.encode(x.question_audio, x.sample_rate)
                    outs.append(GenerationOutput(text=answer(self.model, self.vocab, q_codes=codes)))
                else:
                    outs.append(GenerationOutput(text=answer(self.model, self.vocab, x.question)))
                continue
            fps = x.fps or self.fps
            T = self._n_frames(x, self.fps)
            if x.driving_audio is not None:
                codes = self.speech.encode(x.driving_audio, x.sample_rate, n_tokens=T)
                prefix, p0 = self.vocab.lipsync_prefix(codes)
            elif x.command or x.text:
                prefix, p0 = self.vocab.command_prefix(x.command or x.text)
            else:
                raise HxbenchError(f"sample {x.sample_id}: HumanExpert needs a question, driving audio or a command")
            beh = self._behaviour(prefix, p0, T, self.seed)
            if fps != self.fps:  # resample behaviour to the requested frame rate
                n = self._n_frames(x, fps)
                src = np.linspace(0, T - 1, n)
                beh = np.stack([np.interp(src, np.arange(T), beh[:, d]) for d in range(beh.shape[1])], 1).astype(np.float32)
            outs.append(GenerationOutput(video=self._render(x, beh, fps), fps=fps, audio=x.driving_audio))
        return outs


@register_model("humanexpert-tiny")
class HumanExpertTiny(HumanExpertAdapter):
    """HumanExpert MoT reference model, tiny size (QA, lip sync, commands; renders with hx-synth)."""

    size = "tiny"


@register_model("humanexpert-small")
class HumanExpertSmall(HumanExpertAdapter):
    """HumanExpert MoT reference model, small size (QA, lip sync, commands; renders with hx-synth)."""

    size = "small"
