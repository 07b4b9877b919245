"""`vqspeech data validate`: one test per rule, each asserting the file and line of the problem."""

from __future__ import annotations

import pytest
import soundfile as sf

from tests.conftest import make_tone
from vqspeech.cli import app
from vqspeech.data.kaldi import DataDir, PhoneInterval, write_ctm, write_data_dir
from vqspeech.data.validate import validate_data_dir
from vqspeech.errors import VQSpeechError


@pytest.fixture
def good(tmp_path):
    sf.write(tmp_path / "a.wav", make_tone(0.2), 16000)
    d = tmp_path / "data"
    utts = ["s1-a", "s1-b", "s2-a"]
    write_data_dir(d, DataDir(
        wav_scp={u: str(tmp_path / "a.wav") for u in utts},
        utt2spk={u: u.split("-")[0] for u in utts},
        text={u: "HELLO" for u in utts},
        utt2dur={u: 0.2 for u in utts},
    ))
    write_ctm(d / "ctm", {u: [PhoneInterval(0, 0.1, "sil"), PhoneInterval(0.1, 0.2, "a")] for u in utts})
    return d


def _problems(d, **kw):
    return [str(p) for p in validate_data_dir(d, **kw).problems]


def _one(d, expect: str, **kw):
    probs = _problems(d, **kw)
    assert len(probs) >= 1 and any(expect in p for p in probs), probs
    return probs


def test_good_dir_is_ok(good):
    rep = validate_data_dir(good)
    assert rep.ok, rep.problems
    assert (rep.utterances, rep.speakers) == (3, 2)
    assert rep.hours == pytest.approx(0.6 / 3600)


def test_required_file_missing(good):
    (good / "spk2utt").unlink()
    _one(good, "spk2utt: required file is missing")
    (good / "text").unlink()
    assert not any("text" in p for p in _problems(good, require_text=False))


def test_not_newline_terminated(good):
    (good / "text").write_text((good / "text").read_text().rstrip("\n"))
    _one(good, "text:3: last line is not newline-terminated")


def test_not_sorted(good):
    lines = (good / "utt2dur").read_text().splitlines()
    (good / "utt2dur").write_text("\n".join([lines[1], lines[0], lines[2]]) + "\n")
    _one(good, "utt2dur:2: not sorted in C order: 's1-a' comes after 's1-b'")


def test_c_order_not_locale_order(good, tmp_path):
    # C order puts upper case before lower case: "S" < "s"
    (good / "text").write_text("s1-a HELLO\ns1-b HELLO\ns2-a HELLO\nS3-x HI\n")
    _one(good, "text:4: not sorted in C order")


def test_duplicate_key(good):
    (good / "utt2dur").write_text("s1-a 0.2\ns1-a 0.2\ns1-b 0.2\ns2-a 0.2\n")
    _one(good, "utt2dur:2: duplicate key 's1-a' (first on line 1)")


def test_utterance_lists_differ(good):
    (good / "text").write_text("s1-a HELLO\ns2-a HELLO\ns3-z HELLO\n")
    probs = _problems(good)
    assert any("text:3: utterance 's3-z' is not in utt2spk" in p for p in probs), probs
    assert any("text: 1 utterance(s) of utt2spk are missing, first 's1-b'" in p for p in probs), probs


def test_wav_scp_lists_differ_without_segments(good):
    (good / "wav.scp").write_text((good / "wav.scp").read_text().splitlines()[0] + "\n")
    _one(good, "wav.scp: 2 utterance(s) of utt2spk are missing")


def test_spk2utt_inconsistent(good):
    (good / "spk2utt").write_text("s1 s1-a\ns2 s1-b s2-a\n")
    probs = _problems(good)
    assert any("spk2utt:2: utterance 's1-b' listed for speaker 's2' (utt2spk says 's1')" in p for p in probs), probs


def test_utterance_not_prefixed_by_speaker(good):
    (good / "utt2spk").write_text("s1-a s1\ns1-b s1\ns2-a s9\n")
    _one(good, "utt2spk:3: utterance id 's2-a' does not start with its speaker id 's9'")


def test_segments_unknown_recording_and_bad_times(good):
    (good / "segments").write_text("s1-a s1-a 0 0.1\ns1-b nope 0 0.1\ns2-a s2-a 0.2 0.1\n")
    probs = _problems(good)
    assert any("segments:2: recording 'nope' of 's1-b' is not in wav.scp" in p for p in probs), probs
    assert any("segments:3: end 0.1 is not after start 0.2" in p for p in probs), probs
    assert not any("segments:1" in p for p in probs), probs


def test_non_positive_duration(good):
    (good / "utt2dur").write_text("s1-a 0.2\ns1-b 0\ns2-a x\n")
    probs = _problems(good)
    assert any("utt2dur:2: duration 0 is not positive" in p for p in probs), probs
    assert any("utt2dur:3: duration 'x' is not a number" in p for p in probs), probs


def test_wrong_field_count_and_empty_line(good):
    (good / "utt2spk").write_text("s1-a s1\n\ns1-b s1 extra\ns2-a s2\n")
    probs = _problems(good)
    assert any("utt2spk:2: empty line" in p for p in probs), probs
    assert any("utt2spk:3: expected '<utt> <speaker>'" in p for p in probs), probs


def test_missing_audio_file(good):
    (good / "wav.scp").write_text("s1-a missing.wav\ns1-b cat x.wav |\ns2-a /no/such.wav\n")
    probs = _problems(good)
    assert any("wav.scp:1: audio file 'missing.wav'" in p for p in probs), probs
    assert any("wav.scp:3:" in p for p in probs) and not any("wav.scp:2:" in p for p in probs), probs


def test_not_utf8(good):
    (good / "text").write_bytes(b"s1-a HELLO\ns1-b H\xffLLO\ns2-a HELLO\n")
    _one(good, "text:2: not valid UTF-8")


def test_ctm_rules(good):
    (good / "ctm").write_text("s1-a 1 0 0.1 sil\ns1-a 1 0.1 -0.1 a\nzz 1 0 0.1 a\ns1-b 1 0 0.1 a\n")
    probs = _problems(good)
    assert any("ctm:2: negative start or duration" in p for p in probs), probs
    assert any("ctm:3: utterance 'zz' is not in utt2spk" in p for p in probs), probs
    assert any("ctm:4: not sorted" in p for p in probs), probs


def test_missing_dir_raises(tmp_path):
    with pytest.raises(VQSpeechError, match="no such data dir"):
        validate_data_dir(tmp_path / "nope")


def test_cli_ok_bad_and_missing(runner, good, tmp_path):
    r = runner.invoke(app, ["data", "validate", str(good)])
    assert r.exit_code == 0, r.output
    assert "OK (3 utterances, 2 speakers, 0.00 h)" in r.output
    (good / "utt2dur").write_text("s1-a 0.2\ns1-b -1\ns2-a 0.2\n")
    (good / "text").write_text("s1-a HELLO\n")
    r = runner.invoke(app, ["data", "validate", str(good)])
    assert r.exit_code == 2
    assert f"{good}/utt2dur:2: duration -1 is not positive" in r.stdout
    assert r.stderr.strip().splitlines() == [f"error: {good}: 2 problems found"]
    r = runner.invoke(app, ["data", "validate", str(tmp_path / "missing")])
    assert r.exit_code == 2
    assert r.stderr.strip() == f"error: {tmp_path / 'missing'}: no such data dir"
