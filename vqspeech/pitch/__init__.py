"""Pitch as data: F0 tracks of audio, their cache beside the training audio cache, and pitch metrics.

Conventions, used everywhere in the package (written down once, here):
- Frames are at the code rate: frame n describes samples [n * hop, (n + 1) * hop) and is measured at
  their centre, sample n * hop + hop / 2. A signal of T samples has ceil(T / hop) frames, one per code.
- `f0` is in Hz, float32, 0.0 on unvoiced frames; `voiced` is a separate bool flag per frame
  (`voiced == (f0 > 0)` for tracker output). Models work in log-F0 (natural log of Hz) on voiced frames.
- The default tracker is Praat's autocorrelation method (praat-parselmouth), chosen by measurement
  against WORLD DIO+StoneMask and Harvest (docs/PITCH.md, benchmarks/bench_pitch.py).
"""

from vqspeech.pitch.metrics import PitchScores, pitch_scores
from vqspeech.pitch.track import F0_CEIL, F0_FLOOR, TRACKERS, track_f0

__all__ = ["track_f0", "TRACKERS", "F0_FLOOR", "F0_CEIL", "pitch_scores", "PitchScores"]
