"""Learning-rate schedule: linear warmup, then cosine decay (or constant)."""

from __future__ import annotations

import math


def lr_factor(step: int, total: int, warmup: int, decay: str = "cosine", min_ratio: float = 0.05) -> float:
    """Multiplier of the peak lr for optimizer step `step` (0-based).

    Warmup: (step + 1) / warmup for step < warmup. Cosine: from 1 down to `min_ratio` at `total`.
    """
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    if decay == "none":
        return 1.0
    span = max(1, total - warmup)
    progress = min(1.0, (step - warmup) / span)
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))
