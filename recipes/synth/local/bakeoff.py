#!/usr/bin/env python3
"""The decoder bake-off: one table from the recipe's evaluation reports of several trained systems.

    python local/bakeoff.py --system wavenet=exp/wavenet --system source_filter=exp/full \
        [--data data/synth_full/test] [--seconds 10] [--figure ../../docs/bakeoff_spectrograms.png] [--out bakeoff.md]

Each --system LABEL=EXP names a synth-recipe experiment dir (EXP/vqvae/model or, when the recipe refit the
F0 head, EXP/vqvae_f0/model; their log/train.jsonl,
EXP/eval/{reconstruct,convert,sample}/metrics.json, written by stages 2-6). LABEL=EXP@HOURS gives the
training time for an experiment without its training log. Everything in the table comes from those
reports, except two figures measured here, in this run, on ONE CPU thread: the decode speed (x real time,
library decode of --seconds of test speech after a warm-up, WaveNet at temperature 1) and nothing else.
The Codec2/Opus rows come from the first system's reconstruction report (same utterances). --figure
writes a spectrogram with the tracker's F0 contour of one test utterance: the original and each system.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ["OMP_NUM_THREADS"] = "1"
os.environ["NUMBA_NUM_THREADS"] = "1"

import numpy as np  # noqa: E402

COLUMNS = [  # (key, header, format)
    ("system", "system", "{}"), ("decoder", "decoder", "{}"), ("train_h", "train h (1 core)", "{:.2f}"),
    ("decode_rtf", "decode x RT (1 thread)", "{:.1f}"), ("kbps", "kbps", "{:.2f}"),
    ("voiced_fraction", "voiced", "{:.2f}"), ("vde", "VDE", "{:.3f}"), ("gpe", "GPE", "{:.3f}"),
    ("pesq", "PESQ-WB", "{:.2f}"), ("stoi", "STOI", "{:.3f}"), ("mcd", "MCD dB", "{:.2f}"),
    ("speaker_sim", "spk sim", "{:.2f}"), ("speaker_id", "spk ID", "{:.2f}"),
    ("conv_mcd", "conv. MCD to target", "{:.2f}"), ("conv_sim", "conv. sim target/source", "{}"),
    ("conv_id", "conv. spk ID", "{:.2f}"), ("conv_f0", "conv. F0 within 2 st", "{:.2f}"),
    ("sample_id", "samples spk ID", "{}"),
]


def _metrics(path: Path) -> dict | None:
    f = path / "metrics.json"
    return json.loads(f.read_text()) if f.is_file() else None


def model_dir(exp: Path) -> Path:
    """The experiment's final VQ-VAE: EXP/vqvae_f0/model when the recipe refit the F0 head, else EXP/vqvae/model."""
    refit = exp / "vqvae_f0" / "model"
    return refit if (refit / "config.json").is_file() else exp / "vqvae" / "model"


def _train_hours(exp: Path, given: float | None) -> float | None:
    """Training hours of the VQ-VAE plus, where the recipe refit it, the F0 head's refit."""
    if given is not None:
        return given
    hours = [_log_hours(exp / part / "log" / "train.jsonl") for part in ("vqvae", "vqvae_f0")]
    return None if hours[0] is None else hours[0] + (hours[1] or 0.0)


def _log_hours(log: Path) -> float | None:
    if not log.is_file():
        return None
    rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    train = [r for r in rows if r.get("split") == "train"]
    if len(train) < 2:
        return None
    # a resumed run: the log's records before the restart point were dropped, and the pause between the
    # interrupted run and its resumption counts as one ordinary logging interval
    gaps = np.diff([r["time"] for r in train])
    usual = float(np.median(gaps))
    return float(np.where(gaps > 20 * usual, usual, gaps).sum()) / 3600


def _speech(data: str, seconds: float, rate: int) -> tuple[np.ndarray, str, list[str]]:
    """`seconds` of test speech (utterances back to back), the first utterance's speaker, their ids."""
    from vqspeech.data.kaldi import load_utterance, read_data_dir

    dd = read_data_dir(data)
    parts, ids, total = [], [], 0
    for u in dd.utterances():
        parts.append(load_utterance(dd, u, sample_rate=rate))
        ids.append(u)
        total += parts[-1].size
        if total >= seconds * rate:
            break
    return np.concatenate(parts)[: int(seconds * rate)].astype(np.float32), dd.utt2spk[ids[0]], ids


