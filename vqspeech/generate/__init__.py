"""Fast autoregressive generation: waveforms from codes (VQ-VAE decoder) and codes from the prior.

Two backends produce the same computation: "numba" (a float32 CPU kernel, no Python per sample) and
"torch" (cached incremental steps, the GPU path). "auto" picks numba for a model on the CPU and torch
for one on CUDA. Streams of different lengths are generated together in one batch.
"""

from __future__ import annotations

import logging
import sys
import time

import numpy as np

from vqspeech.errors import VQSpeechError

log = logging.getLogger(__name__)

__all__ = ["decode_codes", "sample_codes", "DECODER_FIRST_INPUT"]

from vqspeech.mulaw import MU_LAW_ZERO as DECODER_FIRST_INPUT  # noqa: E402 - the decoder's first input

CHUNK = 4096  # samples per kernel call: the progress bar advances per chunk


def _check_temperature(temperature: float) -> None:
    if not temperature >= 0:
        raise VQSpeechError(f"temperature {temperature}: must be >= 0 (0 = argmax)")


def _backend(model_device, backend: str) -> str:
    if backend not in ("auto", "numba", "torch"):
        raise VQSpeechError(f"backend '{backend}': expected auto, numba or torch")
    if backend == "auto":
        return "torch" if model_device.type != "cpu" else "numba"
    if backend == "numba" and model_device.type != "cpu":
        raise VQSpeechError("backend numba runs on the CPU: load the model with device='cpu'")
    return backend


class _Progress:
    """tqdm on stderr over generated samples, showing the real-time factor."""

    def __init__(self, total: int, sample_rate: float, enabled: bool, desc: str) -> None:
        self.bar = None
        self.rate = sample_rate
        self.done = 0
        self.start = time.perf_counter()
        if enabled:
            from vqspeech.progress import progress_bar

            self.bar = progress_bar(total=total, unit="sample", unit_scale=True, desc=desc, file=sys.stderr,
                            dynamic_ncols=True)

    def restart(self) -> None:
        """Start the real-time clock now (after one-time set-up such as loading the compiled kernel)."""
        self.start = time.perf_counter()
        if self.bar is not None:
            self.bar.reset(total=self.bar.total)

    def update(self, n: int) -> None:
        self.done += n
        if self.bar is not None:
            wall = max(time.perf_counter() - self.start, 1e-9)
            self.bar.set_postfix_str(f"{self.done / self.rate / wall:.2f}x real time", refresh=False)
            self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _run(wavenet, lengths: list[int], first_input: int, cond_fn, n_total: int, hop: int, *,
         temperature: float, seed: int | None, backend: str, progress: _Progress, chunk: int) -> np.ndarray:
    """Generate max(lengths) steps for streams sorted longest first. cond_fn(t0, t1) -> (cond
    [B, F, L, G] torch, f0). Returns samples [B, max(lengths)] int64 (positions past a stream's length
    are 0)."""
    import torch

    b = len(lengths)
    out = np.zeros((b, n_total), dtype=np.int64)
    if backend == "numba":
        from vqspeech.generate.numba_kernel import NumbaStreams
        from vqspeech.generate.pack import pack_wavenet

        packed = pack_wavenet(wavenet)
        t_load = time.perf_counter()
        cond0, f0 = cond_fn(0, 1)  # load (or, the first time ever, compile) the kernel: one step
        NumbaStreams(packed, np.ones(b, np.int64), first_input).step(1, cond0.cpu().numpy(), hop, f0,
                                                                    temperature=0)
        log.debug("numba kernel ready in %.1f s", time.perf_counter() - t_load)
        progress.restart()
        streams = NumbaStreams(packed, np.asarray(lengths), first_input)
        rng = np.random.default_rng(seed)
        for t0 in range(0, n_total, chunk):
            n = min(chunk, n_total - t0)
            cond, f0 = cond_fn(t0, t0 + n)
            uni = rng.random((b, n)) if temperature > 0 else None
            samples, _ = streams.step(n, cond.cpu().numpy(), hop, f0, uniforms=uni, temperature=temperature)
            out[:, t0:t0 + n] = samples
            progress.update(sum(min(max(v - t0, 0), n) for v in lengths))
    else:
        from vqspeech.generate.torch_incremental import TorchStreams

        streams = TorchStreams(wavenet, lengths, first_input)
        gen = None
        if seed is not None:
            gen = torch.Generator(device=streams.device)
            gen.manual_seed(int(seed))
        for t0 in range(0, n_total, chunk):
            n = min(chunk, n_total - t0)
            cond, f0 = cond_fn(t0, t0 + n)
            samples, _ = streams.step(n, cond, hop, f0, temperature=temperature, generator=gen)
            out[:, t0:t0 + n] = samples.cpu().numpy()
            progress.update(sum(min(max(v - t0, 0), n) for v in lengths))
    return out


