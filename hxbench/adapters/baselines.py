"""Trivial baselines every task board is seeded with."""

from __future__ import annotations

import numpy as np

from hxbench.adapters.base import Adapter, GenerationInput, GenerationOutput, register_model


@register_model("still-image")
class StillImage(Adapter):
    """The reference image repeated for the expected duration, with the driving audio muxed."""

    batch_size = 8

    def generate(self, batch: list[GenerationInput]) -> list[GenerationOutput]:
        outs = []
        for x in batch:
            if x.reference_image is None:
                raise ValueError(f"sample {x.sample_id}: still-image needs a reference image")
            fps = x.fps or 25.0
            duration = x.duration
            if duration is None and x.driving_audio is not None:
                duration = len(x.driving_audio) / x.sample_rate
            n = max(int(round((duration or 1.0) * fps)), 1)
            img = x.reference_image
            if x.width and x.height and img.shape[:2] != (x.height, x.width):
                from PIL import Image

                img = np.asarray(Image.fromarray(img).resize((x.width, x.height), Image.BILINEAR))
            outs.append(GenerationOutput(video=np.repeat(img[None], n, axis=0), fps=fps, audio=x.driving_audio))
        return outs


@register_model("echo-answer")
class EchoQuestion(Adapter):
    """A QA baseline that answers every question with the question itself (scores ~0)."""

    batch_size = 64

    def generate(self, batch: list[GenerationInput]) -> list[GenerationOutput]:
        return [GenerationOutput(text=x.question or x.text or "") for x in batch]
