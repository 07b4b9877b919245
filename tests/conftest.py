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


def write_fake_librispeech(root, tree: dict, duration) -> list[tuple[str, str, str, float]]:
    """A LibriSpeech tree under root/LibriSpeech: tree = part -> speaker -> chapter -> number of utterances;
    each utterance is `duration(utt, i)` seconds of seeded 16 kHz noise in `<utt>.flac`, with a
    `.trans.txt` per chapter. Returns (part, speaker, utt, seconds) of every utterance written."""
    import soundfile as sf

    written = []
    for part, spks in tree.items():
        for spk, chapters in spks.items():
            for ch, n in chapters.items():
                d = root / "LibriSpeech" / part / spk / ch
                d.mkdir(parents=True)
                lines = []
                for i in range(n):
                    utt = f"{spk}-{ch}-{i:04d}"
                    dur = duration(utt, i)
                    noise = 0.1 * np.random.default_rng(int(spk) + i).standard_normal(int(dur * 16000))
                    sf.write(d / f"{utt}.flac", noise.astype(np.float32), 16000)
                    lines.append(f"{utt} GO DO YOU HEAR {i}\n")
                    written.append((part, spk, utt, dur))
                (d / f"{spk}-{ch}.trans.txt").write_text("".join(lines))
    return written
