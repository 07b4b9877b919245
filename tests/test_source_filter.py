"""The excitation source as DSP, the source-filter decoder, its chunked decoding and the F0 head."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vqspeech.config import from_dict
from vqspeech.errors import VQSpeechError
from vqspeech.models.config import VQVAEConfig
from vqspeech.models.source import (
    block_noise,
    filtered_noise,
    harmonic_phase,
    harmonics,
    nyquist_mask,
    upsample_frames,
)

SR, HOP = 16000, 64


def tiny_sf_config(speakers=("a", "b")) -> VQVAEConfig:
    return from_dict(VQVAEConfig, {
        "speakers": list(speakers),
        "encoder": {"strides": [2, 2, 2, 2, 2, 2], "hidden_channels": 16, "residual_blocks": 1},
        "quantizer": {"num_codes": 32, "dim": 8},
        "decoder": {"type": "source_filter", "channels": 16, "layers": 2, "dilation_cycle": 2, "speaker_dim": 4,
                    "harmonics": 16, "noise_bins": 17, "stft_sizes": [256, 64]},
        "f0_head": {"channels": 8, "layers": 2, "dilation_cycle": 2},
    })


def test_constant_f0_gives_a_line_spectrum():
    f0 = torch.full((1, SR), 125.0)
    phase, _ = harmonic_phase(f0, SR)
    amps = torch.zeros(1, 8, SR)
    amps[:, [0, 2]] = 0.3  # harmonics 1 and 3
    x = harmonics(phase, amps)[0].numpy()
    spec = np.abs(np.fft.rfft(x))  # 1 Hz bins
    peaks = set(np.argsort(spec)[-2:].tolist())
    assert peaks == {125, 375}
    assert spec[250] < 1e-3 * spec[125]


def test_phase_carried_across_chunks_equals_whole():
    f0 = torch.from_numpy(np.linspace(80, 300, 5000))[None].float()
    whole, end = harmonic_phase(f0, SR)
    a, mid = harmonic_phase(f0[:, :1234], SR)
    b, end2 = harmonic_phase(f0[:, 1234:], SR, mid)
    assert torch.allclose(torch.cat([a, b], 1), whole, atol=1e-9)
    assert torch.allclose(end, end2, atol=1e-9)


def test_harmonics_above_nyquist_are_masked():
    m = nyquist_mask(torch.tensor([[1000.0, 3000.0]]), 8, SR)
    assert m[0, :, 0].tolist() == [1.0] * 7 + [0.0]  # 8 x 1000 = 8000 Hz is at Nyquist
    assert m[0, :, 1].sum() == 2


def test_upsample_holds_ends_and_interpolates_between_centres():
    x = torch.tensor([[[0.0, 64.0]]])
    y = upsample_frames(x, HOP)[0, 0]
    assert y[0] == 0 and y[-1] == 64 and y.shape[0] == 128
    assert torch.all(torch.diff(y) >= 0)


def test_noise_is_a_function_of_the_absolute_sample():
    whole = block_noise(7, 0, 10000)
    parts = np.concatenate([block_noise(7, 0, 3000), block_noise(7, 3000, 5000), block_noise(7, 8000, 2000)], 1)
    assert np.array_equal(whole, parts)
    assert not np.array_equal(block_noise(8, 0, 100), block_noise(7, 0, 100))
    assert whole.min() >= -1 and whole.max() < 1


def test_filtered_noise_follows_the_magnitude_response():
    noise = torch.from_numpy(block_noise(0, 0, 200 * HOP))
    mags = torch.zeros(1, 200, 33)
    mags[..., :8] = 1.0  # a lowpass at ~ 8/32 of Nyquist = 2 kHz
    y = filtered_noise(noise, mags, HOP)[0].numpy()
    spec = np.abs(np.fft.rfft(y)) ** 2
    f = np.fft.rfftfreq(y.size, 1 / SR)
    assert spec[f < 1500].mean() > 100 * spec[f > 4000].mean()


@pytest.fixture
def sf_model():
    from vqspeech.models.vqvae import build_vqvae

    torch.manual_seed(0)
    m = build_vqvae(tiny_sf_config())
    with torch.no_grad():  # a voiced head with a finite pitch, so the harmonics are exercised
        m.f0_head.out.bias.copy_(torch.tensor([3.0, 0.0]))
    return m.eval()


def test_training_forward_backward(sf_model):
    sf_model.train()
    wav = torch.randn(2, 1, 4096) * 0.1
    f0 = torch.full((2, 64), 120.0)
    f0[:, :10] = 0
    out = sf_model(wav, torch.tensor([0, 1]), f0)
    out.loss.backward()
    assert out.wav.shape == (2, 4096) and out.logits is None
    assert set(out.f0_metrics) >= {"f0_loss", "f0_vde", "f0_gpe"}
    assert sf_model.encoder.convs[0].weight.grad.abs().sum() > 0  # the decoder's loss reaches the encoder
    with pytest.raises(ValueError, match="F0 track"):
        sf_model(wav, torch.tensor([0, 1]))


@pytest.mark.parametrize("backend", ["numba", "torch"])
@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_chunked_decoding_equals_whole(sf_model, backend, precision):
    from vqspeech.generate.source_filter import SourceFilterStream

    codes = np.random.default_rng(0).integers(0, 32, 700)
    whole = np.concatenate(list(SourceFilterStream(sf_model, codes, 1, seed=5, chunk_seconds=100, backend="torch",
                                                   precision=precision)))
    chunked = np.concatenate(list(SourceFilterStream(sf_model, codes, 1, seed=5, chunk_seconds=0.25,
                                                     backend=backend, precision=precision)))
    assert whole.shape == (700 * HOP,)
    assert np.abs(whole).max() > 1e-3
    np.testing.assert_allclose(chunked, whole, atol=2e-5 if precision == "float32" else 1e-4)


def test_bfloat16_decoding_is_close_to_float32_and_follows_the_weights(sf_model):
    from vqspeech.generate.source_filter import SourceFilterStream

    codes = np.random.default_rng(3).integers(0, 32, 500)

    def decode(precision):
        s = SourceFilterStream(sf_model, codes, 0, seed=2, precision=precision)
        return np.concatenate(list(s)), np.concatenate(s.f0_frames)

    (a, fa), (b, fb) = decode("float32"), decode("bfloat16")
    assert not np.array_equal(a, b)  # the bfloat16 path really ran
    assert np.abs(a - b).max() < 0.03 * np.abs(a).max()
    assert np.array_equal(fa > 0, fb > 0)
    both = (fa > 0) & (fb > 0)
    assert np.abs(12 * np.log2(fa[both] / fb[both])).max() < 0.1  # semitones
    with torch.no_grad():  # new weights: the bfloat16 copy is made again
        sf_model.decoder.blocks[0].conv.weight.mul_(4.0)
        sf_model.decoder.harm_out.bias.add_(torch.linspace(-2, 2, sf_model.decoder.harm_out.bias.numel()))
    (a2, _), (b2, _) = decode("float32"), decode("bfloat16")
    assert np.abs(a2 - a).max() > 0.1 * np.abs(a).max()
    assert np.abs(a2 - b2).max() < 0.03 * np.abs(a2).max()


def test_precision_rules(sf_model):
    from vqspeech.models import build_vqvae
    from vqspeech.models.precision import check_precision, resolve_precision

    assert resolve_precision("float32") == "float32" and resolve_precision("bfloat16") == "bfloat16"
    assert resolve_precision("auto") in ("float32", "bfloat16")
    with pytest.raises(VQSpeechError, match="precision 'fast'"):
        resolve_precision("fast")
    wavenet = build_vqvae(from_dict(VQVAEConfig, {"decoder": {"stacks": 1, "layers_per_stack": 2}})).eval()
    assert check_precision(wavenet, "auto") == "float32"
    with pytest.raises(VQSpeechError, match="only the source-filter decoder has a bfloat16 path"):
        check_precision(wavenet, "bfloat16")
    assert check_precision(sf_model, "bfloat16") == "bfloat16"


def test_decode_entry_points_agree_and_shift_pitch(sf_model):
    from vqspeech.codec.api import decode_to_waveform
    from vqspeech.generate import decode_codes
    from vqspeech.pitch.metrics import median_f0, semitones
    from vqspeech.pitch.track import track_f0

    codes = np.random.default_rng(1).integers(0, 32, 400)
    a = decode_to_waveform(sf_model, codes, 0, seed=3, num_samples=25000)
    b = decode_codes(sf_model, [codes], [0], seed=3, num_samples=[25000])[0]
    assert a.shape == (25000,) and b.shape == (25000,)
    up = decode_to_waveform(sf_model, codes, 0, seed=3, f0_shift=12.0)
    with torch.no_grad():  # a loud harmonic source, so the tracker hears the pitch
        sf_model.decoder.noise_out.bias.fill_(-20.0)
    base = decode_to_waveform(sf_model, codes, 0, seed=3)
    up = decode_to_waveform(sf_model, codes, 0, seed=3, f0_shift=12.0)
    st = semitones(median_f0(track_f0(up, SR, HOP)[0]), median_f0(track_f0(base, SR, HOP)[0]))
    assert st == pytest.approx(12.0, abs=0.5)
    with pytest.raises(VQSpeechError, match="f0-shift"):
        decode_to_waveform(sf_model, codes, 0, f0_shift=float("nan"))


def test_f0_shift_on_a_wavenet_model_is_an_error():
    from vqspeech.codec.api import decode_to_waveform
    from vqspeech.models import build_vqvae

    m = build_vqvae(from_dict(VQVAEConfig, {"decoder": {"stacks": 1, "layers_per_stack": 2, "residual_channels": 4,
                                                        "gate_channels": 4, "skip_channels": 4}})).eval()
    with pytest.raises(VQSpeechError, match="f0-shift needs a decoder driven by F0"):
        decode_to_waveform(m, np.zeros(4, np.int64), f0_shift=1.0)


def test_decoder_types_by_config(tmp_path, sf_model):
    from vqspeech.config import to_dict
    from vqspeech.models.io import load_model, save_model

    cfg = to_dict(sf_model.config)
    assert cfg["decoder"]["type"] == "source_filter"
    save_model(sf_model, tmp_path / "m")
    back = load_model(tmp_path / "m")
    assert back.decoder_type == "source_filter" and back.f0_head is not None
    with pytest.raises(VQSpeechError, match="unknown decoder type 'hifigan'"):
        from_dict(VQVAEConfig, {"decoder": {"type": "hifigan"}})
    with pytest.raises(VQSpeechError, match="needs an f0_head"):
        from_dict(VQVAEConfig, {"decoder": {"type": "source_filter"}})
    old = from_dict(VQVAEConfig, {"decoder": {"stacks": 1}})  # configs from before decoder types
    assert old.decoder.type == "wavenet" and old.f0_head is None


def test_chunk_margins_cover_the_receptive_fields(sf_model):
    """A code changed far outside a chunk's window never changes that chunk; one inside does."""
    from vqspeech.generate.source_filter import SourceFilterStream

    codes = np.random.default_rng(2).integers(0, 32, 600)
    base = np.concatenate(list(SourceFilterStream(sf_model, codes, 0, seed=1)))
    far = codes.copy()
    far[-1] = (far[-1] + 1) % 32
    out = np.concatenate(list(SourceFilterStream(sf_model, far, 0, seed=1)))
    reach = (sf_model.f0_head.context + sf_model.decoder.context) * HOP
    np.testing.assert_allclose(out[: 600 * HOP - reach - HOP], base[: 600 * HOP - reach - HOP], atol=1e-6)
    assert np.abs(out[-HOP:] - base[-HOP:]).max() > 0


