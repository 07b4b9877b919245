"""numba kernel of the harmonic oscillator bank (`vqspeech.models.source.harmonics` at inference).

The same computation as the torch path (linear interpolation of frame values between frame centres as
F.interpolate(align_corners=False) does, float64 phase accumulation, sin(2 pi k phase) for k = 1..K),
with sin(k theta) from the Chebyshev recurrence sin((k+1) t) = 2 cos(t) sin(k t) - sin((k-1) t) instead
of K sines per sample, harmonics at or above Nyquist (zero amplitude) and unvoiced frames skipped, and the
samples between two frame centres run through the recurrence together (vectorised), no [K, T] temporaries.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True, error_model="numpy")
def _harmonics_sr(f0, amps, hop, s0, s1, phase0, sr):  # pragma: no cover - compiled
    K, W = amps.shape
    n = s1 - s0
    out = np.zeros(n, np.float32)
    top = np.zeros(W, np.int64)  # harmonics 1..top[j] of frame j have a nonzero amplitude
    for j in range(W):
        for k in range(K - 1, -1, -1):
            if amps[k, j] != 0.0:
                top[j] = k + 1
                break
    # pass 1, serial: the phase of every sample and its place between two frame centres
    theta = np.empty(n, np.float64)
    lam = np.empty(n, np.float64)
    seg = np.empty(n, np.int64)
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
        lam[t - s0] = src - i0
        seg[t - s0] = i0
        f = f0[i0] * (1.0 - lam[t - s0]) + f0[i1] * lam[t - s0]
        theta[t - s0] = two_pi * (acc - math.floor(acc))
        acc += f / sr
    # pass 2: the oscillator bank over runs of samples between the same two frame centres, four samples
    # at a time through the recurrence (four independent chains instead of one K-long dependency chain)
    a = 0
    while a < n:
        i0 = seg[a]
        b = a + 1
        while b < n and seg[b] == i0:
            b += 1
        i1 = i0 + 1 if i0 < W - 1 else W - 1
        kk = max(top[i0], top[i1])
        if kk > 0:
            for j in range(a, b, 4):
                j0, j1, j2, j3 = j, min(j + 1, b - 1), min(j + 2, b - 1), min(j + 3, b - 1)
                l0, l1, l2, l3 = lam[j0], lam[j1], lam[j2], lam[j3]
                c0, c1, c2, c3 = (2.0 * math.cos(theta[j0]), 2.0 * math.cos(theta[j1]), 2.0 * math.cos(theta[j2]),
                                  2.0 * math.cos(theta[j3]))
                p0 = p1 = p2 = p3 = 0.0
                q0, q1, q2, q3 = math.sin(theta[j0]), math.sin(theta[j1]), math.sin(theta[j2]), math.sin(theta[j3])
                t0 = t1 = t2 = t3 = 0.0
                for k in range(kk):
                    a0 = amps[k, i0]
                    a1 = amps[k, i1]
                    t0 += (a0 * (1.0 - l0) + a1 * l0) * q0
                    t1 += (a0 * (1.0 - l1) + a1 * l1) * q1
                    t2 += (a0 * (1.0 - l2) + a1 * l2) * q2
                    t3 += (a0 * (1.0 - l3) + a1 * l3) * q3
                    q0, p0 = c0 * q0 - p0, q0
                    q1, p1 = c1 * q1 - p1, q1
                    q2, p2 = c2 * q2 - p2, q2
                    q3, p3 = c3 * q3 - p3, q3
                out[j0] = t0
                out[j1] = t1
                out[j2] = t2
                out[j3] = t3
        a = b
    return out, acc - math.floor(acc)


def harmonics_numba(f0_frames: np.ndarray, amps: np.ndarray, hop: int, sample_rate: int, frames: slice,
                    phase0: float = 0.0) -> tuple[np.ndarray, float]:
    """f0_frames [W] Hz, amps [K, W] (Nyquist mask applied) -> (harmonic signal of the samples of
    `frames` [len * hop] float32, phase after them). Frame values are interpolated over the whole window."""
    return _harmonics_sr(np.ascontiguousarray(f0_frames, np.float64), np.ascontiguousarray(amps, np.float64),
                         int(hop), int(frames.start * hop), int(frames.stop * hop), float(phase0),
                         float(sample_rate))
