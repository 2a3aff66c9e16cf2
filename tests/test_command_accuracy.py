"""command_accuracy: per-command decisions on measured signals, and on rendered faces."""

import numpy as np
import pytest

from hxbench.errors import SampleError
from hxbench.metrics.command_accuracy import COMMANDS, command_name, judge

T = 40


def _signals(command: str | None) -> dict[str, np.ndarray]:
    """Face signals as the face module measures them for a neutral face doing ``command``
    (amplitudes like hx-synth ground truth, from frame 8 to 33)."""
    env = np.zeros(T)
    env[8:34] = np.sin(np.linspace(0, np.pi, 26))
    osc = np.zeros(T)
    osc[8:34] = np.sin(np.linspace(0, 4 * np.pi, 26))
    rng = np.random.default_rng(0)
    s = {"yaw": rng.normal(0, 0.3, T), "pitch": -10 + rng.normal(0, 0.3, T), "ear": np.full(T, 0.3),
         "mouth_open": np.full(T, 0.02), "mouth_width": np.full(T, 0.6), "brow": np.full(T, 0.5)}
    if command == "turn_left":
        s["yaw"] = s["yaw"] + 18 * env
    elif command == "turn_right":
        s["yaw"] = s["yaw"] - 18 * env
    elif command == "look_up":
        s["pitch"] = s["pitch"] + 18 * env
    elif command == "look_down":
        s["pitch"] = s["pitch"] - 18 * env
    elif command == "nod":
        s["pitch"] = s["pitch"] + 10 * osc
    elif command == "shake_head":
        s["yaw"] = s["yaw"] + 12 * osc
    elif command == "blink":
        s["ear"] = s["ear"].copy()
        s["ear"][[12, 13, 25, 26]] = 0.06
    elif command == "smile":
        s["mouth_width"] = s["mouth_width"] * (1 + 0.12 * env)
    elif command == "raise_eyebrows":
        s["brow"] = s["brow"] * (1 + 0.4 * env)
    elif command == "open_mouth":
        s["mouth_open"] = s["mouth_open"] + 0.25 * env
    return s


def test_each_command_passes_only_on_its_own_behaviour():
    for performed in COMMANDS:
        sig = _signals(performed)
        passed = {c for c in COMMANDS if judge(c, sig) >= 1.0}
        assert performed in passed, (performed, judge(performed, sig))
        # a turn also passes nothing else; only the oscillations overlap with their one-sided moves
        allowed = {performed, {"nod": "look_up", "shake_head": "turn_left"}.get(performed)}
        allowed |= {"nod": {"look_down"}, "shake_head": {"turn_right"}}.get(performed, set())
        assert passed <= allowed, (performed, passed)
    neutral = _signals(None)
    assert all(judge(c, neutral) < 1.0 for c in COMMANDS)  # a still video does nothing


def test_a_one_sided_turn_is_not_a_shake():
    assert judge("shake_head", _signals("turn_left")) < 1.0
    assert judge("nod", _signals("look_down")) < 1.0


def test_command_name_from_meta_or_text():
    assert command_name({"command_name": "nod"}) == "nod"
    assert command_name({"command": "Please raise your eyebrows."}) == "raise_eyebrows"
    assert command_name({"command": "Turn your head to the left."}) == "turn_left"
    with pytest.raises(SampleError):
        command_name({"command": "Dance."})


@pytest.mark.slow
def test_rendered_command_vs_still_face(tmp_path):
    """hx-synth renderer: a rendered turn_left passes, the still reference image fails."""
    from hxbench.io import media
    from hxbench.metrics.base import SampleData
    from hxbench.metrics.command_accuracy import CommandAccuracy
    from hxbench.synth import render
    from hxbench.synth.behaviour import command_behaviour
    from hxbench.synth.photos import identities

    img = identities(1, 128, np.random.default_rng(0))[0].image
    m = CommandAccuracy()
    for command in ("turn_left", "blink"):
        frames = render(img, command_behaviour(command, T, np.random.default_rng(1)))
        media.write_video(tmp_path / f"{command}.mp4", frames, 25)
        v = m.score_sample(SampleData("x", gen=media.clip_from_video(tmp_path / f"{command}.mp4"),
                                      meta={"command_name": command}))
        assert v["command_accuracy"] == 1.0, (command, v)
        still = np.repeat(img[None], T, axis=0)
        media.write_video(tmp_path / "still.mp4", still, 25)
        v = m.score_sample(SampleData("x", gen=media.clip_from_video(tmp_path / "still.mp4"),
                                      meta={"command_name": command}))
        assert v["command_accuracy"] == 0.0


@pytest.mark.slow
def test_rendered_smile_passes_on_every_identity(tmp_path):
    """The ground truth passes the smile command on every hx-synth identity at the weakest
    amplitude the generator draws (0.8); hx-synth 2 failed on the mirrored identities 01/03/05
    (width ratio ~1.04 < 1.07)."""
    from hxbench.io import media
    from hxbench.metrics.base import SampleData
    from hxbench.metrics.command_accuracy import CommandAccuracy
    from hxbench.synth import render
    from hxbench.synth.behaviour import B, command_behaviour
    from hxbench.synth.photos import identities

    m = CommandAccuracy()
    for ident in identities(6, 128, np.random.default_rng([0, 99])):  # as hx-synth builds them
        beh = command_behaviour("smile", 50, np.random.default_rng(1))
        beh[:, B["smile"]] *= 0.8 / beh[:, B["smile"]].max()
        media.write_video(tmp_path / "smile.mp4", render(ident.image, beh), 25)
        v = m.score_sample(SampleData("x", gen=media.clip_from_video(tmp_path / "smile.mp4"),
                                      meta={"command_name": "smile"}))
        assert v["command_accuracy"] == 1.0, (ident.name, v)


def test_measure_gives_nan_for_a_frame_without_a_face_and_warns_nothing():
    import warnings

    from hxbench.metrics.command_accuracy import measure

    rng = np.random.default_rng(0)
    landmarks = rng.uniform(10, 90, size=(3, 478, 3)).astype(np.float32)
    landmarks[1] = np.nan  # no face in frame 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sig = measure(landmarks)
    assert all(np.isnan(v[1]) for v in sig.values())
    assert np.isfinite(sig["ear"][[0, 2]]).all()
