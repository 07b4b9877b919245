"""The `.vqs` version 2 file: a binary header of fixed fields and varints, then frames of about 1 s of
codes, each with its length and a CRC, so that a bit error loses one frame and a reader can seek.

Layout (integers little-endian; varint = LEB128: 7 bits per byte, low bits first, high bit = more;
at most 5 bytes and no redundant trailing zero bytes):

    magic      4   b"VQSC"
    version    1   2
    flags      1   bit 0: entropy-coded; bit 1: speaker name present; bit 2: metadata present;
                   bit 3: frame size present; bits 4-7: coder id (1 = `int_prior.CODER_ID`; 0 when plain)
    rate       v   < 16: index into RATES (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000),
                   >= 16: the sample rate in Hz
    hop        v   samples per code (1 .. 65535)
    K          v   codebook size (2 .. 65536)
    samples    v   num_samples: length of the audio; n_codes = ceil(samples / hop)
    [frame     v]  codes per frame (when bit 3; default: round(rate / hop), at least 1)
    model fp   8   the VQ-VAE's fingerprint (16 hex digits)
    [prior fp  8]  when entropy-coded: the prior's fingerprint
    [speaker   v+n] when bit 1: length then UTF-8 name (1 .. 255 bytes)
    [metadata  v+n] when bit 2: length then a UTF-8 JSON object (<= 65536 bytes)
    crc        2   CRC-16/XMODEM (binascii.crc_hqx, init 0) of the header bytes before it
    frames         F = ceil(n_codes / frame) times:
      length   v   L: payload bytes of the frame
      payload  L   plain: the frame's codes bit-packed at ceil(log2 K) bits (MSB first, zero padding);
                   entropy: range-coded with the integer prior from a fresh state (`int_kernel`)
      crc      2   CRC-16/XMODEM of the payload, initialised with (header crc + frame index) mod 2**16

Nothing may follow the last frame. No torch here.
"""

from __future__ import annotations

import binascii
import json
import struct
from dataclasses import dataclass

import numpy as np

from vqspeech.errors import VQSpeechError

MAGIC = b"VQSC"
VERSION = 2
RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
F_ENTROPY, F_SPEAKER, F_META, F_FRAME = 1, 2, 4, 8
MAX_SECONDS = 24 * 3600  # num_samples beyond this is refused unless the reader is told otherwise
MAX_META = 1 << 16
FRAME_OVERHEAD_MIN = 3  # a frame takes at least a length byte and its CRC


def crc16(data: bytes, init: int = 0) -> int:
    return binascii.crc_hqx(data, init & 0xFFFF)


def put_varint(out: bytearray, v: int) -> None:
    if v < 0:
        raise ValueError("varint of a negative number")
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return


def get_varint(data: bytes, pos: int) -> tuple[int, int]:
    """-> (value, next position); ValueError on truncation, > 5 bytes or a non-minimal encoding."""
    v = 0
    for i in range(5):
        if pos + i >= len(data):
            raise ValueError("truncated")
        b = data[pos + i]
        v |= (b & 0x7F) << (7 * i)
        if not b & 0x80:
            if b == 0 and i > 0:
                raise ValueError("non-minimal varint")
            return v, pos + i + 1
    raise ValueError("varint longer than 5 bytes")


def _varint_size(v: int) -> int:
    out = bytearray()
    put_varint(out, v)
    return len(out)


def default_frame_codes(sample_rate: int, hop: int) -> int:
    """Codes per frame: about one second."""
    return max(1, round(sample_rate / hop))


def _fp_bytes(fp: str, what: str) -> bytes:
    try:
        raw = bytes.fromhex(fp)
    except (TypeError, ValueError):
        raw = b""
    if len(raw) != 8:
        raise ValueError(f"a .vqs v2 file needs a 16-hex-digit {what} fingerprint, got {fp!r}")
    return raw


@dataclass
class FrameInfo:
    """Where one frame lies in a file, and whether its CRC matched."""

    index: int
    first_code: int
    n_codes: int
    offset: int  # of the payload in the file
    length: int
    ok: bool


