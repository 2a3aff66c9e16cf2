"""OmniHuman-1.5-style reference model: MMDiT, flow sampler, pseudo last frame, VAE shapes."""

import math

import pytest
import torch

from reference_models.omnihuman.flow import (FlowBatch, euler_sample, flow_loss, flow_timesteps,
                                             interpolate, layout_video, sample_latents)
from reference_models.omnihuman.model import (TEXT, AUDIO, VIDEO, MMDiTBlock, OmniMMDiT,
                                              apply_rope, count_params, get_config,
                                              joint_attention, rope_cos_sin,
                                              speaker_attention_mask, tokenize)
from reference_models.omnihuman.vae import VideoVAE, depth_to_space, space_to_depth

torch.set_num_threads(1)


def random_model(cfg) -> OmniMMDiT:
    """The DiT with its weight matrices drawn at std 0.05 (the zero-initialised output layers
    would otherwise make every prediction 0); seed the global generator first."""
    model = OmniMMDiT(cfg).eval()
    for p in model.parameters():
        if p.dim() >= 2:
            torch.nn.init.normal_(p, std=0.05)
    return model


def micro_cfg(**kw):
    cfg = get_config("tiny")
    cfg.d_model, cfg.n_layers, cfg.n_heads, cfg.vae_base = 48, 2, 4, 8
    for k, v in kw.items():
        setattr(cfg, k, v)
    return cfg


def naive_attention(q, k, v, mask=None):
    """Plain softmax(QK^T/sqrt(d))V over one sequence (B, H, N, D)."""
    s = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    if mask is not None:
        s = s.masked_fill(~mask, float("-inf"))
    return s.softmax(-1) @ v


def test_joint_attention_equals_attention_over_concatenation():
    g = torch.Generator().manual_seed(0)
    sizes = [7, 3, 5]
    qs = [torch.randn(2, 4, n, 8, generator=g) for n in sizes]
    ks = [torch.randn(2, 4, n, 8, generator=g) for n in sizes]
    vs = [torch.randn(2, 4, n, 8, generator=g) for n in sizes]
    outs = joint_attention(qs, ks, vs)
    ref = naive_attention(torch.cat(qs, 2), torch.cat(ks, 2), torch.cat(vs, 2))
    torch.testing.assert_close(torch.cat(outs, 2), ref, atol=1e-5, rtol=1e-5)
    # every stream sees the others: changing audio keys/values changes the video output
    ks2 = ks[:2] + [ks[2] + 1.0]
    assert not torch.allclose(joint_attention(qs, ks2, vs)[0], outs[0])


