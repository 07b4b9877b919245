"""Files in, files out: audio -> `.vqs` and `.vqs` -> codes, with the model checks the CLI needs.

`encode_to_vqs` and `read_codes` are what `vqspeech encode` / `vqspeech decode` call per file; Python
users can call them the same way.
"""

from __future__ import annotations

import copy
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vqspeech import __version__
from vqspeech.codec.api import ENCODE_CHUNK_SECONDS, encode_file
from vqspeech.codec.bitstream import Frames, VqsHeader, damage_message, read_vqs, write_vqs
from vqspeech.codec.vqs2 import plain_payloads, to_bytes_v2
from vqspeech.errors import VQSpeechError
from vqspeech.models.loading import same_codes

log = logging.getLogger(__name__)


@dataclass
class EncodeResult:
    """What one encoded file holds: sizes and rates (kbps = 1000 bits per second of audio)."""

    path: Path
    duration: float  # seconds of audio
    n_codes: int
    bits: int  # bits per code when bit-packed
    file_bytes: int  # size of the .vqs file, header and CRC included
    payload_bytes: int  # size of the codes as written (packed or entropy-coded; v2: frames with lengths and CRCs)
    entropy_bytes: int | None = None  # size of the range-coded codes when tried (None: not tried)

    @property
    def entropy_coded(self) -> bool:
        """Whether the file holds the range-coded codes (only when smaller than bit-packing)."""
        return self.entropy_bytes is not None and self.entropy_bytes == self.payload_bytes

    @property
    def packed_kbps(self) -> float:
        """Bitrate of the bit-packed codes: codes/s * ceil(log2 K) / 1000."""
        return self.n_codes * self.bits / max(self.duration, 1e-9) / 1000

    @property
    def payload_kbps(self) -> float:
        return self.payload_bytes * 8 / max(self.duration, 1e-9) / 1000

    @property
    def file_kbps(self) -> float:
        return self.file_bytes * 8 / max(self.duration, 1e-9) / 1000


def file_metadata(inp: str | os.PathLike) -> dict:
    """The metadata `vqspeech encode --metadata` stores: tool version and source file name."""
    return {"vqspeech_version": __version__, "source": Path(inp).name}


def encode_to_vqs(model, fingerprint: str, inp: str | os.PathLike, out: str | os.PathLike, *,
                  speaker: str | None = None, prior=None, prior_fingerprint: str = "",
                  chunk_seconds: float = ENCODE_CHUNK_SECONDS, progress: bool = False,
                  metadata: dict | None = None) -> EncodeResult:
    """Encode audio file `inp` into `out` (.vqs version 2, atomic); with `prior`, range-code the codes with
    its integer version, frame by frame (kept only when smaller than bit-packing). metadata: a JSON
    object stored in the header (none by default)."""
    if prior is not None:
        want = getattr(prior.config, "vqvae_fingerprint", "")
        if want and not same_codes(model, fingerprint, want):
            log.warning("the prior was trained on the codes of VQ-VAE %s, not this one (%s): coding will be "
                        "exact but larger", want, fingerprint)
    codes, n_samples = encode_file(model, inp, chunk_seconds=chunk_seconds, progress=progress)
    header = VqsHeader(model_fingerprint=fingerprint, sample_rate=int(model.sample_rate), hop=int(model.hop),
                       num_codes=int(model.config.quantizer.num_codes), num_samples=int(n_samples),
                       n_codes=int(codes.size), speaker=speaker, extra=dict(metadata or {}), version=2)
    plain_size = len(to_bytes_v2(copy.deepcopy(header), plain_payloads(header, codes)))
    entropy_bytes = None
    if prior is not None:
        from vqspeech.codec.entropy import encode_frames
        from vqspeech.codec.int_prior import CODER_ID

        if int(prior.num_codes) != header.num_codes:
            raise VQSpeechError(f"prior: models {prior.num_codes} codes, the VQ-VAE has {header.num_codes}")
        frames = encode_frames(prior, codes, header.frame_codes, speaker)
        coded = copy.deepcopy(header)
        coded.entropy = {"coder": f"int-prior-v{CODER_ID}", "coder_id": CODER_ID,
                         "prior_fingerprint": prior_fingerprint}
        entropy_bytes = sum(len(f) for f in frames)
        if len(to_bytes_v2(copy.deepcopy(coded), frames)) < plain_size:
            write_vqs(out, coded, frames=frames)
            return EncodeResult(Path(out), coded.duration, coded.n_codes, coded.bits, Path(out).stat().st_size,
                                coded.payload_bytes, entropy_bytes=coded.payload_bytes)
        log.warning("%s: range coding with the prior (%d bytes) does not beat bit-packing: written bit-packed "
                    "(a short file, an untrained prior, or a prior for other codes?)", inp, entropy_bytes)
    write_vqs(out, header, codes)
    return EncodeResult(Path(out), header.duration, header.n_codes, header.bits, Path(out).stat().st_size,
                        header.payload_bytes, entropy_bytes=entropy_bytes)


