"""The `.vqs` codes file. No torch here.

Version 2 (written by `vqspeech encode`): a binary header and CRC-checked frames, see
`vqspeech.codec.vqs2`. Version 1 (still read, and written by `write_vqs` for a header with
version=1, the dataclass default kept for existing callers): magic, version, JSON header, payload, CRC32.

Version-1 layout (all integers little-endian):

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

The reader refuses a wrong magic ("not a .vqs file"), an unknown version (by number: a newer file is
named as such), a truncated file, a CRC mismatch ("corrupted") and a header that contradicts itself or
its payload.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vqspeech.errors import VQSpeechError
from vqspeech.fileutil import atomic_path
from vqspeech.models.config import bits_per_code

MAGIC = b"VQSC"
VERSION = 1
VERSIONS = (1, 2)  # what this reader reads
_PREFIX = struct.Struct("<4sBI")  # magic, version, header length
MAX_HEADER_BYTES = 1 << 20  # a header is a few hundred bytes; anything bigger is garbage


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
    version: int = 1  # file format version: 1 (JSON header) or 2 (binary header, frames)
    frame_codes: int = 0  # version 2: codes per frame (0 = about one second: round(sample_rate / hop))

    def __post_init__(self) -> None:
        if self.bits == 0:
            self.bits = bits_per_code(self.num_codes) if isinstance(self.num_codes, int) and self.num_codes >= 2 else 0
        if self.version == 2 and self.frame_codes == 0:
            from vqspeech.codec.vqs2 import default_frame_codes

            self.frame_codes = default_frame_codes(self.sample_rate, self.hop)

    @property
    def duration(self) -> float:
        """Seconds of audio the codes stand for."""
        return self.num_samples / self.sample_rate

    @property
    def n_frames(self) -> int:
        """Frames of a version-2 file (1 for version 1: its payload is one block)."""
        return -(-self.n_codes // self.frame_codes) if self.version == 2 else 1

    def to_json(self) -> str:
        """The version-1 JSON header (the fields a version-1 reader knows)."""
        d = asdict(self)
        del d["version"], d["frame_codes"]
        return json.dumps(d, sort_keys=True, separators=(",", ":"))


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
    if "version" in d or "frame_codes" in d:
        unknown.add("version" if "version" in d else "frame_codes")
    if unknown:
        raise VQSpeechError(f"{bad} (unknown field {sorted(unknown)[0]})")
    try:
        h = VqsHeader(**d)
    except (TypeError, ValueError) as err:
        raise VQSpeechError(f"{bad} ({err})") from None
    if h.sample_rate < 1 or h.hop < 1 or h.num_codes < 2 or h.num_codes > 1 << 16 or h.num_samples < 0:
        raise VQSpeechError(f"{bad} (sample_rate, hop, K or length out of range)")
    if h.bits != bits_per_code(h.num_codes):
        raise VQSpeechError(f"{bad} (bits {h.bits} for K={h.num_codes})")
    if h.n_codes != -(-h.num_samples // h.hop):
        raise VQSpeechError(f"{bad} ({h.n_codes} codes for {h.num_samples} samples at hop {h.hop})")
    if h.entropy is None and h.payload_bytes != (h.n_codes * h.bits + 7) // 8:
        raise VQSpeechError(f"{bad} (payload of {h.payload_bytes} bytes for {h.n_codes} codes)")
    if h.entropy is not None and h.payload_bytes % 4:
        raise VQSpeechError(f"{bad} (entropy-coded payload not a whole number of 32-bit words)")
    return h


def check_version(data: bytes, name: str) -> int:
    """The version byte of a file that starts with the magic: 1 or 2, else VQSpeechError."""
    if len(data) < 5:
        raise VQSpeechError(f"{name}: truncated .vqs file")
    version = data[4]
    if version not in VERSIONS:
        newer = " (a newer format: update vqspeech)" if version > max(VERSIONS) else ""
        raise VQSpeechError(f"{name}: unsupported .vqs version {version}{newer}; this vqspeech reads versions "
                            f"{', '.join(map(str, VERSIONS))}")
    return version


def parse(data: bytes, name: str = ".vqs") -> tuple[VqsHeader, bytes]:
    """Check and split a whole version-1 `.vqs` file: -> (header, payload bytes). VQSpeechError on any problem."""
    if len(data) < 4 or data[:4] != MAGIC:
        raise VQSpeechError(f"{name}: not a .vqs file (bad magic bytes)")
    if check_version(data, name) != 1:
        raise VQSpeechError(f"{name}: a version-2 .vqs file (read it with read_vqs_bytes)")
    if len(data) < _PREFIX.size:
        raise VQSpeechError(f"{name}: truncated .vqs file")
    _, version, hlen = _PREFIX.unpack_from(data)
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
              words: np.ndarray | None = None, frames: list[bytes] | None = None) -> Path:
    """Write a `.vqs` atomically: plain `codes: [N] int` (bit-packed), or entropy-coded `words: [W] uint32`
    (version 1) / `frames` (version 2: one range-coded payload per frame); then `header.entropy` must be set."""
    if sum(x is not None for x in (codes, words, frames)) != 1:
        raise ValueError("write_vqs: pass exactly one of codes, words and frames")
    if (words is not None and header.version != 1) or (frames is not None and header.version != 2):
        raise ValueError("write_vqs: words are for version 1, frames for version 2")
    if (codes is None) != (header.entropy is not None):
        raise ValueError("write_vqs: entropy-coded data need header.entropy, plain codes need it unset")
    if codes is not None:
        c = np.asarray(codes).reshape(-1)
        if c.size != header.n_codes:
            raise ValueError(f"write_vqs: {c.size} codes, header says {header.n_codes}")
    if header.version == 2:
        from vqspeech.codec.vqs2 import plain_payloads, to_bytes_v2

        data = to_bytes_v2(header, plain_payloads(header, c) if codes is not None else frames)
    elif words is not None:
        data = to_bytes(header, np.asarray(words, dtype="<u4").tobytes())
    else:
        data = to_bytes(header, pack_codes(c, header.bits))
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path


@dataclass
class Frames:
    """The frames of a version-2 file as read: `data` (the whole file) and `frames` ([FrameInfo]:
    where each payload lies, its codes and whether its CRC matched). Nothing decoded yet."""

    data: bytes
    frames: list

    @property
    def damaged(self) -> list:
        return [f for f in self.frames if not f.ok]


def read_vqs_bytes(data: bytes, name: str = ".vqs", max_seconds: float | None = None, raw_frames: bool = False
                   ) -> tuple[VqsHeader, np.ndarray | Frames]:
    """-> (header, codes [N] int64) for a plain file, (header, words [W] uint32) for an entropy-coded
    version-1 file, (header, Frames) for an entropy-coded version-2 file. A plain version-2 file with a
    damaged frame raises (`vqspeech.codec.files.read_codes` can conceal it). max_seconds: the longest
    num_samples accepted (default 24 h), checked before anything is allocated. raw_frames: return the
    Frames of every version-2 file (plain ones too), damaged or not."""
    if len(data) < 4 or data[:4] != MAGIC:
        raise VQSpeechError(f"{name}: not a .vqs file (bad magic bytes)")
    if check_version(data, name) == 2:
        from vqspeech.codec import vqs2

        header, frames = vqs2.parse_v2(data, name, vqs2.MAX_SECONDS if max_seconds is None else max_seconds)
        got = Frames(data, frames)
        if header.entropy is not None or raw_frames:
            return header, got
        if got.damaged:
            f = got.damaged[0]
            raise VQSpeechError(f"{name}: {damage_message(header, f)}")
        parts = [vqs2.plain_frame_codes(data, f, header, name) for f in frames]
        return header, (np.concatenate(parts) if parts else np.zeros(0, np.int64))
    header, payload = parse(data, name)
    if max_seconds is not None and header.num_samples > max_seconds * header.sample_rate:
        raise VQSpeechError(f"{name}: {header.num_samples} samples: beyond the {max_seconds:g} s a reader accepts")
    if header.entropy is not None:
        return header, np.frombuffer(payload, dtype="<u4").astype(np.uint32)
    try:
        codes = unpack_codes(payload, header.bits, header.n_codes)
    except ValueError as err:
        raise VQSpeechError(f"{name}: inconsistent .vqs payload ({err})") from None
    if codes.size and codes.max() >= header.num_codes:
        raise VQSpeechError(f"{name}: inconsistent .vqs payload (code {codes.max()} >= K={header.num_codes})")
    return header, codes


def frame_time(header: VqsHeader, frame) -> tuple[float, float]:
    """Seconds [start, end) of the audio a frame stands for."""
    a = frame.first_code * header.hop
    b = min(header.num_samples, (frame.first_code + frame.n_codes) * header.hop)
    return a / header.sample_rate, b / header.sample_rate


def damage_message(header: VqsHeader, frame) -> str:
    t0, t1 = frame_time(header, frame)
    return (f"frame {frame.index} of {header.n_frames} ({t0:.2f}-{t1:.2f} s) is damaged (CRC mismatch); "
            "--conceal replaces damaged frames by silence")


def read_vqs(path: str | os.PathLike, max_seconds: float | None = None, raw_frames: bool = False
             ) -> tuple[VqsHeader, np.ndarray | Frames]:
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
    return read_vqs_bytes(data, str(path), max_seconds, raw_frames)
