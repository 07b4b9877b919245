"""The decoder interface and the one driver that runs every decoder type: codes -> waveform.

A decoder object (built by `make_decoder` from the model's decoder type) holds B code streams, their
speakers and its own random state, and produces the waveform chunk by chunk:

    lengths: list[int]       samples per stream (in the order given)
    sample_rate: int
    chunk: int               samples the driver asks for per step (a multiple of hop)
    batched: bool            whether several streams run together (else the driver runs one at a time)
    warm_up() -> None        one-time set-up before the clock of the progress bar starts
    step(n) -> [B, n] float32  the next n samples of every stream (rows past their length: garbage)

Every decoder computes the inputs of a chunk itself, from its codes, speakers and (where it has one) the
F0 head: `WaveNetDecoder._inputs` (per-layer conditioning projections of the frames the chunk covers),
`SourceFilterStream` (F0 head -> harmonic amplitudes and noise -> synthesis, phase carried). `run_decoder`
is the only loop over chunks; `decode_codes` (whole waveforms, many streams), `iter_decode` (one stream,
block by block) and through them the codec, evaluation, phone analysis, the demo and sampling use it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from vqspeech.errors import VQSpeechError
from vqspeech.mulaw import MU_LAW_ZERO, mu_law_decode
from vqspeech.speakers import resolve_speaker

CHUNK = 4096  # samples per WaveNet kernel call: the progress bar advances per chunk
COND_BYTES = 32e6  # per-sample conditioning of a chunk ([B, chunk, L, G] float32) is held under this


def check_codes(model, codes: Sequence[np.ndarray], num_samples: Sequence[int] | None) -> tuple[list[np.ndarray],
                                                                                               list[int]]:
    """Codes ([N_i] ints in [0, K), non-empty) and samples per stream (default N_i * hop), checked."""
    hop, k = int(model.hop), int(model.config.quantizer.num_codes)
    arrays = []

    def where(i: int) -> str:
        return f"stream {i}: " if len(codes) > 1 else ""

    for i, c in enumerate(codes):
        a = np.asarray(c).reshape(-1) if np.ndim(c) <= 1 else np.asarray(c)
        if a.ndim != 1 or a.size == 0 or not np.issubdtype(a.dtype, np.integer):
            raise VQSpeechError(f"decode: {where(i)}codes must be a non-empty 1-D integer array")
        if a.min() < 0 or a.max() >= k:
            raise VQSpeechError(f"decode: {where(i)}codes must be in [0, {k})")
        arrays.append(a.astype(np.int64))
    lengths = [a.size * hop for a in arrays] if num_samples is None else [int(v) for v in num_samples]
    if len(lengths) != len(arrays):
        raise VQSpeechError(f"decode: {len(arrays)} code streams but {len(lengths)} num_samples")
    for i, (a, n) in enumerate(zip(arrays, lengths, strict=True)):
        if not 0 < n <= a.size * hop:
            raise VQSpeechError(f"decode: {where(i)}num_samples {n} not in [1, {a.size * hop}]")
    return arrays, lengths


class WaveNetDecoder:
    """The autoregressive mu-law WaveNet decoder: B streams generated together (numba or torch backend,
    `streams.WaveNetStreams`, which owns the random state).

    Per chunk of samples [t0, t1) `_inputs` computes what the WaveNet layers add to their gates: the
    quantized vectors of the frames that cover the chunk (one more frame each side for a learned
    upsampler), upsampled, projected per layer with the speaker (`pack.layer_conditioning`). A
    source-excited WaveNet (`source_harmonics > 0`) also takes the excitation of [t0, t1) per stream
    from `wavenet_source.WaveNetSource` (F0 head, f0_shift, phase carried) as extra local conditioning."""

    batched = True

    def __init__(self, model, codes: Sequence[np.ndarray], speakers: Sequence[int | None], *,
                 num_samples: Sequence[int] | None = None, temperature: float = 1.0, seed: int | None = None,
                 backend: str = "auto", chunk: int = CHUNK, f0_shift: float = 0.0) -> None:
        import torch

        from vqspeech.generate.streams import WaveNetStreams

        arrays, self.lengths = check_codes(model, codes, num_samples)
        self.model, self.hop, self.sample_rate = model, int(model.hop), int(model.sample_rate)
        wavenet = self.wavenet = model.decoder
        self.device = next(wavenet.parameters()).device
        self.order = sorted(range(len(arrays)), key=lambda i: -self.lengths[i])
        self.sizes = [arrays[i].size for i in self.order]
        padded = np.zeros((len(arrays), max(self.sizes)), np.int64)
        for row, i in enumerate(self.order):
            padded[row, : arrays[i].size] = arrays[i]
        self.codes = torch.from_numpy(padded).to(self.device)
        spk = torch.tensor([int(speakers[i] or 0) for i in self.order], dtype=torch.long, device=self.device)
        self.spk = spk if getattr(wavenet, "speaker_embed", None) is not None else None
        self.repeat = model.config.upsample == "repeat"
        self.chunk = int(chunk)
        if not self.repeat:  # per-sample projections: bound a chunk's [B, chunk, L, G]
            per_sample = 4 * len(arrays) * len(wavenet.layers) * wavenet.layers[0].dilated.out_channels
            self.chunk = max(64, min(self.chunk, int(COND_BYTES / per_sample)))
        self.streams = WaveNetStreams(wavenet, [self.lengths[i] for i in self.order], MU_LAW_ZERO,
                                      backend=backend, seed=seed, temperature=temperature)
        self.sources = None  # a source-excited WaveNet: the excitation of each stream (sorted order)
        if getattr(model, "source_harmonics", 0):
            from vqspeech.generate.wavenet_source import WaveNetSource

            self.sources = [WaveNetSource(model, arrays[i], int(speakers[i] or 0), f0_shift=f0_shift, seed=seed,
                                          stream=i, num_samples=self.lengths[i]) for i in self.order]
        self.t = 0

    def _inputs(self, t0: int, t1: int):
        """What steps t0 .. t1 - 1 add to the gates: (cond [B, F, L, G] torch, its hop, its first frame);
        the excitation of a source-excited WaveNet comes from `self.sources` in `step`."""
        import torch

        from vqspeech.generate.pack import layer_conditioning

        hop, model = self.hop, self.model
        with torch.no_grad():
            if self.repeat:  # frames as they are: the per-frame projections are repeated by the kernel
                fa, fb = t0 // hop, (t1 - 1) // hop + 1
                return layer_conditioning(self.wavenet, model.conditioning_frames(self.codes[:, fa:fb]),
                                          self.spk), hop, fa
            # a learned upsampler mixes neighbouring frames: each stream alone, one more frame each side
            fa, fb = t0 // hop, (t1 - 1) // hop + 1
            cond = None
            for row, size in enumerate(self.sizes):
                a, b = max(0, fa - 1), min(size, fb + 1)
                if a >= b:
                    continue
                sub = model.conditioning(self.codes[row: row + 1, a:b])[:, :, t0 - a * hop: t1 - a * hop]
                if cond is None:
                    cond = torch.zeros(len(self.sizes), sub.shape[1], t1 - t0, device=self.device)
                cond[row, :, : sub.shape[2]] = sub[0]
            return layer_conditioning(self.wavenet, cond, self.spk), 1, t0

    def warm_up(self) -> None:
        self.streams.warm_up(*self._inputs(0, 1))

    def step(self, n: int) -> np.ndarray:
        """The next n samples of every stream: [B, n] float32 in [-1, 1], in the order given."""
        src = None if self.sources is None else np.stack([s.chunk(self.t, self.t + n) for s in self.sources])
        out, _ = self.streams.step(n, *self._inputs(self.t, self.t + n), source=src)
        self.t += n
        wav = np.empty(out.shape, np.float32)
        wav[self.order] = mu_law_decode(out).astype(np.float32)
        return wav


def make_decoder(model, codes: Sequence[np.ndarray], speakers: Sequence[int | None], *,
                 num_samples: Sequence[int] | None = None, temperature: float = 1.0, seed: int | None = None,
                 backend: str = "auto", chunk: int | None = None, f0_shift: float = 0.0,
                 precision: str = "auto"):
    """The decoder object for the model's decoder type (see the module docstring).

    speakers: decoder indices (`resolve_speaker`); temperature: WaveNet sampling (0 = argmax); f0_shift:
    semitones (decoders driven by F0); chunk: samples per step (default: the decoder's own); precision:
    of the source-filter decoder's convolutions (`vqspeech.models.precision`: auto = bfloat16 on a CPU
    that computes it natively, else float32; a WaveNet decodes in float32)."""
    from vqspeech.generate.streams import check_temperature
    from vqspeech.models.precision import check_precision

    check_temperature(temperature)
    precision = check_precision(model, precision)
    if len(codes) != len(speakers):
        raise VQSpeechError(f"decode: {len(codes)} code streams but {len(speakers)} speakers")
    for i, s in enumerate(speakers):
        if s is not None and not 0 <= int(s) < max(len(model.speakers), 1):
            raise VQSpeechError(f"decode: stream {i}: speaker index {s} not in [0, {len(model.speakers)})")
    if not getattr(model, "is_wavenet", True):
        from vqspeech.generate.source_filter import DEFAULT_CHUNK_SECONDS, SourceFilterStream

        if len(codes) != 1:
            raise VQSpeechError("decode: a source-filter decoder object takes one stream")
        arrays, lengths = check_codes(model, codes, num_samples)
        secs = DEFAULT_CHUNK_SECONDS if chunk is None else chunk / model.sample_rate
        return SourceFilterStream(model, arrays[0], int(speakers[0] or 0), seed=seed, num_samples=lengths[0],
                                  f0_shift=f0_shift, chunk_seconds=secs, backend=backend, precision=precision)
    if f0_shift and not getattr(model, "source_harmonics", 0):
        raise VQSpeechError("--f0-shift needs a decoder driven by F0 (decoder type source_filter, or a WaveNet "
                            "with source_harmonics > 0); "
                            "this model's WaveNet decoder has no pitch input")
    return WaveNetDecoder(model, codes, speakers, num_samples=num_samples, temperature=temperature, seed=seed,
                          backend=backend, chunk=CHUNK if chunk is None else chunk, f0_shift=f0_shift)


def run_decoder(decoder, *, progress: bool = False, desc: str = "decode") -> Iterator[np.ndarray]:
    """Drive any decoder to the end: yields its [B, n] float32 blocks (row i valid up to lengths[i]),
    with a progress bar (stderr, real-time factor) when asked."""
    from vqspeech.progress import RateBar

    lengths = list(decoder.lengths)
    total = max(lengths)
    bar = RateBar(sum(lengths), float(decoder.sample_rate), progress, desc)
    try:
        decoder.warm_up()
        bar.restart()
        for t in range(0, total, decoder.chunk):
            n = min(decoder.chunk, total - t)
            block = decoder.step(n)
            bar.update(sum(min(max(v - t, 0), n) for v in lengths))
            yield block
    finally:
        bar.close()


def decode_codes(model, codes: list[np.ndarray], speakers: list[int], *, temperature: float = 1.0,
                 seed: int | None = None, backend: str = "auto", num_samples: list[int] | None = None,
                 progress: bool = False, chunk: int = CHUNK, f0_shift: float = 0.0,
                 precision: str = "auto") -> list[np.ndarray]:
    """Waveforms from codes: one [T_i] float32 array in [-1, 1] per stream, in the order given.

    codes: one [N_i] int array per stream; speakers: one decoder speaker index per stream; temperature 0
    = argmax (WaveNet); num_samples: samples per stream (default N_i * hop); f0_shift: semitones (decoders
    driven by F0). WaveNet streams run together in one batch; a source-filter model decodes each stream
    on its own (no batching gain on one core), stream i with noise seed `seed * 1000003 + i`."""
    if len(codes) != len(speakers):
        raise VQSpeechError(f"decode: {len(codes)} code streams but {len(speakers)} speakers")
    if not codes:
        return []
    if not getattr(model, "is_wavenet", True):
        out = []
        for i, (c, s) in enumerate(zip(codes, speakers, strict=True)):
            n = None if num_samples is None else [num_samples[i]]
            sd = None if seed is None else int(seed) * 1000003 + i
            dec = make_decoder(model, [c], [s], num_samples=n, seed=sd, backend=backend, f0_shift=f0_shift,
                               precision=precision)
            out.append(np.concatenate([b[0] for b in run_decoder(dec, progress=progress)]))
        return out
    dec = make_decoder(model, codes, speakers, num_samples=num_samples, temperature=temperature, seed=seed,
                       backend=backend, chunk=chunk, f0_shift=f0_shift, precision=precision)
    wav = np.concatenate(list(run_decoder(dec, progress=progress)), axis=1)
    return [np.ascontiguousarray(wav[i, :n]) for i, n in enumerate(dec.lengths)]


def iter_decode(model, codes: np.ndarray, speaker: str | int | None = None, *, temperature: float = 1.0,
                seed: int | None = None, num_samples: int | None = None, progress: bool = False,
                f0_shift: float = 0.0, backend: str = "auto", source: str | None = None,
                chunk_seconds: float | None = None, precision: str = "auto") -> Iterator[np.ndarray]:
    """Yield the waveform of one stream `codes: [N] int` in float32 blocks (bounded memory), the same as
    `decode_codes(model, [codes], [index], ...)` for a WaveNet with the same seed and backend (a
    source-filter model: noise seed `seed`). speaker: a name or index (`resolve_speaker`, with `source`
    the codes' own speaker when none is given); chunk_seconds: per step (default: the decoder's own)."""
    spk = resolve_speaker(model.speakers, speaker, source=source, what="decoder")
    hop = int(model.hop)
    chunk = None if chunk_seconds is None else max(1, round(chunk_seconds * model.sample_rate / hop)) * hop
    dec = make_decoder(model, [codes], [spk], num_samples=None if num_samples is None else [num_samples],
                       temperature=temperature, seed=seed, backend=backend, f0_shift=f0_shift, chunk=chunk,
                       precision=precision)
    total = dec.lengths[0]
    done = 0
    for block in run_decoder(dec, progress=progress):
        n = min(block.shape[1], total - done)
        done += n
        yield block[0, :n]


__all__ = ["CHUNK", "WaveNetDecoder", "check_codes", "decode_codes", "iter_decode", "make_decoder",
           "run_decoder"]
