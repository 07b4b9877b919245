"""VQ-VAE invariants: code length, teacher forcing and targets, conditioning, gradients, speakers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vqspeech.audio import mu_law_encode
from vqspeech.config import from_dict, to_dict
from vqspeech.errors import VQSpeechError
from vqspeech.models.config import EncoderConfig, QuantizerConfig, VQVAEConfig, named_decoder_config
from vqspeech.models.vqvae import build_vqvae, mu_law_encode_torch


def tiny_config(strides=(2, 2, 2, 2, 2, 2), upsample="repeat", speakers=("a", "b"), **q) -> VQVAEConfig:
    return VQVAEConfig(speakers=list(speakers), encoder=EncoderConfig(strides=list(strides), hidden_channels=16,
                                                                      residual_blocks=1),
                       quantizer=QuantizerConfig(num_codes=16, dim=8, **q), decoder=named_decoder_config("tiny"),
                       upsample=upsample)


def _model(**kw):
    torch.manual_seed(0)
    return build_vqvae(tiny_config(**kw))


def test_mu_law_torch_matches_audio_module():
    x = np.concatenate([np.linspace(-1.2, 1.2, 20001), np.random.default_rng(0).uniform(-1, 1, 5000)])
    assert np.array_equal(mu_law_encode_torch(torch.from_numpy(x)).numpy(), mu_law_encode(x))
    assert mu_law_encode_torch(torch.zeros(1)).item() == 128


@pytest.mark.parametrize("strides,hop", [((2,) * 6, 64), ((2,) * 7, 128), ((2,) * 7 + (5,), 640)])
def test_code_length_ceil_T_over_hop(strides, hop):
    m = _model(strides=strides).eval()
    assert m.hop == m.config.hop == hop
    for T in (1, hop - 1, hop, hop + 1, 5 * hop + 3, 1234):
        codes = m.encode(torch.rand(1, 1, T) * 2 - 1)
        assert codes.shape == (1, math.ceil(T / hop)) and codes.dtype == torch.int64


@pytest.mark.parametrize("upsample", ["repeat", "transposed"])
def test_forward_targets_loss_and_conditioning(upsample):
    m = _model(upsample=upsample).eval()
    T = 300
    wav = torch.rand(2, 1, T) * 1.6 - 0.8
    spk = torch.tensor([0, 1])
    out = m(wav, spk)
    assert out.logits.shape == (2, 256, T) and out.codes.shape == (2, math.ceil(T / 64))
    targets = torch.from_numpy(mu_law_encode(wav[:, 0].numpy()))
    torch.testing.assert_close(out.recon_loss, F.cross_entropy(out.logits, targets))
    torch.testing.assert_close(out.loss, out.recon_loss + out.vq_loss)
    # the decoder sees the previous sample (first = 128) and the upsampled quantized codes
    inputs = torch.cat([torch.full((2, 1), 128), targets[:, :-1]], dim=1)
    cond = m.conditioning(out.codes)
    assert cond.shape == (2, 8, out.codes.shape[1] * 64)
    logits = m.decoder(inputs, cond[:, :, :T], spk)
    torch.testing.assert_close(out.logits, logits, rtol=1e-5, atol=1e-5)
    if upsample == "repeat":
        torch.testing.assert_close(cond, m.conditioning_frames(out.codes).repeat_interleave(64, dim=2))


def test_gradients_reach_encoder_codebook_and_decoder():
    m = _model().train()
    out = m(torch.rand(2, 1, 64 * 40) * 2 - 1, torch.tensor([1, 0]))  # 80 vectors > K = 16
    out.loss.backward()
    for part in (m.encoder, m.decoder):
        assert sum(p.grad.abs().sum().item() for p in part.parameters() if p.grad is not None) > 0
    assert m.quantizer.codebook.grad.abs().sum() > 0
    assert out.perplexity.item() >= 1.0 and 0 < out.usage.item() <= 1


def test_speakers():
    m = _model()
    assert m.speaker_index("b") == 1
    with pytest.raises(VQSpeechError, match="unknown speaker 'zz' .known: a, b"):
        m.speaker_index("zz")
    with pytest.raises(ValueError, match="speaker"):
        m(torch.zeros(1, 1, 64))
    solo = _model(speakers=())
    assert solo.decoder.speaker_embed is None
    assert solo(torch.zeros(1, 1, 64)).logits.shape == (1, 256, 64)


def test_config_round_trip_and_defaults():
    cfg = tiny_config(upsample="transposed", mode="ema")
    assert from_dict(VQVAEConfig, to_dict(cfg)) == cfg
    d = VQVAEConfig()
    assert (d.hop, d.quantizer.num_codes, d.quantizer.dim, d.code_rate) == (64, 512, 64, 250.0)
    with pytest.raises(VQSpeechError, match="unknown key 'encoder.stride'"):
        from_dict(VQVAEConfig, {"encoder": {"stride": [2]}})
    with pytest.raises(VQSpeechError, match="upsample"):
        from_dict(VQVAEConfig, {"upsample": "linear"})
