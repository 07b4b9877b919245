"""The `.vqs` codes file: magic, version, JSON header, payload, CRC32. No torch here.

Layout (all integers little-endian):

    offset  size  field
    0       4     magic b"VQSC"
    4       1     format version (1)
    5       4     uint32 H: length of the JSON header in bytes
    9       H     JSON header, UTF-8 (see `VqsHeader`)
    9+H     P     payload: P = header["payload_bytes"]
                    plain:   the codes bit-packed at `bits` = ceil(log2 K) bits each, MSB first,
                             the last byte zero-padded
                    entropy: the range coder's uint32 words (little-endian), see `vqspeech.codec.entropy`
    9+H+P   4     CRC32 (zlib) of bytes [0, 9+H+P)

The reader refuses a wrong magic ("not a .vqs file"), an unknown version, a truncated file, a CRC
mismatch ("corrupted") and a header that contradicts itself or its payload.
"""

from __future__ import annotations

import json
import math
import os
import struct
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vqspeech.errors import VQSpeechError
from vqspeech.fileutil import atomic_path

MAGIC = b"VQSC"
VERSION = 1
_PREFIX = struct.Struct("<4sBI")  # magic, version, header length
MAX_HEADER_BYTES = 1 << 20  # a header is a few hundred bytes; anything bigger is garbage


def bits_for(num_codes: int) -> int:
    """Bits of a fixed-length code for a codebook of K codes: max(1, ceil(log2 K))."""
    return max(1, math.ceil(math.log2(num_codes)))


@dataclass
class VqsHeader:
    """What a `.vqs` file says about its codes."""

    model_fingerprint: str  # io.model_fingerprint of the VQ-VAE that made the codes
    sample_rate: int  # Hz of the model (and of the decoded audio)
    hop: int  # samples per code
    num_codes: int  # K: codebook size
    num_samples: int  # length of the original audio, in samples at sample_rate
    n_codes: int  # number of codes = ceil(num_samples / hop)
    speaker: str | None = None  # source speaker, if known
    bits: int = 0  # bits per packed code (0 = derive from num_codes)
    entropy: dict[str, Any] | None = None  # range-coder parameters; None = plain bit-packed codes
    payload_bytes: int = 0  # filled in when writing
    extra: dict[str, Any] = field(default_factory=dict)  # free-form (tool version, source file name)

    def __post_init__(self) -> None:
        if self.bits == 0:
            self.bits = bits_for(self.num_codes) if isinstance(self.num_codes, int) and self.num_codes >= 2 else 0

    @property
    def duration(self) -> float:
        """Seconds of audio the codes stand for."""
        return self.num_samples / self.sample_rate

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))


def pack_codes(codes: np.ndarray, bits: int) -> bytes:
    """codes: [N] ints in [0, 2**bits) -> ceil(N * bits / 8) bytes, MSB first (vectorised)."""
    if not 1 <= bits <= 32:
        raise ValueError(f"bits must be in [1, 32], got {bits}")
    c = np.asarray(codes, dtype=np.int64).reshape(-1)
    if c.size and (c.min() < 0 or c.max() >= (1 << bits)):
        raise ValueError(f"codes out of range for {bits} bits")
    shifts = np.arange(bits - 1, -1, -1, dtype=np.int64)
    bitmat = ((c[:, None] >> shifts) & 1).astype(np.uint8)  # [N, bits]
    return np.packbits(bitmat.reshape(-1)).tobytes()


def unpack_codes(data: bytes, bits: int, n: int) -> np.ndarray:
    """Inverse of `pack_codes`: -> [n] int64. Raises ValueError on a wrong size or non-zero padding."""
    if len(data) != (n * bits + 7) // 8:
        raise ValueError(f"{len(data)} payload bytes for {n} codes of {bits} bits")
    allbits = np.unpackbits(np.frombuffer(data, dtype=np.uint8))
    if allbits[n * bits:].any():
        raise ValueError("non-zero padding bits")
    weights = np.left_shift(np.int64(1), np.arange(bits - 1, -1, -1, dtype=np.int64))
    return allbits[: n * bits].reshape(n, bits).astype(np.int64) @ weights


def to_bytes(header: VqsHeader, payload: bytes) -> bytes:
    """The whole file: prefix, header (with payload_bytes set), payload, CRC32."""
    header.payload_bytes = len(payload)
    head = header.to_json().encode("utf-8")
    body = _PREFIX.pack(MAGIC, VERSION, len(head)) + head + payload
    return body + struct.pack("<I", zlib.crc32(body) & 0xFFFFFFFF)


_FIELDS = {"model_fingerprint": str, "sample_rate": int, "hop": int, "num_codes": int, "num_samples": int,
           "n_codes": int, "bits": int, "payload_bytes": int}


