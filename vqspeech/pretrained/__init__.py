"""The bundled default models: `default/` (the VQ-VAE) and `default_prior/` (its prior), each a model
directory written by `vqspeech.models.io.save_model`. Until a model is trained and bundled, asking
for one raises a VQSpeechError that says how to get one."""

from __future__ import annotations

from pathlib import Path

from vqspeech.errors import VQSpeechError

PRETRAINED_DIR = Path(__file__).resolve().parent


def _bundled(name: str, what: str, how: str) -> Path:
    path = PRETRAINED_DIR / name
    if not (path / "config.json").is_file():
        raise VQSpeechError(f"no bundled default {what} yet: {how}")
    return path


def default_model_dir() -> Path:
    """The bundled VQ-VAE directory (`vqspeech/pretrained/default`)."""
    return _bundled("default", "model", "train one with `vqspeech train vqvae ...` (see recipes/synth) "
                    "or pass --model DIR")


def default_prior_dir() -> Path:
    """The bundled prior directory (`vqspeech/pretrained/default_prior`)."""
    return _bundled("default_prior", "prior", "train one with `vqspeech train prior ...` (see recipes/synth) "
                    "or pass --prior DIR")
