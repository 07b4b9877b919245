"""Range coding of a code sequence with the trained prior's probabilities.

Version 2 (`encode_frames` / `decode_frame`): the integer prior (`vqspeech.codec.int_prior`) and its
range coder (`vqspeech.codec.int_kernel`), one independent stream per frame: bit-identical on every
CPU. Version 1 (`entropy_encode` / `entropy_decode`, below, kept to read version-1 files): the
float prior and constriction's queue coder:

The prior is autoregressive: p(codes[t] | codes[<t]). Encoder and decoder must see bit-identical
probabilities, so both run the SAME computation: the numba incremental WaveNet kernel
(`vqspeech.generate.numba_kernel`), batch 1, one step per code (the encoder teacher-forces the known
codes, many steps per call; the decoder makes one call per code and feeds back the decoded code).
The float32 logits are then turned into integer weights deterministically:

    q = rint(logit * 16)                        (a grid of 1/16 nat)
    w = TABLE[min(max(q) - q, 320)]             TABLE[i] = max(1, round(2**24 * exp(-i / 16)))

and constriction's `Categorical(perfect=False)` quantises w / sum(w) (exact float64 arithmetic on
integers) to its fixed-point model. Every code keeps a non-zero probability. A CRC32 of the codes is
stored with the coder parameters, so a decoder whose prior differs (another prior, or a CPU whose
float rounding differs) reports a mismatch instead of returning wrong codes silently.
"""

from __future__ import annotations

import math
import zlib
from typing import Any

import numpy as np

from vqspeech.errors import VQSpeechError
from vqspeech.speakers import resolve_speaker

CODER = "range-prior-v1"
LOGIT_SCALE = 16  # logit grid steps per nat
MAX_STEPS = 320  # weights below exp(-20) are clamped (constriction keeps them non-zero anyway)
TABLE = np.array([max(1, round(2 ** 24 * math.exp(-i / LOGIT_SCALE))) for i in range(MAX_STEPS + 1)],
                 dtype=np.float64)
STEP_CHUNK = 2048  # teacher-forced steps per kernel call when encoding (logits [chunk, K] float32)


def probabilities(logits: np.ndarray) -> np.ndarray:
    """logits: [..., K] float32 -> deterministic unnormalised weights [..., K] float64 (integers)."""
    q = np.rint(np.asarray(logits, dtype=np.float64) * LOGIT_SCALE)
    d = np.minimum(q.max(axis=-1, keepdims=True) - q, MAX_STEPS).astype(np.int64)
    return TABLE[d]


def codes_crc(codes: np.ndarray) -> int:
    return zlib.crc32(np.ascontiguousarray(codes, dtype="<i4").tobytes()) & 0xFFFFFFFF


class _PriorSteps:
    """The prior run one step at a time on the CPU kernel; `step(n, forced)` -> logits [n, K] float32."""

    def __init__(self, prior, speaker: int | None, n_codes: int) -> None:
        import torch

        from vqspeech.generate.pack import layer_conditioning
        from vqspeech.generate.streams import WaveNetStreams

        wavenet = prior.wavenet
        spk = None
        if wavenet.num_speakers > 0:
            if speaker is None:
                raise VQSpeechError("entropy coding: this prior is speaker-conditioned: a speaker is needed")
            spk = torch.tensor([int(speaker)], dtype=torch.long)
        with torch.no_grad():
            self.cond = layer_conditioning(wavenet.cpu(), None, spk, batch=1)
        self.hop = n_codes + 1  # every step uses conditioning frame 0
        self.streams = WaveNetStreams(wavenet, [n_codes], int(prior.num_codes), backend="numba", temperature=0.0)

    def step(self, n: int, forced: np.ndarray | None) -> np.ndarray:
        _, logits = self.streams.step(n, self.cond, self.hop, 0, forced=None if forced is None else forced[None],
                                      want_logits=True)
        return logits[0]

    def feed_back(self, code: int) -> None:
        """Set the next input to the decoded code (the step made argmax the next input)."""
        self.streams.set_input(0, code)


def _speaker(prior, speaker: str | None) -> tuple[int | None, str | None]:
    """The prior's speaker for a file whose source speaker is `speaker` (`resolve_speaker`'s policy)."""
    if prior.wavenet.num_speakers == 0:
        return None, None
    idx = resolve_speaker(prior.speakers, None, source=speaker, what="prior")
    return idx, prior.speakers[idx]


