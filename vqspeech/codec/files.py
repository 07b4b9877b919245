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
from vqspeech.codec.bitstream import VqsHeader, pack_codes, read_vqs, to_bytes, write_vqs
from vqspeech.errors import VQSpeechError

log = logging.getLogger(__name__)


@dataclass
class EncodeResult:
    """What one encoded file holds: sizes and rates (kbps = 1000 bits per second of audio)."""

    path: Path
    duration: float  # seconds of audio
    n_codes: int
    bits: int  # bits per code when bit-packed
    file_bytes: int  # size of the .vqs file, header and CRC included
    payload_bytes: int  # size of the codes alone as written (packed or entropy-coded)
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


def encode_to_vqs(model, fingerprint: str, inp: str | os.PathLike, out: str | os.PathLike, *,
                  speaker: str | None = None, prior=None, prior_fingerprint: str = "",
                  chunk_seconds: float = ENCODE_CHUNK_SECONDS, progress: bool = False) -> EncodeResult:
    """Encode audio file `inp` into `out` (.vqs, atomic); with `prior`, range-code the codes with it."""
    if prior is not None:
        want = getattr(prior.config, "vqvae_fingerprint", "")
        if want and want != fingerprint:
            log.warning("the prior was trained on the codes of VQ-VAE %s, not this one (%s): coding will be "
                        "exact but larger", want, fingerprint)
    codes, n_samples = encode_file(model, inp, chunk_seconds=chunk_seconds, progress=progress)
    header = VqsHeader(model_fingerprint=fingerprint, sample_rate=int(model.sample_rate), hop=int(model.hop),
                       num_codes=int(model.config.quantizer.num_codes), num_samples=int(n_samples),
                       n_codes=int(codes.size), speaker=speaker,
                       extra={"vqspeech_version": __version__, "source": Path(inp).name})
    if prior is not None:
        from vqspeech.codec.entropy import entropy_encode

        if int(prior.num_codes) != header.num_codes:
            raise VQSpeechError(f"prior: models {prior.num_codes} codes, the VQ-VAE has {header.num_codes}")
        words, params = entropy_encode(prior, codes, speaker, prior_fingerprint=prior_fingerprint)
        plain_size = len(to_bytes(copy.deepcopy(header), pack_codes(codes, header.bits)))
        coded = copy.deepcopy(header)
        coded.entropy = params
        if len(to_bytes(coded, words.astype("<u4").tobytes())) < plain_size:
            header.entropy = params
            write_vqs(out, header, words=words)
            return EncodeResult(Path(out), header.duration, header.n_codes, header.bits,
                                Path(out).stat().st_size, header.payload_bytes, entropy_bytes=int(words.size * 4))
        log.warning("%s: range coding with the prior (%d bytes, and a longer header) does not beat bit-packing: "
                    "written bit-packed (a short file, an untrained prior, or a prior for other codes?)",
                    inp, words.size * 4)
        write_vqs(out, header, codes)
        return EncodeResult(Path(out), header.duration, header.n_codes, header.bits, Path(out).stat().st_size,
                            header.payload_bytes, entropy_bytes=int(words.size * 4))
    write_vqs(out, header, codes)
    return EncodeResult(Path(out), header.duration, header.n_codes, header.bits, Path(out).stat().st_size,
                        header.payload_bytes)


def check_model(header: VqsHeader, model, fingerprint: str, name: str, ignore_mismatch: bool = False) -> None:
    """Refuse codes made by another model (unless `ignore_mismatch`), and codes it cannot decode at all."""
    k = int(model.config.quantizer.num_codes)
    if header.num_codes != k or header.hop != int(model.hop):
        raise VQSpeechError(f"{name}: made for K={header.num_codes}, hop={header.hop}; the model has K={k}, "
                            f"hop={model.hop}")
    if header.model_fingerprint != fingerprint:
        if not ignore_mismatch:
            raise VQSpeechError(f"{name}: encoded by model {header.model_fingerprint}, not by this model "
                                f"({fingerprint}); pass --ignore-model-mismatch to decode anyway")
        log.warning("%s: encoded by model %s, decoding with %s anyway", name, header.model_fingerprint, fingerprint)
    if header.sample_rate != int(model.sample_rate):
        log.warning("%s: encoded at %d Hz, the model runs at %d Hz", name, header.sample_rate, model.sample_rate)


def read_codes(path: str | os.PathLike, prior_loader=None, progress: bool = False) -> tuple[VqsHeader, np.ndarray]:
    """Read a `.vqs` -> (header, codes [N] int64). An entropy-coded file needs `prior_loader()` ->
    (prior, fingerprint), called only then; the prior must be the one that coded the file."""
    header, payload = read_vqs(path)
    if header.entropy is None:
        return header, payload
    from vqspeech.codec.entropy import entropy_decode

    if prior_loader is None:
        raise VQSpeechError(f"{path}: entropy-coded: pass the prior that coded it (--prior)")
    prior, prior_fp = prior_loader()
    want = header.entropy.get("prior_fingerprint")
    if want and want != prior_fp:
        raise VQSpeechError(f"{path}: entropy-coded with prior {want}, not with this prior ({prior_fp})")
    if int(prior.num_codes) != header.num_codes:
        raise VQSpeechError(f"{path}: the prior models {prior.num_codes} codes, the file has K={header.num_codes}")
    try:
        codes = entropy_decode(prior, payload, header.n_codes, header.entropy, progress=progress)
    except VQSpeechError as err:
        raise VQSpeechError(f"{path}: {err}") from None
    return header, codes