def test_mmdit_block_with_shared_weights_is_one_transformer_over_concatenation():
    """Three streams with identical weights == one single-stream block on the concatenation."""
    torch.manual_seed(0)
    d, H = 32, 4
    blk = MMDiTBlock(d, H, 2.0)
    for p in blk.streams:  # non-zero modulation so gates are active
        torch.nn.init.normal_(p.mod.weight, std=0.1)
    sd0 = blk.streams[0].state_dict()
    for p in blk.streams[1:]:
        p.load_state_dict(sd0)
    xs = [torch.randn(2, n, d) for n in (6, 4, 3)]
    c = torch.randn(2, d)
    pos = torch.randn(2, 13, 3)
    cos, sin = rope_cos_sin(pos, d // H)
    outs = blk(xs, c, cos, sin)
    one = MMDiTBlock(d, H, 2.0, n_streams=1)
    one.streams[0].load_state_dict(sd0)
    ref = one([torch.cat(xs, 1)], c, cos, sin)[0]
    torch.testing.assert_close(torch.cat(outs, 1), ref, atol=1e-5, rtol=1e-5)
    # with distinct per-branch weights the result differs (branches really are separate)
    torch.nn.init.normal_(blk.streams[2].qkv.weight)
    assert not torch.allclose(torch.cat(blk(xs, c, cos, sin), 1), ref, atol=1e-3)


def test_rope_is_relative_in_time():
    """q.k after RoPE depends only on position differences (checked on the time axis)."""
    torch.manual_seed(1)
    q, k = torch.randn(1, 1, 1, 24), torch.randn(1, 1, 1, 24)

    def score(tq, tk):
        pos = torch.tensor([[[tq, 0.0, 0.0], [tk, 0.0, 0.0]]])
        cos, sin = rope_cos_sin(pos, 24)
        qr = apply_rope(q, cos[:, :, :1], sin[:, :, :1])
        kr = apply_rope(k, cos[:, :, 1:], sin[:, :, 1:])
        return (qr * kr).sum().item()

    assert score(3.0, 1.0) == pytest.approx(score(7.0, 5.0), abs=1e-4)
    assert score(3.0, 1.0) != pytest.approx(score(3.0, 2.0), abs=1e-3)


def test_euler_sampler_integrates_linear_flow_exactly():
    """For a point-mass data distribution the rectified-flow velocity (x - x0)/t is constant
    along each straight path, so Euler recovers x0 exactly for any step count / schedule."""
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(3, 4, 5, generator=g)
    eps = torch.randn(3, 4, 5, generator=g)

    def vel(x, t):
        return (x - x0) / t.view(-1, 1, 1)

    for steps, shift in ((1, 1.0), (3, 1.0), (10, 3.0)):
        out = euler_sample(vel, eps, flow_timesteps(steps, shift))
        torch.testing.assert_close(out, x0, atol=1e-5, rtol=1e-5)
    # constant velocity field: x(0) = x(1) - v exactly
    v = torch.randn(3, 4, 5, generator=g)
    torch.testing.assert_close(euler_sample(lambda x, t: v, eps, flow_timesteps(7)), eps - v)
    # and the interpolation / target convention matches: x_t + (0 - t) v = x0 with v = eps - x0
    t = torch.full((3,), 0.3)
    torch.testing.assert_close(interpolate(x0, eps, t) - 0.3 * (eps - x0), x0)
    ts = flow_timesteps(10, 3.0)
    assert ts[0] == 1 and ts[-1] == 0 and bool((ts[1:] < ts[:-1]).all())


def test_pseudo_last_frame_offset_applied_and_dropped():
    torch.manual_seed(0)
    cfg = micro_cfg(plf_shift=3)
    model = random_model(cfg)
    N, h, C = cfg.latent_frames, cfg.latent_size, cfg.latent_channels
    ids, mask = tokenize(["a calm person talks"], cfg)
    audio = torch.randn(1, cfg.clip_frames, cfg.n_mels)
    ref = torch.randn(1, C, 1, h, h)
    noise = torch.randn(1, C, N, h, h)
    out, vt = sample_latents(model, ids, mask, audio, ref=ref, steps=3, noise=noise,
                             return_layout=True)
    assert out.shape == (1, C, N, h, h)  # the slot is dropped
    tpf = cfg.tokens_per_frame
    assert vt.tokens.shape[1] == (N + 1) * tpf and vt.n_frames == N + 1
    slot_t = vt.pos[0, -tpf:, 0]
    assert torch.all(slot_t == N - 1 + 3)                       # shifted RoPE time
    assert torch.all(vt.pos[0, :N * tpf, 0].unique() == torch.arange(N).float())
    assert torch.all(vt.cond[0, -tpf:] == 1) and torch.all(vt.cond[0, :-tpf] == 0)
    # the slot's content is the reference latent
    from reference_models.omnihuman.model import patchify
    torch.testing.assert_close(vt.tokens[:, -tpf:], patchify(ref, cfg.patch))
    # the offset matters, the reference matters, and "none" ignores it
    out1 = sample_latents(model, ids, mask, audio, ref=ref, steps=3, noise=noise, plf_shift=1)
    assert not torch.allclose(out, out1, atol=1e-5)
    out_none = sample_latents(model, ids, mask, audio, ref=ref, ref_mode="none", steps=3, noise=noise)
    out_none2 = sample_latents(model, ids, mask, audio, ref=None, steps=3, noise=noise)
    torch.testing.assert_close(out_none, out_none2)
    assert not torch.allclose(out, out_none, atol=1e-5)
    # reference as first frame (the ablation): it is kept verbatim as generated frame 0
    out_ff = sample_latents(model, ids, mask, audio, ref=ref, ref_mode="first_frame", steps=3, noise=noise)
    torch.testing.assert_close(out_ff[:, :, :1], ref)


def test_separate_text_and_audio_guidance_and_reference_as_both_frames():
    """guidance_text == guidance_audio is the joint CFG formula; different scales change the
    result (and guidance_audio 1 = no audio guidance); ref_mode "both" keeps the reference as
    generated frame 0 and fills the pseudo-last-frame slot."""
    torch.manual_seed(0)
    cfg = micro_cfg()
    model = random_model(cfg)
    N, h, C = cfg.latent_frames, cfg.latent_size, cfg.latent_channels
    ids, mask = tokenize(["a calm person talks"], cfg)
    audio = torch.randn(1, cfg.clip_frames, cfg.n_mels)
    ref, noise = torch.randn(1, C, 1, h, h), torch.randn(1, C, N, h, h)
    kw = dict(ref=ref, steps=3, noise=noise)
    joint = sample_latents(model, ids, mask, audio, guidance=2.0, **kw)
    torch.testing.assert_close(sample_latents(model, ids, mask, audio, guidance_text=2.0, guidance_audio=2.0, **kw), joint)
    split = sample_latents(model, ids, mask, audio, guidance_text=2.0, guidance_audio=1.0, **kw)
    assert not torch.allclose(split, joint, atol=1e-5)
    # guidance_audio 1 with guidance_text g: v_0 + g (v_text - v_0) + (v_both - v_text)
    off = torch.zeros(1, dtype=torch.bool)
    vt, _ = layout_video(noise, cfg.patch, slot=ref, slot_time=float(N - 1 + cfg.plf_shift))
    t = torch.ones(1)
    v0 = model(vt, t, ids, mask, audio, text_keep=off, audio_keep=off)
    vtx = model(vt, t, ids, mask, audio, audio_keep=off)
    vb = model(vt, t, ids, mask, audio)
    one = sample_latents(model, ids, mask, audio, guidance_text=2.0, guidance_audio=1.0, ref=ref, steps=1, noise=noise)
    from reference_models.omnihuman.model import unpatchify
    v = (v0 + 2.0 * (vtx - v0) + (vb - vtx))[:, : N * cfg.tokens_per_frame]
    torch.testing.assert_close(one, noise - unpatchify(v, C, N, h, h, cfg.patch))
    both, lay = sample_latents(model, ids, mask, audio, ref_mode="both", return_layout=True, **kw)
    torch.testing.assert_close(both[:, :, :1], ref)
    tpf = cfg.tokens_per_frame
    assert lay.n_frames == N + 1 and torch.all(lay.cond[0, :tpf] == 1) and torch.all(lay.cond[0, -tpf:] == 1)
    with pytest.raises(ValueError, match="unknown ref_mode"):
        sample_latents(model, ids, mask, audio, ref_mode="last", **kw)


def test_flow_loss_trains_and_masks_conditioning():
    torch.manual_seed(0)
    cfg = micro_cfg()
    model = OmniMMDiT(cfg)
    B, N = 4, cfg.latent_frames
    lat = torch.randn(B, cfg.latent_channels, N + cfg.max_last_gap, cfg.latent_size, cfg.latent_size)
    ids, mask = tokenize(["smile", "nod yes", "look left", "wave hand"], cfg)
    batch = FlowBatch(lat, ids, mask, torch.randn(B, cfg.clip_frames, cfg.n_mels))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(30):
        loss = flow_loss(model, batch, generator=torch.Generator().manual_seed(1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[0] == pytest.approx(2.0, rel=0.35)  # E|eps - x0|^2 = 2 at zero-init output
    assert losses[-1] < 0.8 * losses[0]
    # first-frame conditioning replaces frame 0 by the clean latent and flags it
    x = torch.randn(2, cfg.latent_channels, N, cfg.latent_size, cfg.latent_size)
    first = torch.zeros(2, cfg.latent_channels, 1, cfg.latent_size, cfg.latent_size)
    vt, _ = layout_video(x, cfg.patch, first=first, first_keep=torch.tensor([True, False]))
    tpf = cfg.tokens_per_frame
    assert vt.cond[0, :tpf].eq(1).all() and vt.cond[1].eq(0).all()
    assert vt.tokens[0, :tpf].eq(0).all() and not vt.tokens[1, :tpf].eq(0).all()


def test_speaker_mask_routes_audio_to_regions():
    vs = torch.tensor([[0, 0, 1, 1, -1]])
    aus = torch.tensor([[0, 0, 1]])
    m = speaker_attention_mask(vs, n_text=2, audio_speaker=aus)[0, 0]
    a0 = 5 + 2
    assert m[0, a0] and m[0, a0 + 1] and not m[0, a0 + 2]      # speaker-0 video <- own audio
    assert m[2, a0 + 2] and not m[2, a0]                         # speaker-1 video
    assert not m[4, a0:].any()                                    # background: no audio
    assert m[:5, 5:7].all() and m[a0 + 2, 2] and not m[a0 + 2, 0]
    # the model accepts the mask: speaker-1 audio does not change speaker-0 tokens
    torch.manual_seed(0)
    cfg = micro_cfg()
    model = random_model(cfg)
    N, h = cfg.latent_frames, cfg.latent_size
    tpf = cfg.tokens_per_frame
    ids, tm = tokenize(["two people talk"], cfg)
    Ta = cfg.clip_frames
    audio = torch.randn(1, 2 * Ta, cfg.n_mels)
    spk = torch.cat([torch.zeros(Ta), torch.ones(Ta)]).long()[None]
    pos = torch.cat([model.audio_positions(1, Ta, "cpu")] * 2, 1)
    region = torch.zeros(N, tpf, dtype=torch.long)
    region[:, tpf // 2:] = 1
    video_speaker = region.reshape(1, -1)
    noise = torch.randn(1, cfg.latent_channels, N, h, h)
    kw = dict(steps=2, noise=noise, audio_speaker=spk, audio_pos=pos, video_speaker=video_speaker)
    out = sample_latents(model, ids, tm, audio, **kw)
    audio2 = audio.clone()
    audio2[:, Ta:] += 5.0  # change only speaker 1's track
    out2 = sample_latents(model, ids, tm, audio2, **kw)
    assert not torch.allclose(out, out2, atol=1e-5)


def test_branch_state_partitions_parameters():
    model = OmniMMDiT(micro_cfg())
    parts = [set(model.branch_state(b)) for b in (VIDEO, TEXT, AUDIO)]
    assert not (parts[0] & parts[1]) and not (parts[0] & parts[2]) and not (parts[1] & parts[2])
    assert set.union(*parts) == set(model.state_dict())


def test_stage2_warmup_initialisation():
    from reference_models.omnihuman.train import stage2_state

    torch.manual_seed(0)
    base_model, warmed = OmniMMDiT(micro_cfg()), OmniMMDiT(micro_cfg())
    for p in warmed.parameters():
        torch.nn.init.normal_(p)
    base = base_model.state_dict()
    sd = stage2_state(base, warmed)
    for k in warmed.branch_state(AUDIO):
        assert torch.equal(sd[k], warmed.state_dict()[k])
    for b in (VIDEO, TEXT):
        for k in base_model.branch_state(b):
            assert torch.equal(sd[k], base[k]) and not torch.equal(sd[k], warmed.state_dict()[k])


def test_tokenize_is_deterministic_and_padded():
    cfg = get_config("tiny")
    ids, mask = tokenize(["Smile, then NOD.", ""], cfg)
    ids2, _ = tokenize(["smile then nod"], cfg)
    assert torch.equal(ids[0], ids2[0]) and mask[0].sum() == 3 and mask[1].sum() == 0
    assert ids[1].eq(0).all()


def test_configs_and_paper_shape_on_meta_device():
    tiny = OmniMMDiT(get_config("tiny"))
    assert 1.5e6 < count_params(tiny) < 2.5e6  # fp16 checkpoint < 5 MB
    with torch.device("meta"):
        paper = OmniMMDiT(get_config("paper"))
        vae = VideoVAE(get_config("paper"))
    n = count_params(paper)
    assert 5e9 < n < 1e10, n  # a ~7B-class three-branch MMDiT
    assert next(paper.parameters()).device.type == "meta"
    cfg = get_config("paper")
    assert cfg.latent_frames == 30 and cfg.latent_size == 60 and count_params(vae) > 0
    with pytest.raises(KeyError):
        get_config("huge")


def test_vae_shapes_and_space_to_depth():
    x = torch.randn(2, 3, 8, 16, 16)
    torch.testing.assert_close(depth_to_space(space_to_depth(x, 2, 4), 2, 4), x)
    cfg = micro_cfg()
    vae = VideoVAE(cfg)
    clip = torch.rand(1, 3, cfg.clip_frames, 64, 64) * 2 - 1
    z = vae.encode(clip)
    assert z.shape == (1, cfg.latent_channels, cfg.latent_frames, 8, 8)
    assert vae.decode(z).shape == clip.shape
    assert vae.encode_image(clip[:, :, 0]).shape == (1, cfg.latent_channels, 1, 8, 8)


def test_tiny_f4_vae_keeps_16x16_latents_and_tiny_layout_is_unchanged():
    cfg = get_config("tiny-f4")
    cfg.vae_base = 8
    vae = VideoVAE(cfg)
    clip = torch.rand(1, 3, cfg.clip_frames, 64, 64) * 2 - 1
    z = vae.encode(clip)
    assert z.shape == (1, 8, 4, 16, 16) == (1, cfg.latent_channels, cfg.latent_frames,
                                            cfg.latent_size, cfg.latent_size)
    assert vae.decode(z).shape == clip.shape
    assert cfg.tokens_per_frame == 16  # patch 4 over 16x16 latents: as many tokens as tiny
    # the stride-2 conv halves time only; the x8 `tiny` VAE keeps its (2, 2, 2) stride and
    # parameter shapes (its committed checkpoint must still load)
    assert vae.encoder[2].stride == (2, 1, 1)
    tiny = VideoVAE(micro_cfg())
    assert tiny.encoder[2].stride == (2, 2, 2)
    shapes = {k: tuple(v.shape) for k, v in VideoVAE(get_config("tiny")).state_dict().items()}
    assert shapes["encoder.0.weight"] == (32, 96, 3, 3, 3)  # 3 x 2 (time) x 4 x 4 (space)
    assert shapes["encoder.2.weight"] == (64, 32, 3, 3, 3) and len(shapes) == 50


def test_decoder_finetune_leaves_encoder_and_latent_scale_unchanged():
    """finetune_decoder trains the decoder only, so a DiT trained on the VAE's latents stays valid."""
    from types import SimpleNamespace

    import numpy as np

    from reference_models.omnihuman.train import finetune_decoder, train_vae

    cfg = get_config("tiny-f4")
    rng = np.random.default_rng(0)
    vids = [SimpleNamespace(frames=rng.integers(0, 255, (cfg.clip_frames + 8, cfg.image_size, cfg.image_size, 3),
                                                dtype=np.uint8)) for _ in range(2)]
    vae, info = train_vae(vids, cfg, steps=2, log=lambda *a: None)
    assert info["steps"] >= 1
    enc = {k: v.clone() for k, v in vae.encoder.state_dict().items()}
    dec = {k: v.clone() for k, v in vae.decoder.state_dict().items()}
    shift, scale = vae.lat_shift.clone(), vae.lat_scale.clone()
    vae, info = finetune_decoder(vae, vids, steps=2, log=lambda *a: None)
    assert info["steps"] >= 1
    assert all(torch.equal(enc[k], v) for k, v in vae.encoder.state_dict().items())
    assert any(not torch.equal(dec[k], v) for k, v in vae.decoder.state_dict().items())
    assert torch.equal(shift, vae.lat_shift) and torch.equal(scale, vae.lat_scale)


def test_config_from_dict_is_strict_and_every_shipped_checkpoint_config_loads():
    import json
    from pathlib import Path

    from reference_models.omnihuman.model import OmniConfig

    ckpts = sorted((Path(__file__).resolve().parent.parent / "reference_models" / "omnihuman"
                    / "checkpoints").glob("*/config.json"))
    assert ckpts
    for path in ckpts:
        d = json.loads(path.read_text())
        assert {k: v for k, v in OmniConfig.from_dict(d).to_dict().items() if k in d} == d
    with pytest.raises(ValueError, match=r"unknown OmniConfig field\(s\) \['vae_width'\]"):
        OmniConfig.from_dict({**get_config("tiny").to_dict(), "vae_width": 64})
