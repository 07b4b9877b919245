"""8-bit mu-law companding, the WaveNet decoder's alphabet (numpy only: no torch, no soundfile).

`mu_law_encode(0.0) == MU_LAW_ZERO`, the decoder's input before the first sample.
"""

from __future__ import annotations

import numpy as np

MU_LAW_CHANNELS = 256  # 8-bit mu-law: the WaveNet decoder's input and output classes
MU_LAW_ZERO = 128  # mu_law_encode(0.0)


def mu_law_encode(wav: np.ndarray, channels: int = MU_LAW_CHANNELS) -> np.ndarray:
    """Companding + quantisation: `wav: [...] float in [-1, 1]` -> `[...] int64 in [0, channels)`."""
    mu = channels - 1
    x = np.clip(np.asarray(wav, dtype=np.float64), -1.0, 1.0)
    f = np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)
    return np.floor((f + 1.0) / 2.0 * mu + 0.5).astype(np.int64)


def mu_law_decode(codes: np.ndarray, channels: int = MU_LAW_CHANNELS) -> np.ndarray:
    """Inverse of `mu_law_encode`: `[...] int in [0, channels)` -> `[...] float32 in [-1, 1]`."""
    mu = channels - 1
    f = 2.0 * np.asarray(codes, dtype=np.float64) / mu - 1.0
    return (np.sign(f) * np.expm1(np.abs(f) * np.log1p(mu)) / mu).astype(np.float32)
