"""The integer prior: numpy reference == numba kernel (any chunking), Python range coder == kernel coder,
exact round trips, the rate close to the float prior's, and a file coded here decodes on a generic CPU."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from vqspeech.codec import rangecoder
from vqspeech.codec.int_kernel import IntPriorKernel
from vqspeech.codec.int_prior import IntPrior, freq_table, reference_tables, tables
from vqspeech.models.config import PriorConfig, named_decoder_config
from vqspeech.models.prior import build_prior

DATA = Path(__file__).parent / "data"


def tiny_prior(k: int = 32, speakers=("alice", "bob"), seed: int = 0, kernel_size: int = 2):
    torch.manual_seed(seed)
    wn = dataclasses.replace(named_decoder_config("tiny"), kernel_size=kernel_size)
    prior = build_prior(PriorConfig(num_codes=k, speakers=list(speakers), wavenet=wn))
    with torch.no_grad():  # sharpen the output so that the codes are predictable and compress
        prior.wavenet.out2.weight.mul_(20)
    return prior.eval()


def test_lookup_tables_are_pinned():
    """The tables are computed with `decimal` (correctly rounded): the same bytes on every platform."""
    from vqspeech.codec.int_prior import _tables_decimal

    tanh, sig, ex = tables()
    h = hashlib.sha256()
    for t in (tanh, sig, ex):
        h.update(t.astype("<i4").tobytes())
    assert h.hexdigest()[:16] == "88c13e6625d9fdae"
    for fast, exact in zip(tables(), _tables_decimal(), strict=True):  # the float shortcut is the definition
        np.testing.assert_array_equal(fast, exact)
    assert tanh[0] == -32768 and tanh[-1] == 32768 and tanh[tanh.size // 2] == 0 and (np.diff(tanh) >= 0).all()
    assert sig[sig.size // 2] == 16384 and (np.diff(sig) >= 0).all() and ex[0] == 65536


def test_freq_table_positive_and_exact():
    lg = np.array([[0, 5000, -10 ** 6, 5000], [3, 3, 3, 3]])
    f = freq_table(lg)
    assert (f >= 1).all() and (f.sum(axis=1) == 1 << 16).all()
    assert f[0, 2] == 1 and f[0, 1] > f[0, 3] >= f[0, 0]  # the remainder goes to the first argmax
    assert (f[1] == 1 << 14).all()


@pytest.mark.parametrize("speakers,kernel_size", [(("alice", "bob"), 2), ((), 3)])
def test_reference_equals_kernel_in_any_chunking(speakers, kernel_size):
    prior = tiny_prior(speakers=speakers, kernel_size=kernel_size)
    ip = IntPrior.from_prior(prior)
    kern = IntPriorKernel(ip)
    codes = np.random.default_rng(0).integers(0, 32, 300)
    row = ip.speaker_row("bob" if speakers else None)
    ref = reference_tables(ip, codes, row)
    assert (ref >= 1).all() and (ref.sum(axis=1) == 1 << 16).all()
    for cuts in ([300], [1, 299], [7, 50, 1, 242]):
        st = kern.stream(row)
        parts, a = [], 0
        for n in cuts:
            parts.append(st.tables(codes[a: a + n]))
            a += n
        np.testing.assert_array_equal(np.concatenate(parts), ref)
    # the kernel's range coder is the Python reference coder, byte for byte; decoding is exact
    data = kern.encode_frame(codes, row)
    assert data == rangecoder.encode(codes, ref)
    np.testing.assert_array_equal(kern.decode_frame(data, codes.size, row), codes)
    assert rangecoder.decode(data, lambda t, prev: ref[t] if t < codes.size else None) == list(codes)
    # the size is the tables' information content plus about a byte
    info = -np.log2(ref[np.arange(codes.size), codes] / 65536).sum() / 8
    assert info - 1 <= len(data) <= info + 2  # (trailing zero bytes are implied)


def test_quantization_is_deterministic_and_speaker_dependent():
    prior = tiny_prior()
    a, b = IntPrior.from_prior(prior), IntPrior.from_prior(prior)
    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        assert np.array_equal(x, y) if isinstance(x, np.ndarray) else x == y
    assert not np.array_equal(a.cond[0], a.cond[1])
    assert a.wd.dtype == np.int16 and (np.abs(a.wd.astype(np.int64)).sum(axis=(1, 2)) <= 32767).all()


def test_edge_cases_short_and_damaged():
    prior = tiny_prior()
    kern = IntPriorKernel(IntPrior.from_prior(prior))
    for codes in (np.array([0]), np.array([31]), np.full(40, 7)):
        np.testing.assert_array_equal(kern.decode_frame(kern.encode_frame(codes, 1), codes.size, 1), codes)
    # garbage never crashes: it decodes to something (the frame CRC catches it) or is refused
    rng = np.random.default_rng(1)
    for _ in range(20):
        out = kern.decode_frame(rng.integers(0, 256, rng.integers(0, 40)).astype(np.uint8).tobytes(), 50, 0)
        assert out is None or (out.shape == (50,) and out.min() >= 0 and out.max() < 32)


def test_bundled_prior_rate_close_to_float():
    """The integer prior costs at most 2% more bits than the float prior's likelihood (v1 fixture codes,
    made with the bundled `wavenet` model: the default when the fixture was written)."""
    from vqspeech import pretrained
    from vqspeech.models.io import load_model

    prior = load_model(pretrained.resolve_model_path("wavenet_prior"))
    ip = IntPrior.from_prior(prior)
    codes = np.load(DATA / "v1_codes.npy").astype(np.int64)
    row = ip.speaker_row("us_m1")
    ref = reference_tables(ip, codes, row)
    np.testing.assert_array_equal(IntPriorKernel(ip).stream(row).tables(codes), ref)
    bits = -np.log2(ref[np.arange(codes.size), codes] / 65536).sum()
    with torch.no_grad():
        fbits = prior.nll_bits(torch.from_numpy(codes)[None], torch.tensor([row]), reduce=False).sum().item()
    assert bits <= 1.02 * fbits, (bits, fbits)


def test_worst_case_size_bound():
    """Every code at frequency 1 of 2**16: the most bytes a frame can take stays within max_frame_bytes
    (the kernel's output buffer and the reader's frame-length limit)."""
    from vqspeech.codec.int_kernel import max_frame_bytes

    n, k = 3000, 64
    rng = np.random.default_rng(0)
    big = rng.integers(0, k, n)
    tables = np.ones((n, k), np.int64)
    tables[np.arange(n), big] = (1 << 16) - (k - 1)
    codes = (big + rng.integers(1, k, n)) % k  # never the likely code
    data = rangecoder.encode(codes, tables)
    assert 1.99 * n <= len(data) <= max_frame_bytes(n)


_GENERIC = """
import sys
from vqspeech.codec.files import read_codes
from vqspeech.models.io import load_model, model_fingerprint
codes = read_codes(sys.argv[1], lambda: (load_model(sys.argv[2]), model_fingerprint(sys.argv[2])))[1]
print(" ".join(map(str, codes)))
"""


def test_decodes_on_a_generic_cpu(tmp_path):
    """A .vqs file coded by this process's JIT (host CPU) decodes with a JIT built for generic x86-64
    (its own numba cache) to the same codes."""
    from vqspeech.codec.bitstream import VqsHeader, write_vqs
    from vqspeech.codec.entropy import encode_frames
    from vqspeech.models.io import model_fingerprint, save_model

    prior = tiny_prior()
    save_model(prior, tmp_path / "prior")
    codes = np.random.default_rng(2).integers(0, 32, 900)
    h = VqsHeader(model_fingerprint="ab" * 8, sample_rate=16000, hop=64, num_codes=32, num_samples=900 * 64 - 5,
                  n_codes=900, speaker="bob", version=2,
                  entropy={"coder": "int-prior-v1", "coder_id": 1,
                           "prior_fingerprint": model_fingerprint(tmp_path / "prior")})
    write_vqs(tmp_path / "x.vqs", h, frames=encode_frames(prior, codes, h.frame_codes, "bob"))
    env = dict(os.environ, NUMBA_CPU_NAME="generic", NUMBA_CACHE_DIR=str(tmp_path / "numba_cache"),
               NUMBA_NUM_THREADS="1")
    env.pop("NUMBA_CPU_FEATURES", None)
    r = subprocess.run([sys.executable, "-c", _GENERIC, str(tmp_path / "x.vqs"), str(tmp_path / "prior")],
                       env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split() == [str(c) for c in codes]
    assert (tmp_path / "numba_cache").is_dir()


_FUZZ: dict = {}


def _fuzz_file():
    """An entropy-coded v2 file of 2.3 s of the tiny prior's codes (made once)."""
    if not _FUZZ:
        from vqspeech.codec.bitstream import VqsHeader
        from vqspeech.codec.entropy import encode_frames
        from vqspeech.codec.vqs2 import to_bytes_v2

        prior = tiny_prior()
        codes = np.random.default_rng(5).integers(0, 32, 575)
        h = VqsHeader(model_fingerprint="ab" * 8, sample_rate=16000, hop=64, num_codes=32, num_samples=575 * 64,
                      n_codes=575, speaker="alice", version=2,
                      entropy={"coder": "int-prior-v1", "coder_id": 1, "prior_fingerprint": "cd" * 8})
        _FUZZ.update(prior=prior, codes=codes, data=to_bytes_v2(h, encode_frames(prior, codes, h.frame_codes, "alice")))
    return _FUZZ


@settings(max_examples=150, deadline=None)
@given(flips=st.lists(st.tuples(st.integers(0, 10 ** 6), st.integers(0, 7)), min_size=1, max_size=3))
def test_fuzz_entropy_file_through_the_decoder(tmp_path_factory, flips):
    """Bit errors in an entropy-coded file: refused, or decoded with --conceal to the right number of codes,
    the undamaged frames exact; never another exception."""
    from vqspeech.codec.files import read_code_span
    from vqspeech.errors import VQSpeechError

    f = _fuzz_file()
    data = bytearray(f["data"])
    for pos, bit in flips:
        data[pos % len(data)] ^= 1 << bit
    path = tmp_path_factory.mktemp("fz") / "x.vqs"
    path.write_bytes(bytes(data))
    try:
        span = read_code_span(path, lambda: (f["prior"], "cd" * 8), conceal=True)
    except VQSpeechError:
        return
    assert span.codes.shape == (575,) and span.codes.min() >= 0 and span.codes.max() < 32
    for i in range(3):
        if i not in span.damaged:
            np.testing.assert_array_equal(span.codes[i * 250: (i + 1) * 250], f["codes"][i * 250: (i + 1) * 250])
