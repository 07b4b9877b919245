"""Inputs of the phone analysis: alignments (+ folding), codes from a model or from `.vqs` files.

- `load_alignments(data_dir, alignments=None, fold=None)`: `<data_dir>/ctm` or a CTM / TIMIT .PHN /
  TextGrid path (`vqspeech.data.alignments.read_alignments`), folded with the built-in TIMIT 61->39 map
  (`fold="timit"`) or a map file (`read_phone_map`).
- `encode_utterances(model, data, utts)`: codes of each utterance with a VQ-VAE, batched and exact
  (identical to encoding each utterance alone).
- `read_codes_dir(path, utts, prior=None)`: codes from the `<utt>.vqs` files under `path`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vqspeech.errors import VQSpeechError

log = logging.getLogger(__name__)


@dataclass
class Codes:
    """Codes of some utterances and what is needed to put them on a time axis."""

    codes: dict[str, np.ndarray]  # utt -> [N_u] int64
    durations: dict[str, float]  # utt -> audio seconds
    hop: int  # samples per code
    sample_rate: int  # Hz
    num_codes: int  # K


def load_alignments(data_dir: str | os.PathLike, alignments: str | os.PathLike | None = None,
                    fold: str | os.PathLike | None = None) -> dict[str, list[Any]]:
    """Phone alignments: `alignments` (CTM, TIMIT .PHN file/dir, TextGrid file/dir) or `<data_dir>/ctm`.

    fold: None, "timit" (the built-in 61 -> 39 map) or a phone map file (`<phone> <folded>` lines).
    Returns utt -> list of PhoneInterval (seconds from the utterance start).
    """
    path = Path(alignments) if alignments is not None else Path(data_dir) / "ctm"
    if not path.exists():
        hint = "" if alignments is not None else " (pass --alignments: a CTM, TIMIT .PHN or TextGrid file or dir)"
        raise VQSpeechError(f"{path}: no such alignment file{hint}")
    try:
        from vqspeech.data import alignments as amod
    except ImportError:  # the alignment readers are not installed yet: CTM only
        amod = None
    if amod is not None:
        ali = amod.read_alignments(path)
    elif path.is_file():
        from vqspeech.data.kaldi import read_ctm

        ali = read_ctm(path)
    else:
        raise VQSpeechError(f"{path}: only CTM files can be read here (vqspeech.data.alignments is missing)")
    if fold is not None:
        if amod is None:
            raise VQSpeechError("--fold needs vqspeech.data.alignments, which is missing from this install")
        mapping = amod.TIMIT_61_TO_39 if str(fold).lower() == "timit" else amod.read_phone_map(fold)
        ali = amod.fold_phones(ali, mapping)
    if not ali:
        raise VQSpeechError(f"{path}: no phone alignments in it")
    return dict(ali)


def _batches(utts: list[str], lengths: dict[str, int], batch_size: int, max_samples: int) -> list[list[str]]:
    """Utterances sorted by length, grouped into batches of at most `batch_size` and `max_samples` padded."""
    order = sorted(utts, key=lambda u: (lengths[u], u))
    out: list[list[str]] = []
    cur: list[str] = []
    for u in order:
        if cur and (len(cur) >= batch_size or lengths[u] * (len(cur) + 1) > max_samples):
            out.append(cur)
            cur = []
        cur.append(u)
    if cur:
        out.append(cur)
    return out


def encode_utterances(model: Any, data: Any, utts: Sequence[str], batch_size: int = 16,
                      max_batch_seconds: float = 160.0, progress: bool = True) -> Codes:
    """Encode `utts` of DataDir `data` with VQVAE `model` (eval mode); audio resampled to its rate.

    Returns codes `[ceil(T_u / hop)]` per utterance; a progress bar on stderr counts utterances.
    """
    from vqspeech.codec.api import encode_batch
    from vqspeech.data.kaldi import load_utterance
    from vqspeech.progress import progress_bar

    model.eval()
    sr = int(model.sample_rate)
    wavs: dict[str, np.ndarray] = {}
    durs = getattr(data, "utt2dur", None) or {}
    if all(u in durs for u in utts):  # batch by the listed durations, load audio one batch at a time
        lengths = {u: max(1, round(durs[u] * sr)) for u in utts}
    else:  # batch by the real lengths: load everything first
        for u in progress_bar(utts, desc="loading audio", unit="utt", disable=not progress, leave=False):
            wavs[u] = load_utterance(data, u, sample_rate=sr)
        lengths = {u: len(w) for u, w in wavs.items()}
    codes: dict[str, np.ndarray] = {}
    seconds: dict[str, float] = {}
    empty: list[str] = []
    bar = progress_bar(total=len(utts), desc="encoding", unit="utt", disable=not progress)
    for group in _batches(list(utts), lengths, max(1, batch_size), int(max_batch_seconds * sr)):
        batch = {u: wavs.pop(u) if u in wavs else load_utterance(data, u, sample_rate=sr) for u in group}
        empty += [u for u, w in batch.items() if len(w) == 0]
        batch = {u: w for u, w in batch.items() if len(w)}
        if batch:
            for u, c in zip(batch, encode_batch(model, list(batch.values())), strict=True):
                codes[u], seconds[u] = c, len(batch[u]) / sr
        bar.update(len(group))
    bar.close()
    if empty:
        log.warning("%d utterances have no audio and are skipped (e.g. %s)", len(empty), empty[0])
    return Codes(codes, seconds, int(model.hop), sr,
                 int(model.config.quantizer.num_codes))


def read_codes_dir(path: str | os.PathLike, utts: Sequence[str] | None = None,
                   prior: str | os.PathLike | None = None) -> Codes:
    """Codes from the `<utt>.vqs` files under `path` (searched recursively, as `vqspeech encode DIR`
    mirrors its input tree): all of them, or those of `utts`. Entropy-coded files need `prior` (the
    prior model dir that coded them)."""
    from vqspeech.codec.files import read_codes

    path = Path(path)
    if not path.is_dir():
        raise VQSpeechError(f"{path}: not a directory of .vqs files")
    files: dict[str, Path] = {}
    for f in sorted(path.rglob("*.vqs")):
        if f.stem in files:
            raise VQSpeechError(f"{f}: utterance {f.stem} also has {files[f.stem]}")
        files[f.stem] = f
    if utts is not None:
        wanted = set(utts)
        files = {u: f for u, f in files.items() if u in wanted}
    if not files:
        raise VQSpeechError(f"{path}: no .vqs files" + (" for the data dir's utterances" if utts else ""))
    loaded: list[Any] = []

    def prior_loader() -> Any:
        if prior is None:
            raise VQSpeechError(f"{path}: holds entropy-coded .vqs files: pass the prior that coded them (--prior)")
        if not loaded:
            from vqspeech.models.loading import load_kind

            loaded.append(load_kind(prior, "prior"))
        return loaded[0]

    codes: dict[str, np.ndarray] = {}
    durations: dict[str, float] = {}
    meta: tuple[int, int, int] | None = None
    for utt, f in files.items():
        header, c = read_codes(f, prior_loader)
        m = (int(header.hop), int(header.sample_rate), int(header.num_codes))
        if meta is not None and m != meta:
            raise VQSpeechError(f"{f}: hop/sample rate/codebook {m} differ from the other files' {meta}")
        meta = m
        codes[utt] = np.asarray(c, dtype=np.int64).reshape(-1)
        durations[utt] = (header.num_samples or codes[utt].size * m[0]) / m[1]
    assert meta is not None
    return Codes(codes, durations, *meta)
