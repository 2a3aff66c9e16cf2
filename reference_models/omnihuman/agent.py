"""System 2 of OmniHuman-1.5 (§3.2): an Analyzer and a Planner behind a small interface.

- ``Analyzer.analyze(inputs) -> dict``: structured context (persona, language_style,
  speech_content, emotion, intent, environment) from the image caption / metadata, the audio
  transcript and an optional user prompt.
- ``Planner.plan(analysis, inputs, n_shots) -> schedule``: one shot per generation pass of
  the diffusion model, each with ``expression`` and ``actions``, and the ``text`` that
  conditions the text branch of the MMDiT.
- ``Planner.replan(schedule, shot_index, last_frames, reference)``: optional reflective
  re-planning from the most recently generated frames.

Two implementations:

- ``RuleBasedAnalyzer`` / ``RuleBasedPlanner`` - the OFFLINE DEFAULT. They are deterministic
  keyword rules over the transcript (sentiment lexicon, question / exclamation marks, named
  actions such as "nod", "wave", "look left"), NOT an MLLM; every output carries
  ``"source": "rule-based (offline default, not an MLLM)"`` so results are never mistaken for
  the paper's agent.
- ``HTTPAgent`` - plugs in any MLLM served behind an HTTP endpoint: it POSTs JSON
  ``{"role": "analyzer"|"planner"|"replanner", "instruction": ..., "payload": {...}}`` and
  expects a JSON object back (the analysis, or ``{"shots": [...]}``). Images are sent as
  base64 PNG when given as arrays.

``AgentInputs.transcript`` is the text of the driving audio: from the dataset's metadata, or
from an ASR when one is installed (the adapter decides; the agent itself never guesses it).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np

RULE_SOURCE = "rule-based (offline default, not an MLLM)"

POSITIVE = {"good", "great", "happy", "love", "wonderful", "glad", "nice", "excellent", "thank",
            "thanks", "welcome", "beautiful", "amazing", "fun", "enjoy", "yes", "sure", "hello",
            "hi", "congratulations", "excited", "awesome", "best", "like", "perfect"}
NEGATIVE = {"bad", "sad", "sorry", "hate", "terrible", "awful", "angry", "no", "never", "wrong",
            "problem", "unfortunately", "worried", "afraid", "pain", "lost", "fail", "failed",
            "bored", "tired", "miss", "cry", "upset", "worst"}
ANGER = {"angry", "furious", "hate", "stop", "enough", "ridiculous"}
SURPRISE = {"wow", "really", "what", "incredible", "unbelievable", "oh"}
GREETING = {"hello", "hi", "hey", "welcome", "goodbye", "bye"}
# named actions: phrase -> canonical action (longest phrases first when matching)
ACTIONS = {
    "shake your head": "shake head", "shake head": "shake head", "shakes head": "shake head",
    "nod": "nod", "nods": "nod", "nodding": "nod",
    "smile": "smile", "smiles": "smile", "smiling": "smile", "laugh": "laugh",
    "wave": "wave hand", "waves": "wave hand", "waving": "wave hand",
    "look left": "look left", "look to the left": "look left", "turn left": "turn head left",
    "look right": "look right", "look to the right": "look right", "turn right": "turn head right",
    "look up": "look up", "look down": "look down",
    "raise your eyebrows": "raise eyebrows", "raise eyebrows": "raise eyebrows",
    "blink": "blink", "wink": "wink", "close your eyes": "close eyes", "frown": "frown",
    "point": "point", "open your mouth": "open mouth", "tilt your head": "tilt head",
}
EXPRESSION_OF = {"happy": "smiling, warm", "sad": "sad, lowered gaze", "angry": "stern, frowning",
                 "surprised": "surprised, raised eyebrows", "neutral": "calm, neutral"}


@dataclass
class AgentInputs:
    transcript: str = ""
    duration: float = 0.0                       # seconds of video to generate
    image_caption: str | None = None
    image_meta: dict[str, Any] = field(default_factory=dict)
    prompt: str | None = None                   # optional user instruction
    words: list[tuple[str, float, float]] | None = None   # (word, start s, end s) if known
    speakers: list[dict] | None = None          # multi-person: [{"id":0,"transcript":...}, ...]

    def to_dict(self) -> dict:
        return asdict(self)


class Analyzer(Protocol):
    def analyze(self, inputs: AgentInputs) -> dict: ...


class Planner(Protocol):
    def plan(self, analysis: dict, inputs: AgentInputs, n_shots: int) -> dict: ...

    def replan(self, schedule: dict, shot_index: int, last_frames: np.ndarray | None,
               reference: np.ndarray | None = None) -> dict: ...


# ---------------------------------------------------------------------------------------------
# rule-based offline default
# ---------------------------------------------------------------------------------------------
def _words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", (text or "").lower())


def find_actions(text: str) -> list[str]:
    """Named actions in order of appearance (canonical names, no duplicates)."""
    low = " " + " ".join(_words(text)) + " "
    hits = []
    for phrase in sorted(ACTIONS, key=len, reverse=True):
        for m in re.finditer(r"(?<= )" + re.escape(phrase) + r"(?= )", low):
            if not any(s <= m.start() < e for s, e, _ in hits):
                hits.append((m.start(), m.end(), ACTIONS[phrase]))
    out: list[str] = []
    for _, _, a in sorted(hits):
        if a not in out:
            out.append(a)
    return out


def classify_emotion(text: str) -> str:
    w = _words(text)
    pos = sum(x in POSITIVE for x in w)
    neg = sum(x in NEGATIVE for x in w)
    if any(x in ANGER for x in w) and "!" in text:
        return "angry"
    if any(x in SURPRISE for x in w) and ("!" in text or "?" in text) and pos <= neg + 1:
        return "surprised"
    if pos > neg:
        return "happy"
    if neg > pos:
        return "sad"
    return "neutral"


def split_sentences(text: str) -> list[str]:
    parts = re.findall(r"[^.!?]+[.!?]*", text or "")
    return [p.strip() for p in parts if p.strip()]


class RuleBasedAnalyzer:
    """Deterministic keyword analyzer (offline default; labelled as such in its output)."""

    source = RULE_SOURCE

    def analyze(self, inputs: AgentInputs) -> dict:
        text = inputs.transcript or ""
        prompt = inputs.prompt or ""
        caption = (inputs.image_caption or "").lower()
        w = _words(text)
        if "?" in text:
            intent = "ask a question"
        elif any(x in GREETING for x in w):
            intent = "greet"
        elif find_actions(prompt or text) and not text:
            intent = "follow a command"
        elif "!" in text:
            intent = "exclaim / emphasise"
        elif text:
            intent = "inform"
        else:
            intent = "listen"
        persona = "a person"
        for key, name in (("child", "a child"), ("girl", "a young woman"), ("boy", "a young man"),
                          ("woman", "a woman"), ("man", "a man"), ("cartoon", "a cartoon character"),
                          ("cat", "an animal"), ("dog", "an animal"), ("robot", "a robot")):
            if re.search(r"\b" + key + r"\b", caption):
                persona = name
                break
        env = "plain background"
        for key, name in (("outdoor", "outdoors"), ("street", "outdoors"), ("office", "an office"),
                          ("studio", "a studio"), ("room", "indoors"), ("stage", "a stage")):
            if key in caption:
                env = name
                break
        n_words = len(w)
        rate = n_words / inputs.duration if inputs.duration > 0 else 0.0
        style = "silent" if not n_words else ("fast, energetic" if rate > 3.0 else "measured")
        return {
            "persona": persona,
            "language_style": style,
            "speech_content": text,
            "emotion": classify_emotion(prompt + " " + text) if (prompt or text) else "neutral",
            "intent": intent,
            "environment": env,
            "requested_actions": find_actions(prompt) + [a for a in find_actions(text)
                                                          if a not in find_actions(prompt)],
            "source": self.source,
        }


def shot_text(expression: str, actions: list[str], speaking: bool) -> str:
    act = ", ".join(actions) if actions else "subtle natural head motion"
    return f"{expression} expression; {act}; {'speaking' if speaking else 'silent, listening'}"


class RuleBasedPlanner:
    """Deterministic shot planner (offline default; labelled as such in its output).

    Sentences are assigned to the shot they overlap most in time (word timings when given, otherwise
    proportional to word count over the duration); each shot's expression comes from the
    emotion of its own sentences (falling back to the global one), its actions from the named
    actions in them, the prompt's actions go in the first shot, a question adds "raise
    eyebrows, tilt head", an exclamation adds "emphatic nod".
    """

    source = RULE_SOURCE

    def plan(self, analysis: dict, inputs: AgentInputs, n_shots: int) -> dict:
        n_shots = max(int(n_shots), 1)
        dur = inputs.duration if inputs.duration > 0 else float(n_shots)
        edges = [dur * i / n_shots for i in range(n_shots + 1)]
        sents = split_sentences(inputs.transcript)
        # time span of each sentence
        spans: list[tuple[float, float]] = []
        if inputs.words:
            wi = 0
            for s in sents:
                k = len(_words(s))
                ws = inputs.words[wi: wi + k] or inputs.words[-1:]
                spans.append((ws[0][1], ws[-1][2]))
                wi += k
        else:
            counts = [max(len(_words(s)), 1) for s in sents]
            total = sum(counts) or 1
            t = 0.0
            for c in counts:
                spans.append((t, t + dur * c / total))
                t += dur * c / total
        prompt_actions = find_actions(inputs.prompt or "")
        shots = []
        def overlap(i, s0, s1):
            return min(edges[i + 1], s1) - max(edges[i], s0)

        # a sentence's words/actions go to the shot it overlaps most; any overlap = speaking
        owner = [max(range(n_shots), key=lambda i: overlap(i, s0, s1)) for s0, s1 in spans]
        for i in range(n_shots):
            a, b = edges[i], edges[i + 1]
            mine = [s for s, o in zip(sents, owner) if o == i]
            speaking = any(overlap(i, s0, s1) > 1e-6 for s0, s1 in spans)
            text = " ".join(mine)
            emotion = classify_emotion(text) if text else analysis.get("emotion", "neutral")
            if emotion == "neutral":
                emotion = analysis.get("emotion", "neutral")
            actions = list(prompt_actions) if i == 0 else []
            for act in find_actions(text):
                if act not in actions:
                    actions.append(act)
            if "?" in text:
                actions += [x for x in ("raise eyebrows", "tilt head") if x not in actions]
            if "!" in text and "nod" not in actions:
                actions.append("emphatic nod")
            shots.append({"index": i, "start": round(a, 3), "end": round(b, 3),
                          "speech": text, "emotion": emotion,
                          "expression": EXPRESSION_OF[emotion], "actions": actions,
                          "speaking": speaking,
                          "text": shot_text(EXPRESSION_OF[emotion], actions, speaking)})
        return {"analysis": analysis, "shots": shots, "source": self.source}

    def replan(self, schedule: dict, shot_index: int, last_frames: np.ndarray | None,
               reference: np.ndarray | None = None) -> dict:
        """Reflection from the last generated frames (uint8 (T, H, W, 3)): if they drifted
        from the reference (mean absolute difference > 40/255) the next shot adds "return to
        the reference pose"; if they are frozen (frame-to-frame change < 0.5/255) while the
        shot is meant to speak, it adds "more lively head and mouth motion"."""
        shots = [dict(s) for s in schedule["shots"]]
        nxt = shot_index + 1
        if last_frames is None or nxt >= len(shots):
            return schedule
        f = np.asarray(last_frames, dtype=np.float32)
        notes = []
        if reference is not None and f.shape[1:] == np.asarray(reference).shape:
            if float(np.abs(f[-1] - np.asarray(reference, np.float32)).mean()) > 40.0:
                notes.append("return to the reference pose")
        if len(f) > 1 and float(np.abs(np.diff(f, axis=0)).mean()) < 0.5 and shots[nxt]["speaking"]:
            notes.append("more lively head and mouth motion")
        if notes:
            s = shots[nxt]
            s["actions"] = s["actions"] + [n for n in notes if n not in s["actions"]]
            s["text"] = shot_text(s["expression"], s["actions"], s["speaking"])
            s["replanned"] = notes
        return {**schedule, "shots": shots}


# ---------------------------------------------------------------------------------------------
# HTTP plug-in for an MLLM
# ---------------------------------------------------------------------------------------------
ANALYZER_INSTRUCTION = (
    "You are the Analyzer. Think step by step about the character image caption, the audio "
    "transcript and the optional prompt, then answer ONLY a JSON object with keys persona, "
    "language_style, speech_content, emotion, intent, environment, requested_actions.")
PLANNER_INSTRUCTION = (
    "You are the Planner. Given the analysis, answer ONLY a JSON object {\"shots\": [...]} with "
    "exactly n_shots entries, each {\"index\", \"expression\", \"actions\": [..], \"text\"}; "
    "\"text\" is a short description of the character's expression and actions in that shot.")


class HTTPAgent:
    """Analyzer + Planner served by an MLLM behind ``url`` (POST JSON, JSON reply)."""

    def __init__(self, url: str, timeout: float = 60.0, headers: dict | None = None) -> None:
        self.url, self.timeout, self.headers = url, timeout, headers or {}
        self.source = f"http:{url}"

    def _post(self, role: str, instruction: str, payload: dict) -> dict:
        import urllib.request

        body = json.dumps({"role": role, "instruction": instruction, "payload": payload},
                          default=_json_default).encode()
        req = urllib.request.Request(self.url, data=body, method="POST",
                                     headers={"Content-Type": "application/json", **self.headers})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                reply = json.loads(resp.read().decode())
        except Exception as err:
            raise RuntimeError(f"agent endpoint {self.url} failed for {role}: {err}") from None
        if not isinstance(reply, dict):
            raise RuntimeError(f"agent endpoint {self.url}: {role} reply is not a JSON object")
        return reply

    def analyze(self, inputs: AgentInputs) -> dict:
        out = self._post("analyzer", ANALYZER_INSTRUCTION, inputs.to_dict())
        return {**out, "source": self.source}

    def plan(self, analysis: dict, inputs: AgentInputs, n_shots: int) -> dict:
        out = self._post("planner", PLANNER_INSTRUCTION,
                         {"analysis": analysis, "n_shots": n_shots, "inputs": inputs.to_dict()})
        shots = out.get("shots")
        if not isinstance(shots, list) or len(shots) != n_shots:
            raise RuntimeError(f"agent endpoint {self.url}: planner must return {n_shots} shots")
        for i, s in enumerate(shots):
            s.setdefault("index", i)
            s.setdefault("actions", [])
            s.setdefault("expression", "")
            s.setdefault("text", shot_text(s["expression"], s["actions"], True))
        return {"analysis": analysis, "shots": shots, "source": self.source}

    def replan(self, schedule: dict, shot_index: int, last_frames: np.ndarray | None,
               reference: np.ndarray | None = None) -> dict:
        out = self._post("replanner", PLANNER_INSTRUCTION + " Revise the remaining shots "
                         "given the last generated frames.",
                         {"schedule": schedule, "shot_index": shot_index,
                          "last_frames": None if last_frames is None else [last_frames[-1]],
                          "reference": reference})
        return {**schedule, "shots": out.get("shots", schedule["shots"])}


def _json_default(obj: Any):
    if isinstance(obj, np.ndarray):
        import base64
        import io

        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(np.asarray(obj, dtype=np.uint8)).save(buf, format="PNG")
        return {"png_base64": base64.b64encode(buf.getvalue()).decode()}
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def make_agent(spec: str | None = None):
    """``None`` / "rule" -> (RuleBasedAnalyzer, RuleBasedPlanner); "http://..." -> HTTPAgent."""
    if spec in (None, "", "rule", "rule-based"):
        return RuleBasedAnalyzer(), RuleBasedPlanner()
    if spec.startswith(("http://", "https://")):
        a = HTTPAgent(spec)
        return a, a
    raise ValueError(f"unknown agent {spec!r}: use 'rule' or an http(s):// endpoint")


def run_agent(inputs: AgentInputs, n_shots: int, agent: str | None = None) -> dict:
    """Analyzer then Planner: the shot schedule (JSON-serialisable dict)."""
    analyzer, planner = make_agent(agent)
    return planner.plan(analyzer.analyze(inputs), inputs, n_shots)
