"""Prior invariants: causal (logits at t see codes < t only), measured receptive field, nll in bits."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from vqspeech.config import from_dict, to_dict
from vqspeech.errors import VQSpeechError
from vqspeech.models.config import PriorConfig, named_decoder_config
from vqspeech.models.prior import build_prior


def _prior(speakers=()):
    torch.manual_seed(0)
    return build_prior(PriorConfig(num_codes=32, speakers=list(speakers),
                                   wavenet=named_decoder_config("tiny"))).double().eval()


@pytest.mark.parametrize("speakers", [(), ("x", "y")])
def test_causal_with_measured_receptive_field(speakers):
    p = _prior(speakers)
    rf = p.wavenet.receptive_field
    N = 3 * rf
    codes = torch.randint(0, 32, (2, N), generator=torch.Generator().manual_seed(0))
    spk = torch.tensor([0, 1]) if speakers else None
    with torch.no_grad():
        base = p(codes, spk)
        assert base.shape == (2, 32, N)
        for t0 in (0, 5, rf):
            c2 = codes.clone()
            c2[:, t0] = (c2[:, t0] + 7) % 32
            diff = (p(c2, spk) - base).abs().amax(dim=(0, 1))
            changed = torch.nonzero(diff > 0).flatten()
            # codes[t0] is predicted, not seen, at t0: it influences t0 + 1 .. t0 + rf only
            assert changed.min().item() == t0 + 1
            assert changed.max().item() == t0 + rf


def test_nll_bits():
    p = _prior()
    codes = torch.randint(0, 32, (2, 20))
    with torch.no_grad():
        logits = p(codes)
        expected = F.cross_entropy(logits, codes) / math.log(2)
        torch.testing.assert_close(p.nll_bits(codes), expected)
        per = p.nll_bits(codes, reduce=False)
    assert per.shape == (2, 20)
    torch.testing.assert_close(per.mean(), expected)
    assert p.start_token == 32 and p.wavenet.in_classes == 33 and p.wavenet.out_classes == 32


def test_speaker_conditioning_and_errors():
    p = _prior(("x", "y"))
    codes = torch.randint(0, 32, (1, 10))
    with torch.no_grad():
        a, b = p(codes, torch.tensor([0])), p(codes, torch.tensor([1]))
    assert (a - b).abs().amax(dim=(0, 1)).gt(0).all()
    assert p.speaker_index("y") == 1
    with pytest.raises(VQSpeechError, match="unknown speaker"):
        p.speaker_index("z")
    with pytest.raises(ValueError, match="speaker"):
        p(codes)
    cfg = PriorConfig(num_codes=64, hop=640, speakers=["a"], vqvae_fingerprint="abc")
    assert from_dict(PriorConfig, to_dict(cfg)) == cfg and cfg.code_rate == 25.0
