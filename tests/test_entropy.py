"""Range coding with the prior: exact round trips, sizes close to the prior's NLL, wrong prior refused."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vqspeech.codec.entropy import entropy_decode, entropy_encode, probabilities
from vqspeech.errors import VQSpeechError
from vqspeech.models.config import PriorConfig, named_decoder_config
from vqspeech.models.prior import build_prior


def tiny_prior(k: int = 32, speakers=("alice", "bob"), seed: int = 0):
    torch.manual_seed(seed)
    prior = build_prior(PriorConfig(num_codes=k, speakers=list(speakers), wavenet=named_decoder_config("tiny")))
    with torch.no_grad():  # sharpen the output so that the codes are predictable and compress
        prior.wavenet.out2.weight.mul_(20)
    return prior.eval()


def test_probabilities_deterministic_and_positive():
    logits = np.array([[0.0, 1.0, -50.0, 1.0 + 1e-7]], dtype=np.float32)
    w = probabilities(logits)
    assert w.dtype == np.float64 and (w >= 1).all() and np.all(w == np.rint(w))
    assert w[0, 1] == w[0, 3] == 2 ** 24 and w[0, 0] == round(2 ** 24 * math.exp(-1))


@pytest.mark.parametrize("speakers", [("alice", "bob"), ()])
def test_round_trip_exact(speakers):
    from vqspeech.generate import sample_codes

    prior = tiny_prior(speakers=speakers)
    spk = 1 if speakers else None
    codes = sample_codes(prior, 600, spk, seed=0)[0]
    words, params = entropy_encode(prior, codes, "bob" if speakers else None, prior_fingerprint="f")
    assert params["prior_speaker"] == ("bob" if speakers else None)
    np.testing.assert_array_equal(entropy_decode(prior, words, codes.size, params), codes)
    # the size is what the prior's likelihood says (plus a word or two of coder overhead)
    with torch.no_grad():
        spk_t = torch.tensor([spk]) if speakers else None
        nll = prior.nll_bits(torch.from_numpy(codes)[None], spk_t, reduce=False).sum().item()
    bits = words.size * 32
    assert nll - 64 < bits < nll * 1.02 + 64, (bits, nll)
    assert bits < codes.size * 5  # fixed-length coding would take 5 bits per code (K=32)
    # random codes cost more than the prior's own samples
    rand = np.random.default_rng(0).integers(0, 32, 600)
    w2, p2 = entropy_encode(prior, rand, "bob")
    np.testing.assert_array_equal(entropy_decode(prior, w2, 600, p2), rand)
    assert w2.size > words.size


def test_wrong_prior_or_damage_detected():
    prior = tiny_prior()
    codes = np.random.default_rng(1).integers(0, 32, 200)
    words, params = entropy_encode(prior, codes, "alice")
    with pytest.raises(VQSpeechError, match="CRC"):
        entropy_decode(tiny_prior(seed=1), words, codes.size, params)
    with pytest.raises(VQSpeechError, match="does not know speaker"):
        entropy_decode(tiny_prior(speakers=("x",)), words, codes.size, params)
    with pytest.raises(VQSpeechError, match="codes must be"):
        entropy_encode(prior, np.array([32]))
