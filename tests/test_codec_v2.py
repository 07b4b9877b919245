""".vqs version 2: exact round trips, the header's size, v1 fixtures still read, hostile files refused
quickly and before allocation, and a fuzzed reader that never fails other than with VQSpeechError."""

from __future__ import annotations

import struct
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vqspeech.codec import vqs2
from vqspeech.codec.bitstream import Frames, VqsHeader, read_vqs, read_vqs_bytes, write_vqs
from vqspeech.errors import VQSpeechError

DATA = Path(__file__).parent / "data"
FP, PFP = "92ffe01a8aa02a02", "58c3d369463146c7"


def _header(n_samples: int = 64000, k: int = 512, rate: int = 16000, **kw) -> VqsHeader:
    return VqsHeader(model_fingerprint=FP, sample_rate=rate, hop=64, num_codes=k, num_samples=n_samples,
                     n_codes=-(-n_samples // 64), version=2, **kw)


def _entropy() -> dict:
    return {"coder": "int-prior-v1", "coder_id": 1, "prior_fingerprint": PFP}


def _plain_file(n_samples: int = 64000, k: int = 512, seed: int = 0, **kw) -> tuple[bytes, np.ndarray]:
    h = _header(n_samples, k, **kw)
    codes = np.random.default_rng(seed).integers(0, k, h.n_codes)
    return vqs2.to_bytes_v2(h, vqs2.plain_payloads(h, codes)), codes


def test_varint():
    for v in (0, 1, 127, 128, 16000, 2 ** 32 - 1):
        out = bytearray()
        vqs2.put_varint(out, v)
        assert vqs2.get_varint(bytes(out), 0) == (v, len(out))
    for bad in (b"\x80", b"\x80\x00", b"\xff" * 6):
        with pytest.raises(ValueError):
            vqs2.get_varint(bad, 0)


def test_header_size_and_round_trip(tmp_path):
    h = _header(entropy=_entropy())
    head = vqs2.encode_header(h)
    assert len(head) == 31  # magic 4, version 1, flags 1, rate 1, hop 1, K 2, samples 3, 2 x 8 fingerprints, CRC 2
    assert len(vqs2.encode_header(_header(speaker="us_m1", entropy=_entropy()))) == 37
    assert len(vqs2.encode_header(_header())) == 23
    frames = [bytes([i]) * (i + 1) for i in range(4)]
    path = write_vqs(tmp_path / "e.vqs", _header(speaker="p225", entropy=_entropy(), extra={"a": 1}), frames=frames)
    h2, got = read_vqs(path)
    assert isinstance(got, Frames) and [path.read_bytes()[f.offset: f.offset + f.length] for f in got.frames] == frames
    assert (h2.speaker, h2.extra, h2.entropy, h2.num_samples, h2.n_codes, h2.frame_codes, h2.version) == \
        ("p225", {"a": 1}, _entropy(), 64000, 1000, 250, 2)
    for n, k, rate, frame in [(1, 2, 16000, 0), (12345, 300, 22050, 0), (64000, 512, 12345, 7), (0, 16, 48000, 0)]:
        h = _header(n, k, rate, frame_codes=frame)
        codes = np.random.default_rng(n).integers(0, k, h.n_codes)
        h2, c2 = read_vqs(write_vqs(tmp_path / "p.vqs", h, codes))
        np.testing.assert_array_equal(c2, codes)
        assert (h2.sample_rate, h2.num_codes, h2.frame_codes) == (rate, k, h.frame_codes)


def test_v1_fixtures_still_read():
    codes = np.load(DATA / "v1_codes.npy").astype(np.int64)
    h, c = read_vqs(DATA / "v1_plain.vqs")
    assert h.version == 1 and h.speaker == "us_m1" and h.n_codes == 375
    np.testing.assert_array_equal(c, codes)
    h, words = read_vqs(DATA / "v1_entropy.vqs")
    assert h.version == 1 and h.entropy["coder"] == "range-prior-v1" and words.dtype == np.uint32


def test_v1_entropy_fixture_decodes_with_the_float_coder():
    """Version-1 entropy files decode with the float prior: exact on CPUs whose float arithmetic matches the
    writer's, a CRC error (never wrong codes) elsewhere."""
    from vqspeech import pretrained
    from vqspeech.codec.files import read_codes
    from vqspeech.models.io import load_model, model_fingerprint

    pd = pretrained.resolve_model_path("wavenet_prior")  # the prior that made the fixture (the default then)
    if model_fingerprint(pd) != PFP:
        pytest.skip("the bundled prior is not the one that made the v1 fixture")
    try:
        _, c = read_codes(DATA / "v1_entropy.vqs", lambda: (load_model(pd), PFP))
    except VQSpeechError as err:
        assert "CRC" in str(err)
    else:
        np.testing.assert_array_equal(c, np.load(DATA / "v1_codes.npy"))


def test_newer_version_refused_by_number():
    data, _ = _plain_file()
    with pytest.raises(VQSpeechError, match="unsupported .vqs version 3 .a newer format"):
        read_vqs_bytes(data[:4] + b"\x03" + data[5:])
    with pytest.raises(VQSpeechError, match="unsupported .vqs version 0"):
        read_vqs_bytes(data[:4] + b"\x00" + data[5:])


def _raw_header(fields: bytes) -> bytes:
    head = b"VQSC\x02" + fields
    return head + struct.pack("<H", vqs2.crc16(head))


def _hdr_fields(flags=0, rate=3, hop=64, k=512, samples=64000, extra=b"", frame=None) -> bytes:
    out = bytearray([flags])
    for v in (rate, hop, k, samples) if frame is None else (rate, hop, k, samples, frame):
        vqs2.put_varint(out, v)
    return bytes(out) + bytes.fromhex(FP) + extra


def test_hostile_headers_refused_fast():
    t = time.perf_counter()
    huge = _raw_header(_hdr_fields(samples=25 * 3600 * 16000))
    with pytest.raises(VQSpeechError, match="beyond the 24 h"):
        read_vqs_bytes(huge)
    # 24 h of codes promised by a tiny file: refused from the sizes, before walking or allocating
    day = _raw_header(_hdr_fields(samples=24 * 3600 * 16000))
    with pytest.raises(VQSpeechError, match="frames for .* codes cannot fit"):
        read_vqs_bytes(day + b"\x00" * 100)
    with pytest.raises(VQSpeechError, match="frames for .* codes cannot fit"):
        read_vqs_bytes(_raw_header(_hdr_fields(hop=1, samples=2 ** 35 - 1)) + b"\x00" * 10, max_seconds=1e9)
    assert time.perf_counter() - t < 1.0
    for fields, msg in [(_hdr_fields(flags=0x40), "flags"), (_hdr_fields(flags=0x01, extra=bytes(8)), "flags"),
                        (_hdr_fields(rate=9), "sample-rate code"), (_hdr_fields(rate=16000), "not written by its code"),
                        (_hdr_fields(hop=0), "hop"), (_hdr_fields(k=1), "K"), (_hdr_fields(k=70000), "K"),
                        (_hdr_fields(flags=0x08, frame=250), "frame size 250"),
                        (_hdr_fields(flags=0x04, extra=b"\x80\x02" + b"[" * 256), "JSON"),
                        (_hdr_fields(flags=0x02, extra=b"\x00"), "field length"),
                        (_hdr_fields(flags=0x02, extra=b"\x02\xff\xfe"), "UTF-8"),
                        (_hdr_fields(flags=0x04, extra=b"\x02[]"), "JSON object")]:
        with pytest.raises(VQSpeechError, match=msg):
            read_vqs_bytes(_raw_header(fields) + b"\x00" * 3000)
    good, _ = _plain_file(640)
    with pytest.raises(VQSpeechError, match="header .CRC mismatch"):
        read_vqs_bytes(good[:6] + bytes([good[6] ^ 1]) + good[7:])
    with pytest.raises(VQSpeechError, match="after the last frame"):
        read_vqs_bytes(good + b"\x00")


def test_frame_lengths_checked():
    h = _header(640, entropy=_entropy())
    ok = vqs2.to_bytes_v2(h, [b"\x12\x34"])
    head = len(vqs2.encode_header(h))
    read_vqs_bytes(ok)
    too_long = ok[:head] + b"\x20" + ok[head + 1:]  # 32 bytes said, 2 there
    with pytest.raises(VQSpeechError, match="frame 0 of 1 says 32 bytes: beyond the end"):
        read_vqs_bytes(too_long)
    h2 = _header(640, entropy=_entropy())
    with pytest.raises(VQSpeechError, match="more than its 10 codes can take"):
        read_vqs_bytes(vqs2.to_bytes_v2(h2, [b"\x01" * 37]))


def test_plain_damage_is_local():
    """A damaged length or payload in a plain file loses that frame only (its length is known)."""
    data, codes = _plain_file(4 * 16000)
    h, got = read_vqs_bytes(data, raw_frames=True)
    assert not got.damaged and len(got.frames) == 4
    for pos in (got.frames[2].offset - 2, got.frames[2].offset + 5):  # frame 2's length byte / payload
        bad = bytearray(data)
        bad[pos] ^= 0x21
        h, got2 = read_vqs_bytes(bytes(bad), raw_frames=True)
        assert [f.index for f in got2.damaged] == [2]
        with pytest.raises(VQSpeechError, match="is damaged"):
            read_vqs_bytes(bytes(bad))


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_random_bytes(data):
    for blob in (data, b"VQSC\x02" + data):
        try:
            read_vqs_bytes(blob)
        except VQSpeechError:
            pass


@settings(max_examples=300, deadline=None)
@given(pos=st.integers(0, 10 ** 6), bit=st.integers(0, 7), cut=st.integers(0, 10 ** 6), seed=st.integers(0, 50),
       entropy=st.booleans())
def test_fuzz_flips_and_cuts(pos, bit, cut, seed, entropy):
    """A flipped bit is refused or flagged as a damaged frame; a cut file is refused; never another error."""
    if entropy:
        h = _header(3000 + 640 * seed, entropy=_entropy(), speaker="p225")
        rng = np.random.default_rng(seed)
        data = vqs2.to_bytes_v2(h, [rng.integers(0, 256, rng.integers(0, 60)).astype(np.uint8).tobytes()
                                    for _ in range(h.n_frames)])
    else:
        data, _ = _plain_file(3000 + 640 * seed, seed=seed, speaker="p225")
    flipped = bytearray(data)
    flipped[pos % len(data)] ^= 1 << bit
    try:
        _, got = read_vqs_bytes(bytes(flipped), raw_frames=True)
        assert got.damaged  # parsed: then the flip must be in a frame, and that frame is flagged
    except VQSpeechError:
        pass
    with pytest.raises(VQSpeechError):
        read_vqs_bytes(data[: cut % len(data)])


@settings(max_examples=200, deadline=None)
@given(samples=st.integers(0, 10 ** 6), k=st.integers(2, 1 << 16), hop=st.integers(1, 65535),
       rate=st.sampled_from([8000, 16000, 44100, 12345, 100000]), frame=st.integers(0, 3000),
       spk=st.one_of(st.none(), st.text(min_size=1, max_size=20)))
def test_fuzz_header_round_trip(samples, k, hop, rate, frame, spk):
    h = VqsHeader(model_fingerprint=FP, sample_rate=rate, hop=hop, num_codes=k, num_samples=samples,
                  n_codes=-(-samples // hop), speaker=spk, version=2, frame_codes=frame, entropy=_entropy())
    head = vqs2.encode_header(h)
    h2, size, _ = vqs2.parse_header(head, "x", max_seconds=1e9)
    assert size == len(head)
    for name in ("sample_rate", "hop", "num_codes", "num_samples", "n_codes", "speaker", "frame_codes", "entropy"):
        assert getattr(h2, name) == getattr(h, name), name


def test_read_code_span_seeks_and_conceals(tmp_path):
    from vqspeech.codec.files import read_code_span

    h = _header(4 * 16000 - 100)
    codes = np.random.default_rng(3).integers(0, 512, h.n_codes)
    path = write_vqs(tmp_path / "p.vqs", h, codes)
    whole = read_code_span(path)
    np.testing.assert_array_equal(whole.codes, codes)
    assert (whole.first_code, whole.skip, whole.num_samples, whole.silence) == (0, 0, h.num_samples, [])
    s = read_code_span(path, start=1.51, duration=1.0)
    a = int(round(1.51 * 16000))
    assert s.first_code == a // 64 and s.skip == a - s.first_code * 64 and s.num_samples == 16000
    np.testing.assert_array_equal(s.codes, codes[a // 64: -(-(a + 16000) // 64)])
    end = read_code_span(path, start=3.5, duration=10)
    assert end.num_samples == h.num_samples - 56000
    data = bytearray(path.read_bytes())
    _, got = read_vqs_bytes(bytes(data), raw_frames=True)
    data[got.frames[1].offset] ^= 0xFF
    (tmp_path / "bad.vqs").write_bytes(bytes(data))
    with pytest.raises(VQSpeechError, match=r"frame 1 of 4 \(1.00-2.00 s\) is damaged"):
        read_code_span(tmp_path / "bad.vqs")
    c = read_code_span(tmp_path / "bad.vqs", conceal=True, start=0.5, duration=2.0)
    assert c.damaged == [1] and c.silence == [(8000, 24000)] and c.codes.size == 2 * 250
    np.testing.assert_array_equal(c.codes[:125], codes[125:250])  # the frames around the damage decode
    np.testing.assert_array_equal(c.codes[375:], codes[500:625])
    ok = read_code_span(tmp_path / "bad.vqs", start=2.0)  # a span that avoids the damage needs no --conceal
    np.testing.assert_array_equal(ok.codes, codes[500:])
