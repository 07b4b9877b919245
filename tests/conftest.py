"""Shared fixtures: tiny synthetic audio in tmp_path, a CLI runner."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("OMP_NUM_THREADS", "2")


@pytest.fixture
def runner():
    from typer.testing import CliRunner

    return CliRunner()


def make_tone(seconds: float = 0.5, rate: int = 16000, freq: float = 220.0, amp: float = 0.5) -> np.ndarray:
    """A harmonic tone with a little noise, float32 in [-1, 1]."""
    t = np.arange(int(seconds * rate)) / rate
    rng = np.random.default_rng(0)
    wav = sum(amp / k * np.sin(2 * np.pi * freq * k * t) for k in range(1, 4))
    return (wav + 0.01 * rng.standard_normal(t.size)).astype(np.float32) / 2


@pytest.fixture
def tone():
    return make_tone
