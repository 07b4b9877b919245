"""LibriSpeech preparation on a fake tree (tiny 16 kHz flac files), MFA TextGrid alignments -> ctm,
the CLI and its bad-input errors."""

from __future__ import annotations

import logging

import pytest

from tests.conftest import write_fake_librispeech
from vqspeech.data.alignments import write_textgrid
from vqspeech.data.kaldi import PhoneInterval, load_utterance, read_ctm, read_data_dir
from vqspeech.data.librispeech import prepare_librispeech
from vqspeech.data.validate import validate_data_dir
from vqspeech.errors import VQSpeechError

SR = 16000
# part -> speaker -> chapter -> number of utterances
TREE = {"dev-clean": {"84": {"121123": 3}, "174": {"50561": 2}}, "test-clean": {"1089": {"134686": 2}}}


def _dur(utt: str) -> float:
    return 0.2 + 0.05 * int(utt[-1])  # 0.2, 0.25, 0.3 s: distinct durations per utterance


def make_libri(root, tree=TREE):
    write_fake_librispeech(root, tree, lambda utt, i: _dur(utt))
    return root


def _utts(part):
    return sorted(f"{spk}-{ch}-{i:04d}" for spk, chs in TREE[part].items() for ch, n in chs.items() for i in range(n))


def _validate(path):
    report = validate_data_dir(path)
    assert report.ok, [str(p) for p in report.problems]
    assert report.utterances > 0 and report.hours is not None and report.hours > 0


def test_prepare_parts(tmp_path):
    src = make_libri(tmp_path / "corpus")
    outs = prepare_librispeech(src, tmp_path / "data")  # all parts found; src holds LibriSpeech/
    assert sorted(outs) == ["dev-clean", "test-clean"]
    assert outs["dev-clean"] == (tmp_path / "data" / "dev_clean").absolute()
    for part, out in outs.items():
        d = read_data_dir(out)
        assert d.utterances() == _utts(part)
        assert d.speakers() == sorted(TREE[part])
        for utt in d.utterances():
            assert d.utt2spk[utt] == utt.split("-")[0]
            assert d.text[utt].startswith("GO DO YOU HEAR")
            assert d.utt2dur[utt] == pytest.approx(_dur(utt), abs=1e-4)
            assert load_utterance(d, utt).size == round(_dur(utt) * SR)
        assert d.segments is None and not (out / "ctm").exists()
        _validate(out)
        kaldi = pytest.importorskip("lhotse.kaldi")
        recs, sups, _ = kaldi.load_kaldi_data_dir(out, sampling_rate=SR)
        assert sorted(recs.ids) == _utts(part) and len(sups) == len(_utts(part))
    only = prepare_librispeech(src / "LibriSpeech", tmp_path / "d2", parts=["test-clean"])
    assert list(only) == ["test-clean"] and read_data_dir(only["test-clean"]).utterances() == _utts("test-clean")


