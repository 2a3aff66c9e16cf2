"""Unit tests of the HumanExpert reference network and its diffusion-forcing sampler."""

import pytest
import torch

from reference_models.humanexpert.model import (
    CheckpointError,
    HumanExpert,
    get_config,
    hybrid_mask,
    load_checkpoint,
    save_checkpoint,
)
from reference_models.humanexpert.sampler import (
    BehaviourSampler,
    GuidanceConfig,
    NoiseSchedule,
    ddim_sample,
    diffusion_forcing_loss,
    left_to_right_matrix,
    pyramid_matrix,
    sample_with_matrix,
    uniform_matrix,
)


def small_model(seed=0, **kw):
    torch.manual_seed(seed)
    cfg = get_config("tiny", n_layers=2, d_ts=64, d_m=32, d_ff_ts=96, d_ff_m=64, n_heads=4, n_kv_heads=2,
                     head_dim=16, text_vocab=50, speech_vocab=30, behaviour_dim=6, chunk_size=4, **kw)
    m = HumanExpert(cfg).eval()
    # non-trivial weights everywhere (init leaves some biases at 0)
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return m


# ----------------------------------------------------------------- hybrid mask


@pytest.mark.parametrize("n_ts,T,cs", [(5, 12, 4), (1, 7, 3), (9, 10, 10)])
def test_hybrid_mask_properties(n_ts, T, cs):
    idx = torch.arange(T)
    mask = hybrid_mask(n_ts, idx, cs)[0]
    chunk = idx // cs
    # text/speech: causal, never behaviour
    assert torch.equal(mask[:n_ts, :n_ts], torch.ones(n_ts, n_ts, dtype=torch.bool).tril())
    assert not mask[:n_ts, n_ts:].any()
    # behaviour sees every text/speech token
    assert mask[n_ts:, :n_ts].all()
    for a in range(T):
        for b in range(T):
            assert bool(mask[n_ts + a, n_ts + b]) == bool(chunk[b] <= chunk[a])
    # a chunk is bidirectional: the first token of a chunk sees the last token of the same chunk
    assert mask[n_ts + 0, n_ts + min(cs, T) - 1]


def test_hybrid_mask_condition_dropout_and_padding():
    valid = torch.tensor([[True, True, False], [True, True, True]])
    keep = torch.tensor([True, False])
    mask = hybrid_mask(3, torch.arange(4), 2, ts_valid=valid, cond_keep=keep)
    assert not mask[0, 3:, 2].any() and mask[0, 3:, :2].all()  # padding never attended
    assert not mask[1, 3:, :3].any()  # dropped condition: behaviour sees no text/speech


def test_network_respects_mask_functionally():
    m = small_model()
    B, L, T = 2, 6, 10
    tok = torch.randint(0, m.cfg.vocab_size, (B, L))
    pos = torch.arange(L)[None].expand(B, L)
    x = torch.randn(B, T, 6)
    lv = torch.randint(0, 1001, (B, T))
    mpos = torch.arange(T)[None].expand(B, T) + 2
    logits, eps = m.forward_joint(tok, pos, x, lv, mpos)
    x2 = x.clone()
    x2[:, 8:] += 5.0  # change chunk 2 (frames 8, 9) only
    logits2, eps2 = m.forward_joint(tok, pos, x2, lv, mpos)
    assert torch.allclose(logits, logits2, atol=1e-6)  # text never sees behaviour
    assert torch.allclose(eps[:, :8], eps2[:, :8], atol=1e-6)  # past chunks never see the future
    assert not torch.allclose(eps[:, 8:], eps2[:, 8:], atol=1e-3)
    tok2 = tok.clone()
    tok2[:, 4:] = (tok2[:, 4:] + 1) % m.cfg.vocab_size
    logits3, eps3 = m.forward_joint(tok2, pos, x, lv, mpos)
    assert torch.allclose(logits[:, :4], logits3[:, :4], atol=1e-6)  # causal text
    assert not torch.allclose(eps, eps3, atol=1e-4)  # behaviour sees all text