def decode_codes(model, codes: list[np.ndarray], speakers: list[int], *, temperature: float = 1.0,
                 seed: int | None = None, backend: str = "auto", num_samples: list[int] | None = None,
                 progress: bool = False, chunk: int = CHUNK, f0_shift: float = 0.0) -> list[np.ndarray]:
    """Waveforms from codes with the VQ-VAE's decoder; WaveNet streams run together in one batch.

    codes: one [N_i] int array per stream; speakers: one speaker index per stream; temperature 0 =
    argmax (WaveNet only); num_samples: samples per stream (default N_i * hop); f0_shift: semitones
    (source-filter only). Returns float32 waveforms [T_i] in [-1, 1], in the order given.
    """
    import torch

    _check_temperature(temperature)
    if len(codes) != len(speakers):
        raise VQSpeechError(f"decode: {len(codes)} code streams but {len(speakers)} speakers")
    if not getattr(model, "is_wavenet", True):
        from vqspeech.generate.source_filter import decode_many_sf

        return decode_many_sf(model, list(codes), [int(s) for s in speakers], seed=seed, num_samples=num_samples,
                              progress=progress, f0_shift=f0_shift, backend=backend)
    if f0_shift:
        raise VQSpeechError("f0_shift needs a decoder driven by F0 (decoder type source_filter)")

    from vqspeech.audio import mu_law_decode
    from vqspeech.generate.pack import layer_conditioning

    if not codes:
        return []
    hop = int(model.hop)
    n_spk = len(model.speakers)
    k_codes = int(model.config.quantizer.num_codes)
    arrays = []
    for i, c in enumerate(codes):
        a = np.asarray(c)
        if a.ndim != 1 or a.size == 0 or not np.issubdtype(a.dtype, np.integer):
            raise VQSpeechError(f"decode: stream {i}: codes must be a non-empty 1-D integer array")
        if a.min() < 0 or a.max() >= k_codes:
            raise VQSpeechError(f"decode: stream {i}: codes must be in [0, {k_codes})")
        arrays.append(a.astype(np.int64))
    for i, s in enumerate(speakers):
        if not 0 <= int(s) < max(n_spk, 1):
            raise VQSpeechError(f"decode: stream {i}: speaker index {s} not in [0, {n_spk})")
    lengths = [a.size * hop for a in arrays] if num_samples is None else [int(v) for v in num_samples]
    if len(lengths) != len(arrays):
        raise VQSpeechError(f"decode: {len(arrays)} code streams but {len(lengths)} num_samples")
    for i, (a, n) in enumerate(zip(arrays, lengths, strict=True)):
        if not 0 < n <= a.size * hop:
            raise VQSpeechError(f"decode: stream {i}: num_samples {n} not in [1, {a.size * hop}]")
    wavenet = model.decoder
    dev = next(wavenet.parameters()).device
    be = _backend(dev, backend)
    order = sorted(range(len(arrays)), key=lambda i: -lengths[i])
    n_frames = max(a.size for a in arrays)
    spk_t = torch.tensor([int(speakers[i]) for i in order], dtype=torch.long, device=dev)
    spk_arg = spk_t if getattr(wavenet, "speaker_embed", None) is not None else None
    repeat = model.config.upsample == "repeat"
    with torch.no_grad():
        # each stream alone (a learned upsampler looks one frame ahead: no padding may leak in)
        d = model.conditioning_frames(torch.zeros(1, 1, dtype=torch.long, device=dev)).shape[1]
        per_stream = torch.zeros(len(arrays), d, n_frames * (1 if repeat else hop), device=dev)
        for row, i in enumerate(order):
            c = torch.from_numpy(arrays[i])[None].to(dev)
            c = model.conditioning_frames(c) if repeat else model.conditioning(c)
            per_stream[row, :, : c.shape[2]] = c[0]
    cond_hop = hop if repeat else 1
    n_layers, gate = len(wavenet.layers), wavenet.layers[0].dilated.out_channels
    if not repeat:  # per-sample projections: bound a chunk's [B, chunk, L, G] to ~32 MB
        chunk = max(64, min(chunk, int(32e6 / (4 * len(arrays) * n_layers * gate))))

    def cond_fn(t0: int, t1: int):
        """Per-layer projections of the conditioning covering steps t0 .. t1 - 1: ([B, F, L, G], f0)."""
        f0, f1 = t0 // cond_hop, (t1 - 1) // cond_hop + 1
        with torch.no_grad():
            return layer_conditioning(wavenet, per_stream[:, :, f0:f1], spk_arg), f0

    sorted_lengths = [lengths[i] for i in order]
    bar = _Progress(sum(lengths), float(model.sample_rate), progress, "decode")
    try:
        out = _run(wavenet, sorted_lengths, DECODER_FIRST_INPUT, cond_fn, sorted_lengths[0], cond_hop,
                   temperature=temperature, seed=seed, backend=be, progress=bar, chunk=chunk)
    finally:
        bar.close()
    result: list[np.ndarray] = [np.empty(0, np.float32)] * len(arrays)
    for row, i in enumerate(order):
        result[i] = mu_law_decode(out[row, : lengths[i]]).astype(np.float32)
    return result


