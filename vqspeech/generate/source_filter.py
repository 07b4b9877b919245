"""Decoding with the source-filter decoder: codes -> F0 head -> harmonic-plus-noise synthesis, in chunks.

Chunk [a, b) of frames is computed from the window of frames [a - Mf - Md, b + Mf + Md) (clipped to the
stream), Mf = the F0 head's context, Md = the decoder's (network, amplitude interpolation, noise-filter
spill): every kept frame sees exactly the frames that whole-stream decoding gives it. The harmonic
phase is carried from chunk to chunk and the noise is a function of (seed, absolute sample), so the
output equals one whole-stream decode (to float32 rounding of the convolutions, ~1e-6).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from vqspeech.errors import VQSpeechError

DEFAULT_CHUNK_SECONDS = 10.0  # margins (F0 head + decoder context) cost ~13% extra convolution at 10 s
VOICING_THRESHOLD = 0.5  # a frame is voiced when the F0 head's voicing probability reaches this


def check_f0_shift(f0_shift: float) -> float:
    if not math.isfinite(f0_shift) or abs(f0_shift) > 24:
        raise VQSpeechError(f"--f0-shift {f0_shift}: must be a finite number of semitones in [-24, 24]")
    return float(f0_shift)


class SourceFilterStream:
    """Blocks of the waveform of one code stream: `for block in stream: ...` ([n] float32 each)."""

    def __init__(self, model, codes: np.ndarray, speaker: int, *, seed: int | None = None,
                 num_samples: int | None = None, f0_shift: float = 0.0,
                 chunk_seconds: float = DEFAULT_CHUNK_SECONDS, backend: str = "auto") -> None:
        if model.f0_head is None:
            raise VQSpeechError("this source-filter model has no F0 head, so it cannot decode")
        self.model = model
        self.codes = np.asarray(codes).reshape(-1).astype(np.int64)
        self.speaker = int(speaker)
        self.hop = int(model.hop)
        self.seed = 0 if seed is None else int(seed)
        self.total = self.codes.size * self.hop if num_samples is None else int(num_samples)
        self.f0_shift = check_f0_shift(f0_shift)
        self.chunk = max(1, int(round(chunk_seconds * model.sample_rate / self.hop)))
        self.mf = int(model.f0_head.context)
        self.md = int(model.decoder.context)
        if backend not in ("auto", "numba", "torch"):
            raise VQSpeechError(f"backend '{backend}': expected auto, numba or torch")
        on_cpu = next(model.parameters()).device.type == "cpu"
        self.backend = ("numba" if on_cpu else "torch") if backend == "auto" else backend
        if self.backend == "numba" and not on_cpu:
            raise VQSpeechError("backend numba runs on the CPU: load the model with device='cpu'")
        self.f0_frames: list[np.ndarray] = []  # the F0 (Hz, 0 = unvoiced) of each decoded chunk

    def __iter__(self) -> Iterator[np.ndarray]:
        import torch

        from vqspeech.models.source import block_noise

        model, hop = self.model, self.hop
        dev = next(model.parameters()).device
        codes_t = torch.from_numpy(self.codes).to(dev).view(1, -1)
        spk = torch.tensor([self.speaker], dtype=torch.long, device=dev) if model.speakers else None
        n_frames = -(-self.total // hop)
        big = self.mf + self.md
        phase = None
        for a in range(0, n_frames, self.chunk):
            b = min(n_frames, a + self.chunk)
            wa, wb = max(0, a - big), min(self.codes.size, b + big)
            with torch.no_grad():
                q = model.conditioning_frames(codes_t[:, wa:wb])  # [1, D, W]
                pred = model.f0_head(q, spk)
                da, db = max(0, a - self.md), min(self.codes.size, b + self.md)
                lf = pred.log_f0[:, da - wa: db - wa] + self.f0_shift * math.log(2.0) / 12.0
                voiced = (torch.sigmoid(pred.voiced_logit[:, da - wa: db - wa]) >= VOICING_THRESHOLD).float()
                f0 = torch.exp(lf).clamp(20.0, 2000.0)
                amps, noise_mag = model.decoder.frame_params(q[:, :, da - wa: db - wa], spk, f0, voiced)
                noise = torch.from_numpy(block_noise(self.seed, da * hop, (db - da) * hop)).to(dev)
                wav, phase = model.decoder.synthesize(amps, noise_mag, f0, noise, phase0=phase,
                                                      frames=slice(a - da, b - da), backend=self.backend)
            self.f0_frames.append((f0 * voiced)[0, a - da: b - da].cpu().numpy())
            t0, t1 = a * hop, min(self.total, b * hop)
            yield wav[0, : t1 - t0].float().cpu().numpy().clip(-1.0, 1.0).astype(np.float32)


def sf_blocks(model, codes: np.ndarray, speaker: int, *, seed: int | None = None, num_samples: int | None = None,
              progress: bool = False, f0_shift: float = 0.0, chunk_seconds: float = DEFAULT_CHUNK_SECONDS,
              backend: str = "auto") -> Iterator[np.ndarray]:
    """Checked inputs -> the blocks of `SourceFilterStream`, with a progress bar (real-time factor)."""
    from vqspeech.generate import _Progress

    c = np.asarray(codes).reshape(-1)
    k = int(model.config.quantizer.num_codes)
    if c.size == 0 or not np.issubdtype(c.dtype, np.integer) or c.min() < 0 or c.max() >= k:
        raise VQSpeechError(f"decode: codes must be a non-empty array of ints in [0, {k})")
    total = c.size * int(model.hop) if num_samples is None else int(num_samples)
    if not 0 < total <= c.size * int(model.hop):
        raise VQSpeechError(f"decode: num_samples {total} not in [1, {c.size * int(model.hop)}]")
    if not 0 <= int(speaker) < max(1, len(model.speakers)):
        raise VQSpeechError(f"decode: speaker index {speaker} not in [0, {len(model.speakers)})")
    stream = SourceFilterStream(model, c, int(speaker), seed=seed, num_samples=total, f0_shift=f0_shift,
                                chunk_seconds=chunk_seconds, backend=backend)
    bar = _Progress(total, float(model.sample_rate), progress, "decode")
    try:
        for block in stream:
            bar.update(block.size)
            yield block
    finally:
        bar.close()


def decode_many_sf(model, codes: list[np.ndarray], speakers: list[int], *, seed: int | None = None,
                   num_samples: list[int] | None = None, progress: bool = False, f0_shift: float = 0.0,
                   backend: str = "auto") -> list[np.ndarray]:
    """`decode_codes` for a source-filter model: each stream on its own (non-autoregressive: no batching
    gain on one core), stream i with noise seed (seed, i)."""
    out = []
    for i, (c, s) in enumerate(zip(codes, speakers, strict=True)):
        n = None if num_samples is None else num_samples[i]
        sd = None if seed is None else int(seed) * 1000003 + i
        out.append(np.concatenate(list(sf_blocks(model, c, s, seed=sd, num_samples=n, progress=progress,
                                                 f0_shift=f0_shift, backend=backend))))
    return out