def test_alignments_to_ctm(tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(logging.getLogger("vqspeech"), "propagate", True)  # the CLI turns it off
    src = make_libri(tmp_path / "corpus")
    ali = tmp_path / "mfa"
    for utt in _utts("dev-clean")[:-1]:  # MFA failed on the last one
        spk = utt.split("-")[0]
        (ali / spk).mkdir(parents=True, exist_ok=True)
        d = _dur(utt)
        write_textgrid(ali / spk / f"{utt}.TextGrid",
                       [PhoneInterval(0.05, d / 2, "HH"), PhoneInterval(d / 2, d - 0.05, "AH0")], max_time=d)
    outs = prepare_librispeech(src, tmp_path / "data", parts=["dev-clean", "test-clean"], alignments=ali)
    ctm = read_ctm(outs["dev-clean"] / "ctm")
    assert sorted(ctm) == _utts("dev-clean")[:-1]
    for utt, phones in ctm.items():
        d = _dur(utt)
        assert [p.phone for p in phones] == ["sil", "HH", "AH0", "sil"]  # empty TextGrid intervals -> sil
        assert phones[0].start == 0 and phones[-1].end == pytest.approx(d, abs=1e-6)
    assert not (outs["test-clean"] / "ctm").exists()
    assert "1 of 5 utterances have no alignment" in caplog.text
    assert "test-clean: none of its 2 utterances has an alignment" in caplog.text
    _validate(outs["dev-clean"])


def test_library_errors(tmp_path):
    src = make_libri(tmp_path / "c")
    with pytest.raises(VQSpeechError, match="train-clean-100: no such part directory"):
        prepare_librispeech(src, tmp_path / "d", parts=["train-clean-100"])
    with pytest.raises(VQSpeechError, match="not a part name"):
        prepare_librispeech(src, tmp_path / "d", parts=["../x"])
    tr = src / "LibriSpeech" / "dev-clean" / "84" / "121123" / "84-121123.trans.txt"
    tr.write_text("84-121123-0000 HELLO\n99-1-0001 WRONG SPEAKER\n")
    with pytest.raises(VQSpeechError, match=r"84-121123.trans.txt:2: .*does not start with the speaker 84-"):
        prepare_librispeech(src, tmp_path / "d", parts=["dev-clean"])
    assert not (tmp_path / "d").exists() or list((tmp_path / "d").iterdir()) == []


# ------------------------------------------------------------------------------------------------ CLI
def test_cli_librispeech(tmp_path, runner):
    from vqspeech.cli import app

    src = make_libri(tmp_path / "corpus")
    data = tmp_path / "data"
    r = runner.invoke(app, ["prepare", "librispeech", str(src), str(data), "--parts", "dev-clean"])
    assert r.exit_code == 0, r.output
    assert str(data.absolute() / "dev_clean") in r.stdout and not (data / "test_clean").exists()
    assert read_data_dir(data / "dev_clean").utterances() == _utts("dev-clean")
    r = runner.invoke(app, ["prepare", "librispeech", str(src), str(data), "--parts", "dev-clean,test-clean"])
    assert r.exit_code == 2 and "dev_clean: exists (use --force" in r.stderr
    assert not (data / "test_clean").exists()  # refused before anything was written
    r = runner.invoke(app, ["prepare", "librispeech", str(src), str(data), "--parts", "dev-clean,test-clean",
                            "--force"])
    assert r.exit_code == 0, r.output
    assert read_data_dir(data / "test_clean").utterances() == _utts("test-clean")


def test_cli_librispeech_bad_input(tmp_path, runner):
    from vqspeech.cli import app

    data = tmp_path / "data"

    def run(*args):
        r = runner.invoke(app, ["prepare", "librispeech", *map(str, args)])
        assert r.exit_code == 2, r.output
        return r.stderr.strip().splitlines()[-1]

    assert run(tmp_path / "nope", data).startswith(f"error: {tmp_path / 'nope'}: no such directory")
    (tmp_path / "flat").mkdir()
    assert "not a LibriSpeech corpus: expected part directories" in run(tmp_path / "flat", data)
    wrong = tmp_path / "wrong" / "dev-clean"
    wrong.mkdir(parents=True)
    (wrong / "84-121123-0000.flac").write_bytes(b"")
    assert "wrong layout" in run(tmp_path / "wrong", data, "--parts", "dev-clean")
    src = make_libri(tmp_path / "corpus")
    bad = src / "LibriSpeech" / "test-clean" / "1089" / "134686" / "1089-134686-0001.flac"
    bad.write_bytes(b"fLaC broken")
    line = run(src, data)
    assert line.startswith(f"error: {bad}: not a readable audio file")
    assert not data.exists() or list(data.iterdir()) == []  # no part written, no temp dirs left
    assert f"{tmp_path / 'noali'}: no such directory" in run(src, data, "--parts", "dev-clean", "--alignments",
                                                             tmp_path / "noali")
    (tmp_path / "ali").mkdir()
    assert "no .textgrid files found" in run(src, data, "--parts", "dev-clean", "--alignments", tmp_path / "ali")
    assert "--parts" in run(src, data, "--parts", ",")