def encode_header(h) -> bytes:
    """A `VqsHeader` (version 2 fields) -> the header bytes, CRC included."""
    flags = 0
    ent = h.entropy
    if ent is not None:
        flags |= F_ENTROPY | (int(ent["coder_id"]) << 4)
    spk = h.speaker.encode("utf-8") if h.speaker else b""
    if spk:
        if len(spk) > 255:
            raise ValueError("speaker name longer than 255 bytes")
        flags |= F_SPEAKER
    meta = json.dumps(h.extra, sort_keys=True, separators=(",", ":")).encode("utf-8") if h.extra else b""
    if meta:
        if len(meta) > MAX_META:
            raise ValueError("metadata longer than 64 kB")
        flags |= F_META
    if h.frame_codes != default_frame_codes(h.sample_rate, h.hop):
        flags |= F_FRAME
    out = bytearray(MAGIC + bytes([VERSION, flags]))
    put_varint(out, RATES.index(h.sample_rate) if h.sample_rate in RATES else h.sample_rate)
    if h.sample_rate < 16 and h.sample_rate not in RATES:
        raise ValueError(f"sample rate {h.sample_rate}")
    for v in (h.hop, h.num_codes, h.num_samples):
        put_varint(out, v)
    if flags & F_FRAME:
        put_varint(out, h.frame_codes)
    out += _fp_bytes(h.model_fingerprint, "model")
    if ent is not None:
        out += _fp_bytes(ent["prior_fingerprint"], "prior")
    for field in (spk, meta):
        if field:
            put_varint(out, len(field))
            out += field
    out += struct.pack("<H", crc16(bytes(out)))
    return bytes(out)


def frame_bytes(payload: bytes, index: int, header_crc: int) -> bytes:
    out = bytearray()
    put_varint(out, len(payload))
    return bytes(out) + payload + struct.pack("<H", crc16(payload, header_crc + index))


