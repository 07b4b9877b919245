"""Waveform <-> codes for the CLI and Python users: chunked encoding that gives exactly the codes of
whole-file encoding, and chunked decoding that writes as it goes (bounded memory for long files).

Every caller that turns audio into codes comes here: `encode_waveform` (one signal, chunked),
`encode_batch` (many signals at once, the same codes), `encode_file` / `encode_blocks` (streamed).

Chunked encoding: the encoder's code n depends on samples [n*hop - left, (n+1)*hop + right) (the
`Encoder.context`). Each chunk of codes [a, b) is computed from samples [(a - ml)*hop, (b + mr)*hop)
with ml = ceil(left / hop), mr = ceil(right / hop) (clipped to the file), so every kept code sees
exactly the samples, and the frame grid, that whole-file encoding gives it; the margin codes are
thrown away. At the file's start and end the chunk starts / ends where the file does, so the
encoder's own zero padding is the same as for the whole file.

Decoding goes through the one driver, `vqspeech.generate.iter_decode` (the decoder object carries its
state from chunk to chunk); here it is written to a file as it comes.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

ENCODE_CHUNK_SECONDS = 5.0  # encoder activations of a 5 s chunk: ~50 MB (128 channels at T / 2)


class ChunkedEncoder:
    """Feed samples in any blocks; `finish()` returns the codes `[N] int64` of the whole signal."""

    def __init__(self, model, chunk_seconds: float = ENCODE_CHUNK_SECONDS) -> None:
        self.model = model.eval()
        self.hop = int(model.hop)
        left, right = model.encoder.context
        self.ml = -(-left // self.hop)
        self.mr = -(-right // self.hop)
        self.chunk_frames = max(1, int(round(chunk_seconds * model.sample_rate / self.hop)))
        self.buf = np.zeros(0, dtype=np.float32)
        self.buf_start = 0  # sample index of buf[0] (a multiple of hop)
        self.next_frame = 0
        self.total = 0
        self.out: list[np.ndarray] = []

    def feed(self, samples: np.ndarray) -> None:
        """samples: [n] float32 in [-1, 1], the next part of the signal."""
        x = np.asarray(samples, dtype=np.float32).reshape(-1)
        if not x.size:
            return
        self.buf = np.concatenate([self.buf, x])
        self.total += x.size
        while True:
            b = self.next_frame + self.chunk_frames
            end = (b + self.mr) * self.hop
            if self.buf_start + self.buf.size < end:
                break
            self._run(b, end)

    def finish(self) -> np.ndarray:
        """The codes of everything fed: [ceil(T / hop)] int64."""
        n = -(-self.total // self.hop)
        while self.next_frame < n:
            b = min(n, self.next_frame + self.chunk_frames)
            self._run(b, min(self.total, (b + self.mr) * self.hop))
        return np.concatenate(self.out) if self.out else np.zeros(0, dtype=np.int64)

    def _run(self, b: int, end: int) -> None:
        import torch

        a = self.next_frame
        fa = max(0, a - self.ml)
        x = self.buf[fa * self.hop - self.buf_start: end - self.buf_start]
        dev = next(self.model.parameters()).device
        with torch.no_grad():
            codes = self.model.encode(torch.from_numpy(x).to(dev).view(1, 1, -1))[0].cpu().numpy()
        self.out.append(codes[a - fa: b - fa].astype(np.int64))
        self.next_frame = b
        keep = max(0, b - self.ml) * self.hop
        self.buf = self.buf[keep - self.buf_start:].copy()
        self.buf_start = keep


def encode_blocks(model, blocks: Iterable[np.ndarray], chunk_seconds: float = ENCODE_CHUNK_SECONDS) -> np.ndarray:
    """Codes of the concatenation of `blocks` (each [n] float32), holding one chunk at a time."""
    enc = ChunkedEncoder(model, chunk_seconds)
    for block in blocks:
        enc.feed(block)
    return enc.finish()


def encode_waveform(model, wav: np.ndarray, chunk_seconds: float = ENCODE_CHUNK_SECONDS) -> np.ndarray:
    """wav: [T] float32 in [-1, 1] at model.sample_rate -> codes [ceil(T / hop)] int64.

    Identical to `model.encode` on the whole signal, with memory bounded by the chunk size."""
    wav = np.asarray(wav, dtype=np.float32).reshape(-1)
    step = max(1, int(chunk_seconds * model.sample_rate))
    return encode_blocks(model, (wav[i: i + step] for i in range(0, wav.size, step)), chunk_seconds)


def encode_batch(model, wavs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Codes of each waveform ([T_i] float32 at model.sample_rate), batched: the same codes as
    `encode_waveform` of each alone (the caller bounds the batch's total length).

    The batch is zero-padded to its longest waveform; only the last frames of a shorter waveform can see
    the padding (through the encoder's right context), so those are re-encoded from its own tail, long
    enough to hold their left context."""
    import torch

    if not len(wavs):
        return []
    hop = int(model.hop)
    left, right = model.encoder.context
    device = next(model.parameters()).device
    wavs = [np.asarray(w, dtype=np.float32).reshape(-1) for w in wavs]
    n_frames = [-(-len(w) // hop) for w in wavs]
    longest = max(len(w) for w in wavs)
    batch = np.zeros((len(wavs), 1, longest), dtype=np.float32)
    for i, w in enumerate(wavs):
        batch[i, 0, : len(w)] = w
    model.eval()
    with torch.inference_mode():
        codes = model.encode(torch.from_numpy(batch).to(device)).cpu().numpy().astype(np.int64)
        out = []
        tail_frames = -(-right // hop) + 1  # frames whose right context may reach past the waveform
        lead_frames = -(-left // hop) + 1  # frames of left context the tail needs in front
        for i, w in enumerate(wavs):
            c = codes[i, : n_frames[i]].copy()
            if len(w) < longest and n_frames[i] > 0:
                start = max(0, n_frames[i] - tail_frames - lead_frames) * hop
                tail = torch.from_numpy(np.ascontiguousarray(w[start:])).to(device).view(1, 1, -1)
                t = model.encode(tail)[0].cpu().numpy()
                k = min(tail_frames, n_frames[i])
                c[-k:] = t[-k:]
            out.append(c)
    return out


def encode_file(model, path: str | os.PathLike, chunk_seconds: float = ENCODE_CHUNK_SECONDS,
                progress: bool = False) -> tuple[np.ndarray, int]:
    """Encode an audio file (any format, rate, channels), streaming: -> (codes [N] int64, T samples).

    progress: a tqdm bar on stderr over seconds of audio, with the real-time factor."""
    import sys
    import time

    from vqspeech.audio import iter_audio_blocks

    enc = ChunkedEncoder(model, chunk_seconds)
    bar = None
    rate = float(model.sample_rate)
    start = time.perf_counter()
    try:
        for block in iter_audio_blocks(path, int(model.sample_rate), block_seconds=chunk_seconds):
            if progress and bar is None:
                from vqspeech.audio import audio_duration
                from vqspeech.progress import progress_bar

                bar = progress_bar(total=round(audio_duration(path), 1), unit="s", desc=f"encode {Path(path).name}",
                           file=sys.stderr, dynamic_ncols=True, leave=False)
            enc.feed(block)
            if bar is not None:
                done = enc.total / rate
                bar.set_postfix_str(f"{done / max(time.perf_counter() - start, 1e-9):.0f}x real time", refresh=False)
                bar.update(min(round(done, 1), bar.total) - bar.n)
        return enc.finish(), enc.total
    finally:
        if bar is not None:
            bar.close()


def decode_to_waveform(model, codes: np.ndarray, speaker: str | int | None = None, *, temperature: float = 1.0,
                       seed: int | None = None, num_samples: int | None = None,
                       progress: bool = False, f0_shift: float = 0.0, precision: str = "auto") -> np.ndarray:
    """codes: [N] int -> waveform [num_samples or N * hop] float32 in [-1, 1] (`generate.iter_decode`)."""
    from vqspeech.generate import iter_decode

    blocks = list(iter_decode(model, codes, speaker, temperature=temperature, seed=seed,
                              num_samples=num_samples, progress=progress, f0_shift=f0_shift,
                              precision=precision))
    return np.concatenate(blocks)


def decode_to_file(model, codes: np.ndarray, path: str | os.PathLike, speaker: str | int | None = None, *,
                   temperature: float = 1.0, seed: int | None = None, num_samples: int | None = None,
                   progress: bool = False, on_block: Callable[[int], None] | None = None,
                   f0_shift: float = 0.0, skip: int = 0, silence: Iterable[tuple[int, int]] = (),
                   source: str | None = None, precision: str = "auto") -> Path:
    """Decode straight into an audio file, chunk by chunk (atomic: the file appears only when complete).

    skip: samples decoded but not written at the start (then num_samples counts the written ones);
    silence: [start, end) sample ranges of the written output set to zero (concealed frames); speaker /
    source: as in `generate.iter_decode` (`vqspeech.speakers.resolve_speaker`)."""
    from vqspeech.audio import audio_writer
    from vqspeech.generate import iter_decode

    mute = sorted(silence)
    pos = -int(skip)  # index in the written output of the next decoded sample
    with audio_writer(path, int(model.sample_rate)) as write:
        for block in iter_decode(model, codes, speaker, temperature=temperature, seed=seed,
                                 num_samples=None if num_samples is None else int(skip) + num_samples,
                                 progress=progress, f0_shift=f0_shift, source=source, precision=precision):
            a, pos = pos, pos + block.size
            if pos <= 0:
                continue
            if a < 0:
                block, a = block[-a:], 0
            for m0, m1 in mute:
                if m0 < pos and m1 > a:
                    block = block.copy()
                    block[max(m0, a) - a: min(m1, pos) - a] = 0.0
            write(block)
            if on_block is not None:
                on_block(block.size)
    return Path(path)
