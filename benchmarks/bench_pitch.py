"""Pitch tracker comparison: WORLD DIO+StoneMask, WORLD Harvest, Praat (autocorrelation).

1. Test signals with known F0 (vqspeech.pitch.signals): VDE, GPE, octave errors, RMSE in cents.
2. The synth corpus (a data dir): agreement of each tracker with the others (VDE, GPE, octave errors
   = frames voiced in both whose ratio is near 2 or 1/2), voiced fraction.
3. Speed: seconds of audio tracked per second of CPU, one thread.

    python benchmarks/bench_pitch.py [--data data/synth_full/test --utts 30]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from vqspeech.pitch import TRACKERS, pitch_scores, track_f0  # noqa: E402
from vqspeech.pitch.signals import standard_set  # noqa: E402


def octave_errors(ref: np.ndarray, out: np.ndarray) -> float:
    both = (ref > 0) & (out > 0)
    if not both.any():
        return float("nan")
    r = np.log2(out[both] / ref[both])
    return float((np.abs(np.abs(r) - 1.0) < 0.25).mean())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="")
    ap.add_argument("--utts", type=int, default=30)
    ap.add_argument("--hop", type=int, default=64)
    args = ap.parse_args()
    sr, hop = 16000, args.hop
    print("## Test signals with known F0 (VDE / GPE / octave errors / RMSE cents)\n")
    print("| signal | " + " | ".join(TRACKERS) + " |")
    print("|---|" + "---|" * len(TRACKERS))
    for name, (wav, f0) in standard_set(sr, hop).items():
        cells = []
        for m in TRACKERS:
            est, _ = track_f0(wav, sr, hop, m)
            s = pitch_scores(f0, est)
            cells.append(f"{100 * s.vde:.1f}% / {100 * s.gpe:.1f}% / {100 * octave_errors(f0, est):.1f}% / "
                         f"{s.f0_rmse_cents:.0f}")
        print(f"| {name} | " + " | ".join(cells) + " |")
    if not args.data:
        return
    from vqspeech.data.kaldi import load_utterance, read_data_dir

    data = read_data_dir(args.data)
    utts = data.utterances()[:: max(1, len(data.utterances()) // args.utts)][: args.utts]
    wavs = [load_utterance(data, u, sample_rate=sr) for u in utts]
    seconds = sum(w.size for w in wavs) / sr
    tracks, speed = {}, {}
    for m in TRACKERS:
        t0 = time.process_time()
        tracks[m] = [track_f0(w, sr, hop, m)[0] for w in wavs]
        speed[m] = seconds / max(time.process_time() - t0, 1e-9)
    print(f"\n## Synth corpus: {len(utts)} utterances of {args.data}, {seconds:.0f} s\n")
    print("| tracker | voiced | x real time (1 thread) |")
    print("|---|---|---|")
    for m in TRACKERS:
        v = np.concatenate(tracks[m])
        print(f"| {m} | {100 * (v > 0).mean():.1f}% | {speed[m]:.0f}x |")
    print("\n| pair | VDE | GPE | octave errors | log-F0 corr |")
    print("|---|---|---|---|---|")
    for i, a in enumerate(TRACKERS):
        for b in TRACKERS[i + 1:]:
            ra, rb = np.concatenate(tracks[a]), np.concatenate(tracks[b])
            s = pitch_scores(ra, rb)
            print(f"| {a} vs {b} | {100 * s.vde:.1f}% | {100 * s.gpe:.1f}% | {100 * octave_errors(ra, rb):.1f}% | "
                  f"{s.f0_corr:.3f} |")


if __name__ == "__main__":
    main()
