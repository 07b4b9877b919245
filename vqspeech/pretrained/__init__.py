"""The bundled models, each a model directory written by `vqspeech.models.io.save_model`:
`default/` (the VQ-VAE every verb uses without --model) and `default_prior/` (its prior), plus other
bundled models addressable by name (`--model wavenet`, `--prior wavenet_prior`); MODEL_CARD.md
describes them. A name that is also an existing path means the path."""

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


def bundled_models() -> list[str]:
    """Names of the bundled model directories."""
    return sorted(p.name for p in PRETRAINED_DIR.iterdir() if (p / "config.json").is_file())


def resolve_model_path(path) -> Path:
    """`path` itself when it exists (or names a folder), else the bundled model of that name, else `path`."""
    p = Path(path)
    if p.exists() or len(p.parts) != 1:
        return p
    bundled = PRETRAINED_DIR / p.name
    return bundled if (bundled / "config.json").is_file() else p
