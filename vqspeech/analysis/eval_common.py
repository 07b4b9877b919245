"""Shared pieces of the evaluations: loading models and data, encoding, batched decoding, tables."""

from __future__ import annotations

import logging
import math
import os
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vqspeech.errors import VQSpeechError

log = logging.getLogger(__name__)


def model_name(src: Any) -> str:
    """A short name: the dir name (its parent's for `.../model`), or the class name of a loaded model."""
    if isinstance(src, (str, os.PathLike)):
        p = Path(src).resolve()
        name = p.parent.name if p.name == "model" and p.parent.name else p.name
    else:
        name = type(src).__name__.lower()
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name) or "model"


def load_vqvae(model: Any, device: str = "cpu") -> tuple[Any, str, str | None]:
    """A model dir (None = the bundled one) or a loaded VQVAE -> (VQVAE in eval mode, name, fingerprint)
    (`models.loading.load_vqvae`).

    On a CUDA `device` decoding uses the torch incremental generator, on the CPU the numba kernel."""
    from vqspeech.models import loading

    if model is None:
        from vqspeech.pretrained import default_model_dir

        model = default_model_dir()
    vq, fp = loading.load_vqvae(model, device)
    return vq, model_name(model), fp


def load_prior(prior: Any, model: Any, fingerprint: str | None) -> tuple[Any, list[str]]:
    """A prior dir or loaded CodePrior, checked against the VQ-VAE (`models.loading.load_prior`: same K and
    hop) -> (CodePrior, notes). A prior trained on another VQ-VAE's codes is evaluated all the same: the
    evaluation says so in its notes."""
    from vqspeech.models import loading

    notes: list[str] = []
    p, _ = loading.load_prior(prior, model, fingerprint, ignore_mismatch=True, notes=notes)
    return p, notes


def read_data(data: Any):
    """A data dir path or a DataDir -> DataDir."""
    from vqspeech.data.kaldi import DataDir, read_data_dir

    if isinstance(data, DataDir):
        return data
    p = Path(data)
    if not p.is_dir():
        raise VQSpeechError(f"{p}: not a directory (expected a Kaldi data dir with wav.scp and utt2spk)")
    return read_data_dir(p)


def select_utts(data, max_utts: int | None) -> list[str]:
    utts = data.utterances()
    if not utts:
        raise VQSpeechError(f"{data.path}: no utterances")
    if max_utts is not None:
        if max_utts < 1:
            raise VQSpeechError(f"max_utts must be >= 1, got {max_utts}")
        utts = utts[:max_utts]
    return utts


def speaker_index(model_speakers: Sequence[str], spk: str | None, notes: list[str], what: str = "decoder") -> int:
    """The model's index for an utterance of speaker `spk` (`vqspeech.speakers.resolve_speaker` with `spk` as
    the source: unknown -> the first speaker, noted once in `notes`); 0 for a model without speakers."""
    from vqspeech.speakers import resolve_speaker

    idx = resolve_speaker(model_speakers, None, source=spk, what=what, notes=notes)
    return 0 if idx is None else idx


def decode_many(model, codes: Sequence[np.ndarray], speakers: Sequence[int], lengths: Sequence[int], *,
                temperature: float, seed: int, batch_size: int, progress: bool, desc: str = "decode",
                precision: str = "auto") -> list[np.ndarray]:
    """Decode streams in batches of `batch_size` (numba on the CPU); lengths trims each to its samples;
    precision: of a source-filter decoder (`vqspeech.models.precision`)."""
    from vqspeech.generate import decode_codes

    out: list[np.ndarray] = []
    for b0 in range(0, len(codes), batch_size):
        sl = slice(b0, b0 + batch_size)
        if progress:
            print(f"{desc}: streams {b0 + 1}-{min(b0 + batch_size, len(codes))} of {len(codes)}", file=sys.stderr)
        out += decode_codes(model, list(codes[sl]), [int(s) for s in speakers[sl]], temperature=temperature,
                            seed=seed + b0, num_samples=[int(n) for n in lengths[sl]], progress=progress,
                            precision=precision)
    return out


def progress_iter(items: Iterable, total: int, enabled: bool, desc: str) -> Iterable:
    if not enabled:
        return items
    from vqspeech.progress import progress_bar

    return progress_bar(items, total=total, desc=desc, file=sys.stderr, dynamic_ncols=True)


def fmt(v: Any, digits: int = 2) -> str:
    """A table cell: numbers rounded, None / NaN as 'n/a'."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def mean_of(rows: Sequence[dict[str, Any]], key: str) -> float | None:
    v = [r[key] for r in rows if r.get(key) is not None and math.isfinite(r[key])]
    return float(np.mean(v)) if v else None
