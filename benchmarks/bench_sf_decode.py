"""Source-filter decoding speed on ONE CPU thread, and a whole `vqspeech decode` of a 60 s file.

    .venv/bin/python benchmarks/bench_sf_decode.py [--model vqspeech/pretrained/default] [--seconds 60]

Prints, from one run: the library's decode speed (x real time) with the numba and torch oscillator
banks in float32 and bfloat16, the time per second of audio of each part (F0 head, frame network,
synthesis) in each precision, and the wall time
of `vqspeech encode` + `vqspeech decode` subprocesses on a 60 s wav made of test utterances (process
start, model load and file I/O included). Needs a source-filter model.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ["NUMBA_NUM_THREADS"] = "1"
os.environ["OMP_NUM_THREADS"] = "1"
os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(__file__).resolve().parents[1] / ".cache" / "numba"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def speech(seconds: float, rate: int, data: str | None) -> np.ndarray:
    """`seconds` of speech: the utterances of a data dir back to back, or a voiced test signal."""
    from vqspeech.pitch.signals import vibrato

    if not data:
        return vibrato(140.0, seconds, 2.0, 4.0, rate)[0]
    from vqspeech.data.kaldi import load_utterance, read_data_dir

    dd = read_data_dir(data)
    parts, total = [], 0
    for u in dd.utterances():
        w = load_utterance(dd, u, sample_rate=rate)
        parts.append(w)
        total += w.size
        if total >= seconds * rate:
            break
    return np.concatenate(parts)[: int(seconds * rate)].astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=None)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--data", default=None, help="a data dir whose utterances make the test audio")
    args = ap.parse_args()
    torch.set_num_threads(1)
    from vqspeech.codec.api import encode_waveform
    from vqspeech.generate.source_filter import SourceFilterStream
    from vqspeech.models import load_model
    from vqspeech.pretrained import default_model_dir

    model_dir = Path(args.model) if args.model else default_model_dir()
    m = load_model(model_dir)
    if m.is_wavenet:
        raise SystemExit(f"{model_dir}: a WaveNet model; this benchmark is for source-filter decoders")
    sr, hop = m.sample_rate, m.hop
    wav = speech(args.seconds, sr, args.data)
    codes = encode_waveform(m, wav)
    from vqspeech.generate.source_filter import inference_modules
    from vqspeech.models.precision import native_bfloat16

    for p in ("float32", "bfloat16"):
        list(SourceFilterStream(m, codes[:500], 0, precision=p))  # compile / load the numba kernel, bf16 copies
    print(f"model {model_dir}, {wav.size / sr:.0f} s of audio, {codes.size} codes, one thread; "
          f"native bfloat16: {native_bfloat16()} (auto = {'bfloat16' if native_bfloat16() else 'float32'})\n")
    print("| backend | precision | x real time |\n|---|---|---|")
    for be in ("numba", "torch"):
        for p in ("float32", "bfloat16"):
            t = time.perf_counter()
            out = np.concatenate(list(SourceFilterStream(m, codes, 0, backend=be, precision=p)))
            dt = time.perf_counter() - t
            print(f"| {be} | {p} | {out.size / sr / dt:.1f}x |")
    # parts, on the whole signal at once
    secs = codes.size * hop / sr
    print("\n| precision | F0 head | frame network | synthesis (numba harmonics + filtered noise) | ms per second of audio |"
          "\n|---|---|---|---|---|")
    for p in ("float32", "bfloat16"):
        head, net = inference_modules(m, p)
        with torch.inference_mode():
            q = m.conditioning_frames(torch.from_numpy(codes)[None])
            spk = torch.tensor([0]) if m.speakers else None
            t0 = time.perf_counter()
            pred = head(q, spk)
            t1 = time.perf_counter()
            f0 = torch.exp(pred.log_f0)
            voiced = (pred.voiced_logit > 0).float()
            amps, mags = net.frame_params(q, spk, f0, voiced)
            t2 = time.perf_counter()
            from vqspeech.models.source import block_noise

            noise = torch.from_numpy(block_noise(0, 0, codes.size * hop))
            m.decoder.synthesize(amps, mags, f0, noise, backend="numba")
            t3 = time.perf_counter()
        parts = [1000 * (t1 - t0) / secs, 1000 * (t2 - t1) / secs, 1000 * (t3 - t2) / secs]
        print(f"| {p} | {parts[0]:.1f} | {parts[1]:.1f} | {parts[2]:.1f} | {sum(parts):.1f} |")
    with tempfile.TemporaryDirectory() as d:
        import soundfile as sf

        src = Path(d) / "long.wav"
        sf.write(src, wav, sr)
        exe = [sys.executable, "-m", "vqspeech"]

        def wall(args: list[str], reps: int = 3) -> float:
            """Median wall time of a subprocess over `reps` runs."""
            times = []
            for _ in range(reps):
                t = time.perf_counter()
                subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                times.append(time.perf_counter() - t)
            return float(np.median(times))

        t_torch = wall([sys.executable, "-c", "import torch"])
        t_enc = wall([*exe, "encode", str(src), "--model", str(model_dir), "--force"])
        dec = [*exe, "decode", str(src.with_suffix(".vqs")), "--model", str(model_dir), "-o", str(Path(d) / "o.wav"),
               "--force"]
        t_dec = {p: wall([*dec, "--precision", p]) for p in ("auto", "float32")}
    print(f"\nwall time, median of 3 (process start included; `python -c 'import torch'` alone {t_torch:.2f} s):")
    print(f"`vqspeech encode` of {secs:.0f} s: {t_enc:.2f} s ({secs / t_enc:.1f}x real time)")
    for p, t in t_dec.items():
        print(f"`vqspeech decode --precision {p}`: {t:.2f} s ({secs / t:.1f}x real time)")


if __name__ == "__main__":
    main()
