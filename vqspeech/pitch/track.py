"""F0 trackers on one waveform, all giving frames on the code grid (see `vqspeech.pitch`).

"praat": Praat's autocorrelation method (praat-parselmouth), the default: the most accurate on test
signals with known F0, no false voicing on noise, and the fastest (docs/PITCH.md). "dio": WORLD DIO +
StoneMask, "harvest": WORLD Harvest (both need pyworld: `pip install 'vqspeech[world]'`).
Any input (silence, 10 ms, clipping, white noise) gives frames, unvoiced where nothing is found;
only empty or non-finite audio is an error.
"""

from __future__ import annotations

import numpy as np

from vqspeech.errors import VQSpeechError

F0_FLOOR = 50.0  # Hz: lowest F0 searched (speech)
F0_CEIL = 600.0  # Hz: highest F0 searched
TRACKERS = ("praat", "dio", "harvest")
DEFAULT_TRACKER = "praat"
_MIN_SAMPLES = 1024  # WORLD needs a few pitch periods; shorter signals are zero-padded


def num_frames(num_samples: int, hop: int) -> int:
    """Frames of a signal of `num_samples`: ceil(T / hop) (one per code)."""
    return -(-int(num_samples) // int(hop))


def track_f0(wav: np.ndarray, sample_rate: int, hop: int, method: str = DEFAULT_TRACKER) -> tuple[np.ndarray, np.ndarray]:
    """wav: [T] float in [-1, 1] -> (f0 [ceil(T / hop)] float32 Hz, 0 = unvoiced; voiced [same] bool)."""
    if method not in TRACKERS:
        raise VQSpeechError(f"pitch tracker '{method}': expected one of {', '.join(TRACKERS)}")
    x = np.asarray(wav, dtype=np.float64).reshape(-1)
    if x.size == 0:
        raise VQSpeechError("pitch: empty audio")
    if not np.all(np.isfinite(x)):
        raise VQSpeechError("pitch: audio contains NaN or infinite samples")
    n = num_frames(x.size, hop)
    # frame n is measured at sample n*hop + hop/2: drop hop/2 samples so the trackers' frame n
    # (at time n * frame_period) lands there
    x = x[hop // 2:]
    if x.size < _MIN_SAMPLES:
        x = np.pad(x, (0, _MIN_SAMPLES - x.size))
    period_ms = 1000.0 * hop / sample_rate
    if method == "praat":
        f0 = _praat(x, sample_rate, period_ms / 1000.0, n)
    else:
        f0 = _world(x, sample_rate, period_ms, method)
    f0 = np.asarray(f0, dtype=np.float32)[:n]
    if f0.size < n:
        f0 = np.pad(f0, (0, n - f0.size))
    f0[~np.isfinite(f0)] = 0.0
    f0[(f0 < F0_FLOOR * 0.9) | (f0 > F0_CEIL * 1.1)] = 0.0
    return f0, f0 > 0


def _world(x: np.ndarray, sr: int, period_ms: float, method: str) -> np.ndarray:
    try:
        import pyworld
    except ImportError:
        raise VQSpeechError(f"pitch tracker '{method}' needs pyworld: pip install 'vqspeech[world]' "
                            "(or use the default tracker, praat)") from None

    if method == "harvest":
        f0, _ = pyworld.harvest(x, sr, f0_floor=F0_FLOOR, f0_ceil=F0_CEIL, frame_period=period_ms)
        return f0
    f0, t = pyworld.dio(x, sr, f0_floor=F0_FLOOR, f0_ceil=F0_CEIL, frame_period=period_ms)
    return pyworld.stonemask(x, f0, t, sr)


def _praat(x: np.ndarray, sr: int, step_s: float, n: int) -> np.ndarray:
    import parselmouth

    snd = parselmouth.Sound(x, sampling_frequency=sr)
    pitch = snd.to_pitch_ac(time_step=step_s, pitch_floor=F0_FLOOR, pitch_ceiling=F0_CEIL)
    values = np.nan_to_num(pitch.selected_array["frequency"].astype(np.float64), nan=0.0)
    if values.size == 0:
        return np.zeros(n)
    # Praat's frames start at x1 (centred analysis windows): take the nearest one for each of ours
    idx = np.rint((np.arange(n) * step_s - pitch.x1) / pitch.dx).astype(np.int64)
    inside = (idx >= 0) & (idx < values.size)
    out = np.zeros(n)
    out[inside] = values[idx[inside]]
    return out
