"""Speech sampled from the prior: codes from the prior, decoded with the VQ-VAE (`vqspeech sample`)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vqspeech.models.loading import check_prior
from vqspeech.speakers import resolve_speaker

__all__ = ["SampledSpeech", "check_prior", "sample_speech"]  # check_prior lives in models.loading


@dataclass
class SampledSpeech:
    codes: np.ndarray  # [N] int64 sampled from the prior
    num_samples: int  # samples of the waveform
    speaker: str | None  # the decoder's speaker (None for a model without speakers)
    wav: np.ndarray | None  # [num_samples] float32, when no path was given
    path: Path | None  # the file written, when a path was given


def sample_speech(vqvae, prior, seconds: float, speaker: str | None = None, *, temperature: float = 1.0,
                  seed: int | None = None, path: str | os.PathLike | None = None,
                  progress: bool = False, precision: str = "auto") -> SampledSpeech:
    """`seconds` of speech: codes sampled from `prior` (checked with `check_prior` by the caller), decoded
    by `vqvae` with the same temperature and seed. speaker: `resolve_speaker` (none: the first, said);
    the prior takes the same speaker when it is speaker-conditioned. Written atomically to `path` when
    given (streamed), else returned as `wav`."""
    from vqspeech.codec.api import decode_to_file, decode_to_waveform
    from vqspeech.generate import sample_codes

    spk_dec = resolve_speaker(vqvae.speakers, speaker, what="decoder")
    name = vqvae.speakers[spk_dec] if spk_dec is not None else speaker
    spk_prior = resolve_speaker(prior.speakers, name, what="prior") if prior.speakers else None
    n_samples = max(1, int(round(seconds * vqvae.sample_rate)))
    n_codes = -(-n_samples // int(vqvae.hop))
    codes = sample_codes(prior, n_codes, spk_prior, temperature=temperature, seed=seed, progress=progress)[0]
    kw = dict(temperature=temperature, seed=seed, num_samples=n_samples, progress=progress, precision=precision)
    if path is not None:
        out = decode_to_file(vqvae, codes, path, spk_dec, **kw)
        return SampledSpeech(codes, n_samples, name, None, out)
    return SampledSpeech(codes, n_samples, name, decode_to_waveform(vqvae, codes, spk_dec, **kw), None)
