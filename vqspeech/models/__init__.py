"""The networks: strided-conv encoder, vector quantizer, WaveNet decoder and prior, and their files.

Configs (`vqspeech.models.config`) import without torch; the modules below are imported lazily so that
`from vqspeech.models import VQVAEConfig` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "EncoderConfig": "config", "QuantizerConfig": "config", "WaveNetConfig": "config",
    "VQVAEConfig": "config", "PriorConfig": "config", "named_decoder_config": "config",
    "WaveNet": "wavenet", "WaveNetLayer": "wavenet",
    "Encoder": "encoder",
    "VectorQuantizer": "quantizer", "QuantizerOutput": "quantizer",
    "VQVAE": "vqvae", "VQVAEOutput": "vqvae", "build_vqvae": "vqvae", "mu_law_encode_torch": "vqvae",
    "CodePrior": "prior", "build_prior": "prior",
    "save_model": "io", "load_model": "io", "model_fingerprint": "io", "FORMAT_VERSION": "io",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'vqspeech.models' has no attribute '{name}'")
    return getattr(importlib.import_module(f"vqspeech.models.{_EXPORTS[name]}"), name)
