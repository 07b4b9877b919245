"""Kaldi data dirs: round trips of every file, piped wav.scp entries, segments, errors with file:line."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import make_tone
from vqspeech.data.kaldi import (
    DataDir,
    PhoneInterval,
    load_utterance,
    read_ctm,
    read_data_dir,
    write_ctm,
    write_data_dir,
)
from vqspeech.errors import VQSpeechError


def _full_dir(tmp_path) -> DataDir:
    wav = make_tone(0.5)
    sf.write(tmp_path / "a.wav", wav, 16000, subtype="PCM_16")
    return DataDir(
        wav_scp={"spkB-rec1": str(tmp_path / "a.wav"), "spkA-rec1": "a.wav"},
        utt2spk={"spkB-rec1-0": "spkB", "spkA-rec1-1": "spkA", "spkA-rec1-0": "spkA"},
        text={"spkB-rec1-0": "HELLO  WORLD", "spkA-rec1-1": "", "spkA-rec1-0": "ok"},
        segments={"spkB-rec1-0": ("spkB-rec1", 0.0, 0.25), "spkA-rec1-1": ("spkA-rec1", 0.25, 0.5),
                  "spkA-rec1-0": ("spkA-rec1", 0.0, 0.1234567)},
        utt2dur={"spkB-rec1-0": 0.25, "spkA-rec1-1": 0.25, "spkA-rec1-0": 0.1234567},
    )


def test_round_trip_all_files_sorted_and_newline_terminated(tmp_path):
    data = _full_dir(tmp_path)
    d = tmp_path / "data"
    write_data_dir(d, data)
    back = read_data_dir(d)
    assert back == data
    for name in ("wav.scp", "utt2spk", "spk2utt", "text", "segments", "utt2dur"):
        raw = (d / name).read_text()
        assert raw.endswith("\n")
        keys = [line.split()[0] for line in raw.splitlines()]
        assert keys == sorted(keys) and len(set(keys)) == len(keys), name
    assert (d / "spk2utt").read_text() == "spkA spkA-rec1-0 spkA-rec1-1\nspkB spkB-rec1-0\n"
    assert back.spk2utt() == {"spkA": ["spkA-rec1-0", "spkA-rec1-1"], "spkB": ["spkB-rec1-0"]}
    assert back.speakers() == ["spkA", "spkB"]


def test_write_removes_stale_optional_files(tmp_path):
    data = _full_dir(tmp_path)
    d = tmp_path / "data"
    write_data_dir(d, data)
    data.segments = None
    data.utt2dur = None
    data.utt2spk = {"spkA-rec1": "spkA", "spkB-rec1": "spkB"}
    data.text = None
    write_data_dir(d, data)
    assert not (d / "segments").exists() and not (d / "utt2dur").exists() and not (d / "text").exists()
    assert read_data_dir(d) == data


def test_ctm_round_trip_is_exact_and_contiguous(tmp_path):
    rate = 16000
    bounds = [0, 1, 1601, 3333, 16001]
    ali = {"u2": [PhoneInterval(bounds[i] / rate, bounds[i + 1] / rate, p) for i, p in
                  enumerate(["sil", "a", "b", "sil"])],
           "u1": [PhoneInterval(0.5, 0.75, "x"), PhoneInterval(0.0, 0.5, "y")]}
    write_ctm(tmp_path / "ctm", ali)
    back = read_ctm(tmp_path / "ctm")
    assert list(back) == ["u1", "u2"]
    assert back["u1"] == sorted(ali["u1"], key=lambda p: p.start)
    for p, q in zip(back["u2"], ali["u2"], strict=True):
        assert p.phone == q.phone
        assert abs(p.start - q.start) < 1e-9 and abs(p.end - q.end) < 1e-9
    for p, q in zip(back["u2"], back["u2"][1:], strict=False):
        assert p.end == q.start  # contiguous exactly after the round trip
    assert (tmp_path / "ctm").read_text().splitlines()[2] == "u2 1 0 0.0000625 sil"


def test_load_utterance_paths_relative_absolute_and_segments(tmp_path):
    data = _full_dir(tmp_path)
    d = tmp_path / "data"
    d.mkdir()
    (d / "a.wav").write_bytes((tmp_path / "a.wav").read_bytes())  # relative to the data dir
    write_data_dir(d, data)
    data = read_data_dir(d)
    full = make_tone(0.5)
    x = load_utterance(data, "spkA-rec1-1")
    assert x.dtype == np.float32 and x.shape == (4000,)
    assert np.allclose(x, full[4000:], atol=1e-4)
    y = load_utterance(data, "spkB-rec1-0", sample_rate=8000)
    assert y.shape == (2000,)
    with pytest.raises(VQSpeechError, match="no utterance 'nope'"):
        load_utterance(data, "nope")


def test_load_utterance_from_pipe_and_failing_pipe(tmp_path):
    wav = make_tone(0.3, rate=22050)
    sf.write(tmp_path / "x.wav", wav, 22050, subtype="FLOAT")
    py = sys.executable
    d = tmp_path / "data"
    data = DataDir(
        wav_scp={"s-ok": f"{py} -c \"import sys;sys.stdout.buffer.write(open('../x.wav','rb').read())\" |",
                 "s-bad": f"{py} -c \"import sys;sys.stderr.write('boom\\n');sys.exit(3)\" |",
                 "s-cat": f"cat {tmp_path / 'x.wav'} |"},
        utt2spk={"s-ok": "s", "s-bad": "s", "s-cat": "s"},
    )
    write_data_dir(d, data)
    data = read_data_dir(d)
    assert data.wav_scp["s-cat"].endswith(" |")
    x = load_utterance(data, "s-ok")  # relative path inside the command: cwd is the data dir
    assert x.shape == (round(0.3 * 16000),)
    from vqspeech.audio import resample

    assert np.allclose(x, resample(wav, 22050, 16000), atol=1e-5)
    assert np.array_equal(load_utterance(data, "s-cat"), x)
    with pytest.raises(VQSpeechError, match=r"utterance 's-bad': wav.scp command failed with exit code 3: boom"):
        load_utterance(data, "s-bad")


def test_missing_file_errors_name_the_utterance(tmp_path):
    d = tmp_path / "data"
    write_data_dir(d, DataDir(wav_scp={"s-1": "missing.wav"}, utt2spk={"s-1": "s"}))
    with pytest.raises(VQSpeechError, match=r"utterance 's-1': .*missing.wav: no such file"):
        load_utterance(read_data_dir(d), "s-1")


@pytest.mark.parametrize("name,content,match", [
    ("wav.scp", "a x.wav\na y.wav\n", r"wav.scp:2: duplicate key 'a'"),
    ("wav.scp", "a x.wav\nb\n", r"wav.scp:2: expected"),
    ("utt2spk", "a s extra\n", r"utt2spk:1: expected '<utt> <speaker>'"),
    ("segments", "a r 0 zz\n", r"segments:1: end 'zz' is not a number"),
    ("utt2dur", "a 1 2\n", r"utt2dur:1: expected"),
])
def test_malformed_files_name_file_and_line(tmp_path, name, content, match):
    d = tmp_path / "data"
    d.mkdir()
    (d / "wav.scp").write_text("a x.wav\n")
    (d / "utt2spk").write_text("a s\n")
    (d / name).write_text(content)
    with pytest.raises(VQSpeechError, match=match):
        read_data_dir(d)


def test_missing_dir_and_missing_files(tmp_path):
    with pytest.raises(VQSpeechError, match="no such data dir"):
        read_data_dir(tmp_path / "nope")
    (tmp_path / "d").mkdir()
    with pytest.raises(VQSpeechError, match=r"wav.scp is missing"):
        read_data_dir(tmp_path / "d")


def test_ctm_errors(tmp_path):
    (tmp_path / "ctm").write_text("u 1 0 0.1 a\nu 1 x 0.1 b\n")
    with pytest.raises(VQSpeechError, match=r"ctm:2: start 'x' is not a number"):
        read_ctm(tmp_path / "ctm")
    with pytest.raises(VQSpeechError, match="whitespace"):
        write_ctm(tmp_path / "c2", {"u": [PhoneInterval(0, 1, "a b")]})


_key = st.text(alphabet="abcXYZ019_-", min_size=1, max_size=8)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    utts=st.dictionaries(_key, st.tuples(_key, st.text(alphabet="AB C'é", max_size=12),
                                         st.integers(1, 10**6)), min_size=1, max_size=6),
    bounds=st.lists(st.integers(0, 10**6), min_size=2, max_size=8, unique=True),
)
def test_round_trip_property(tmp_path_factory, utts, bounds):
    d = tmp_path_factory.mktemp("prop")
    data = DataDir(
        wav_scp={u: f"/x/{u}.wav" for u in utts},
        utt2spk={u: s for u, (s, _, _) in utts.items()},
        text={u: " ".join(t.split()) for u, (_, t, _) in utts.items()},
        utt2dur={u: n / 16000 for u, (_, _, n) in utts.items()},
    )
    write_data_dir(d, data)
    back = read_data_dir(d)
    assert back.wav_scp == data.wav_scp and back.utt2spk == data.utt2spk and back.text == data.text
    assert back.utt2dur == pytest.approx(data.utt2dur, abs=1e-7)
    b = sorted(bounds)
    ali = {u: [PhoneInterval(b[i] / 16000, b[i + 1] / 16000, "p") for i in range(len(b) - 1)] for u in utts}
    write_ctm(d / "ctm", ali)
    got = read_ctm(d / "ctm")
    for u, phones in got.items():
        assert [p.start for p in phones] == pytest.approx([p.start for p in ali[u]], abs=1e-9)
        assert all(p.end == q.start for p, q in zip(phones, phones[1:], strict=False))
