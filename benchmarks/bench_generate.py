"""Generation speed on ONE CPU thread: naive full-recompute loop vs torch incremental vs numba kernel.

    .venv/bin/python benchmarks/bench_generate.py            # small decoder + the default model's config
    .venv/bin/python benchmarks/bench_generate.py --configs small 20x32-64-32 --numba-seconds 2

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


class Clock:
    """Wall and CPU (process) time of a block; on a shared machine CPU time excludes waiting for a core."""

    def __enter__(self):
        self.w0, self.c0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.w0
        self.cpu = max(time.process_time() - self.c0, 1e-9)


def best_of(fn, repeats: int) -> tuple[float, float]:
    """(samples/s by CPU time, samples/s by wall time), best of `repeats` runs of fn() -> (samples, Clock)."""
    runs = [fn() for _ in range(repeats)]
    return max(n / c.cpu for n, c in runs), max(n / c.wall for n, c in runs)


def naive_rate(net: WaveNet, batch: int, total: int) -> tuple[int, Clock]:
    """Recompute the receptive field every step (no cache): aggregate samples/s over `total` samples."""
    rf = net.receptive_field
    steps = max(total // batch, 5)
    frames = torch.randn(batch, COND, (rf + steps) // HOP + 2)
    spk = torch.zeros(batch, dtype=torch.long)
    hist = torch.full((batch, rf + steps), 128, dtype=torch.long)
    upsampled = frames.repeat_interleave(HOP, dim=2)
    with torch.no_grad(), Clock() as clock:
        for t in range(steps):
            lo = t + 1  # the window of rf inputs ending at position t + rf
            logits = net(hist[:, lo:lo + rf], upsampled[:, :, lo:lo + rf], spk)[:, :, -1]
            hist[:, lo + rf - 1] = logits.argmax(1)
    return steps * batch, clock


def torch_rate(net: WaveNet, batch: int, steps: int) -> tuple[int, Clock]:
    frames = torch.randn(batch, COND, steps // HOP + 1)
    lc = layer_conditioning(net, frames, torch.zeros(batch, dtype=torch.long))
    st = TorchStreams(net, [steps] * batch, 128)
    gen = torch.Generator().manual_seed(0)
    with Clock() as clock:
        st.step(steps, lc, HOP, 0, temperature=1.0, generator=gen)
    return steps * batch, clock


def numba_rate(net: WaveNet, batch: int, steps: int) -> tuple[int, Clock]:
    frames = torch.randn(batch, COND, steps // HOP + 1)
    lc = layer_conditioning(net, frames, torch.zeros(batch, dtype=torch.long)).numpy()
    packed = pack_wavenet(net)
    NumbaStreams(packed, np.full(batch, 64), 128).step(64, lc, HOP, 0, temperature=0)  # compile / load
    uni = np.random.default_rng(0).random((batch, steps))
    st = NumbaStreams(packed, np.full(batch, steps), 128)
    with Clock() as clock:
        st.step(steps, lc, HOP, 0, uniforms=uni, temperature=1.0)
    return steps * batch, clock


def describe(cfg: WaveNetConfig) -> str:
    return (f"{cfg.num_layers} layers (k={cfg.kernel_size}), {cfg.residual_channels}/{cfg.gate_channels}/"
            f"{cfg.skip_channels} res/gate/skip, RF {cfg.receptive_field}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configs", nargs="+", default=["small", "default"],
                    help="named decoder configs (tiny, small, paper), 'default' (the bundled model's), or "
                         "LAYERSxRES-GATE-SKIP such as 20x32-64-32")
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
        elif "x" in name:  # e.g. 20x32-64-32: 20 layers (stacks of 10), residual 32, gate 64, skip 32
            layers, sizes = name.split("x")
            r, g, sk = (int(v) for v in sizes.split("-"))
            n = int(layers)
            per = 10 if n % 10 == 0 else n
            configs.append((name, WaveNetConfig(stacks=n // per, layers_per_stack=per, residual_channels=r,
                                                gate_channels=g, skip_channels=sk)))
        else:
            configs.append((name, named_decoder_config(name)))
    rows = []
    for name, cfg in configs:
        net = build(cfg)
        macs = pack_wavenet(net).macs_per_sample()
        print(f"{name}: {describe(cfg)}, {macs / 1e6:.3f} MMAC/sample", flush=True)
        for b in args.batches:
            naive, naive_w = best_of(lambda b=b, net=net: naive_rate(net, b, args.naive_samples), 1)
            inc, inc_w = best_of(lambda b=b, net=net: torch_rate(net, b, args.torch_steps), 2)
            nb, nb_w = best_of(lambda b=b, net=net: numba_rate(net, b, int(args.numba_seconds * RATE)), 3)
            for method, rate, wall in (("naive", naive, naive_w), ("torch-incr", inc, inc_w), ("numba", nb, nb_w)):
                m = macs * net.receptive_field if method == "naive" else macs
                rows.append((name, b, method, rate, wall, rate / naive, rate / inc, rate / RATE, m,
                             2 * m * rate / 1e9))
            print(f"  batch {b}: done", flush=True)
    hdr = ("config", "batch", "method", "samples/s", "(wall)", "x naive", "x torch", "x realtime", "MAC/sample",
           "GFLOP/s")
    print()
    print("| " + " | ".join(hdr) + " |")
    print("|" + "|".join("---" for _ in hdr) + "|")
    for name, b, method, rate, wall, xn, xt, rt, macs, gf in rows:
        print(f"| {name} | {b} | {method} | {rate:,.0f} | {wall:,.0f} | {xn:,.1f} | {xt:.2f} | {rt:.3f} | "
              f"{macs:,} | {gf:.2f} |")
    print("\nsamples/s: aggregate over the batch, per second of this process's CPU time (one thread; best of "
          "3 numba / 2 torch runs); (wall): the same per wall-clock second, lower when the machine is "
          "shared. x realtime = samples/s / 16000. naive = the whole receptive field recomputed per step, "
          f"extrapolated from {args.naive_samples} samples; its MAC/sample counts that recompute "
          "(receptive field x per-step MACs).")


if __name__ == "__main__":
    main()
