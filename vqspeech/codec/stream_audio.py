"""Reading and writing long audio files block by block (bounded memory).

`vqspeech.audio` loads and saves whole arrays; a one-hour file at 44.1 kHz stereo is 1.3 GB as float32,
so the codec streams instead. Same conventions as `vqspeech.audio.load_audio`: channels averaged,
resampled with soxr (HQ, streaming), empty or non-finite audio is an error.
(These two helpers belong in vqspeech/audio.py; they live here until its owner takes them.)
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from vqspeech.codec.bitstream import public_mode
from vqspeech.errors import VQSpeechError
from vqspeech.fileutil import atomic_path

log = logging.getLogger(__name__)


def iter_audio_blocks(path: str | os.PathLike, sample_rate: int, block_seconds: float = 10.0) -> Iterator[np.ndarray]:
    """Yield `[n] float32` mono blocks of `path` at `sample_rate` (lengths vary; some may be empty)."""
    path = Path(path)
    if not path.exists():
        raise VQSpeechError(f"{path}: no such file")
    if path.is_dir():
        raise VQSpeechError(f"{path}: is a directory, not an audio file")
    if not os.access(path, os.R_OK):
        raise VQSpeechError(f"{path}: not readable (permission denied)")
    try:
        f = sf.SoundFile(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as err:
        detail = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise VQSpeechError(f"{path}: not a readable audio file ({detail})") from None
    with f:
        rate = int(f.samplerate)
        rs = soxr.ResampleStream(rate, sample_rate, 1, dtype="float32", quality="HQ") if rate != sample_rate else None
        total, peak = 0, 0.0
        try:
            for block in f.blocks(blocksize=max(1, int(block_seconds * rate)), dtype="float32", always_2d=True):
                mono = block.mean(axis=1, dtype=np.float32) if block.shape[1] > 1 else block[:, 0]
                if not np.all(np.isfinite(mono)):
                    raise VQSpeechError(f"{path}: audio contains NaN or infinite samples")
                total += mono.size
                if mono.size:
                    peak = max(peak, float(np.max(np.abs(mono))))
                yield np.ascontiguousarray(rs.resample_chunk(mono) if rs is not None else mono, dtype=np.float32)
        except (sf.LibsndfileError, RuntimeError) as err:
            raise VQSpeechError(f"{path}: unreadable audio data ({str(err).splitlines()[0]})") from None
        if total == 0:
            raise VQSpeechError(f"{path}: the file holds no audio samples")
        if peak == 0.0:
            log.warning("%s: audio is all silence", path)
        if rs is not None:
            yield np.ascontiguousarray(rs.resample_chunk(np.zeros(0, np.float32), last=True), dtype=np.float32)


@contextlib.contextmanager
def audio_writer(path: str | os.PathLike, sample_rate: int) -> Iterator:
    """Context manager yielding `write(block: [n] float)`; the file appears atomically on success only."""
    path = Path(path)
    fmt = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG"}.get(path.suffix.lower())
    if fmt is None:
        raise VQSpeechError(f"{path}: unsupported output extension (use .wav, .flac or .ogg)")
    subtype = {"WAV": "PCM_16", "FLAC": "PCM_16", "OGG": "VORBIS"}[fmt]
    with atomic_path(path) as tmp, sf.SoundFile(str(tmp), "w", sample_rate, 1, subtype=subtype, format=fmt) as f:
        def write(block: np.ndarray) -> None:
            f.write(np.clip(np.asarray(block, dtype=np.float32).reshape(-1), -1.0, 1.0))

        yield write
        tmp.chmod(public_mode())
