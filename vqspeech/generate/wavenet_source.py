"""The excitation of a source-excited WaveNet decoder (`decoder.source_harmonics > 0`) at decoding time.

`WaveNetSource` gives, for one code stream, the excitation of samples t0 .. t1 - 1 in consecutive
chunks of any size: the F0 head's prediction from the codes and the requested speaker (computed in
fixed blocks of `HEAD_BLOCK` frames with the head's context as margins, so the pitch does not depend on
how the caller chunks), moved by `f0_shift` semitones, then `models.source.sine_noise_source` on whole
frames with the phase carried between calls and noise that is a function of (seed, stream, absolute
sample). Any chunking therefore gives bit-identical excitation, and so the same decoded samples.
"""

from __future__ import annotations

import math

import numpy as np

from vqspeech.errors import VQSpeechError

HEAD_BLOCK = 4096  # frames of codes per F0-head call (16 s at 250 codes/s), plus its context each side


class WaveNetSource:
    """Excitation chunks of one stream: `chunk(t0, t1) -> [t1 - t0, E] float32` (calls must follow each
    other: t0 = the previous t1). Samples past `num_samples` are zeros."""

    def __init__(self, model, codes: np.ndarray, speaker: int, *, f0_shift: float = 0.0, seed: int | None = None,
                 stream: int = 0, num_samples: int | None = None) -> None:
        from vqspeech.generate.source_filter import check_f0_shift

        if model.f0_head is None:
            raise VQSpeechError("this source-excited WaveNet model has no F0 head, so it cannot decode")
        self.model = model
        self.codes = np.asarray(codes).reshape(-1).astype(np.int64)
        self.speaker, self.stream = int(speaker), int(stream)
        self.seed = 0 if seed is None else int(seed)
        self.shift = check_f0_shift(f0_shift)
        self.hop, self.sr = int(model.hop), int(model.sample_rate)
        self.harmonics = int(model.config.decoder.source_harmonics)
        self.total = self.codes.size * self.hop if num_samples is None else int(num_samples)
        self.frames = self.codes.size
        self.t = 0  # the next sample asked for
        self.next_frame = 0  # the next frame to synthesise; `carry` is the phase at its start
        self.carry = np.zeros(1, np.int64)
        self.left = np.zeros((0, self.harmonics + 1), np.float32)  # synthesised samples from t on
        self._blocks: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def _head_block(self, j: int) -> tuple[np.ndarray, np.ndarray]:
        """(oscillator F0 Hz, voicing 0/1) [frames of block j] float64, from the F0 head."""
        if j not in self._blocks:
            import torch

            from vqspeech.generate.source_filter import VOICING_THRESHOLD

            m, ctx = self.model, int(self.model.f0_head.context)
            a, b = j * HEAD_BLOCK, min(self.frames, (j + 1) * HEAD_BLOCK)
            wa, wb = max(0, a - ctx), min(self.frames, b + ctx)
            dev = next(m.parameters()).device
            spk = torch.tensor([self.speaker], dtype=torch.long, device=dev) if m.speakers else None
            with torch.no_grad():
                q = m.conditioning_frames(torch.from_numpy(self.codes[wa:wb]).to(dev).view(1, -1))
                pred = m.f0_head(q, spk)
            lf = pred.log_f0[0, a - wa: b - wa].double().cpu().numpy() + self.shift * math.log(2.0) / 12.0
            voiced = torch.sigmoid(pred.voiced_logit[0, a - wa: b - wa]) >= VOICING_THRESHOLD
            self._blocks = {k: v for k, v in self._blocks.items() if k >= j - 1}  # bounded memory
            self._blocks[j] = (np.clip(np.exp(lf), 20.0, 2000.0), voiced.double().cpu().numpy())
        return self._blocks[j]

    def _frames(self, fa: int, fb: int) -> tuple[np.ndarray, np.ndarray]:
        parts = [self._head_block(j) for j in range(fa // HEAD_BLOCK, (fb - 1) // HEAD_BLOCK + 1)]
        off = fa - (fa // HEAD_BLOCK) * HEAD_BLOCK
        f0 = np.concatenate([p[0] for p in parts])[off: off + fb - fa]
        voiced = np.concatenate([p[1] for p in parts])[off: off + fb - fa]
        return f0[None], voiced[None]

    def chunk(self, t0: int, t1: int) -> np.ndarray:
        """The excitation of samples t0 .. t1 - 1: [t1 - t0, E] float32."""
        from vqspeech.models.source import block_noise, sine_noise_source

        if t0 != self.t or t1 < t0:
            raise ValueError(f"excitation chunks must follow each other: asked for {t0}..{t1} after {self.t}")
        hop = self.hop
        end = min(t1, self.total)
        b = -(-end // hop)
        if b > self.next_frame:
            a = self.next_frame
            fa, fb = max(0, a - 1), min(self.frames, b + 1)
            f0, voiced = self._frames(fa, fb)
            noise = block_noise(self.seed, a * hop, (b - a) * hop, 1, first_stream=self.stream)
            src, self.carry = sine_noise_source(f0, voiced, self.harmonics, hop, self.sr, a * hop, b * hop, noise,
                                                first=fa, total=self.frames, carry=self.carry)
            self.left = np.concatenate([self.left, src[0].T])
            self.next_frame = b
        n = max(0, end - t0)
        out = np.zeros((t1 - t0, self.harmonics + 1), np.float32)
        out[:n] = self.left[:n]
        self.left = self.left[n:]
        self.t = t1
        return out


def batch_source(sources: list[WaveNetSource], t0: int, t1: int) -> np.ndarray:
    """[B, t1 - t0, E] float32: the excitation chunks of several streams stacked (zeros past a stream's end)."""
    return np.stack([s.chunk(t0, t1) for s in sources])
