"""Audio in and out: loading any soundfile-readable file as mono float32 at the model's rate, atomic
saving, and streaming (`iter_audio_blocks`, `audio_writer`: long files block by block, bounded memory; a
one-hour 44.1 kHz stereo file is 1.3 GB as float32). The only module that touches soundfile and soxr.
8-bit mu-law companding lives in `vqspeech.mulaw` (numpy only) and is re-exported here.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from vqspeech.errors import VQSpeechError
from vqspeech.fileutil import atomic_path
from vqspeech.mulaw import MU_LAW_CHANNELS, mu_law_decode, mu_law_encode  # noqa: F401 - re-exported

log = logging.getLogger(__name__)

DEFAULT_SAMPLE_RATE = 16000  # the paper's and the default model's rate


MIN_RATE, MAX_RATE = 1000, 384_000  # Hz: an audio file's rate outside these is refused (a hostile header)
MAX_CHANNELS = 256
DEFAULT_MAX_DURATION_S = 4 * 3600.0  # longer audio is refused unless the limit is raised (--max-duration)
MAX_SAMPLE = 16.0  # |sample| above this (+24 dBFS in a float file) is garbage, not audio
_limits = {"max_duration": DEFAULT_MAX_DURATION_S}


def set_max_duration(seconds: float | None) -> None:
    """Set the longest audio (s) that loading accepts; None restores the default (4 h)."""
    if seconds is not None and not (math.isfinite(seconds) and seconds > 0):
        raise VQSpeechError(f"--max-duration must be a finite number of seconds > 0, got {seconds}")
    _limits["max_duration"] = DEFAULT_MAX_DURATION_S if seconds is None else float(seconds)


def wav_data_shortfall(header: bytes, file_size: int) -> int:
    """Bytes missing from a RIFF/WAVE file's data chunk: its declared size minus what the file holds
    (0 when complete, not a WAV, or the size is the 'unknown' 0/0xFFFFFFFF of a streamed file).
    `header` is the file's first bytes (64 KB is plenty)."""
    if len(header) < 12 or header[:4] not in (b"RIFF", b"RIFX") or header[8:12] != b"WAVE":
        return 0
    order = "little" if header[:4] == b"RIFF" else "big"
    pos = 12
    while pos + 8 <= len(header):
        cid, size = header[pos:pos + 4], int.from_bytes(header[pos + 4:pos + 8], order)
        if cid == b"data":
            if size in (0, 0xFFFFFFFF):
                return 0
            return max(0, size - max(0, file_size - (pos + 8)))
        pos += 8 + size + (size & 1)
    return 0


def _audio_path(path: str | os.PathLike, readable: bool = False) -> Path:
    """`path` as a Path, or one VQSpeechError line: missing, a directory, or (readable=True) unreadable."""
    path = Path(path)
    if not path.exists():
        raise VQSpeechError(f"{path}: no such file")
    if path.is_dir():
        raise VQSpeechError(f"{path}: is a directory, not an audio file")
    if readable and not os.access(path, os.R_OK):
        raise VQSpeechError(f"{path}: not readable (permission denied)")
    return path


def check_audio_file(path: str | os.PathLike, max_duration: float | None = None) -> sf._SoundFileInfo:
    """Check an audio file from its header before any decoding: readable, a rate of 1-384 kHz, at most
    `max_duration` s (default: the limit of `set_max_duration`), a sane channel count; warns when a WAV's
    data chunk is cut short (naming what is missing); float files are scanned for garbage samples."""
    path = _audio_path(path)
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as err:
        detail = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise VQSpeechError(f"{path}: not a readable audio file ({detail})") from None
    rate, limit = int(info.samplerate), _limits["max_duration"] if max_duration is None else max_duration
    if not MIN_RATE <= rate <= MAX_RATE:
        raise VQSpeechError(f"{path}: sample rate {rate} Hz in its header, outside {MIN_RATE}-{MAX_RATE} Hz "
                            "(a damaged or hostile header)")
    if not 1 <= info.channels <= MAX_CHANNELS:
        raise VQSpeechError(f"{path}: {info.channels} channels in its header (at most {MAX_CHANNELS})")
    if info.frames / rate > limit:
        raise VQSpeechError(f"{path}: {info.frames / rate:.1f} s of audio, longer than the {limit:g} s limit "
                            "(pass --max-duration SECONDS to raise it)")
    if info.format in ("WAV", "WAVEX", "RF64"):
        try:
            with open(path, "rb") as f:
                missing = wav_data_shortfall(f.read(1 << 16), path.stat().st_size)
        except OSError:
            missing = 0
        if missing:
            frame = max(1, info.channels * _bytes_per_sample(info.subtype))
            log.warning("%s: the data chunk is cut short: %.3f s (%d bytes) missing; reading the %.3f s present",
                        path, missing / frame / rate, missing, info.frames / rate)
    if info.subtype in ("FLOAT", "DOUBLE"):
        _scan_float(path, rate)
    return info


def _bytes_per_sample(subtype: str) -> int:
    return {"PCM_U8": 1, "PCM_S8": 1, "PCM_16": 2, "PCM_24": 3, "PCM_32": 4, "FLOAT": 4, "DOUBLE": 8,
            "ULAW": 1, "ALAW": 1}.get(subtype, 2)


def _scan_float(path: Path, rate: int) -> None:
    """Refuse a float file with non-finite or absurd samples (integer PCM cannot hold them)."""
    done = 0
    try:
        with sf.SoundFile(str(path)) as f:
            for block in f.blocks(blocksize=1 << 16, dtype="float32", always_2d=True):
                bad = ~np.isfinite(block) | (np.abs(block) > MAX_SAMPLE)
                if bad.any():
                    i = int(np.flatnonzero(bad.any(axis=1))[0])
                    v = block[i][bad[i]][0]
                    if not np.isfinite(v):
                        raise VQSpeechError(f"{path}: audio contains NaN or infinite samples (first at "
                                            f"{(done + i) / rate:.3f} s)")
                    raise VQSpeechError(f"{path}: sample value {v:g} at {(done + i) / rate:.3f} s is not audio "
                                        f"(samples lie in [-1, 1]; a float file with garbage)")
                done += block.shape[0]
    except (sf.LibsndfileError, RuntimeError) as err:
        raise VQSpeechError(f"{path}: unreadable audio data ({str(err).splitlines()[0]})") from None


def read_audio(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """Read a file as it is: `([T, C] float32 in [-1, 1], sample_rate)`, with one-line errors (the header
    is checked first: `check_audio_file`)."""
    path = Path(path)
    check_audio_file(path)
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as err:
        detail = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise VQSpeechError(f"{path}: not a readable audio file ({detail})") from None
    return data, int(rate)


def read_audio_bytes(raw: bytes, name: str) -> tuple[np.ndarray, int]:
    """Audio held in memory (a wav.scp command's output): `([T, C] float32, sample_rate)`, one-line errors."""
    try:
        data, rate = sf.read(io.BytesIO(raw), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as err:
        detail = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise VQSpeechError(f"{name}: wav.scp command output is not audio ({detail})") from None
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
    if peak > MAX_SAMPLE:
        raise VQSpeechError(f"{name}: sample value {peak:g} is not audio (samples lie in [-1, 1])")
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


def iter_audio_blocks(path: str | os.PathLike, sample_rate: int, block_seconds: float = 10.0) -> Iterator[np.ndarray]:
    """Yield `[n] float32` mono blocks of `path` at `sample_rate` (lengths vary; some may be empty)."""
    path = _audio_path(path, readable=True)
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
