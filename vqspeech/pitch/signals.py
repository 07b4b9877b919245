"""Test signals with known F0 on the frame grid of `vqspeech.pitch` (for tests and benchmarks).

Each maker returns `(wav [T] float32, f0 [ceil(T / hop)] float32 Hz, 0 = unvoiced)`.
"""

from __future__ import annotations

import numpy as np


def _frame_f0(f0_samples: np.ndarray, hop: int) -> np.ndarray:
    """F0 of each frame: the per-sample F0 at the frame centre."""
    n = -(-f0_samples.size // hop)
    centres = np.minimum(np.arange(n) * hop + hop // 2, f0_samples.size - 1)
    return f0_samples[centres].astype(np.float32)


def _pulses(f0_samples: np.ndarray, sr: int) -> np.ndarray:
    """A glottal-like source: one smoothed pulse per period (phase wrap), then a 1-pole lowpass."""
    phase = np.cumsum(f0_samples / sr)
    wrap = np.diff(np.floor(phase), prepend=0.0) > 0
    x = wrap.astype(np.float64)
    # Rosenberg-like: a short raised-cosine pulse instead of a bare impulse, and spectral tilt
    pulse = np.hanning(int(sr * 0.002) | 1)
    x = np.convolve(x, pulse, mode="same")
    y = np.zeros_like(x)
    acc = 0.0
    for i, v in enumerate(x):  # 1-pole lowpass (-6 dB/oct above ~500 Hz)
        acc = 0.8 * acc + v
        y[i] = acc
    y -= np.convolve(y, np.ones(64) / 64, mode="same")  # remove DC drift
    return y


def _formants(x: np.ndarray, sr: int, freqs=(700.0, 1200.0, 2600.0), bw: float = 100.0) -> np.ndarray:
    from scipy.signal import lfilter

    y = x
    for f in freqs:
        r = np.exp(-np.pi * bw / sr)
        a = [1.0, -2 * r * np.cos(2 * np.pi * f / sr), r * r]
        y = lfilter([1.0 - r], a, y)
    return y


def _normalise(x: np.ndarray, peak: float = 0.5) -> np.ndarray:
    m = float(np.max(np.abs(x))) if x.size else 0.0
    return (x * (peak / m) if m > 0 else x).astype(np.float32)


def pulse_train(f0: float, seconds: float, sr: int = 16000, hop: int = 64):
    """A vowel-like glottal pulse train at constant F0 through three formants."""
    f = np.full(int(seconds * sr), float(f0))
    return _normalise(_formants(_pulses(f, sr), sr)), _frame_f0(f, hop)


def vibrato(f0: float, seconds: float, depth_semitones: float = 1.0, rate_hz: float = 5.5,
            sr: int = 16000, hop: int = 64):
    """A pulse train whose F0 swings +-depth semitones at rate_hz."""
    t = np.arange(int(seconds * sr)) / sr
    f = f0 * 2.0 ** (depth_semitones * np.sin(2 * np.pi * rate_hz * t) / 12.0)
    return _normalise(_formants(_pulses(f, sr), sr)), _frame_f0(f, hop)


def sine_sweep(f_start: float, f_end: float, seconds: float, sr: int = 16000, hop: int = 64):
    """A pure tone gliding exponentially from f_start to f_end."""
    t = np.arange(int(seconds * sr)) / sr
    f = f_start * (f_end / f_start) ** (t / seconds)
    x = 0.5 * np.sin(2 * np.pi * np.cumsum(f) / sr)
    return x.astype(np.float32), _frame_f0(f, hop)


def white_noise(seconds: float, sr: int = 16000, hop: int = 64, level: float = 0.3, seed: int = 0):
    """Gaussian white noise: no frame is voiced."""
    x = np.random.default_rng(seed).normal(0.0, level, int(seconds * sr)).clip(-1, 1)
    return x.astype(np.float32), np.zeros(-(-x.size // hop), np.float32)


def silence(seconds: float, sr: int = 16000, hop: int = 64):
    """Digital silence: no frame is voiced."""
    n = int(seconds * sr)
    return np.zeros(n, np.float32), np.zeros(-(-n // hop), np.float32)


def voiced_gaps(f0: float, seconds: float, sr: int = 16000, hop: int = 64):
    """Pulse-train segments of 0.3 s separated by 0.2 s of silence (voicing onsets and offsets)."""
    n = int(seconds * sr)
    f = np.zeros(n)
    period = int(0.5 * sr)
    for s in range(0, n, period):
        f[s: s + int(0.3 * sr)] = f0
    src = _pulses(np.where(f > 0, f, f0), sr) * (f > 0)
    return _normalise(_formants(src, sr)), _frame_f0(f, hop)


def standard_set(sr: int = 16000, hop: int = 64) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The named signals the tracker comparison uses."""
    return {
        "pulses 100 Hz": pulse_train(100.0, 2.0, sr, hop),
        "pulses 220 Hz": pulse_train(220.0, 2.0, sr, hop),
        "vibrato 150 Hz +-1 st": vibrato(150.0, 2.0, 1.0, 5.5, sr, hop),
        "sweep 80-400 Hz": sine_sweep(80.0, 400.0, 3.0, sr, hop),
        "gaps 130 Hz": voiced_gaps(130.0, 2.0, sr, hop),
        "white noise": white_noise(2.0, sr, hop),
        "silence": silence(1.0, sr, hop),
    }
