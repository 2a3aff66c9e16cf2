"""Tests of the HumanExpert text BPE and speech tokenizer."""

import numpy as np
import torch

from reference_models.humanexpert.tokenizers import ByteBPE, SpeechTokenizer, log_mel


def test_bpe_roundtrip_and_compression():
    corpus = ["what is the capital of france? paris.", "what colour is the sky? blue.",
              "nod your head twice.", "shake your head."] * 20
    bpe = ByteBPE.train(corpus, 320)
    assert 256 < bpe.vocab_size <= 320
    for t in corpus[:4] + ["unseen wörds 123!"]:
        assert bpe.decode(bpe.encode(t)) == t
    assert len(bpe.encode(corpus[0])) < len(corpus[0].encode()) / 2
    again = ByteBPE.from_dict(bpe.to_dict())
    assert again.encode(corpus[1]) == bpe.encode(corpus[1])


def test_speech_tokenizer_rate_and_codebook_use():
    sr = 16000
    rng = np.random.default_rng(0)
    wavs = []
    for i in range(8):  # tones of varying pitch + noise, 2 s each
        t = np.arange(2 * sr) / sr
        f = 200 + 150 * np.sin(2 * np.pi * (0.5 + 0.1 * i) * t)
        wavs.append((0.3 * np.sin(2 * np.pi * np.cumsum(f) / sr) + 0.01 * rng.standard_normal(t.size)).astype(np.float32))
    tok = SpeechTokenizer(codebook_size=32)
    feats = [tok.features(w, sr) for w in wavs]
    assert feats[0].shape == (50, 80)  # 25 tokens per second
    stats = tok.fit(feats, iters=30)
    assert stats["codes_used"] >= 16  # random restart keeps codes alive
    codes = tok.encode(wavs[0], sr)
    assert codes.shape == (50,) and codes.dtype == torch.int64 and codes.max() < 32
    assert tok.encode(wavs[0], 22050 // 2 * 2, n_tokens=60).shape == (60,)
    tok2 = SpeechTokenizer.from_state_dict(tok.state_dict())
    assert torch.equal(tok2.encode(wavs[1], sr), tok.encode(wavs[1], sr))
    # resampling path: same audio at 8 kHz gives the same number of frames
    assert log_mel(wavs[0][::2], 8000).shape[0] == log_mel(wavs[0], sr).shape[0]