def parse_header(data: bytes, name: str, max_seconds: float = MAX_SECONDS):
    """-> (VqsHeader, header size in bytes, header crc). VQSpeechError on anything a writer cannot make."""
    from vqspeech.codec.bitstream import VqsHeader
    from vqspeech.models.config import bits_per_code

    bad = f"{name}: inconsistent .vqs header"
    try:
        flags = data[5]
        pos = 6
        rate, pos = get_varint(data, pos)
        hop, pos = get_varint(data, pos)
        k, pos = get_varint(data, pos)
        num_samples, pos = get_varint(data, pos)
        frame = None
        if flags & F_FRAME:
            frame, pos = get_varint(data, pos)
        if pos + 8 > len(data):
            raise ValueError("truncated")
        model_fp = data[pos: pos + 8].hex()
        pos += 8
        prior_fp = None
        if flags & F_ENTROPY:
            if pos + 8 > len(data):
                raise ValueError("truncated")
            prior_fp = data[pos: pos + 8].hex()
            pos += 8
        fields = []
        for bit, limit in ((F_SPEAKER, 255), (F_META, MAX_META)):
            if not flags & bit:
                fields.append(b"")
                continue
            n, pos = get_varint(data, pos)
            if not 1 <= n <= limit:
                raise ValueError("field length")
            if pos + n > len(data):
                raise ValueError("truncated")
            fields.append(bytes(data[pos: pos + n]))
            pos += n
        if pos + 2 > len(data):
            raise ValueError("truncated")
    except (ValueError, IndexError) as err:
        if "truncated" in str(err):
            raise VQSpeechError(f"{name}: truncated .vqs file") from None
        raise VQSpeechError(f"{bad} ({err})") from None
    (crc,) = struct.unpack_from("<H", data, pos)
    if crc16(bytes(data[:pos])) != crc:
        raise VQSpeechError(f"{name}: corrupted .vqs header (CRC mismatch)")
    coder = flags >> 4
    if flags & 0x0F & ~(F_ENTROPY | F_SPEAKER | F_META | F_FRAME) or (coder != 0) != bool(flags & F_ENTROPY):
        raise VQSpeechError(f"{bad} (flags {flags:#04x})")
    if rate < 16:
        if rate >= len(RATES):
            raise VQSpeechError(f"{bad} (sample-rate code {rate})")
        rate = RATES[rate]
    elif rate in RATES:
        raise VQSpeechError(f"{bad} (sample rate {rate} not written by its code)")
    if not 1 <= hop <= 65535 or not 2 <= k <= 1 << 16:
        raise VQSpeechError(f"{bad} (hop {hop} or K {k} out of range)")
    if num_samples > max_seconds * rate:
        raise VQSpeechError(f"{name}: {num_samples} samples = {num_samples / rate / 3600:.1f} h: beyond the "
                            f"{max_seconds / 3600:g} h a reader accepts (refused before decoding)")
    default = default_frame_codes(rate, hop)
    if frame is not None and (frame == default or frame < 1):
        raise VQSpeechError(f"{bad} (frame size {frame})")
    try:
        speaker = fields[0].decode("utf-8") if fields[0] else None
        extra = json.loads(fields[1].decode("utf-8")) if fields[1] else {}
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise VQSpeechError(f"{bad} (speaker or metadata not UTF-8 / JSON)") from None
    if not isinstance(extra, dict):
        raise VQSpeechError(f"{bad} (metadata not a JSON object)")
    entropy = None
    if prior_fp is not None:
        entropy = {"coder": f"int-prior-v{coder}", "coder_id": coder, "prior_fingerprint": prior_fp}
    h = VqsHeader(model_fingerprint=model_fp, sample_rate=rate, hop=hop, num_codes=k, num_samples=num_samples,
                  n_codes=-(-num_samples // hop), speaker=speaker, bits=bits_per_code(k), entropy=entropy, extra=extra,
                  version=VERSION, frame_codes=frame if frame is not None else default)
    return h, pos + 2, crc


def parse_frames(data: bytes, header, start: int, header_crc: int, name: str) -> list[FrameInfo]:
    """Walk the frames (lengths and CRCs only; nothing decoded). A frame's CRC mismatch is recorded, not
    raised; a length the file cannot hold, trailing bytes or a frame too long for its codes are refused."""
    n_frames = -(-header.n_codes // header.frame_codes)
    if (len(data) - start) < FRAME_OVERHEAD_MIN * n_frames:
        raise VQSpeechError(f"{name}: truncated .vqs file ({n_frames} frames for {header.n_codes} codes cannot fit "
                            f"in {len(data) - start} bytes)")
    frames = []
    pos = start
    for i in range(n_frames):
        a = i * header.frame_codes
        n = min(header.frame_codes, header.n_codes - a)
        limit = 2 * n + n // 128 + 16 if header.entropy is not None else (n * header.bits + 7) // 8  # see int_kernel
        try:
            length, p = get_varint(data, pos)
        except ValueError:
            length, p = -1, pos
        if header.entropy is None and length != limit:  # plain: the length is known, a damaged one is skipped
            length, p = limit, pos + _varint_size(limit)
            if p + length + 2 <= len(data):
                frames.append(FrameInfo(i, a, n, p, length, False))
                pos = p + length + 2
                continue
        if length < 0:
            raise VQSpeechError(f"{name}: truncated or corrupted .vqs file (frame {i} length)")
        if length > limit or p + length + 2 > len(data):
            raise VQSpeechError(f"{name}: corrupted or truncated .vqs file (frame {i} of {n_frames} says {length} "
                                f"bytes: {'more than its ' + str(n) + ' codes can take' if length > limit else 'beyond the end of the file'})")
        (crc,) = struct.unpack_from("<H", data, p + length)
        ok = crc16(bytes(data[p: p + length]), header_crc + i) == crc
        frames.append(FrameInfo(i, a, n, p, length, ok))
        pos = p + length + 2
    if pos != len(data):
        raise VQSpeechError(f"{name}: inconsistent .vqs file ({len(data) - pos} bytes after the last frame)")
    return frames


def parse_v2(data: bytes, name: str = ".vqs", max_seconds: float = MAX_SECONDS):
    """Check a whole version-2 file: -> (VqsHeader, [FrameInfo]). Frames whose CRC fails have ok=False."""
    header, size, crc = parse_header(data, name, max_seconds)
    frames = parse_frames(data, header, size, crc, name)
    header.payload_bytes = len(data) - size
    return header, frames


def plain_frame_codes(data: bytes, frame: FrameInfo, header, name: str) -> np.ndarray:
    """The bit-packed codes of one (CRC-checked) plain frame -> [n] int64."""
    from vqspeech.codec.bitstream import unpack_codes

    try:
        codes = unpack_codes(bytes(data[frame.offset: frame.offset + frame.length]), header.bits, frame.n_codes)
    except ValueError as err:
        raise VQSpeechError(f"{name}: inconsistent .vqs payload (frame {frame.index}: {err})") from None
    if codes.size and codes.max() >= header.num_codes:
        raise VQSpeechError(f"{name}: inconsistent .vqs payload (frame {frame.index}: code {codes.max()} >= "
                            f"K={header.num_codes})")
    return codes


def to_bytes_v2(header, payloads: list[bytes]) -> bytes:
    """Header + framed payloads (one per frame, in order)."""
    head = encode_header(header)
    (crc,) = struct.unpack_from("<H", head, len(head) - 2)
    n_frames = -(-header.n_codes // header.frame_codes)
    if len(payloads) != n_frames:
        raise ValueError(f"{len(payloads)} frame payloads for {n_frames} frames")
    body = b"".join(frame_bytes(p, i, crc) for i, p in enumerate(payloads))
    header.payload_bytes = len(body)
    return head + body


def plain_payloads(header, codes: np.ndarray) -> list[bytes]:
    """Codes [n_codes] -> the bit-packed payload of every frame."""
    from vqspeech.codec.bitstream import pack_codes

    c = np.asarray(codes).reshape(-1)
    f = header.frame_codes
    return [pack_codes(c[a: a + f], header.bits) for a in range(0, c.size, f)]
