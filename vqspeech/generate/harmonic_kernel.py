"""numba kernel of the harmonic oscillator bank (`vqspeech.models.source.harmonics` at inference).

The same computation as the torch path (linear interpolation of frame values between frame centres as
F.interpolate(align_corners=False) does, float64 phase accumulation, sin(2 pi k phase) for k = 1..K),
with sin(k theta) from the Chebyshev recurrence sin((k+1) t) = 2 cos(t) sin(k t) - sin((k-1) t) instead
of K sines per sample, and unvoiced frames skipped: one pass over the samples, no [K, T] temporaries.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True, error_model="numpy")
def _harmonics_sr(f0, amps, hop, s0, s1, phase0, sr):  # pragma: no cover - compiled
    K, W = amps.shape
    out = np.zeros(s1 - s0, np.float32)
    active = np.zeros(W, np.bool_)
    for j in range(W):
        for k in range(K):
            if amps[k, j] != 0.0:
                active[j] = True
                break
    acc = phase0
    inv = 1.0 / hop
    two_pi = 2.0 * math.pi
    for t in range(s0, s1):
        src = (t + 0.5) * inv - 0.5
        if src < 0.0:
            src = 0.0
        i0 = int(math.floor(src))
        if i0 > W - 1:
            i0 = W - 1
        i1 = i0 + 1 if i0 < W - 1 else W - 1
        lam = src - i0
        f = f0[i0] * (1.0 - lam) + f0[i1] * lam
        ph = acc - math.floor(acc)
        acc += f / sr
        if not (active[i0] or active[i1]):
            continue
        theta = two_pi * ph
        c2 = 2.0 * math.cos(theta)
        s_prev = 0.0
        s_k = math.sin(theta)
        total = 0.0
        for k in range(K):
            a = amps[k, i0] * (1.0 - lam) + amps[k, i1] * lam
            total += a * s_k
            s_next = c2 * s_k - s_prev
            s_prev = s_k
            s_k = s_next
        out[t - s0] = total
    return out, acc - math.floor(acc)


def harmonics_numba(f0_frames: np.ndarray, amps: np.ndarray, hop: int, sample_rate: int, frames: slice,
                    phase0: float = 0.0) -> tuple[np.ndarray, float]:
    """f0_frames [W] Hz, amps [K, W] (Nyquist mask applied) -> (harmonic signal of the samples of
    `frames` [len * hop] float32, phase after them). Frame values are interpolated over the whole window."""
    return _harmonics_sr(np.ascontiguousarray(f0_frames, np.float64), np.ascontiguousarray(amps, np.float64),
                         int(hop), int(frames.start * hop), int(frames.stop * hop), float(phase0),
                         float(sample_rate))
