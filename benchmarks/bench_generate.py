"""Generation speed on ONE CPU thread: naive full-recompute loop vs torch incremental vs numba kernel.

    .venv/bin/python benchmarks/bench_generate.py            # small decoder + the default model's config
    .venv/bin/python benchmarks/bench_generate.py --configs small tiny --numba-seconds 2

For each decoder config and batch size (1 and 8) it prints, from one run, aggregate samples/s of the
three methods, the speed-ups, the real-time factor (generated audio seconds per wall second at 16 kHz),
multiply-accumulates per sample and the GFLOP/s (2 flops per MAC) they imply. Weights are random (speed
does not depend on them); the decoder has 64 conditioning channels (hop 64) and 4 speakers.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ["NUMBA_NUM_THREADS"] = "1"
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(__file__).resolve().parents[1] / ".cache" / "numba"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vqspeech.generate.numba_kernel import NumbaStreams  # noqa: E402
from vqspeech.generate.pack import layer_conditioning, pack_wavenet  # noqa: E402
from vqspeech.generate.torch_incremental import TorchStreams  # noqa: E402
from vqspeech.models.config import WaveNetConfig, named_decoder_config  # noqa: E402
from vqspeech.models.wavenet import WaveNet  # noqa: E402

RATE, HOP, COND = 16000, 64, 64
DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "vqspeech" / "pretrained" / "default" / "config.json"


def build(cfg: WaveNetConfig) -> WaveNet:
    torch.manual_seed(0)
    return WaveNet(cfg, 256, 256, cond_channels=COND, num_speakers=4).eval()


def naive_rate(net: WaveNet, batch: int, total: int) -> float:
    """Recompute the receptive field every step (no cache): aggregate samples/s over `total` samples."""
    rf = net.receptive_field
    steps = max(total // batch, 5)
    frames = torch.randn(batch, COND, (rf + steps) // HOP + 2)
    spk = torch.zeros(batch, dtype=torch.long)
    hist = torch.full((batch, rf + steps), 128, dtype=torch.long)
    with torch.no_grad():
        start = time.perf_counter()
        for t in range(steps):
            lo = t + 1  # the window of rf inputs ending at position t + rf
            cond = frames.repeat_interleave(HOP, dim=2)[:, :, lo:lo + rf]
            logits = net(hist[:, lo:lo + rf], cond, spk)[:, :, -1]
            hist[:, lo + rf - 1] = logits.argmax(1)
        wall = time.perf_counter() - start
    return steps * batch / wall


def torch_rate(net: WaveNet, batch: int, steps: int) -> float:
    frames = torch.randn(batch, COND, steps // HOP + 1)
    lc = layer_conditioning(net, frames, torch.zeros(batch, dtype=torch.long))
    st = TorchStreams(net, [steps] * batch, 128)
    gen = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    st.step(steps, lc, HOP, 0, temperature=1.0, generator=gen)
    return steps * batch / (time.perf_counter() - start)


def numba_rate(net: WaveNet, batch: int, steps: int) -> float:
    frames = torch.randn(batch, COND, steps // HOP + 1)
    lc = layer_conditioning(net, frames, torch.zeros(batch, dtype=torch.long)).numpy()
    packed = pack_wavenet(net)
    NumbaStreams(packed, np.full(batch, 64), 128).step(64, lc, HOP, 0, temperature=0)  # compile / load
    uni = np.random.default_rng(0).random((batch, steps))
    st = NumbaStreams(packed, np.full(batch, steps), 128)
    start = time.perf_counter()
    st.step(steps, lc, HOP, 0, uniforms=uni, temperature=1.0)
    return steps * batch / (time.perf_counter() - start)


def describe(cfg: WaveNetConfig) -> str:
    return (f"{cfg.num_layers} layers (k={cfg.kernel_size}), {cfg.residual_channels}/{cfg.gate_channels}/"
            f"{cfg.skip_channels} res/gate/skip, RF {cfg.receptive_field}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configs", nargs="+", default=["small", "default"],
                    help="named decoder configs (tiny, small, paper) and/or 'default' (the bundled model's)")
    ap.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    ap.add_argument("--naive-samples", type=int, default=200, help="aggregate samples of the naive loop")
    ap.add_argument("--torch-steps", type=int, default=2000, help="steps per stream, torch incremental")
    ap.add_argument("--numba-seconds", type=float, default=1.0, help="audio seconds per stream, numba")
    args = ap.parse_args()
    torch.set_num_threads(1)
    load = os.getloadavg()[0]
    print(f"one thread (torch {torch.__version__}, NUMBA_NUM_THREADS=1); load average {load:.2f}")
    if load > 1.2:
        print("NOTE: the machine is shared and loaded right now: figures may be low and noisy")
    configs = []
    for name in args.configs:
        if name == "default":
            if not DEFAULT_CONFIG.exists():
                print(f"default model: absent ({DEFAULT_CONFIG} does not exist); skipped")
                continue
            meta = json.loads(DEFAULT_CONFIG.read_text())
            configs.append(("default", WaveNetConfig(**meta["config"]["decoder"])))
        else:
            configs.append((name, named_decoder_config(name)))
    rows = []
    for name, cfg in configs:
        net = build(cfg)
        macs = pack_wavenet(net).macs_per_sample()
        print(f"{name}: {describe(cfg)}, {macs / 1e6:.3f} MMAC/sample", flush=True)
        for b in args.batches:
            naive = naive_rate(net, b, args.naive_samples)
            inc = torch_rate(net, b, args.torch_steps)
            nb = numba_rate(net, b, int(args.numba_seconds * RATE))
            for method, rate in (("naive", naive), ("torch-incr", inc), ("numba", nb)):
                rows.append((name, b, method, rate, rate / naive, rate / inc, rate / RATE, macs,
                             2 * macs * rate / 1e9))
            print(f"  batch {b}: done", flush=True)
    hdr = ("config", "batch", "method", "samples/s", "x naive", "x torch", "x realtime", "MAC/sample", "GFLOP/s")
    print()
    print("| " + " | ".join(hdr) + " |")
    print("|" + "|".join("---" for _ in hdr) + "|")
    for name, b, method, rate, xn, xt, rt, macs, gf in rows:
        print(f"| {name} | {b} | {method} | {rate:,.0f} | {xn:,.1f} | {xt:.2f} | {rt:.3f} | {macs:,} | {gf:.2f} |")
    print("\nsamples/s are aggregate over the batch; x realtime = samples/s / 16000 (audio seconds per wall "
          "second); naive = full receptive-field recompute per step, extrapolated from "
          f"{args.naive_samples} samples.")


if __name__ == "__main__":
    main()