def _check_header(d: Any, name: str) -> VqsHeader:
    bad = f"{name}: inconsistent .vqs header"
    if not isinstance(d, dict):
        raise VQSpeechError(f"{bad} (not a JSON object)")
    for key, typ in _FIELDS.items():
        if not isinstance(d.get(key), typ) or isinstance(d.get(key), bool):
            raise VQSpeechError(f"{bad} ({key} missing or not a {typ.__name__})")
    if not (d.get("speaker") is None or isinstance(d["speaker"], str)):
        raise VQSpeechError(f"{bad} (speaker)")
    ent = d.get("entropy")
    if not (ent is None or isinstance(ent, dict)) or not isinstance(d.get("extra", {}), dict):
        raise VQSpeechError(f"{bad} (entropy / extra)")
    unknown = set(d) - set(_FIELDS) - {"speaker", "entropy", "extra"}
    if unknown:
        raise VQSpeechError(f"{bad} (unknown field {sorted(unknown)[0]})")
    try:
        h = VqsHeader(**d)
    except (TypeError, ValueError) as err:
        raise VQSpeechError(f"{bad} ({err})") from None
    if h.sample_rate < 1 or h.hop < 1 or h.num_codes < 2 or h.num_codes > 1 << 16 or h.num_samples < 0:
        raise VQSpeechError(f"{bad} (sample_rate, hop, K or length out of range)")
    if h.bits != bits_for(h.num_codes):
        raise VQSpeechError(f"{bad} (bits {h.bits} for K={h.num_codes})")
    if h.n_codes != -(-h.num_samples // h.hop):
        raise VQSpeechError(f"{bad} ({h.n_codes} codes for {h.num_samples} samples at hop {h.hop})")
    if h.entropy is None and h.payload_bytes != (h.n_codes * h.bits + 7) // 8:
        raise VQSpeechError(f"{bad} (payload of {h.payload_bytes} bytes for {h.n_codes} codes)")
    if h.entropy is not None and h.payload_bytes % 4:
        raise VQSpeechError(f"{bad} (entropy-coded payload not a whole number of 32-bit words)")
    return h


def parse(data: bytes, name: str = ".vqs") -> tuple[VqsHeader, bytes]:
    """Check and split a whole `.vqs` file: -> (header, payload bytes). VQSpeechError on any problem."""
    if len(data) < 4 or data[:4] != MAGIC:
        raise VQSpeechError(f"{name}: not a .vqs file (bad magic bytes)")
    if len(data) < _PREFIX.size:
        raise VQSpeechError(f"{name}: truncated .vqs file")
    _, version, hlen = _PREFIX.unpack_from(data)
    if version != VERSION:
        raise VQSpeechError(f"{name}: unsupported .vqs version {version} (this vqspeech reads version {VERSION})")
    if hlen > MAX_HEADER_BYTES or len(data) < _PREFIX.size + hlen + 4:
        raise VQSpeechError(f"{name}: truncated .vqs file" if hlen <= MAX_HEADER_BYTES
                            else f"{name}: corrupted .vqs file (header length {hlen})")
    (crc,) = struct.unpack_from("<I", data, len(data) - 4)
    if zlib.crc32(data[:-4]) & 0xFFFFFFFF != crc:
        # a truncation usually shows up here too: say which if the header still parses
        raise VQSpeechError(f"{name}: corrupted or truncated .vqs file (CRC32 mismatch)")
    try:
        d = json.loads(data[_PREFIX.size: _PREFIX.size + hlen].decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise VQSpeechError(f"{name}: inconsistent .vqs header (not JSON)") from None
    header = _check_header(d, name)
    payload = data[_PREFIX.size + hlen: -4]
    if len(payload) != header.payload_bytes:
        raise VQSpeechError(f"{name}: inconsistent .vqs file ({len(payload)} payload bytes, header says "
                            f"{header.payload_bytes})")
    return header, payload


def write_vqs(path: str | os.PathLike, header: VqsHeader, codes: np.ndarray | None = None, *,
              words: np.ndarray | None = None) -> Path:
    """Write a `.vqs` atomically: plain `codes: [N] int` (bit-packed), or entropy-coded `words: [W] uint32`
    (then `header.entropy` must be set)."""
    if (codes is None) == (words is None):
        raise ValueError("write_vqs: pass exactly one of codes and words")
    if words is not None:
        if header.entropy is None:
            raise ValueError("write_vqs: words need header.entropy")
        payload = np.asarray(words, dtype="<u4").tobytes()
    else:
        if header.entropy is not None:
            raise ValueError("write_vqs: plain codes with header.entropy set")
        c = np.asarray(codes).reshape(-1)
        if c.size != header.n_codes:
            raise ValueError(f"write_vqs: {c.size} codes, header says {header.n_codes}")
        payload = pack_codes(c, header.bits)
    data = to_bytes(header, payload)
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
        tmp.chmod(public_mode())
    return path


def public_mode() -> int:
    """0o666 minus the umask: the mode a plain open() would give (mkstemp's temp files are 0o600)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def read_vqs_bytes(data: bytes, name: str = ".vqs") -> tuple[VqsHeader, np.ndarray]:
    """-> (header, codes [N] int64) for a plain file, or (header, words [W] uint32) for an entropy-coded one."""
    header, payload = parse(data, name)
    if header.entropy is not None:
        return header, np.frombuffer(payload, dtype="<u4").astype(np.uint32)
    try:
        codes = unpack_codes(payload, header.bits, header.n_codes)
    except ValueError as err:
        raise VQSpeechError(f"{name}: inconsistent .vqs payload ({err})") from None
    if codes.size and codes.max() >= header.num_codes:
        raise VQSpeechError(f"{name}: inconsistent .vqs payload (code {codes.max()} >= K={header.num_codes})")
    return header, codes


def read_vqs(path: str | os.PathLike) -> tuple[VqsHeader, np.ndarray]:
    """Read a `.vqs`: see `read_vqs_bytes`. Missing or unreadable files raise VQSpeechError."""
    path = Path(path)
    if not path.exists():
        raise VQSpeechError(f"{path}: no such file")
    if path.is_dir():
        raise VQSpeechError(f"{path}: is a directory, not a .vqs file")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise VQSpeechError(f"{path}: cannot read ({err.strerror})") from None
    if not data:
        raise VQSpeechError(f"{path}: empty file, not a .vqs file")
    return read_vqs_bytes(data, str(path))
