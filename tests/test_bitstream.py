"""The .vqs bitstream: exact round trips, and every damaged file refused with a VQSpeechError."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vqspeech.codec.bitstream import (
    MAGIC,
    VqsHeader,
    pack_codes,
    parse,
    read_vqs,
    read_vqs_bytes,
    to_bytes,
    unpack_codes,
    write_vqs,
)
from vqspeech.errors import VQSpeechError
from vqspeech.models.config import bits_per_code


def _header(n_samples: int = 1000, hop: int = 64, k: int = 512, **kw) -> VqsHeader:
    return VqsHeader(model_fingerprint="ab" * 8, sample_rate=16000, hop=hop, num_codes=k,
                     num_samples=n_samples, n_codes=-(-n_samples // hop), **kw)


def _file(n_samples: int = 1000, k: int = 512, seed: int = 0) -> tuple[bytes, np.ndarray]:
    h = _header(n_samples, k=k, speaker="p225")
    codes = np.random.default_rng(seed).integers(0, k, h.n_codes)
    return to_bytes(h, pack_codes(codes, h.bits)), codes


@settings(max_examples=200, deadline=None)
@given(bits=st.integers(1, 16), n=st.integers(0, 300), seed=st.integers(0, 2**32 - 1))
def test_pack_unpack_round_trip(bits, n, seed):
    codes = np.random.default_rng(seed).integers(0, 1 << bits, n)
    data = pack_codes(codes, bits)
    assert len(data) == (n * bits + 7) // 8
    np.testing.assert_array_equal(unpack_codes(data, bits, n), codes)


def test_pack_known_bits():
    assert pack_codes(np.array([1, 0, 3]), 2) == bytes([0b01001100])
    assert pack_codes(np.array([511]), 9) == bytes([0xFF, 0x80])
    with pytest.raises(ValueError):
        pack_codes(np.array([4]), 2)


def test_bits_per_code():
    assert [bits_per_code(k) for k in (2, 3, 4, 5, 256, 257, 512, 513)] == [1, 2, 2, 3, 8, 9, 9, 10]


def test_file_round_trip(tmp_path):
    h = _header(12345, k=300, speaker=None)
    codes = np.random.default_rng(1).integers(0, 300, h.n_codes)
    path = write_vqs(tmp_path / "x.vqs", h, codes)
    h2, codes2 = read_vqs(path)
    np.testing.assert_array_equal(codes2, codes)
    assert h2 == h and h2.bits == 9 and h2.speaker is None
    assert path.stat().st_size == len(to_bytes(h, pack_codes(codes, 9)))
    assert list(tmp_path.iterdir()) == [path]  # no temp file left


def test_entropy_payload_round_trip():
    h = _header(640, entropy={"coder": "range", "prior_fingerprint": "cd"})
    words = np.array([1, 2**32 - 1, 7], dtype=np.uint32)
    h2, w2 = read_vqs_bytes(to_bytes(h, words.astype("<u4").tobytes()))
    np.testing.assert_array_equal(w2, words)
    assert h2.entropy == {"coder": "range", "prior_fingerprint": "cd"}


def test_refusals(tmp_path):
    data, _ = _file()
    with pytest.raises(VQSpeechError, match="not a .vqs file"):
        parse(b"RIFF" + data[4:])
    with pytest.raises(VQSpeechError, match="unsupported .vqs version 9"):
        parse(data[:4] + b"\x09" + data[5:])
    with pytest.raises(VQSpeechError, match="truncated"):
        parse(data[:-10])
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x10
    with pytest.raises(VQSpeechError, match="corrupted"):
        parse(bytes(flipped))
    with pytest.raises(VQSpeechError, match="no such file"):
        read_vqs(tmp_path / "missing.vqs")
    (tmp_path / "empty.vqs").write_bytes(b"")
    with pytest.raises(VQSpeechError, match="empty file"):
        read_vqs(tmp_path / "empty.vqs")


def _with_header(d: dict, payload: bytes) -> bytes:
    import json

    head = json.dumps(d).encode()
    body = MAGIC + struct.pack("<BI", 1, len(head)) + head + payload
    return body + struct.pack("<I", zlib.crc32(body))


def test_inconsistent_header_refused():
    h = _header(1000)
    good = h.to_json()
    import json

    d = json.loads(good)
    payload = pack_codes(np.zeros(h.n_codes, np.int64), h.bits)
    d["payload_bytes"] = len(payload)
    read_vqs_bytes(_with_header(d, payload))  # the reference parses
    for key, value in [("n_codes", 3), ("bits", 4), ("hop", 0), ("num_codes", "x"), ("payload_bytes", 1),
                       ("speaker", 5), ("bogus", 1)]:
        bad = dict(d, **{key: value})
        with pytest.raises(VQSpeechError, match="inconsistent"):
            read_vqs_bytes(_with_header(bad, payload))
    with pytest.raises(VQSpeechError, match="inconsistent"):  # code >= K with K not a power of two
        d3 = dict(d, num_codes=300, bits=9)
        read_vqs_bytes(_with_header(d3, pack_codes(np.full(h.n_codes, 400), 9)))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_never_crash(data):
    try:
        read_vqs_bytes(data)
    except VQSpeechError:
        pass
    try:
        read_vqs_bytes(MAGIC + data)
    except VQSpeechError:
        pass


@settings(max_examples=300, deadline=None)
@given(pos=st.integers(0, 10**6), bit=st.integers(0, 7), cut=st.integers(0, 10**6), seed=st.integers(0, 100))
def test_flips_and_truncations_refused(pos, bit, cut, seed):
    data, codes = _file(n_samples=700 + seed, seed=seed)
    flipped = bytearray(data)
    flipped[pos % len(data)] ^= 1 << bit
    with pytest.raises(VQSpeechError):
        read_vqs_bytes(bytes(flipped))
    with pytest.raises(VQSpeechError):
        read_vqs_bytes(data[: cut % len(data)])