def test_cached_path_equals_joint_attention():
    m = small_model(1)
    B, L, T = 2, 7, 9
    tok = torch.randint(0, m.cfg.vocab_size, (B, L))
    pos = torch.arange(L)[None].expand(B, L)
    valid = torch.ones(B, L, dtype=torch.bool)
    valid[0, 5:] = False
    keep = torch.tensor([True, False])
    x = torch.randn(B, T, 6)
    lv = torch.randint(0, 1001, (B, T))
    mpos = torch.arange(T)[None].expand(B, T)
    logits, eps = m.forward_joint(tok, pos, x, lv, mpos, ts_valid=valid, cond_keep=keep)
    ctx = m.encode_context(tok, pos, valid)
    eps_c = m.denoise(x, lv, mpos, ctx, cond_keep=keep)
    assert torch.allclose(eps, eps_c, atol=1e-5)
    assert torch.allclose(logits, ctx.logits, atol=1e-5)


def test_kv_cache_decoding_matches_full_pass():
    m = small_model(2)
    tok = torch.randint(0, m.cfg.vocab_size, (2, 9))
    full = m.ts_forward(tok).logits
    ctx = m.ts_forward(tok[:, :5])
    for i in range(5, 9):
        ctx = m.ts_forward(tok[:, i:i + 1], cache=ctx)
        assert torch.allclose(ctx.logits[:, 0], full[:, i], atol=1e-5)
    gen = m.generate_text(tok[:, :3], max_new=4)
    assert all(len(g) == 4 for g in gen)


# ----------------------------------------------------------------- diffusion forcing


def test_equal_levels_reduce_to_ordinary_diffusion_sampling():
    m = small_model(3)
    sched = NoiseSchedule(1000)
    tok = torch.randint(0, m.cfg.vocab_size, (2, 5))
    ctx = m.encode_context(tok)
    T = 8
    mpos = torch.arange(T)[None].expand(2, T)
    fn = lambda x, lv: m.denoise(x, lv, mpos, ctx)  # noqa: E731
    xT = torch.randn(2, T, 6, generator=torch.Generator().manual_seed(0))
    a = sample_with_matrix(fn, xT, uniform_matrix(T, 10), sched, 10)
    b = ddim_sample(fn, xT, sched, 10)
    assert torch.allclose(a, b, atol=1e-5)


def test_equal_levels_reduce_to_ordinary_diffusion_loss():
    sched = NoiseSchedule(1000)
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(3, 5, 4, generator=g)
    noise = torch.randn(3, 5, 4, generator=g)
    k = 417
    lv = torch.full((3, 5), k)
    w = torch.randn(4, 4, generator=g)
    eps_fn = lambda x, lv: x @ w  # noqa: E731
    got = diffusion_forcing_loss(eps_fn, x0, lv, sched, noise=noise)
    abar = torch.cumprod(1 - torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000, dtype=torch.float64) ** 2, 0)[k - 1]
    xt = abar.sqrt().float() * x0 + (1 - abar).sqrt().float() * noise  # standard DDPM forward process
    want = ((xt @ w - noise) ** 2).mean()
    assert torch.allclose(got, want, rtol=1e-5)


def test_schedule_top_level_is_not_degenerate():
    sched = NoiseSchedule(1000)
    assert 3e-3 < float(sched.abar[-1]) < 7e-3  # scaled linear: abar_K ~ 4.7e-3
    assert float(sched.abar[0]) == 1.0 and bool((sched.abar[1:] < sched.abar[:-1]).all())


@pytest.mark.parametrize("builder", [pyramid_matrix, left_to_right_matrix, uniform_matrix])
def test_schedule_matrices_monotone_and_end_at_zero(builder):
    S, T = 7, 13
    K = builder(T, S) if builder is uniform_matrix else builder(T, S, 1)
    assert bool((K[0] == 0).all()) and bool((K[-1] == S).all())
    assert bool((K[1:] >= K[:-1]).all())  # generation (row M -> 0) never adds noise
    assert bool((K[:, 1:] >= K[:, :-1]).all())  # later tokens never less noisy
    assert K.min() >= 0 and K.max() <= S