def check_model(header: VqsHeader, model, fingerprint: str, name: str, ignore_mismatch: bool = False) -> None:
    """Refuse codes made by another model (unless `ignore_mismatch`), and codes it cannot decode at all."""
    k = int(model.config.quantizer.num_codes)
    if header.num_codes != k or header.hop != int(model.hop):
        raise VQSpeechError(f"{name}: made for K={header.num_codes}, hop={header.hop}; the model has K={k}, "
                            f"hop={model.hop}")
    if not same_codes(model, fingerprint, header.model_fingerprint):
        if not ignore_mismatch:
            raise VQSpeechError(f"{name}: encoded by model {header.model_fingerprint}, not by this model "
                                f"({fingerprint}); pass --ignore-model-mismatch to decode anyway")
        log.warning("%s: encoded by model %s, decoding with %s anyway", name, header.model_fingerprint, fingerprint)
    if header.sample_rate != int(model.sample_rate):
        log.warning("%s: encoded at %d Hz, the model runs at %d Hz", name, header.sample_rate, model.sample_rate)


@dataclass
class CodeSpan:
    """Codes read for decoding part or all of a file. Decoding `codes` gives audio from sample
    `first_code * hop`; drop `skip` samples, keep `num_samples`; `silence` are the [start, end) sample
    ranges (in that kept output) of damaged frames, replaced by silence."""

    header: VqsHeader
    codes: np.ndarray  # [n] int64
    first_code: int
    skip: int
    num_samples: int
    silence: list[tuple[int, int]]
    damaged: list[int]  # indices of the damaged frames


def read_code_span(path: str | os.PathLike, prior_loader=None, progress: bool = False, *, conceal: bool = False,
                   start: float = 0.0, duration: float | None = None,
                   max_seconds: float | None = None) -> CodeSpan:
    """Read the codes of [start, start + duration) seconds of a `.vqs` (version 2: only the frames that
    cover it are decoded). A damaged frame raises VQSpeechError naming it, or with `conceal` its codes
    are filled in (repeating the last good code) and its time is listed in `silence`. An entropy-coded
    file needs `prior_loader()` -> (prior, fingerprint), called only then."""
    header, payload = read_vqs(path, max_seconds, raw_frames=True)
    total = header.num_samples
    s0 = int(round(start * header.sample_rate))
    s1 = total if duration is None else min(total, s0 + int(round(duration * header.sample_rate)))
    if start < 0 or (duration is not None and duration <= 0):
        raise VQSpeechError("--start must be >= 0 and --duration > 0")
    if total and s0 >= total:
        raise VQSpeechError(f"{path}: --start {start:g} s is beyond the end ({header.duration:.2f} s)")
    c0, c1 = s0 // header.hop, -(-s1 // header.hop)
    damaged: list = []
    if isinstance(payload, Frames):  # version 2: decode the frames that cover the span
        codes = _decode_frames(path, header, payload, prior_loader, c0, c1, damaged, progress)
    elif header.entropy is not None:  # version 1
        codes = _decode_v1(path, header, payload, prior_loader, progress)[c0:c1]
    else:
        codes = payload[c0:c1]
    if damaged and not conceal:
        raise VQSpeechError(f"{path}: {damage_message(header, damaged[0])}")
    silence = []
    for f in damaged:
        log.warning("%s: %s: concealed (silence)", path, damage_message(header, f).split(";")[0])
        a = max(f.first_code * header.hop, s0) - s0
        b = min((f.first_code + f.n_codes) * header.hop, s1) - s0
        silence.append((a, b))
    return CodeSpan(header, np.asarray(codes, dtype=np.int64), c0, s0 - c0 * header.hop, s1 - s0, silence,
                    [f.index for f in damaged])


