"""The source-excited WaveNet decoder (`source_harmonics > 0`): the excitation as DSP, incremental ==
parallel logits with it (numba and torch), chunked decoding == whole decoding, config rules."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vqspeech.config import from_dict
from vqspeech.errors import VQSpeechError
from vqspeech.generate.numba_kernel import NumbaStreams
from vqspeech.generate.pack import layer_conditioning, pack_wavenet
from vqspeech.generate.torch_incremental import TorchStreams
from vqspeech.models.config import PriorConfig, VQVAEConfig, WaveNetConfig
from vqspeech.models.source import frame_phase, frames_at_samples, sine_noise_source, upsample_frames
from vqspeech.models.wavenet import WaveNet

torch.set_num_threads(1)
SR, HOP = 16000, 64


def make_net(harmonics=3, seed=0, k=2, stacks=2, per_stack=3):
    torch.manual_seed(seed)
    cfg = WaveNetConfig(stacks=stacks, layers_per_stack=per_stack, residual_channels=8, gate_channels=16,
                        skip_channels=8, kernel_size=k, speaker_dim=4, source_harmonics=harmonics)
    net = WaveNet(cfg, 256, 256, cond_channels=5, num_speakers=3).eval()
    with torch.no_grad():  # logits of order 1-10, a harder test
        for p in net.parameters():
            p.mul_(2.0)
    return net


def _source(b, t, harmonics, seed=0):
    g = np.random.default_rng(seed)
    n = -(-t // HOP)
    f0 = g.uniform(80, 400, (b, n))
    voiced = (g.random((b, n)) > 0.3).astype(np.float64)
    src, _ = sine_noise_source(f0, voiced, harmonics, HOP, SR, 0, n * HOP, g.uniform(-1, 1, (b, n * HOP)))
    return src[:, :, :t]


def test_source_is_a_line_spectrum_and_chunks_are_bit_exact():
    n = 250
    f0, voiced = np.full((1, n), 125.0), np.ones((1, n))
    noise = np.zeros((1, n * HOP))
    src, _ = sine_noise_source(f0, voiced, 4, HOP, SR, 0, n * HOP, noise)
    spec = np.abs(np.fft.rfft(src[0].sum(0).astype(np.float64)))
    freqs = np.fft.rfftfreq(n * HOP, 1 / SR)
    peaks = sorted(freqs[np.argsort(spec)[-4:]])
    assert peaks == pytest.approx([125, 250, 375, 500], abs=1.5)
    # harmonics at or above Nyquist are zero; unvoiced frames carry only the noise channel
    hi, _ = sine_noise_source(np.full((1, 4), 3000.0), np.ones((1, 4)), 4, HOP, SR, 0, 4 * HOP, noise[:, :4 * HOP])
    assert np.abs(hi[0, :2]).max() > 0.5 and not hi[0, 2:].any()
    g = np.random.default_rng(1)
    f0, voiced = g.uniform(60, 500, (2, n)), (g.random((2, n)) > 0.4).astype(float)
    noise = g.uniform(-1, 1, (2, n * HOP))
    whole, carry = sine_noise_source(f0, voiced, 5, HOP, SR, 0, n * HOP, noise)
    parts, c, a = [], None, 0
    for b in (1, 40, 41, 170, n):  # windows of just the frames each chunk needs
        fa, fb = max(0, a - 1), min(n, b + 1)
        s, c = sine_noise_source(f0[:, fa:fb], voiced[:, fa:fb], 5, HOP, SR, a * HOP, b * HOP,
                                 noise[:, a * HOP: b * HOP], first=fa, total=n, carry=c)
        parts.append(s)
        a = b
    np.testing.assert_array_equal(np.concatenate(parts, axis=2), whole)
    np.testing.assert_array_equal(c, carry)
    v = frames_at_samples(voiced, HOP, 0, n * HOP)
    assert not whole[:, -1][v == 1].any() and not whole[:, :-1][:, :, v[0] == 0][0].any()  # noise xor sines


def test_frames_at_samples_and_phase_match_the_torch_dsp():
    x = np.random.default_rng(0).uniform(50, 300, (2, 30))
    up = frames_at_samples(x, HOP, 0, 30 * HOP)
    np.testing.assert_allclose(up, upsample_frames(torch.from_numpy(x)[:, None], HOP)[:, 0].numpy(), atol=1e-9)
    phase, _ = frame_phase(up, HOP, SR)
    inc = np.concatenate([np.zeros((2, 1)), np.cumsum(up / SR, axis=1)[:, :-1]], axis=1)
    d = np.abs(phase - (inc - np.floor(inc)))
    assert np.minimum(d, 1 - d).max() < 1e-9


@pytest.mark.parametrize("backend", ["numba", "torch"])
@pytest.mark.parametrize("layout", [(2, 2, 3), (3, 1, 3)])
def test_incremental_equals_parallel_with_the_source(backend, layout):
    k, stacks, per = layout
    net = make_net(k=k, stacks=stacks, per_stack=per)
    b, t, repeat = 3, 96, 4
    g = torch.Generator().manual_seed(1)
    inputs = torch.randint(0, 256, (b, t), generator=g)
    frames, speaker = torch.randn(b, 5, t // repeat, generator=g), torch.tensor([0, 2, 1])
    src = torch.from_numpy(_source(b, t, 3)) * 3.0
    with torch.no_grad():
        ref = net(inputs, frames, speaker, cond_repeat=repeat, source=src).numpy().transpose(0, 2, 1)
        plain = net(inputs, frames, speaker, cond_repeat=repeat, source=src * 0).numpy().transpose(0, 2, 1)
    assert np.abs(ref - plain).max() > 0.1  # the source matters
    lc = layer_conditioning(net, frames, speaker)
    forced = torch.cat([inputs[:, 1:], torch.zeros(b, 1, dtype=torch.long)], dim=1)
    src_steps = src.permute(0, 2, 1).contiguous()  # [B, T, E]
    outs, t0 = [], 0
    st = NumbaStreams(pack_wavenet(net), np.full(b, t), 0) if backend == "numba" else TorchStreams(net, [t] * b, 0)
    st.cur_in[:] = inputs[:, 0].numpy() if backend == "numba" else inputs[:, 0]
    for n in (7, 33, 1, 55):
        sl = slice(t0, t0 + n)
        if backend == "numba":
            _, lg = st.step(n, lc.numpy(), repeat, 0, forced=forced[:, sl].numpy(), temperature=0, want_logits=True,
                            source=src_steps[:, sl].numpy())
        else:
            _, lg = st.step(n, lc, repeat, 0, forced=forced[:, sl], temperature=0, want_logits=True,
                            source=src_steps[:, sl])
            lg = lg.numpy()
        outs.append(lg)
        t0 += n
    got = np.concatenate(outs, axis=1)
    assert np.abs(ref).max() > 1.0
    assert np.abs(got - ref).max() < 1e-4
    with pytest.raises(ValueError, match="needs source"):
        st.step(1, lc.numpy() if backend == "numba" else lc, repeat, 0, temperature=0)


def test_config_rules_and_old_configs():
    assert WaveNetConfig().source_harmonics == 0 and WaveNetConfig().source_channels == 0
    assert WaveNetConfig(source_harmonics=8).source_channels == 9
    with pytest.raises(VQSpeechError, match="source_harmonics"):
        WaveNetConfig(source_harmonics=-1)
    with pytest.raises(VQSpeechError, match="needs an f0_head"):
        from_dict(VQVAEConfig, {"decoder": {"stacks": 1, "source_harmonics": 4}})
    with pytest.raises(VQSpeechError, match="no excitation"):
        PriorConfig(wavenet=WaveNetConfig(source_harmonics=2))
    plain = WaveNet(WaveNetConfig(stacks=1, layers_per_stack=2), 256, 256, 4, 0)
    assert not any("source" in k for k in plain.state_dict()) and pack_wavenet(plain).source_channels == 0


def tiny_source_config(speakers=("a", "b"), harmonics=4) -> VQVAEConfig:
    return from_dict(VQVAEConfig, {
        "speakers": list(speakers),
        "encoder": {"strides": [2, 2, 2, 2, 2, 2], "hidden_channels": 16, "residual_blocks": 1},
        "quantizer": {"num_codes": 32, "dim": 8},
        "decoder": {"stacks": 1, "layers_per_stack": 4, "residual_channels": 8, "gate_channels": 16,
                    "skip_channels": 8, "speaker_dim": 4, "input": "mulaw_scalar", "source_harmonics": harmonics},
        "f0_head": {"channels": 8, "layers": 2, "dilation_cycle": 2},
    })


@pytest.fixture(scope="module")
def src_model():
    from vqspeech.models import build_vqvae

    torch.manual_seed(0)
    m = build_vqvae(tiny_source_config())
    with torch.no_grad():  # voiced, finite pitch; a source strong enough to change the samples
        m.f0_head.out.bias.copy_(torch.tensor([3.0, 0.0]))
        for layer in m.decoder.layers:
            layer.source.weight.mul_(20.0)
    return m.eval()


def test_training_forward_backward_teacher_forced(src_model):
    wav = torch.randn(2, 1, 4096) * 0.1
    f0 = torch.full((2, 64), 120.0)
    f0[:, :10] = 0
    src_model.train()
    try:
        torch.manual_seed(5)
        out = src_model(wav, torch.tensor([0, 1]), f0)
        out.loss.backward()
        assert out.logits.shape == (2, 256, 4096) and set(out.f0_metrics) >= {"f0_loss", "f0_vde"}
        assert src_model.decoder.layers[0].source.weight.grad.abs().sum() > 0
        torch.manual_seed(5)  # the training noise comes from torch's (checkpointed) RNG: reproducible
        e1 = src_model.excitation(f0, 4096)
        torch.manual_seed(5)
        assert torch.equal(e1, src_model.excitation(f0, 4096)) and not torch.equal(e1, src_model.excitation(f0, 4096))
        with pytest.raises(ValueError, match="F0 track"):
            src_model(wav, torch.tensor([0, 1]))
    finally:
        src_model.eval()
        src_model.zero_grad()
    with torch.no_grad():  # eval mode: fixed noise
        a = src_model(wav, torch.tensor([0, 1]), f0).logits
        assert torch.equal(a, src_model(wav, torch.tensor([0, 1]), f0).logits)
        e = src_model.excitation(f0, 4096)
    assert e.shape == (2, 5, 4096) and e[:, :4, : 10 * HOP - HOP].abs().max() == 0 and e[:, :4].abs().max() > 0.9


def test_old_wavenet_model_dirs_load_unchanged(tmp_path):
    """A config.json without source_harmonics (written before it existed) loads, with the same weights."""
    import json

    from vqspeech.models import build_vqvae
    from vqspeech.models.io import load_model, model_fingerprint, save_model

    d = {"speakers": ["a"], "encoder": {"hidden_channels": 8, "residual_blocks": 1}, "quantizer": {"num_codes": 16,
         "dim": 4}, "decoder": {"stacks": 1, "layers_per_stack": 2, "residual_channels": 4, "gate_channels": 4,
                                "skip_channels": 4, "speaker_dim": 2}}
    torch.manual_seed(0)
    path = save_model(build_vqvae(from_dict(VQVAEConfig, d)), tmp_path / "m")
    meta = json.loads((path / "config.json").read_text())
    assert meta["config"]["decoder"]["source_harmonics"] == 0
    del meta["config"]["decoder"]["source_harmonics"]
    (path / "config.json").write_text(json.dumps(meta))
    fp = model_fingerprint(path)
    m = load_model(path)
    assert m.source_harmonics == 0 and not any("source" in k for k in m.state_dict())
    assert model_fingerprint(path) == fp


def test_decode_time_source_any_chunking_and_f0_shift(src_model, monkeypatch):
    import vqspeech.generate.wavenet_source as ws

    monkeypatch.setattr(ws, "HEAD_BLOCK", 50)  # several F0-head blocks in a short stream
    codes = np.random.default_rng(0).integers(0, 32, 170)
    total = 170 * HOP - 37

    def run(sizes, **kw):
        s = ws.WaveNetSource(src_model, codes, 1, seed=4, num_samples=total, **kw)
        out, t = [], 0
        for n in sizes:
            out.append(s.chunk(t, t + n))
            t += n
        return np.concatenate(out), s

    whole, s = run([170 * HOP])
    parts, _ = run([1, 63, 64, 1000, 3333, 170 * HOP - 4461])
    np.testing.assert_array_equal(parts, whole)
    assert whole.shape == (170 * HOP, 5) and not whole[total:].any() and np.abs(whole[:, 0]).max() > 0.9
    up, s_up = run([170 * HOP], f0_shift=2.0)
    np.testing.assert_allclose(s_up._frames(0, 170)[0] / s._frames(0, 170)[0], 2 ** (2 / 12), rtol=1e-6)
    assert not np.array_equal(up[:, 0], whole[:, 0]) and np.array_equal(up[:, -1], whole[:, -1])
    other = ws.WaveNetSource(src_model, codes, 1, seed=4, stream=1).chunk(0, 640)
    assert not np.array_equal(other[:, -1], whole[:640, -1]) or not other[:, -1].any()
    with pytest.raises(ValueError, match="follow each other"):
        s.chunk(0, 10)
    with pytest.raises(VQSpeechError, match="f0-shift"):
        ws.WaveNetSource(src_model, codes, 1, f0_shift=float("inf"))


def test_chunked_decoding_equals_whole_and_entry_points_agree(src_model):
    from vqspeech.generate import decode_codes, iter_decode

    codes = np.random.default_rng(3).integers(0, 32, 120)
    whole = decode_codes(src_model, [codes], [1], seed=7, chunk=120 * HOP, num_samples=[120 * HOP - 5])[0]
    for chunk in (64, 1000):
        got = decode_codes(src_model, [codes], [1], seed=7, chunk=chunk, num_samples=[120 * HOP - 5])[0]
        np.testing.assert_array_equal(got, whole)
    blocks = np.concatenate(list(iter_decode(src_model, codes, 1, seed=7, num_samples=120 * HOP - 5)))
    np.testing.assert_array_equal(blocks, whole)
    shifted = decode_codes(src_model, [codes], [1], seed=7, f0_shift=2.0)[0]
    assert not np.array_equal(shifted[: whole.size], whole)
    a = decode_codes(src_model, [codes, codes[:50]], [1, 0], temperature=0, backend="numba")
    b = decode_codes(src_model, [codes, codes[:50]], [1, 0], temperature=0, backend="torch")
    assert a[1].size == 50 * HOP and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