def test_pyramid_is_a_pyramid():
    K = pyramid_matrix(6, 4, 1)
    assert K.shape == (4 + 6, 6)
    # each row: token t+1 is exactly one step noisier than t where neither is clamped
    row = K[5]
    inner = (row[:-1] > 0) & (row[1:] < 4)
    assert bool(((row[1:] - row[:-1])[inner] == 1).all())
    assert (K[5].unique().numel() > 2) and K[5, 0] < K[5, -1]  # not uniform: far future noisier


@pytest.mark.parametrize("kind", ["uniform", "pyramid", "ltr"])
def test_oracle_eps_ddim_recovers_x0(kind):
    sched = NoiseSchedule(1000)
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(2, 9, 5, generator=g) * 0.7
    xT = torch.randn(2, 9, 5, generator=g)
    xT_noisy = sched.add_noise(x0, xT, torch.full((2, 9), 1000))

    def oracle(x, lv):
        sa, sb = sched.coeffs(lv)
        return (x - sa * x0) / sb.clamp_min(1e-12)

    S = 50
    K = {"uniform": uniform_matrix(9, S), "pyramid": pyramid_matrix(9, S, 2), "ltr": left_to_right_matrix(9, S, 3)}[kind]
    out = sample_with_matrix(oracle, xT_noisy, K, sched, S)
    assert torch.allclose(out, x0, atol=1e-4), float((out - x0).abs().max())


@pytest.mark.parametrize("mode", ["none", "cfg"])
def test_streaming_equals_full_generation(mode):
    m = small_model(4)
    tok = torch.randint(0, m.cfg.vocab_size, (2, 5))
    ctx = m.encode_context(tok)
    T = 11  # chunks of 4: 4 + 4 + 3
    mpos = torch.arange(T)[None].expand(2, T) + 1
    xT = torch.randn(2, T, 6, generator=torch.Generator().manual_seed(1))
    smp = BehaviourSampler(m, n_steps=6, guidance=GuidanceConfig(mode="none"))
    full = smp.generate(ctx, mpos, xT, matrix="left_to_right", block=m.cfg.chunk_size)
    streamed = torch.cat(list(smp.stream(ctx, mpos, xT)), 1)
    assert torch.allclose(full, streamed, atol=1e-5)
    if mode == "cfg":
        # guided streaming: first chunk has no history, so it equals guided full generation
        g = BehaviourSampler(m, n_steps=6, guidance=GuidanceConfig(mode="cfg", scale=1.5))
        s_first = next(iter(g.stream(ctx, mpos, xT)))
        f_first = g.generate(ctx, mpos[:, :4], xT[:, :4], matrix="uniform")
        assert torch.allclose(s_first, f_first, atol=1e-5)
        assert not torch.allclose(s_first, streamed[:, :4], atol=1e-4)  # guidance changes the result


def test_streaming_never_regenerates_past_chunks():
    m = small_model(5)
    ctx = m.encode_context(torch.randint(0, m.cfg.vocab_size, (1, 4)))
    T = 12
    mpos = torch.arange(T)[None]
    xT = torch.randn(1, T, 6)
    smp = BehaviourSampler(m, n_steps=4, guidance=GuidanceConfig(mode="history3"))
    chunks_a = list(smp.stream(ctx, mpos, xT))
    xT2 = xT.clone()
    xT2[:, 8:] = torch.randn(1, 4, 6)  # different noise for the last chunk only
    chunks_b = list(smp.stream(ctx, mpos, xT2))
    assert torch.equal(chunks_a[0], chunks_b[0]) and torch.equal(chunks_a[1], chunks_b[1])
    assert not torch.allclose(chunks_a[2], chunks_b[2])


# ----------------------------------------------------------------- sizes, checkpoints


def analytic_params(c):
    def expert(d, d_ff):
        attn = d * c.n_heads * c.head_dim + d * 2 * c.n_kv_heads * c.head_dim + c.n_heads * c.head_dim * d
        if c.qkv_bias:
            attn += c.n_heads * c.head_dim + 2 * c.n_kv_heads * c.head_dim
        return c.n_layers * (attn + 3 * d * d_ff + 2 * d) + d

    ts = expert(c.d_ts, c.d_ff_ts) + 2 * c.vocab_size * c.d_ts
    m = expert(c.d_m, c.d_ff_m) + (c.behaviour_dim + 1) * c.d_m + 2 * (c.d_m * c.d_m + c.d_m) \
        + (c.d_m + 1) * c.behaviour_dim + (c.d_ts * c.d_m + c.d_m if c.align_context else 0)
    return ts, m