def entropy_encode(prior, codes: np.ndarray, speaker: str | None = None,
                   prior_fingerprint: str = "") -> tuple[np.ndarray, dict[str, Any]]:
    """codes: [N] int in [0, K) -> (words [W] uint32, coder parameters for the .vqs header).

    A speaker-conditioned prior uses `speaker` if it knows it, else its first speaker (recorded)."""
    import constriction

    c = np.asarray(codes, dtype=np.int64).reshape(-1)
    k = int(prior.num_codes)
    if c.size == 0 or c.min() < 0 or c.max() >= k:
        raise VQSpeechError(f"entropy coding: codes must be a non-empty array in [0, {k}) (the prior's K)")
    spk, spk_name = _speaker(prior, speaker)
    steps = _PriorSteps(prior, spk, c.size)
    enc = constriction.stream.queue.RangeEncoder()
    family = constriction.stream.model.Categorical(perfect=False)
    for t0 in range(0, c.size, STEP_CHUNK):
        part = c[t0: t0 + STEP_CHUNK]
        probs = probabilities(steps.step(part.size, part))
        enc.encode(part.astype(np.int32), family, probs)
    params = {"coder": CODER, "prior_fingerprint": prior_fingerprint, "prior_speaker": spk_name,
              "logit_scale": LOGIT_SCALE, "max_steps": MAX_STEPS, "codes_crc32": codes_crc(c)}
    return np.asarray(enc.get_compressed(), dtype=np.uint32), params


def entropy_decode(prior, words: np.ndarray, n_codes: int, params: dict[str, Any],
                   progress: bool = False) -> np.ndarray:
    """Inverse of `entropy_encode`: -> codes [n_codes] int64. VQSpeechError if the result does not
    match the stored CRC (wrong prior, or float results that differ from the encoder's machine)."""
    import constriction

    if params.get("coder") != CODER or params.get("logit_scale") != LOGIT_SCALE or \
            params.get("max_steps") != MAX_STEPS:
        raise VQSpeechError(f"entropy decoding: unsupported coder parameters {params.get('coder')!r}")
    spk_name = params.get("prior_speaker")
    spk = None
    if prior.wavenet.num_speakers > 0:
        if spk_name not in prior.speakers:
            raise VQSpeechError(f"entropy decoding: the prior does not know speaker {spk_name!r}")
        spk = prior.speakers.index(spk_name)
    steps = _PriorSteps(prior, spk, n_codes)
    dec = constriction.stream.queue.RangeDecoder(np.asarray(words, dtype=np.uint32))
    family = constriction.stream.model.Categorical(perfect=False)
    out = np.empty(n_codes, dtype=np.int64)
    bar = None
    if progress:
        import sys

        from vqspeech.progress import progress_bar

        bar = progress_bar(total=n_codes, unit="code", desc="entropy decode", file=sys.stderr, dynamic_ncols=True)
    try:
        for t in range(n_codes):
            probs = probabilities(steps.step(1, None))
            code = int(dec.decode(family, probs[None] if probs.ndim == 1 else probs)[0])
            out[t] = code
            steps.feed_back(code)
            if bar is not None and (t % 256 == 255 or t == n_codes - 1):
                bar.update(t + 1 - bar.n)
    finally:
        if bar is not None:
            bar.close()
    if codes_crc(out) != params.get("codes_crc32"):
        raise VQSpeechError("entropy decoding: decoded codes fail their CRC (a different prior, or a machine "
                            "whose float arithmetic differs from the encoder's)")
    return out


# ---- version 2: the integer prior, frame by frame ----

_KERNELS: dict[int, tuple] = {}  # id(prior) -> (prior, IntPriorKernel); the prior is kept alive with it


def int_kernel(prior):
    """The integer prior and its numba kernel for a `CodePrior` (quantized once per prior object)."""
    hit = _KERNELS.get(id(prior))
    if hit is None or hit[0] is not prior:
        from vqspeech.codec.int_kernel import IntPriorKernel
        from vqspeech.codec.int_prior import IntPrior

        if len(_KERNELS) > 8:
            _KERNELS.clear()
        hit = _KERNELS[id(prior)] = (prior, IntPriorKernel(IntPrior.from_prior(prior)))
    return hit[1]


def prior_speaker(prior, speaker: str | None) -> str | None:
    """The prior speaker a file's source speaker is coded with: itself if the prior knows it, else the
    prior's first speaker (None for an unconditional prior). Decoders derive it the same way."""
    return _speaker(prior, speaker)[1]


def encode_frames(prior, codes: np.ndarray, frame_codes: int, speaker: str | None = None) -> list[bytes]:
    """codes: [N] int in [0, K) -> one range-coded payload per frame of `frame_codes` codes."""
    c = np.asarray(codes, dtype=np.int64).reshape(-1)
    k = int(prior.num_codes)
    if c.size and (c.min() < 0 or c.max() >= k):
        raise VQSpeechError(f"entropy coding: codes must be in [0, {k}) (the prior's K)")
    kern = int_kernel(prior)
    row = kern.ip.speaker_row(prior_speaker(prior, speaker))
    return [kern.encode_frame(c[a: a + frame_codes], row) for a in range(0, c.size, frame_codes)]


def decode_frame(prior, data: bytes, n_codes: int, speaker: str | None = None) -> np.ndarray | None:
    """One frame's codes [n_codes] int64, or None if `data` is not a valid stream for this prior."""
    kern = int_kernel(prior)
    return kern.decode_frame(data, n_codes, kern.ip.speaker_row(prior_speaker(prior, speaker)))
