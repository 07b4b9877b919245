"""Training throughput of the VQ-VAE "small" config: one optimizer step (forward, backward, grad clip,
AdamW) as the trainer runs it, for the choices that matter on a CPU (threads, crop length at a fixed
number of samples per step, torch.compile), against a plain eager baseline of the same model measured
in the same run (torch's default threads, the paper-style 8192-sample crops).

    .venv/bin/python benchmarks/train_throughput.py [--steps 2] [--device cpu|cuda] [--compile]

Prints seconds of audio trained on per second (audio s/s) and kilo-samples/s; the machine may be
loaded by other jobs, so compare ratios within one run. Takes 1-3 minutes on a CPU.
"""

from __future__ import annotations

import argparse
import time

import torch


def build(device: torch.device):
    from vqspeech.models import build_vqvae
    from vqspeech.train.config import load_train_config, model_config

    mcfg = model_config(load_train_config("small"))
    mcfg.speakers = [f"s{i}" for i in range(8)]
    torch.manual_seed(0)
    return build_vqvae(mcfg).to(device)


def measure(model, batch: int, crop: int, steps: int, device: torch.device, threads: int | None = None,
            compile_: bool = False, trainer_step: bool = True) -> float:
    """Audio samples per second of training steps (after one warm-up step)."""
    from vqspeech.train.vqvae import vqvae_loss

    if threads is not None:
        torch.set_num_threads(threads)
    run = torch.compile(model) if compile_ else model
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    g = torch.Generator().manual_seed(0)
    wav = ((torch.rand(batch, 1, crop, generator=g) - 0.5) * 0.6).to(device)
    spk = torch.randint(0, 8, (batch,), generator=g).to(device)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else None
    times = []
    for i in range(steps + 1):
        t0 = time.perf_counter()
        if autocast is not None:
            with autocast:
                loss = vqvae_loss(run, (wav, spk))[0] if trainer_step else run(wav, spk).loss
        else:
            loss = vqvae_loss(run, (wav, spk))[0] if trainer_step else run(wav, spk).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if trainer_step:
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i > 0:
            times.append(time.perf_counter() - t0)
    return batch * crop / (sum(times) / len(times))


def measure_loader(batches: int = 200) -> float:
    """Milliseconds to cut one batch of 4 x 4096 crops from a 60-utterance cache (memory-mapped int16)."""
    import tempfile
    from pathlib import Path

    import numpy as np
    import soundfile as sf

    from vqspeech.data.dataset import CropBatches, CropSampler, open_audio_cache
    from vqspeech.data.kaldi import DataDir, write_data_dir

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        rng = np.random.default_rng(0)
        wav_scp, utt2spk = {}, {}
        for i in range(60):
            utt = f"s{i % 4}-u{i:03d}"
            path = root / f"{utt}.wav"
            sf.write(path, (0.1 * rng.standard_normal(48000)).astype(np.float32), 16000)
            wav_scp[utt], utt2spk[utt] = str(path), f"s{i % 4}"
        write_data_dir(root / "d", DataDir(wav_scp=wav_scp, utt2spk=utt2spk))
        cache = open_audio_cache(root / "d", 16000, progress=False)
        data = CropBatches(cache, CropSampler(cache.lengths, 4, 4096, seed=0), {f"s{i}": i for i in range(4)})
        t0 = time.perf_counter()
        for step in range(batches):
            data[step]
        return (time.perf_counter() - t0) / batches * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=2, help="timed steps per setting (after 1 warm-up)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--compile", action="store_true",
                    help="also time torch.compile (its compilation alone takes about 3 minutes on a busy 2-core CPU)")
    args = ap.parse_args()
    device = torch.device(args.device)
    default_threads = torch.get_num_threads()
    per_step = 16384  # audio samples per step, the same for every crop length
    print(f"VQ-VAE 'small' training throughput on {device} ({default_threads} threads available; the machine "
          "may be loaded by other jobs: compare ratios within this run)")
    rows = []
    base = measure(build(device), per_step // 8192, 8192, args.steps, device, default_threads, trainer_step=False)
    rows.append((f"baseline: plain eager, B=2 x 8192, {default_threads} threads", base))
    settings = []
    thread_opts = [1, 2] if device.type == "cpu" else [default_threads]
    for threads in thread_opts:
        for crop in (8192, 4096, 2048):
            settings.append((threads, crop, False))
    for threads, crop, comp in settings:
        sps = measure(build(device), per_step // crop, crop, args.steps, device, threads, comp)
        rows.append((f"trainer step, B={per_step // crop} x {crop}, {threads} threads", sps))
    if args.compile:
        best_threads = max(thread_opts, key=lambda t: max(r[1] for r in rows if f", {t} threads" in r[0]))
        try:
            sps = measure(build(device), per_step // 4096, 4096, args.steps, device, best_threads, True)
            rows.append((f"trainer step + torch.compile, B=4 x 4096, {best_threads} threads", sps))
        except Exception as err:  # noqa: BLE001 - report, keep benchmarking
            rows.append((f"torch.compile failed: {type(err).__name__}: {str(err).splitlines()[0][:60]}", 0.0))
    torch.set_num_threads(default_threads)
    loader_ms = measure_loader()
    print(f"{'setting':64s} {'ksamples/s':>10s} {'audio s/s':>9s} {'vs base':>7s}")
    for name, sps in rows:
        print(f"{name:64s} {sps / 1e3:10.1f} {sps / 16000:9.2f} {sps / base:6.2f}x")
    best = max(rows[1:], key=lambda r: r[1])
    print(f"fastest: {best[0]} ({best[1] / base:.2f}x the baseline)")
    print(f"batch loading from the int16 cache in the training process: {loader_ms:.2f} ms per batch of "
          "4 x 4096 (loader workers only add overhead at this cost)")


if __name__ == "__main__":
    main()