def test_with_f0_head_continues_from_a_head_of_the_same_shape(sf_model):
    from vqspeech.models.config import F0HeadConfig
    from vqspeech.train.f0 import with_f0_head

    same = with_f0_head(sf_model, sf_model.config.f0_head)
    for k, v in sf_model.f0_head.state_dict().items():
        assert torch.equal(same.f0_head.state_dict()[k], v)
    other = with_f0_head(sf_model, from_dict(F0HeadConfig, {"channels": 12, "layers": 2, "dilation_cycle": 2}))
    assert other.f0_head.inp.out_channels == 12
    assert torch.equal(other.encoder.convs[0].weight, sf_model.encoder.convs[0].weight)


def test_numba_oscillator_bank_equals_a_direct_float64_one():
    """Harmonics above Nyquist and unvoiced frames skipped, runs of samples four at a time: the same signal
    as sum_k a_k(t) sin(2 pi k phi(t)) computed directly (and as the float32 torch path, to its rounding)."""
    from vqspeech.generate.harmonic_kernel import harmonics_numba

    rng = np.random.default_rng(4)
    n, k = 90, 48
    f0 = rng.uniform(80, 900, n)  # up to 900 Hz: most of the 48 harmonics masked
    amps = rng.uniform(0, 0.1, (k, n)) * nyquist_mask(torch.from_numpy(f0)[None], k, SR)[0].numpy()
    amps[:, 20:35] = 0.0  # an unvoiced stretch
    src = np.maximum((np.arange(n * HOP) + 0.5) / HOP - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(int), n - 1)
    i1 = np.minimum(i0 + 1, n - 1)
    lam = src - i0
    f = f0[i0] * (1 - lam) + f0[i1] * lam
    acc = 0.3 + np.concatenate([[0.0], np.cumsum(f / SR)])
    phi = acc[:-1] - np.floor(acc[:-1])
    a = amps[:, i0] * (1 - lam) + amps[:, i1] * lam
    ref = (a * np.sin(2 * np.pi * np.arange(1, k + 1)[:, None] * phi)).sum(0)
    out, p1 = harmonics_numba(f0, amps, HOP, SR, slice(0, n), 0.3)
    np.testing.assert_allclose(out, ref, atol=1e-6)
    assert p1 == pytest.approx(acc[-1] % 1.0, abs=1e-9)
    part, _ = harmonics_numba(f0, amps, HOP, SR, slice(7, 61), float(phi[7 * HOP]))
    np.testing.assert_allclose(part, ref[7 * HOP: 61 * HOP], atol=1e-6)
    torch_ref = harmonics(harmonic_phase(upsample_frames(torch.from_numpy(f0)[None, None].float(), HOP)[:, 0], SR,
                                         torch.tensor([0.3], dtype=torch.float64))[0],
                          upsample_frames(torch.from_numpy(amps)[None].float(), HOP))[0].numpy()
    np.testing.assert_allclose(out, torch_ref, atol=3e-4)