def sample_codes(prior, n_codes: int, speaker: int | None = None, *, batch: int = 1,
                 temperature: float = 1.0, seed: int | None = None, backend: str = "auto",
                 progress: bool = False, chunk: int = CHUNK) -> np.ndarray:
    """Sample code sequences from the WaveNet prior: returns [batch, n_codes] int64 in [0, K)."""
    import torch

    from vqspeech.generate.pack import layer_conditioning

    _check_temperature(temperature)
    if n_codes < 1 or batch < 1:
        raise VQSpeechError(f"sample: n_codes ({n_codes}) and batch ({batch}) must be >= 1")
    wavenet = prior.wavenet
    dev = next(wavenet.parameters()).device
    be = _backend(dev, backend)
    k_codes = int(prior.config.num_codes)
    spk_t = None
    if getattr(wavenet, "speaker_embed", None) is not None:
        n_spk = len(prior.config.speakers)
        if speaker is None or not 0 <= int(speaker) < n_spk:
            raise VQSpeechError(f"sample: this prior needs a speaker index in [0, {n_spk}), got {speaker}")
        spk_t = torch.full((batch,), int(speaker), dtype=torch.long, device=dev)
    with torch.no_grad():
        cond = layer_conditioning(wavenet, None, spk_t, batch=batch)  # [B, 1, L, G]

    def cond_fn(t0, t1):
        return cond, 0

    rate = float(prior.config.sample_rate) / float(prior.config.hop)
    bar = _Progress(batch * n_codes, rate, progress, "sample")
    try:
        out = _run(wavenet, [n_codes] * batch, k_codes, cond_fn, n_codes, n_codes + 1,
                   temperature=temperature, seed=seed, backend=be, progress=bar, chunk=chunk)
    finally:
        bar.close()
    return out
