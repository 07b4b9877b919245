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


def inference_modules(model, precision: str):
    """(F0 head, decoder) of `model` for decoding in `precision` ("float32": the model's own; "bfloat16":
    copies made once per model and kept with it)."""
    from vqspeech.models.precision import inference_copy

    if precision == "float32":
        return model.f0_head, model.decoder
    params = [*model.f0_head.parameters(), *model.decoder.parameters()]
    key = (precision, tuple((p.data_ptr(), p._version) for p in params))  # stale once the weights change
    cached = model.__dict__.get("_inference_modules")
    if cached is None or cached[0] != key:
        cached = (key, (inference_copy(model.f0_head, precision), inference_copy(model.decoder, precision)))
        model.__dict__["_inference_modules"] = cached
    return cached[1]


class SourceFilterStream:
    """Blocks of the waveform of one code stream: `for block in stream: ...` ([n] float32 each)."""

    def __init__(self, model, codes: np.ndarray, speaker: int, *, seed: int | None = None,
                 num_samples: int | None = None, f0_shift: float = 0.0,
                 chunk_seconds: float = DEFAULT_CHUNK_SECONDS, backend: str = "auto",
                 precision: str = "auto") -> None:
        if model.f0_head is None:
            raise VQSpeechError("this source-filter model has no F0 head, so it cannot decode")
        self.model = model
        self.codes = np.asarray(codes).reshape(-1).astype(np.int64)
        self.speaker = int(speaker)
        self.hop = int(model.hop)
        self.seed = 0 if seed is None else int(seed)
        self.total = self.codes.size * self.hop if num_samples is None else int(num_samples)
        self.f0_shift = check_f0_shift(f0_shift)
        self.chunk_frames = max(1, int(round(chunk_seconds * model.sample_rate / self.hop)))
        self.mf = int(model.f0_head.context)
        self.md = int(model.decoder.context)
        from vqspeech.generate.streams import pick_backend
        from vqspeech.models.precision import resolve_precision

        device = next(model.parameters()).device
        self.backend = pick_backend(device, backend)
        self.precision = resolve_precision(precision, device)
        self.f0_head, self.net = inference_modules(model, self.precision)
        self.f0_frames: list[np.ndarray] = []  # the F0 (Hz, 0 = unvoiced) of each decoded chunk
        self.phase = None  # harmonic phases carried from chunk to chunk
        self.t = 0  # samples produced

    # the decoder interface (`vqspeech.generate.decoder`): one stream, chunks of whole frames
    batched = False

    @property
    def lengths(self) -> list[int]:
        return [self.total]

    @property
    def sample_rate(self) -> int:
        return int(self.model.sample_rate)

    @property
    def chunk(self) -> int:
        return self.chunk_frames * self.hop

    def warm_up(self) -> None:
        pass

    def __iter__(self) -> Iterator[np.ndarray]:
        for t in range(0, self.total, self.chunk):
            yield self.step(min(self.chunk, self.total - t))[0]

    def step(self, n: int) -> np.ndarray:
        """The next n samples ([1, n] float32): frames [t / hop, ceil((t + n) / hop)), t a multiple of hop."""
        import torch

        from vqspeech.models.source import block_noise

        model, hop = self.model, self.hop
        dev = next(model.parameters()).device
        codes_t = torch.from_numpy(self.codes).to(dev).view(1, -1)
        spk = torch.tensor([self.speaker], dtype=torch.long, device=dev) if model.speakers else None
        if self.t % hop:
            raise ValueError("source-filter steps start on a frame boundary")
        a, b = self.t // hop, -(-(self.t + n) // hop)
        big = self.mf + self.md
        wa, wb = max(0, a - big), min(self.codes.size, b + big)
        with torch.no_grad():
            q = model.conditioning_frames(codes_t[:, wa:wb])  # [1, D, W]
            pred = self.f0_head(q, spk)
            da, db = max(0, a - self.md), min(self.codes.size, b + self.md)
            lf = pred.log_f0[:, da - wa: db - wa] + self.f0_shift * math.log(2.0) / 12.0
            voiced = (torch.sigmoid(pred.voiced_logit[:, da - wa: db - wa]) >= VOICING_THRESHOLD).float()
            f0 = torch.exp(lf).clamp(20.0, 2000.0)
            amps, noise_mag = self.net.frame_params(q[:, :, da - wa: db - wa], spk, f0, voiced)
            noise = torch.from_numpy(block_noise(self.seed, da * hop, (db - da) * hop)).to(dev)
            wav, self.phase = model.decoder.synthesize(amps, noise_mag, f0, noise, phase0=self.phase,
                                                       frames=slice(a - da, b - da), backend=self.backend)
        self.f0_frames.append((f0 * voiced)[0, a - da: b - da].cpu().numpy())
        self.t += n
        return wav[:, :n].float().cpu().numpy().clip(-1.0, 1.0).astype(np.float32)
