"""Encoder invariants: code length ceil(T / hop) for every T (hop 64, 128, 640); measured context."""

from __future__ import annotations

import math

import pytest
import torch

from vqspeech.models.config import EncoderConfig
from vqspeech.models.encoder import Encoder

torch.manual_seed(0)


@pytest.mark.parametrize("strides,hop", [([2] * 6, 64), ([2] * 7, 128), ([2] * 7 + [5], 640), ([5, 2, 1], 10)])
def test_code_length_is_ceil_T_over_hop(strides, hop):
    enc = Encoder(EncoderConfig(strides=strides, hidden_channels=8, residual_blocks=1), out_dim=4).eval()
    assert enc.hop == hop
    lengths = sorted({1, 2, hop - 1, hop, hop + 1, 2 * hop - 1, 3 * hop + 7, 1000, 1601, 4 * hop})
    with torch.no_grad():
        for T in lengths:
            z = enc(torch.randn(2, 1, T))
            assert z.shape == (2, 4, math.ceil(T / hop)), (T, z.shape)
            assert enc.num_frames(T) == math.ceil(T / hop)


def test_default_is_hop_64_with_documented_context():
    enc = Encoder(EncoderConfig(), out_dim=64)
    assert enc.hop == 64 and enc.context == (63, 63) and enc.receptive_field == 190


@pytest.mark.parametrize("strides", [[2, 2, 2], [5, 2]])
def test_measured_receptive_field_matches_context(strides):
    torch.manual_seed(1)
    enc = Encoder(EncoderConfig(strides=strides, hidden_channels=16, residual_blocks=1), out_dim=4).double()
    hop = enc.hop
    T = 12 * hop
    wav = torch.randn(16, 1, T, dtype=torch.float64, requires_grad=True)
    n = 6  # a frame away from both edges
    enc(wav)[:, :, n].abs().sum().backward()
    support = torch.nonzero(wav.grad.abs().sum(dim=(0, 1)) > 0).flatten()
    left, right = enc.context
    assert support.min().item() == n * hop - left
    assert support.max().item() == n * hop + hop - 1 + right
    assert support.max().item() - support.min().item() + 1 == enc.receptive_field


def test_rejects_wrong_shape():
    enc = Encoder(EncoderConfig(hidden_channels=4), out_dim=2)
    with pytest.raises(ValueError, match=r"\[B, 1, T\]"):
        enc(torch.zeros(1, 100))


def test_latents_depend_on_the_audio_at_init():
    """Guards against an init under which every frame maps to nearly the same latent (codebook collapse)."""
    import torch

    from vqspeech.models.config import EncoderConfig
    from vqspeech.models.encoder import Encoder

    torch.manual_seed(0)
    enc = Encoder(EncoderConfig(), out_dim=64)
    t = torch.arange(16000) / 16000
    wav = (0.1 * torch.sin(2 * torch.pi * 150 * t * (1 + t)) + 0.02 * torch.randn(16000))[None, None]
    z = enc(wav)[0].T  # [N, D]
    spread = z.std(0).mean()
    assert spread > 0.2 * z.mean(0).abs().mean()
