"""hxbench adapters of the OmniHuman-1.5-style reference model (``--model omnihuman-tiny`` ...).

Importing this module registers them (hxbench loads it as a plug-in, see ``hxbench.registry``).

Reference image -> pseudo last frame; driving audio -> audio branch; transcript / command /
prompt -> rule-based agent schedule -> text branch (listen_to_command: the command is the
prompt, audio may be absent = text-only conditioning); multi_person: per-speaker audio
tracks from ``extra["speaker_audio"]`` (list of 16 kHz arrays), optional
``extra["speaker_boxes"]`` ([x0, y0, x1, y1] in [0, 1] per speaker; default: vertical strips),
injected only into each speaker's region through the attention mask.

The transcript the agent reads is ``text`` or ``extra["transcript"]`` when the task provides
one; without it the agent plans from the prompt alone (no ASR is bundled).
Variants for the ablation: ``omnihuman-tiny-noplan`` (System 1 only: no schedule) and
``omnihuman-tiny-refimg`` (reference image as an in-sequence first frame, no pseudo last frame),
``omnihuman-tiny-noref`` (neither: identity only from the text and audio, as Table 1 "w/o Ref. & Pseudo Frame").
``omnihuman-tiny-hxsynth`` runs the hx-synth checkpoint (config ``tiny-128-ref``), with the same two
ablations as ``omnihuman-tiny-hxsynth-noplan`` / ``-refimg``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hxbench.adapters.base import Adapter, GenerationInput, GenerationOutput, register_ceiling, register_model


@register_model("omnihuman-tiny")
class OmniHumanTiny(Adapter):
    batch_size = 1
    description = "OmniHuman-1.5-style MMDiT (tiny, CPU) with pseudo last frame and rule-based planner"
    use_planner = True
    ref_mode = "pseudo_last"
    checkpoint_name = "tiny"  # folder under reference_models/omnihuman/checkpoints/

    def __init__(self, checkpoint: str | None = None, steps: int = 10, guidance: float = 1.5,
                 agent: str | None = None, seed: int = 0, ref_mode: str | None = None,
                 device: str = "cpu", **sampler) -> None:
        """``device``: where the networks run ("cpu", the default, keeps the demo's outputs byte
        for byte; "cuda" for bench/gpu_check.py). ``sampler``: guidance_text, guidance_audio,
        plf_shift, time_shift (OmniPipeline)."""
        from reference_models.omnihuman.pipeline import DEFAULT_CKPT, OmniPipeline

        default = DEFAULT_CKPT.parent / self.checkpoint_name
        self.pipe = OmniPipeline(checkpoint or default, steps=steps, guidance=guidance,
                                 use_planner=self.use_planner, ref_mode=ref_mode or self.ref_mode,
                                 agent=agent, seed=seed, device=device, **sampler)

    def info(self) -> dict[str, Any]:
        return {**super().info(), **self.pipe.info()}

    def generate(self, batch: list[GenerationInput]) -> list[GenerationOutput]:
        from reference_models.omnihuman.pipeline import resize_video

        outs = []
        for x in batch:
            if x.reference_image is None:
                raise ValueError(f"sample {x.sample_id}: omnihuman-tiny needs a reference image")
            fps = self.pipe.cfg.fps
            duration = x.duration
            if duration is None and x.driving_audio is not None:
                duration = len(x.driving_audio) / x.sample_rate
            duration = duration or 2.0
            transcript = x.text or x.extra.get("transcript") or ""
            prompt = x.command or x.extra.get("prompt")
            frames, _ = self.pipe.generate(
                x.reference_image, x.driving_audio, duration, transcript=transcript, prompt=prompt,
                sample_rate=x.sample_rate, speaker_audio=x.extra.get("speaker_audio"),
                speaker_boxes=x.extra.get("speaker_boxes"))
            if x.fps and abs(x.fps - fps) > 1e-3:  # nearest-frame resampling to the asked rate
                idx = np.minimum((np.arange(int(round(duration * x.fps))) * fps / x.fps).astype(int),
                                 len(frames) - 1)
                frames, fps = frames[idx], x.fps
            h = x.height or x.reference_image.shape[0]
            w = x.width or x.reference_image.shape[1]
            frames = resize_video(frames, w - w % 2, h - h % 2)
            outs.append(GenerationOutput(video=frames, fps=fps, audio=x.driving_audio))
        return outs


@register_model("omnihuman-tiny-noplan")
class OmniHumanTinyNoPlan(OmniHumanTiny):
    description = "omnihuman-tiny ablation: System 1 only (no planner schedule)"
    use_planner = False


@register_model("omnihuman-tiny-refimg")
class OmniHumanTinyRefImage(OmniHumanTiny):
    description = "omnihuman-tiny ablation: reference image as first frame instead of pseudo last frame"
    ref_mode = "first_frame"


@register_model("omnihuman-tiny-noref")
class OmniHumanTinyNoRef(OmniHumanTiny):
    description = "omnihuman-tiny ablation: neither reference image nor pseudo last frame"
    ref_mode = "none"


@register_model("omnihuman-tiny-hxsynth")
class OmniHumanTinyHxSynth(OmniHumanTiny):
    description = ("omnihuman tiny-128-ref (128 px, x8 VAE whose decoder sees the reference photo) "
                   "trained on hx-synth small lip_sync, seed 1 (checkpoints/tiny-hxsynth)")
    checkpoint_name = "tiny-hxsynth"


@register_model("omnihuman-tiny-hxsynth-noplan")
class OmniHumanTinyHxSynthNoPlan(OmniHumanTinyHxSynth):
    description = "omnihuman-tiny-hxsynth ablation: System 1 only (no planner schedule)"
    use_planner = False


@register_model("omnihuman-tiny-hxsynth-refimg")
class OmniHumanTinyHxSynthRefImage(OmniHumanTinyHxSynth):
    description = "omnihuman-tiny-hxsynth ablation: reference image as first frame, no pseudo last frame"
    ref_mode = "first_frame"


@register_ceiling("vae-recon")
def vae_recon_ceiling(manifest_path, outputs) -> dict:
    """The ground truth through the omnihuman-tiny-hxsynth checkpoint's VAE (the model's ceiling)."""
    from .vae_recon import HXSYNTH_CKPT, write_folder

    write_folder(manifest_path, outputs, HXSYNTH_CKPT, progress=lambda s: None)
    return {"vae": str(HXSYNTH_CKPT / "vae.pt")}
