"""Audio in and out: loading any soundfile-readable file as mono float32 at the model's rate, atomic
saving. The only module that touches soundfile and soxr. 8-bit mu-law companding lives in
`vqspeech.mulaw` (numpy only) and is re-exported here.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from vqspeech.errors import VQSpeechError
from vqspeech.fileutil import atomic_path
from vqspeech.mulaw import MU_LAW_CHANNELS, mu_law_decode, mu_law_encode  # noqa: F401 - re-exported

log = logging.getLogger(__name__)

DEFAULT_SAMPLE_RATE = 16000  # the paper's and the default model's rate


def read_audio(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """Read a file as it is: `([T, C] float32 in [-1, 1], sample_rate)`, with one-line errors."""
    path = Path(path)
    if not path.exists():
        raise VQSpeechError(f"{path}: no such file")
    if path.is_dir():
        raise VQSpeechError(f"{path}: is a directory, not an audio file")
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as err:
        detail = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise VQSpeechError(f"{path}: not a readable audio file ({detail})") from None
    return data, int(rate)


def load_audio(
    path: str | os.PathLike, sample_rate: int = DEFAULT_SAMPLE_RATE, check: bool = True
) -> np.ndarray:
    """Load `path` as mono float32 at `sample_rate`.

    Returns `wav: [T] float32 in [-1, 1]`. Channels are averaged; other rates are resampled with soxr
    (high quality). Empty audio and NaN/inf samples are errors; silent or clipped input logs a warning.
    """
    data, rate = read_audio(path)
    wav = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    if check:
        check_audio(wav, name=str(path))
    return resample(wav, rate, sample_rate)


def check_audio(wav: np.ndarray, name: str = "audio") -> None:
    """Raise on empty or non-finite audio; warn about all-silent or clipped audio."""
    if wav.size == 0:
        raise VQSpeechError(f"{name}: the file holds no audio samples")
    if not np.all(np.isfinite(wav)):
        raise VQSpeechError(f"{name}: audio contains NaN or infinite samples")
    peak = float(np.max(np.abs(wav)))
    if peak == 0.0:
        log.warning("%s: audio is all silence", name)
    elif np.mean(np.abs(wav) >= 0.999) > 0.001:
        log.warning("%s: audio looks clipped (%.1f%% of samples at full scale)", name,
                    100 * np.mean(np.abs(wav) >= 0.999))


def resample(wav: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Resample `wav: [T]` from `rate_in` to `rate_out` Hz (soxr, high quality); float32 out."""
    if rate_in == rate_out:
        return np.ascontiguousarray(wav, dtype=np.float32)
    return soxr.resample(wav.astype(np.float32), rate_in, rate_out, quality="HQ").astype(np.float32)


def save_audio(
    path: str | os.PathLike, wav: np.ndarray, sample_rate: int = DEFAULT_SAMPLE_RATE, subtype: str | None = None
) -> Path:
    """Write `wav: [T] float in [-1, 1]` atomically; the format follows the extension (wav, flac, ogg).

    Values are clipped to [-1, 1]. WAV defaults to 16-bit PCM.
    """
    path = Path(path)
    fmt = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG"}.get(path.suffix.lower())
    if fmt is None:
        raise VQSpeechError(f"{path}: unsupported output extension (use .wav, .flac or .ogg)")
    wav = np.clip(np.asarray(wav, dtype=np.float32).reshape(-1), -1.0, 1.0)
    if subtype is None:
        subtype = {"WAV": "PCM_16", "FLAC": "PCM_16", "OGG": "VORBIS"}[fmt]
    with atomic_path(path) as tmp:
        sf.write(str(tmp), wav, sample_rate, format=fmt, subtype=subtype)
    return path


def audio_duration(path: str | os.PathLike) -> float:
    """Duration in seconds from the file header (no decoding)."""
    try:
        return float(sf.info(str(path)).duration)
    except (sf.LibsndfileError, RuntimeError) as err:
        raise VQSpeechError(f"{path}: not a readable audio file ({err})") from None