def test_paper_config_on_meta_device():
    cfg = get_config("paper")
    with torch.device("meta"):
        model = HumanExpert(cfg)
    assert all(p.is_meta for p in model.parameters())
    ts, m = analytic_params(cfg)
    assert model.n_params("ts") == ts and model.n_params("m") == m
    # GLM-4-9B body (40 layers, 4096, ffn 13696, 2 KV groups) + 167,944-token vocabulary ~ 9.5B
    assert 9.3e9 < ts < 9.7e9
    assert model.cfg.n_layers == 40 and model.cfg.d_ff_m == 6848 and model.cfg.head_dim == 128


def test_named_sizes_param_counts():
    for name in ("tiny", "small"):
        cfg = get_config(name)
        model = HumanExpert(cfg)
        assert model.n_params() == sum(analytic_params(cfg))
    assert 0.5e6 < HumanExpert(get_config("tiny")).n_params() < 3e6


def test_checkpoint_roundtrip_and_clear_errors(tmp_path):
    m = small_model(6)
    save_checkpoint(m, tmp_path / "ck", extra={"training": {"steps": 1}})
    m2, meta = load_checkpoint(tmp_path / "ck")
    for k, v in m.state_dict().items():
        assert torch.equal(v, m2.state_dict()[k])
    assert meta["training"]["steps"] == 1
    sd = torch.load(tmp_path / "ck.pt")
    sd.pop("m.out_proj.bias")
    sd["extra.weight"] = torch.zeros(1)
    torch.save(sd, tmp_path / "ck.pt")
    with pytest.raises(CheckpointError, match="sha256"):
        load_checkpoint(tmp_path / "ck")
    with pytest.raises(CheckpointError, match=r"missing keys \['m.out_proj.bias'\].*unexpected keys \['extra.weight'\]"):
        load_checkpoint(tmp_path / "ck", verify=False)


def test_aligned_input_is_the_token_at_the_same_position():
    """align_context: behaviour frame t gets the RMS-normalised embedding of the valid text/speech token
    whose RoPE position equals m_pos[t]; zeros where there is none or the condition is dropped."""
    m = small_model(3)
    B, L, T = 2, 6, 5
    tok = torch.randint(0, m.cfg.vocab_size, (B, L))
    pos = torch.arange(L)[None].expand(B, L)
    valid = torch.ones(B, L, dtype=torch.bool)
    valid[0, 4] = False
    mpos = (torch.arange(T) + 2)[None].expand(B, T)  # frames at positions 2..6; position 6 has no token
    keep = torch.tensor([True, False])
    al = m.aligned(tok, pos, valid, mpos, keep)
    e = torch.nn.functional.rms_norm(m.ts.embed(tok).float(), (m.cfg.d_ts,))
    assert al.shape == (B, T, m.cfg.d_ts)
    for t in range(T):
        p = 2 + t
        want = e[0, p] if p < L and valid[0, p] else torch.zeros(m.cfg.d_ts)
        assert torch.allclose(al[0, t], want, atol=1e-6)
    assert not al[1].any()  # dropped condition (CFG's unconditional branch)
    # the network uses it: changing only the token at position 3 changes frame 1's input row alone
    tok2 = tok.clone()
    tok2[:, 3] = (tok2[:, 3] + 1) % m.cfg.vocab_size
    d = (m.aligned(tok2, pos, valid, mpos, keep) - al).abs().sum(-1)
    assert d[0, 1] > 0 and d[0, [0, 2, 3, 4]].eq(0).all()
    # without align_context the behaviour input has no such term (checkpoints from before it load unchanged)
    plain = small_model(3, align_context=False)
    assert plain.m.align is None and plain.aligned(tok, pos, valid, mpos, keep) is None


def test_config_from_dict_is_strict():
    from reference_models.humanexpert.model import HumanExpertConfig

    with pytest.raises(ValueError, match=r"unknown HumanExpertConfig field\(s\) \['d_foo'\]"):
        HumanExpertConfig.from_dict({**get_config("tiny").to_dict(), "d_foo": 1})
