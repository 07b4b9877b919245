"""Pitch metrics between a reference F0 track and an output's, frame by frame (same grid).

- voiced_fraction: share of the output's frames that are voiced.
- vde (voicing decision error): share of frames where reference and output disagree on voicing.
- gpe (gross pitch error): among frames voiced in both, share with |f0_out / f0_ref - 1| > 20%.
- ffe (F0 frame error): share of all frames with a voicing error or a gross pitch error.
- f0_corr: Pearson correlation of log-F0 over frames voiced in both; f0_rmse_cents likewise in cents.
Values are NaN where they are undefined (no frames voiced in both).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

GROSS_ERROR = 0.2  # |f0_out / f0_ref - 1| above this is a gross pitch error


@dataclass
class PitchScores:
    frames: int
    voiced_fraction: float
    ref_voiced_fraction: float
    vde: float
    gpe: float
    ffe: float
    f0_corr: float
    f0_rmse_cents: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def _align(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = min(a.size, b.size)
    return np.asarray(a[:n], np.float64), np.asarray(b[:n], np.float64)


def pitch_scores(f0_ref: np.ndarray, f0_out: np.ndarray) -> PitchScores:
    """Scores of output F0 against reference F0 (Hz, 0 = unvoiced; the shorter length is used)."""
    ref, out = _align(np.asarray(f0_ref).reshape(-1), np.asarray(f0_out).reshape(-1))
    n = ref.size
    if n == 0:
        nan = math.nan
        return PitchScores(0, nan, nan, nan, nan, nan, nan, nan)
    vr, vo = ref > 0, out > 0
    both = vr & vo
    gross = np.zeros(n, bool)
    gross[both] = np.abs(out[both] / ref[both] - 1.0) > GROSS_ERROR
    voicing_err = vr != vo
    corr = rmse = math.nan
    if both.sum() >= 2:
        lr, lo = np.log(ref[both]), np.log(out[both])
        if lr.std() > 0 and lo.std() > 0:
            corr = float(np.corrcoef(lr, lo)[0, 1])
        rmse = float(np.sqrt(np.mean((1200.0 / math.log(2.0) * (lo - lr)) ** 2)))
    return PitchScores(
        frames=int(n),
        voiced_fraction=float(vo.mean()),
        ref_voiced_fraction=float(vr.mean()),
        vde=float(voicing_err.mean()),
        gpe=float(gross[both].mean()) if both.any() else math.nan,
        ffe=float((voicing_err | gross).mean()),
        f0_corr=corr,
        f0_rmse_cents=rmse,
    )


def pool_scores(items: list[tuple[np.ndarray, np.ndarray]]) -> PitchScores:
    """Scores over the frames of many (reference, output) pairs together (frame-weighted)."""
    refs, outs = [], []
    for r, o in items:
        a, b = _align(np.asarray(r).reshape(-1), np.asarray(o).reshape(-1))
        refs.append(a)
        outs.append(b)
    if not refs:
        return pitch_scores(np.zeros(0), np.zeros(0))
    return pitch_scores(np.concatenate(refs), np.concatenate(outs))


def median_f0(f0: np.ndarray) -> float:
    """Median F0 (Hz) over voiced frames; NaN when none is voiced."""
    v = np.asarray(f0, np.float64).reshape(-1)
    v = v[v > 0]
    return float(np.median(v)) if v.size else math.nan


def semitones(f_a: float, f_b: float) -> float:
    """12 * log2(f_a / f_b): how many semitones f_a lies above f_b (NaN if either is not positive)."""
    if not (f_a > 0 and f_b > 0):
        return math.nan
    return 12.0 * math.log2(f_a / f_b)


EVAL_HOP_SECONDS = 0.01  # evaluations track F0 at 100 frames/s, whatever the model's code rate
PITCH_KEYS = ("voiced_fraction", "vde", "gpe", "ffe", "f0_corr", "f0_rmse_cents")


def eval_f0(wav: np.ndarray, sample_rate: int) -> np.ndarray:
    """F0 (Hz, 0 = unvoiced) of a waveform at 100 frames/s with the default tracker."""
    from vqspeech.pitch.track import track_f0

    return track_f0(wav, sample_rate, int(round(EVAL_HOP_SECONDS * sample_rate)))[0]


def compare_pitch(ref_wav: np.ndarray, out_wav: np.ndarray, sample_rate: int) -> dict[str, float]:
    """Pitch metrics of an output against its reference waveform (tracked at 100 frames/s), plus the
    reference's voiced fraction (`ref_voiced_fraction`)."""
    s = pitch_scores(eval_f0(ref_wav, sample_rate), eval_f0(out_wav, sample_rate))
    return {k: getattr(s, k) for k in (*PITCH_KEYS, "ref_voiced_fraction")}
