"""Hypothesis fuzzing of every parser of users' files, 1,000 examples each: Kaldi files (wav.scp-style
key/value, segments, utt2dur), CTM, TIMIT .PHN, TextGrid, training YAML configs and .vqs files. Each
either parses or raises VQSpeechError (a one-line user error), never anything else, and quickly."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vqspeech.errors import VQSpeechError

FUZZ = settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_DIR = Path(tempfile.mkdtemp(prefix="vqspeech-fuzz-"))

# tokens a hostile or broken file is made of: ids, numbers of every kind, separators, junk
TOKENS = ["utt1", "spk-utt1", "reco", "a", "sil", "1", "0", "-1", "0.5", "1e308", "-1e308", "nan", "inf",
          "-inf", "1.2.3", "", " ", "\t", "|", "cmd |", "\u00e9", "\x00", "\ufeff", "0x10", "1e-320", "99999999999"]
token = st.one_of(st.sampled_from(TOKENS), st.text(max_size=6))
line = st.lists(token, max_size=7).map(" ".join)
text_file = st.one_of(st.lists(line, max_size=8).map("\n".join), st.text(max_size=200),
                      st.binary(max_size=200).map(lambda b: b.decode("latin-1")))


def _write(name: str, content: str | bytes) -> Path:
    path = _DIR / name
    if isinstance(content, str):
        path.write_bytes(content.encode("utf-8", "surrogatepass"))
    else:
        path.write_bytes(content)
    return path


def _parses_or_user_error(fn, *args, **kwargs) -> None:
    try:
        fn(*args, **kwargs)
    except VQSpeechError as err:
        msg = str(err)
        assert msg and "\n" not in msg.strip(), msg


TEXT_PARSERS = {  # file name -> (module, reader) of the line-based parsers
    "wav.scp": ("vqspeech.data.kaldi", "read_key_value"), "segments": ("vqspeech.data.kaldi", "read_segments"),
    "utt2dur": ("vqspeech.data.kaldi", "read_utt2dur"), "x.ctm": ("vqspeech.data.kaldi", "read_ctm"),
    "x.PHN": ("vqspeech.data.alignments", "read_phn"),
}


@pytest.mark.parametrize("name", sorted(TEXT_PARSERS))
def test_fuzz_text_parser(name):
    import importlib

    module, reader = TEXT_PARSERS[name]
    read = getattr(importlib.import_module(module), reader)

    @FUZZ
    @given(text_file)
    def check(content):
        _parses_or_user_error(read, _write(name, content))

    check()


TEXTGRID_HEAD = 'File type = "ooTextFile"\nObject class = "TextGrid"\n\nxmin = 0\nxmax = 1\ntiers? <exists>\nsize = 1\n'


@FUZZ
@given(st.one_of(text_file, text_file.map(lambda t: TEXTGRID_HEAD + t)))
def test_fuzz_textgrid(content):
    from vqspeech.data.alignments import read_textgrid

    _parses_or_user_error(read_textgrid, _write("x.TextGrid", content))


YAML_TOKENS = ["model:", "train:", "data:", "  steps:", "  lr:", "  decoder:", "    type:", "source_filter",
               "wavenet", "{", "}", "[", "]", "&a", "*a", "!!python/object:os.system", "- ", "1e9", "-1", "nan",
               ".inf", "null", "~", "'", '"', "  encoder: {strides: [2, 2]}", "  quantizer: {num_codes: 0}"]
yaml_file = st.one_of(st.lists(st.lists(st.sampled_from(YAML_TOKENS), max_size=4).map(" ".join), max_size=8)
                      .map("\n".join), text_file)


@FUZZ
@given(yaml_file)
def test_fuzz_training_config(content):
    from vqspeech.train.config import load_train_config

    _parses_or_user_error(load_train_config, str(_write("cfg.yaml", content)))


@pytest.fixture(scope="module")
def vqs_seed() -> bytes:
    """A valid 2.4 s bit-packed version-2 file (3 frames) that the fuzzer damages."""
    import numpy as np

    from vqspeech.codec.bitstream import VqsHeader
    from vqspeech.codec.vqs2 import plain_payloads, to_bytes_v2

    codes = (np.arange(600) * 7) % 512
    h = VqsHeader(model_fingerprint="0123456789abcdef", sample_rate=16000, hop=64, num_codes=512,
                  num_samples=600 * 64, n_codes=600, speaker="alice", version=2)
    return to_bytes_v2(h, plain_payloads(h, codes))


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzz_vqs(vqs_seed, data):
    from vqspeech.codec.bitstream import read_vqs_bytes

    blob = bytearray(vqs_seed)
    for _ in range(data.draw(st.integers(0, 4))):
        pos = data.draw(st.integers(0, len(blob) - 1))
        blob[pos] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(blob)))
    tail = data.draw(st.binary(max_size=16))
    _parses_or_user_error(read_vqs_bytes, bytes(blob[:cut]) + tail)
