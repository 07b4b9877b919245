"""Fast generation: incremental torch and numba paths equal the parallel WaveNet forward."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vqspeech.generate.numba_kernel import NumbaStreams, tanh_f32
from vqspeech.generate.pack import layer_conditioning, pack_wavenet
from vqspeech.generate.torch_incremental import TorchStreams
from vqspeech.models.config import WaveNetConfig
from vqspeech.models.wavenet import WaveNet

torch.set_num_threads(1)


def make_net(k=2, stacks=1, per_stack=3, cond=5, speakers=3, in_classes=256, out_classes=256, seed=0,
             input="embedding"):
    torch.manual_seed(seed)
    cfg = WaveNetConfig(stacks=stacks, layers_per_stack=per_stack, residual_channels=8, gate_channels=16,
                        skip_channels=8, kernel_size=k, speaker_dim=4, input=input)
    net = WaveNet(cfg, in_classes, out_classes, cond_channels=cond, num_speakers=speakers).eval()
    with torch.no_grad():  # larger weights than the default init: logits of order 1-10, a harder test
        for p in net.parameters():
            p.mul_(2.0)
    return net


def incremental_logits(net, backend, inputs, cond_frames, speaker, repeat, chunks=(None,)):
    """Teacher-forced logits [B, T, Q] from a fast path; cond_frames [B, C, F] at rate 1/repeat."""
    b, t = inputs.shape
    spk = speaker if net.speaker_embed is not None else None
    lc = layer_conditioning(net, cond_frames, spk, batch=b)  # [B, F, L, G]
    hop = repeat if cond_frames is not None else t + 1
    forced = inputs[:, 1:]
    forced = torch.cat([forced, torch.zeros(b, 1, dtype=torch.long)], dim=1)  # the last is never used
    steps = [t] if chunks == (None,) else list(chunks)
    outs, t0 = [], 0
    if backend == "numba":
        st = NumbaStreams(pack_wavenet(net), np.full(b, t), 0)
        st.cur_in[:] = inputs[:, 0].numpy()
        for n in steps:
            _, lg = st.step(n, lc.numpy(), hop, 0, forced=forced[:, t0:t0 + n].numpy(), temperature=0,
                            want_logits=True)
            outs.append(lg)
            t0 += n
        return np.concatenate(outs, axis=1)
    st = TorchStreams(net, [t] * b, 0)
    st.cur_in[:] = inputs[:, 0]
    for n in steps:
        _, lg = st.step(n, lc, hop, 0, forced=forced[:, t0:t0 + n], temperature=0, want_logits=True)
        outs.append(lg.numpy())
        t0 += n
    return np.concatenate(outs, axis=1)


def test_tanh_approximation():
    x = np.linspace(-20, 20, 20001).astype(np.float32)
    assert np.abs(tanh_f32(x) - np.tanh(x.astype(np.float64))).max() < 1e-6


LAYOUTS = [(2, 1, 3), (2, 2, 3), (3, 1, 3), (3, 2, 2)]  # (kernel, stacks, layers per stack)


@pytest.mark.parametrize("backend", ["numba", "torch"])
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("upsample", ["repeat", "transposed"])
def test_incremental_equals_parallel(backend, layout, upsample):
    k, stacks, per = layout
    net = make_net(k=k, stacks=stacks, per_stack=per)
    b, t, c, repeat = 3, 48, 5, 4
    g = torch.Generator().manual_seed(1)
    inputs = torch.randint(0, 256, (b, t), generator=g)
    speaker = torch.tensor([0, 2, 1])
    if upsample == "repeat":
        frames = torch.randn(b, c, t // repeat, generator=g)
        with torch.no_grad():
            ref = net(inputs, frames, speaker, cond_repeat=repeat)
        got = incremental_logits(net, backend, inputs, frames, speaker, repeat)
    else:  # per-sample conditioning
        per_sample = torch.randn(b, c, t, generator=g)
        with torch.no_grad():
            ref = net(inputs, per_sample, speaker)
        got = incremental_logits(net, backend, inputs, per_sample, speaker, 1)
    ref = ref.numpy().transpose(0, 2, 1)
    assert np.abs(ref).max() > 1.0  # the comparison is not between near-zero numbers
    assert np.abs(got - ref).max() < 1e-4


@pytest.mark.parametrize("backend", ["numba", "torch"])
def test_incremental_equals_parallel_with_scalar_input(backend):
    """The "mulaw_scalar" input (rows = a linear map of each level's sample value) in the fast paths."""
    net = make_net(input="mulaw_scalar")
    b, t, c, repeat = 2, 40, 5, 4
    g = torch.Generator().manual_seed(3)
    inputs = torch.randint(0, 256, (b, t), generator=g)
    frames, speaker = torch.randn(b, c, t // repeat, generator=g), torch.tensor([1, 0])
    with torch.no_grad():
        ref = net(inputs, frames, speaker, cond_repeat=repeat).numpy().transpose(0, 2, 1)
    got = incremental_logits(net, backend, inputs, frames, speaker, repeat)
    assert np.abs(ref).max() > 1.0
    assert np.abs(got - ref).max() < 1e-4


def test_numba_kernel_sensitive_to_layout():
    """Negative control: a wrong dilation in the packed weights breaks the equality."""
    net = make_net(k=2, stacks=1, per_stack=3)
    b, t = 2, 32
    inputs = torch.randint(0, 256, (b, t), generator=torch.Generator().manual_seed(2))
    cond = torch.randn(b, 5, t)
    speaker = torch.tensor([1, 0])
    with torch.no_grad():
        ref = net(inputs, cond, speaker).numpy().transpose(0, 2, 1)
    p = pack_wavenet(net)
    p.dil = p.dil[::-1].copy()
    st = NumbaStreams(p, np.full(b, t), 0)
    st.cur_in[:] = inputs[:, 0].numpy()
    forced = np.concatenate([inputs[:, 1:].numpy(), np.zeros((b, 1), np.int64)], axis=1)
    _, lg = st.step(t, layer_conditioning(net, cond, speaker).numpy(), 1, 0, forced=forced, temperature=0,
                    want_logits=True)
    assert np.abs(lg - ref).max() > 1e-2


@pytest.mark.parametrize("backend", ["numba", "torch"])
def test_chunked_equals_whole(backend):
    net = make_net(k=3, stacks=2, per_stack=3)
    b, t = 2, 40
    inputs = torch.randint(0, 256, (b, t), generator=torch.Generator().manual_seed(3))
    frames = torch.randn(b, 5, t // 4)
    speaker = torch.tensor([2, 0])
    whole = incremental_logits(net, backend, inputs, frames, speaker, 4)
    parts = incremental_logits(net, backend, inputs, frames, speaker, 4, chunks=(7, 13, 1, 19))
    np.testing.assert_array_equal(whole, parts)


@pytest.mark.parametrize("backend", ["numba", "torch"])
@pytest.mark.parametrize("speakers", [0, 2])
def test_prior_incremental_equals_parallel(backend, speakers):
    """The prior: K + 1 input classes (start token K), K outputs, no local conditioning."""
    k_codes = 12
    net = make_net(k=2, stacks=2, per_stack=3, cond=0, speakers=speakers, in_classes=k_codes + 1,
                   out_classes=k_codes)
    b, t = 2, 30
    codes = torch.randint(0, k_codes, (b, t), generator=torch.Generator().manual_seed(4))
    inputs = torch.cat([torch.full((b, 1), k_codes), codes[:, :-1]], dim=1)
    speaker = torch.tensor([1, 0]) if speakers else None
    with torch.no_grad():
        ref = net(inputs, None, speaker).numpy().transpose(0, 2, 1)
    got = incremental_logits(net, backend, inputs, None, speaker, 1)
    assert np.abs(got - ref).max() < 1e-4


def free_run(net, backend, lengths, temperature, seed, cond, speaker, first=128):
    """Generate len(lengths) streams (sorted longest first) from per-sample `cond` [B, C, T]."""
    lc = layer_conditioning(net, cond, speaker)
    n = max(lengths)
    if backend == "numba":
        st = NumbaStreams(pack_wavenet(net), np.asarray(lengths), first)
        uni = np.random.default_rng(seed).random((len(lengths), n)) if temperature > 0 else None
        out, _ = st.step(n, lc.numpy(), 1, 0, uniforms=uni, temperature=temperature)
        return out
    st = TorchStreams(net, list(lengths), first)
    gen = torch.Generator().manual_seed(seed)
    out, _ = st.step(n, lc, 1, 0, temperature=temperature, generator=gen)
    return out.numpy()


def test_argmax_numba_equals_torch():
    net = make_net(k=2, stacks=2, per_stack=4)
    cond = torch.randn(2, 5, 300, generator=torch.Generator().manual_seed(5))
    speaker = torch.tensor([0, 1])
    a = free_run(net, "numba", [300, 300], 0, 0, cond, speaker)
    b = free_run(net, "torch", [300, 300], 0, 0, cond, speaker)
    assert len(np.unique(a)) > 3  # a non-trivial sequence
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("backend", ["numba", "torch"])
def test_seeded_sampling_reproducible(backend):
    net = make_net(k=2, stacks=1, per_stack=4)
    cond = torch.randn(2, 5, 200, generator=torch.Generator().manual_seed(6))
    speaker = torch.tensor([2, 2])
    a = free_run(net, backend, [200, 200], 1.0, 11, cond, speaker)
    b = free_run(net, backend, [200, 200], 1.0, 11, cond, speaker)
    c = free_run(net, backend, [200, 200], 1.0, 12, cond, speaker)
    np.testing.assert_array_equal(a, b)
    assert (a != c).mean() > 0.2


@pytest.mark.parametrize("backend", ["numba", "torch"])
def test_streams_of_different_lengths_equal_alone(backend):
    net = make_net(k=3, stacks=1, per_stack=3)
    lengths = [120, 75, 30]
    cond = torch.randn(3, 5, 120, generator=torch.Generator().manual_seed(7))
    speaker = torch.tensor([1, 0, 2])
    together = free_run(net, backend, lengths, 0, 0, cond, speaker)
    for i, n in enumerate(lengths):
        alone = free_run(net, backend, [n], 0, 0, cond[i:i + 1, :, :n], speaker[i:i + 1])
        np.testing.assert_array_equal(together[i, :n], alone[0])
        assert not together[i, n:].any()  # finished streams are left alone


def test_streams_must_be_sorted():
    net = make_net()
    with pytest.raises(ValueError):
        NumbaStreams(pack_wavenet(net), np.array([3, 5]), 0)
    with pytest.raises(ValueError):
        TorchStreams(net, [3, 5], 0)


def tiny_vqvae(upsample="repeat"):
    from vqspeech.models.config import EncoderConfig, QuantizerConfig, VQVAEConfig, named_decoder_config
    from vqspeech.models.vqvae import build_vqvae

    torch.manual_seed(1)
    cfg = VQVAEConfig(speakers=["a", "b"], encoder=EncoderConfig(strides=[2, 2], hidden_channels=8,
                      residual_blocks=0), quantizer=QuantizerConfig(num_codes=16, dim=4),
                      decoder=named_decoder_config("tiny"), upsample=upsample)
    model = build_vqvae(cfg).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3.0)
    return model


@pytest.mark.parametrize("upsample", ["repeat", "transposed"])
def test_decode_codes_argmax_is_self_consistent(upsample):
    """With argmax, every generated sample is the argmax of the parallel decoder fed the output."""
    from vqspeech.audio import mu_law_encode
    from vqspeech.generate import decode_codes
    from vqspeech.mulaw import MU_LAW_ZERO

    model = tiny_vqvae(upsample)
    rng = np.random.default_rng(9)
    codes = [rng.integers(0, 16, 30), rng.integers(0, 16, 12), rng.integers(0, 16, 21)]
    speakers = [1, 0, 1]
    wavs = decode_codes(model, codes, speakers, temperature=0, backend="numba", chunk=13)  # chunk % hop != 0
    wavs_t = decode_codes(model, codes, speakers, temperature=0, backend="torch")
    for i, (w, wt) in enumerate(zip(wavs, wavs_t, strict=True)):
        assert w.dtype == np.float32 and w.shape == (codes[i].size * model.hop,)
        np.testing.assert_array_equal(w, wt)
        x = torch.from_numpy(mu_law_encode(w))[None]
        assert len(torch.unique(x)) > 3
        inputs = torch.nn.functional.pad(x[:, :-1], (1, 0), value=MU_LAW_ZERO)
        with torch.no_grad():
            q = model.conditioning_frames(torch.from_numpy(codes[i])[None])
            logits = model.decoder_logits(inputs, q, torch.tensor([speakers[i]]))
        np.testing.assert_array_equal(logits.argmax(1)[0].numpy(), x[0].numpy())


def test_decode_codes_num_samples_seed_and_errors():
    from vqspeech.errors import VQSpeechError
    from vqspeech.generate import decode_codes

    model = tiny_vqvae()
    codes = [np.arange(10) % 16, np.arange(5)]
    a = decode_codes(model, codes, [0, 1], seed=3, num_samples=[37, 20])
    b = decode_codes(model, codes, [0, 1], seed=3, num_samples=[37, 20])
    assert [w.shape[0] for w in a] == [37, 20]
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
        assert np.abs(x).max() <= 1.0
    with pytest.raises(VQSpeechError, match="codes must be in"):
        decode_codes(model, [np.array([0, 16])], [0])
    with pytest.raises(VQSpeechError, match="speaker index"):
        decode_codes(model, [np.array([0, 1])], [2])
    with pytest.raises(VQSpeechError, match="num_samples"):
        decode_codes(model, [np.array([0, 1])], [0], num_samples=[9])
    with pytest.raises(VQSpeechError, match="temperature"):
        decode_codes(model, [np.array([0, 1])], [0], temperature=-1.0)
    with pytest.raises(VQSpeechError, match="backend"):
        decode_codes(model, [np.array([0, 1])], [0], backend="cuda")


@pytest.mark.parametrize("speakers", [[], ["a", "b"]])
def test_sample_codes_argmax_is_self_consistent(speakers):
    from vqspeech.generate import sample_codes
    from vqspeech.models.config import PriorConfig
    from vqspeech.models.prior import build_prior

    torch.manual_seed(10)
    cfg = PriorConfig(num_codes=16, speakers=speakers, wavenet=WaveNetConfig(
        stacks=2, layers_per_stack=3, residual_channels=8, gate_channels=16, skip_channels=8, speaker_dim=4))
    prior = build_prior(cfg).eval()
    with torch.no_grad():
        for p in prior.parameters():
            p.mul_(3.0)
    spk = 1 if speakers else None
    codes = sample_codes(prior, 40, spk, batch=2, temperature=0, backend="numba")
    codes_t = sample_codes(prior, 40, spk, batch=2, temperature=0, backend="torch")
    assert codes.shape == (2, 40) and codes.dtype == np.int64
    np.testing.assert_array_equal(codes, codes_t)
    with torch.no_grad():
        logits = prior(torch.from_numpy(codes), torch.tensor([1, 1]) if speakers else None)
    np.testing.assert_array_equal(logits.argmax(1).numpy(), codes)
    s1 = sample_codes(prior, 40, spk, batch=3, seed=5)
    s2 = sample_codes(prior, 40, spk, batch=3, seed=5)
    np.testing.assert_array_equal(s1, s2)
    assert s1.min() >= 0 and s1.max() < 16 and len(np.unique(s1)) > 3
