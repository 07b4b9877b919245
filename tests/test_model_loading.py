"""The one VQ-VAE(+prior) loader (vqspeech.models.loading): kind, K, hop and fingerprints checked."""

from __future__ import annotations

import pytest

from tests.test_model_io import _prior, _vqvae
from vqspeech.errors import VQSpeechError
from vqspeech.models.config import PriorConfig, named_decoder_config
from vqspeech.models.io import model_fingerprint, save_model
from vqspeech.models.loading import check_prior, load_kind, load_prior, load_vqvae, prior_fits
from vqspeech.models.prior import build_prior


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("loading")
    save_model(_vqvae(), root / "vq")
    fp = model_fingerprint(root / "vq")
    for name, k, want in (("prior", 16, fp), ("other", 16, "0123456789abcdef"), ("k32", 32, fp)):
        save_model(build_prior(PriorConfig(num_codes=k, speakers=["a"], wavenet=named_decoder_config("tiny"),
                                           vqvae_fingerprint=want)).eval(), root / name)
    return root, fp


def test_kinds_are_checked(dirs):
    root, fp = dirs
    vq, got = load_vqvae(root / "vq")
    assert got == fp and not vq.training
    with pytest.raises(VQSpeechError, match=r"is a prior model, not a vqvae \(pass it as --prior\)"):
        load_vqvae(root / "prior")
    with pytest.raises(VQSpeechError, match=r"is a vqvae model, not a prior \(pass it as --model\)"):
        load_prior(root / "vq")
    with pytest.raises(VQSpeechError, match="expected a VQ-VAE model, got CodePrior"):
        load_vqvae(_prior())
    assert load_vqvae(vq) == (vq, None)
    assert load_kind(root / "prior", "prior")[1] == model_fingerprint(root / "prior")


def test_prior_must_fit_the_vqvae(dirs):
    root, fp = dirs
    vq, _ = load_vqvae(root / "vq")
    p, _ = load_prior(root / "prior", vq, fp)
    assert prior_fits(p, fp)
    with pytest.raises(VQSpeechError, match=r"k32: prior models 32 codes, the VQ-VAE has 16"):
        load_prior(root / "k32", vq, fp, ignore_mismatch=True)
    with pytest.raises(VQSpeechError, match="trained on VQ-VAE 0123456789abcdef, not this model.*--ignore-model"):
        load_prior(root / "other", vq, fp)
    notes: list[str] = []
    other, _ = load_prior(root / "other", vq, fp, ignore_mismatch=True, notes=notes)
    assert not prior_fits(other, fp) and len(notes) == 1 and "another VQ-VAE" in notes[0]
    check_prior(vq, other, None)  # no fingerprint to compare (a loaded VQ-VAE): K and hop only