def _load_prior(path, header: VqsHeader, prior_loader):
    if prior_loader is None:
        raise VQSpeechError(f"{path}: entropy-coded: pass the prior that coded it (--prior)")
    prior, prior_fp = prior_loader()
    want = header.entropy.get("prior_fingerprint")
    if want and want != prior_fp:
        raise VQSpeechError(f"{path}: entropy-coded with prior {want}, not with this prior ({prior_fp})")
    if int(prior.num_codes) != header.num_codes:
        raise VQSpeechError(f"{path}: the prior models {prior.num_codes} codes, the file has K={header.num_codes}")
    return prior


def _decode_frames(path, header: VqsHeader, got: Frames, prior_loader, c0: int, c1: int, damaged: list,
                   progress: bool) -> np.ndarray:
    from vqspeech.codec.vqs2 import plain_frame_codes

    prior = None
    if header.entropy is not None:
        from vqspeech.codec.entropy import decode_frame
        from vqspeech.codec.int_prior import CODER_ID

        if header.entropy["coder_id"] != CODER_ID:
            raise VQSpeechError(f"{path}: entropy coder {header.entropy['coder_id']} unknown to this vqspeech "
                                f"(it has coder {CODER_ID})")
        prior = _load_prior(path, header, prior_loader)
    fc = header.frame_codes
    todo = got.frames[c0 // fc: -(-c1 // fc)] if c1 > c0 else []
    bar = None
    if progress and prior is not None and len(todo) > 8:
        import sys

        from vqspeech.progress import progress_bar

        bar = progress_bar(total=len(todo), unit="frame", desc="entropy decode", file=sys.stderr, leave=False)
    parts, last = [], 0
    try:
        for f in todo:
            c = None
            if f.ok and prior is None:
                c = plain_frame_codes(got.data, f, header, str(path))
            elif f.ok:
                c = decode_frame(prior, got.data[f.offset: f.offset + f.length], f.n_codes, header.speaker)
            if c is None:
                damaged.append(f)
                c = np.full(f.n_codes, last, dtype=np.int64)
            last = int(c[-1])
            parts.append(c)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    codes = np.concatenate(parts) if parts else np.zeros(0, np.int64)
    a = todo[0].first_code if todo else c0
    return codes[c0 - a: c1 - a]


def _decode_v1(path, header: VqsHeader, words, prior_loader, progress: bool) -> np.ndarray:
    from vqspeech.codec.entropy import entropy_decode

    prior = _load_prior(path, header, prior_loader)
    try:
        return entropy_decode(prior, words, header.n_codes, header.entropy, progress=progress)
    except VQSpeechError as err:
        raise VQSpeechError(f"{path}: {err}") from None


def read_codes(path: str | os.PathLike, prior_loader=None, progress: bool = False) -> tuple[VqsHeader, np.ndarray]:
    """Read a `.vqs` -> (header, codes [N] int64). An entropy-coded file needs `prior_loader()` ->
    (prior, fingerprint), called only then; the prior must be the one that coded the file. A damaged
    frame raises (see `read_code_span` to conceal it or to read part of a file)."""
    span = read_code_span(path, prior_loader, progress)
    return span.header, span.codes