def decode_speed(model, wav: np.ndarray, speaker: str) -> float:
    """x real time of the library decode of `wav`'s codes, one thread, after a 1 s warm-up decode."""
    from vqspeech.codec.api import decode_to_waveform, encode_waveform

    codes = encode_waveform(model, wav)
    decode_to_waveform(model, codes[:250], speaker, seed=0)  # JIT/caches warm
    t0 = time.perf_counter()
    decode_to_waveform(model, codes, speaker, seed=0)
    return wav.size / model.sample_rate / (time.perf_counter() - t0)


def system_row(label: str, exp: Path, hours: float | None, rtf: float | None, decoder: str) -> dict:
    row: dict = {"system": label, "decoder": decoder, "train_h": _train_hours(exp, hours), "decode_rtf": rtf}
    rec, conv, samp = (_metrics(exp / "eval" / k) for k in ("reconstruct", "convert", "sample"))
    if rec:
        r0 = rec["table"]["rows"][0]
        row.update({k: r0.get(k) for k in ("voiced_fraction", "vde", "gpe", "pesq", "stoi", "mcd",
                                           "speaker_sim", "speaker_id")})
        row["kbps"] = r0.get("kbps_coded") or r0.get("kbps")
    if conv:
        c0 = conv["table"]["rows"][0]
        row.update(conv_mcd=c0.get("mcd"), conv_id=c0.get("id_accuracy"), conv_f0=c0.get("f0_within_2st"),
                   conv_sim=f"{c0['sim_target']:.2f} / {c0['sim_source']:.2f}")
    if samp:
        s0 = samp["table"]["rows"][0]
        n = s0.get("samples")
        acc = s0.get("id_accuracy")
        row["sample_id"] = f"{round(acc * n)}/{n}" if acc is not None and n else None
    return row


def baseline_rows(exp: Path) -> list[dict]:
    rec = _metrics(exp / "eval" / "reconstruct")
    if not rec:
        return []
    keep = ("voiced_fraction", "vde", "gpe", "pesq", "stoi", "mcd", "speaker_sim", "speaker_id")
    return [{"system": r["system"], "decoder": "(baseline)", "kbps": r.get("kbps"), **{k: r.get(k) for k in keep}}
            for r in rec["table"]["rows"][1:]]


def markdown(rows: list[dict]) -> str:
    def cell(row, key, fmt):
        v = row.get(key)
        return "-" if v is None else fmt.format(v)

    lines = ["| " + " | ".join(h for _, h, _ in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cell(r, k, f) for k, _, f in COLUMNS) + " |" for r in rows]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--system", action="append", required=True, help="LABEL=EXP or LABEL=EXP@TRAIN_HOURS")
    ap.add_argument("--data", default="data/synth_full/test", help="test speech for the speed and the figure")
    ap.add_argument("--seconds", type=float, default=10.0, help="seconds of speech decoded for the speed")
    ap.add_argument("--figure", default=None, help="PNG: one utterance per system, spectrogram + F0")
    ap.add_argument("--out", default=None, help="write the markdown table here too")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    from vqspeech.models import load_model

    rows, panels = [], []
    wav, spk, ids = _speech(args.data, args.seconds, 16000)
    first = None
    for spec in args.system:
        label, _, rest = spec.partition("=")
        path, _, hours = rest.partition("@")
        exp = Path(path)
        model = load_model(model_dir(exp))
        rtf = decode_speed(model, wav, spk)
        print(f"bakeoff: {label}: decode {rtf:.1f}x real time (1 thread)", file=sys.stderr)
        rows.append(system_row(label, exp, float(hours) if hours else None, rtf, model.decoder_type))
        first = first or exp
        if args.figure:
            from vqspeech.codec.api import decode_to_waveform, encode_waveform
            from vqspeech.data.kaldi import load_utterance, read_data_dir

            dd = read_data_dir(args.data)
            x = load_utterance(dd, ids[0], sample_rate=16000)
            if not panels:
                panels.append((f"original {ids[0]}", x, None))
            y = decode_to_waveform(model, encode_waveform(model, x), spk, seed=0, num_samples=x.size)
            panels.append((f"{label} reconstruction", y, None))
    rows += baseline_rows(first)
    table = markdown(rows)
    print(table)
    if args.out:
        Path(args.out).write_text(table + "\n")
    if args.figure:
        from vqspeech.analysis.plots import plot_spectrograms_f0

        plot_spectrograms_f0(panels, 16000, args.figure, width=7.0,
                             title="one test utterance per system: spectrogram (0-4 kHz) and tracker F0 (cyan)")
        print(f"bakeoff: figure {args.figure}", file=sys.stderr)


if __name__ == "__main__":
    main()
