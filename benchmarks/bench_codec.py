"""Codec benchmark: encode speed (x real time, CPU, one thread), peak memory of encoding a long file and
of decoding, entropy-coding speed. Prints figures measured in this run.

Model: the bundled default model if there is one, else a randomly initialised model of the default
config (VQVAEConfig(): hop 64, 128 encoder channels, K=512, the "small" WaveNet decoder); speed and
memory do not depend on the weights. Memory is measured in a fresh subprocess per task as the growth
of the peak RSS (ru_maxrss) from just before the work (model loaded, warmed up) to its end.

    .venv/bin/python benchmarks/bench_codec.py                    # 10 min encode, 2 s decode
    .venv/bin/python benchmarks/bench_codec.py --encode-minutes 60 --decode-seconds 5
    NUMBA_NUM_THREADS=1 .venv/bin/python benchmarks/bench_codec.py --entropy-only --entropy-wavs data/wav/*/*.wav
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")


def _model_dir(tmp: Path) -> tuple[Path, str]:
    from vqspeech import pretrained
    from vqspeech.errors import VQSpeechError

    try:
        return pretrained.default_model_dir(), "bundled default model"
    except VQSpeechError:
        import torch

        from vqspeech.models.config import VQVAEConfig
        from vqspeech.models.io import save_model
        from vqspeech.models.vqvae import build_vqvae

        torch.manual_seed(0)
        save_model(build_vqvae(VQVAEConfig(speakers=["spk"])), tmp / "model")
        return tmp / "model", "random weights, default VQVAEConfig (no bundled model yet)"


def _child(args: argparse.Namespace) -> None:
    """Runs in the subprocess: one task, prints a JSON line."""
    import resource

    import numpy as np
    import torch

    torch.set_num_threads(1)
    from vqspeech.codec.api import decode_to_file, encode_file, encode_waveform
    from vqspeech.models.io import load_model

    model = load_model(args.model)
    kib = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # noqa: E731 - KiB on Linux
    if args.child == "encode":
        encode_waveform(model, np.zeros(model.sample_rate, np.float32))  # warm-up, 1 s
        before = kib()
        t0 = time.perf_counter()
        codes, n = encode_file(model, args.wav)
        wall = time.perf_counter() - t0
        res = {"seconds": n / model.sample_rate, "wall": wall, "codes": int(codes.size)}
    else:
        codes = np.random.default_rng(0).integers(0, model.config.quantizer.num_codes,
                                                 int(args.seconds * model.sample_rate / model.hop))
        decode_to_file(model, codes[:8], Path(args.out).with_name("warm.wav"), 0)  # numba compile / cache load
        before = kib()
        t0 = time.perf_counter()
        decode_to_file(model, codes, args.out, 0, seed=0)
        wall = time.perf_counter() - t0
        res = {"seconds": codes.size * model.hop / model.sample_rate, "wall": wall}
    res["peak_growth_mib"] = (kib() - before) / 1024
    res["peak_mib"] = kib() / 1024
    print(json.dumps(res))


def _run_child(*extra: str) -> dict:
    out = subprocess.run([sys.executable, __file__, *extra], capture_output=True, text=True, check=False)
    if out.returncode:
        raise SystemExit(f"child failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--speed-seconds", type=float, default=60.0, help="audio for the in-process speed test")
    ap.add_argument("--encode-minutes", type=float, default=10.0, help="long file for encode memory")
    ap.add_argument("--decode-seconds", type=float, default=2.0, help="audio decoded for decode speed/memory")
    ap.add_argument("--entropy-seconds", type=float, default=60.0, help="codes range-coded for the speed figure")
    ap.add_argument("--entropy-wavs", nargs="*", help="speech files for the rate figures (default: the v1 test "
                    "fixture's codes); a parent directory named like a prior speaker gives the speaker")
    ap.add_argument("--entropy-only", action="store_true", help="only the entropy-coding figures")
    ap.add_argument("--child", choices=["encode", "decode"], help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    ap.add_argument("--wav", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--seconds", type=float, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(args)
        return

    import numpy as np
    import soundfile as sf
    import torch

    torch.set_num_threads(1)
    from vqspeech.codec.api import encode_waveform
    from vqspeech.models.io import load_model

    print("bench_codec: CPU, torch/numba with 1 thread; the machine may be loaded by other jobs "
          f"(load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    with tempfile.TemporaryDirectory() as tmpd:
        tmp = Path(tmpd)
        mdir, what = _model_dir(tmp)
        model = load_model(mdir)
        hop, sr, k = model.hop, model.sample_rate, model.config.quantizer.num_codes
        print(f"model: {what}; hop {hop}, K {k}, {sr / hop:.0f} codes/s, "
              f"{sr / hop * max(1, int(np.ceil(np.log2(k)))) / 1000:.2f} kbps bit-packed")
        rng = np.random.default_rng(0)
        if args.entropy_only:
            _entropy_figures(args, model, mdir)
            return

        # 1. encode speed, in process
        wav = (0.1 * rng.standard_normal(int(args.speed_seconds * sr))).astype(np.float32)
        encode_waveform(model, wav[: sr])
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            encode_waveform(model, wav)
            best = min(best, time.perf_counter() - t0)
        print(f"encode speed: {args.speed_seconds / best:.1f}x real time ({args.speed_seconds:.0f} s of audio in "
              f"{best:.2f} s, best of 3; goal >= 1000x)")
        macs = sum(c.in_channels * c.out_channels * c.kernel_size[0] / float(np.prod(model.encoder.config.strides[: i + 1]))
                   for i, c in enumerate(model.encoder.convs))
        print(f"  encoder cost: {macs / 1e3:.1f} kMAC per sample = {macs * sr / 1e9:.2f} GMAC per second of audio; "
              f"1000x real time would need {macs * sr / 1e9 * 1000:.0f} GMAC/s from one core")

        # 2. encode memory on a long file, in a subprocess
        long_wav = tmp / "long.wav"
        minutes = args.encode_minutes
        with sf.SoundFile(str(long_wav), "w", sr, 1, subtype="PCM_16") as f:
            for _ in range(int(minutes * 6)):
                f.write((0.1 * rng.standard_normal(sr * 10)).astype(np.float32))
        enc = _run_child("--child", "encode", "--model", str(mdir), "--wav", str(long_wav))
        whole = minutes * 60 * sr * 4 / 2**20
        print(f"encode {minutes:.0f} min file (streamed, 5 s chunks): {enc['seconds'] / enc['wall']:.1f}x real time, "
              f"peak RSS growth {enc['peak_growth_mib']:.0f} MiB (process peak {enc['peak_mib']:.0f} MiB incl. torch); "
              f"the waveform alone would be {whole:.0f} MiB as float32")

        # 3. decode speed and memory
        dec = _run_child("--child", "decode", "--model", str(mdir), "--out", str(tmp / "dec.wav"),
                         "--seconds", str(args.decode_seconds))
        rt = dec["seconds"] / dec["wall"]
        print(f"decode {dec['seconds']:.1f} s (numba kernel, 2 s chunks written as they come): {rt:.2f}x real time, "
              f"peak RSS growth {dec['peak_growth_mib']:.0f} MiB (process peak {dec['peak_mib']:.0f} MiB); memory does "
              f"not grow with length (one 2 s chunk of conditioning + the codes), so a one-hour file needs about the "
              f"same (extrapolated, not measured); it would take {3600 / rt / 60:.0f} min")

        _entropy_figures(args, model, mdir)


def _entropy_figures(args: argparse.Namespace, model, mdir: Path) -> None:
    """4. Entropy coding (.vqs v2, integer prior): speed on one thread, the rate cost of integer arithmetic
    and of restarting per frame, header bytes and file bitrates."""
    import copy

    import numpy as np
    import torch

    from vqspeech import pretrained
    from vqspeech.codec import vqs2
    from vqspeech.codec.bitstream import VqsHeader
    from vqspeech.codec.entropy import encode_frames, int_kernel
    from vqspeech.codec.int_prior import reference_tables
    from vqspeech.errors import VQSpeechError
    from vqspeech.models.io import load_model, model_fingerprint

    hop, sr = int(model.hop), int(model.sample_rate)
    try:
        pdir = pretrained.default_prior_dir()
        prior, what = load_model(pdir), "bundled default prior"
        pfp = model_fingerprint(pdir)
    except VQSpeechError:
        from vqspeech.models.config import PriorConfig
        from vqspeech.models.prior import build_prior

        torch.manual_seed(0)
        prior = build_prior(PriorConfig(num_codes=int(model.config.quantizer.num_codes), hop=hop,
                                        sample_rate=sr)).eval()
        what, pfp = "random default-size prior (rates say nothing)", "00" * 8
    utts: list[tuple[str, np.ndarray, int, str | None]] = []  # name, codes, samples, speaker
    if args.entropy_wavs:
        from vqspeech.codec.api import encode_file

        for w in args.entropy_wavs:
            c, n = encode_file(model, w)
            spk = Path(w).parent.name if Path(w).parent.name in prior.speakers else None
            utts.append((Path(w).name, c, n, spk))
    else:
        fixture = Path(__file__).resolve().parent.parent / "tests" / "data" / "v1_codes.npy"
        c = np.load(fixture).astype(np.int64) if fixture.exists() else np.zeros(375, np.int64)
        utts.append((fixture.name, c, c.size * hop, "us_m1" if "us_m1" in prior.speakers else None))
    kern = int_kernel(prior)
    frame = vqs2.default_frame_codes(sr, hop)
    # speed: codes range-coded with the integer prior, frame by frame, one thread
    long = np.concatenate([u[1] for u in utts])
    long = np.tile(long, -(-int(args.entropy_seconds * sr / hop) // long.size))[: int(args.entropy_seconds * sr / hop)]
    spk0 = utts[0][3]
    row = kern.ip.speaker_row(spk0 if prior.speakers else None) if prior.speakers else 0
    kern.decode_frame(kern.encode_frame(long[:8], row), 8, row)  # compile / cache load
    t0 = time.perf_counter()
    frames = [kern.encode_frame(long[a: a + frame], row) for a in range(0, long.size, frame)]
    t1 = time.perf_counter()
    back = [kern.decode_frame(f, min(frame, long.size - i * frame), row) for i, f in enumerate(frames)]
    t2 = time.perf_counter()
    assert np.array_equal(np.concatenate(back), long)
    print(f"entropy coding ({what}, integer prior, frames of {frame} codes, 1 thread): encode "
          f"{long.size / (t1 - t0):,.0f} codes/s = {long.size * hop / sr / (t1 - t0):.0f}x real time, decode "
          f"{long.size / (t2 - t1):,.0f} codes/s = {long.size * hop / sr / (t2 - t1):.0f}x real time "
          f"({long.size} codes, exact round trip)")
    # rates
    tot = {"float": 0.0, "int": 0.0, "whole": 0, "framed": 0, "codes": 0}
    for name, c, n, spk in utts:
        r = kern.ip.speaker_row(spk if spk in prior.speakers else (prior.speakers[0] if prior.speakers else None)) \
            if prior.speakers else 0
        spk_t = torch.tensor([r]) if prior.speakers else None
        with torch.no_grad():
            tot["float"] += prior.nll_bits(torch.from_numpy(c)[None], spk_t, reduce=False).sum().item()
        t = reference_tables(kern.ip, c, r)
        tot["int"] += float(-np.log2(t[np.arange(c.size), c] / 65536).sum())
        tot["whole"] += 8 * len(kern.encode_frame(c, r))
        fr = encode_frames(prior, c, frame, spk)
        tot["framed"] += 8 * sum(len(f) for f in fr)
        tot["codes"] += c.size
        h = VqsHeader(model_fingerprint=model_fingerprint(mdir), sample_rate=sr, hop=hop,
                      num_codes=int(model.config.quantizer.num_codes), num_samples=int(n), n_codes=int(c.size),
                      speaker=spk, version=2, entropy={"coder": "int-prior-v1", "coder_id": 1,
                                                       "prior_fingerprint": pfp})
        size = len(vqs2.to_bytes_v2(copy.deepcopy(h), fr))
        head = len(vqs2.encode_header(h))
        print(f"  {name}: {n / sr:.2f} s, {c.size} codes: file {size} bytes = {size * 8 / (n / sr) / 1000:.3f} kbps "
              f"(header {head} bytes incl. speaker {spk!r}, {len(fr)} frames x (length + CRC-16), payload "
              f"{sum(len(f) for f in fr)} bytes)")
    n = tot["codes"]
    print(f"  bits/code: float prior (NLL) {tot['float'] / n:.4f}, integer prior (table NLL) {tot['int'] / n:.4f} "
          f"(+{100 * (tot['int'] / tot['float'] - 1):.2f}%), range-coded whole {tot['whole'] / n:.4f}, in frames "
          f"of {frame} codes {tot['framed'] / n:.4f} (restart per frame +{100 * (tot['framed'] / tot['whole'] - 1):.2f}%)")


if __name__ == "__main__":
    main()
