"""The synthetic corpus: exact alignments, byte-identical reruns, checked voices, lhotse and CLI."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from vqspeech.cli import app
from vqspeech.data.kaldi import read_ctm, read_data_dir
from vqspeech.data.sentences import sentence, transcript
from vqspeech.data.synth import build_synth_corpus, parse_speakers, phone_intervals
from vqspeech.data.validate import validate_data_dir
from vqspeech.errors import VQSpeechError

SPEAKERS = [("us_f2", "en-us+f2"), ("gb_m3", "en+m3")]  # f2 has eSpeak's non-reproducible breath noise
SPLITS = ("train", "dev", "test", "parallel")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "data"
    summary = build_synth_corpus(out, SPEAKERS, utts_per_speaker=3, parallel_sentences=1, seed=7, jobs=2)
    return out, summary


def test_layout_and_summary(corpus):
    out, summary = corpus
    assert summary.utterances == 2 * (3 + 1) and summary.speakers == 2
    for split in SPLITS:
        assert validate_data_dir(out / split).ok, validate_data_dir(out / split).problems
    counts = {s: len(read_data_dir(out / s).utt2spk) for s in SPLITS}
    assert counts == {"train": 2, "dev": 2, "test": 2, "parallel": 2}
    wavs = sorted(p.relative_to(out).as_posix() for p in (out / "wav").rglob("*.wav"))
    assert len(wavs) == 8 and "wav/us_f2/us_f2-par0000.wav" in wavs
    assert not list(out.parent.glob(".data.*"))  # the temp build dir was renamed, nothing left over
    total = sum(sum(read_data_dir(out / s).utt2dur.values()) for s in SPLITS)
    assert summary.hours == pytest.approx(total / 3600)


def test_alignments_cover_the_audio_exactly(corpus):
    out, _ = corpus
    for split in SPLITS:
        data = read_data_dir(out / split)
        ctm = read_ctm(out / split / "ctm")
        assert sorted(ctm) == data.utterances()
        for utt in data.utterances():
            assert utt.startswith(data.utt2spk[utt] + "-")
            info = sf.info(data.wav_scp[utt])
            assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
            seconds = info.frames / 16000
            assert 2.0 <= seconds <= 8.0
            assert data.utt2dur[utt] == pytest.approx(seconds, abs=1e-7)
            phones = ctm[utt]
            assert phones[0].start == 0.0
            assert all(a.end == b.start for a, b in zip(phones, phones[1:], strict=False))
            assert abs(phones[-1].end - seconds) <= 1 / 16000
            assert all(p.end > p.start for p in phones)
            assert phones[0].phone == "sil" and phones[-1].phone == "sil"
            assert len([p for p in phones if p.phone != "sil"]) >= 10
            # silence in the audio where the alignment says sil at the edges; speech inside
            wav, _ = sf.read(data.wav_scp[utt], dtype="float32")
            lead = wav[: int(phones[0].end * 16000)]
            assert np.max(np.abs(lead)) < 0.01 < np.max(np.abs(wav))


def test_text_and_parallel_set(corpus):
    out, _ = corpus
    par = read_data_dir(out / "parallel")
    assert len(set(par.text.values())) == 1  # every speaker reads the same sentence
    train = read_data_dir(out / "train")
    assert all(t == t.upper() and t for t in train.text.values())


def test_same_seed_gives_identical_bytes(corpus, tmp_path):
    out, _ = corpus
    again = tmp_path / "again"
    build_synth_corpus(again, SPEAKERS, utts_per_speaker=3, parallel_sentences=1, seed=7, jobs=1)
    for wav in (out / "wav").rglob("*.wav"):
        assert (again / wav.relative_to(out)).read_bytes() == wav.read_bytes(), wav.name
    for split in SPLITS:
        for name in ("ctm", "text", "utt2dur", "utt2spk", "spk2utt"):
            assert (again / split / name).read_bytes() == (out / split / name).read_bytes()


def test_other_seed_differs(corpus, tmp_path):
    out, _ = corpus
    other = tmp_path / "other"
    build_synth_corpus(other, SPEAKERS[:1], utts_per_speaker=3, parallel_sentences=1, seed=8)
    a = read_data_dir(out / "train").text
    b = read_data_dir(other / "train").text
    assert set(a.values()).isdisjoint(b.values())


@pytest.mark.parametrize("voice,match", [
    ("en-us+nosuchvariant", r"espeak voice 'en-us\+nosuchvariant': unknown variant 'nosuchvariant'"),
    ("zz-nolanguage", r"espeak voice 'zz-nolanguage': unknown voice"),
])
def test_bad_voice_is_a_clear_error(tmp_path, voice, match):
    with pytest.raises(VQSpeechError, match=match):
        build_synth_corpus(tmp_path / "d", [("x", voice)], utts_per_speaker=3, parallel_sentences=1)
    assert not (tmp_path / "d").exists()


def test_parse_speakers():
    assert parse_speakers(None)[0] == ("us_m1", "en-us+m1")
    assert len(parse_speakers(None)) == 8
    assert parse_speakers("gb_f4, my=en-us+f3") == [("gb_f4", "en+f4"), ("my", "en-us+f3")]
    with pytest.raises(VQSpeechError, match="unknown speaker id 'nope'"):
        parse_speakers("nope")
    with pytest.raises(VQSpeechError, match="given twice"):
        parse_speakers("us_m1,us_m1")
    with pytest.raises(VQSpeechError, match="bad entry"):
        parse_speakers("a-b=en-us")


def test_phone_intervals_convert_rates_and_merge_pauses():
    class Ev:
        def __init__(self, sample, phoneme):
            self.sample, self.phoneme = sample, phoneme

    events = [Ev(220, "h"), Ev(441, "'@"), Ev(882, "_:"), Ev(900, "_"), Ev(1000, ",oU"), Ev(2205, "_")]
    out = phone_intervals(events, 2205, 22050, 16000, 1600)
    assert out == [(0, 160, "sil"), (160, 320, "h"), (320, 640, "@"), (640, 726, "sil"), (726, 1600, "oU")]


def test_sentences_are_deterministic():
    assert sentence(1, "a") == sentence(1, "a") != sentence(2, "a")
    lengths = [len(sentence(0, str(i)).split()) for i in range(300)]
    assert min(lengths) >= 6 and max(lengths) <= 17
    assert transcript("Hello, world? It's ok.") == "HELLO WORLD IT'S OK"


def test_lhotse_reads_our_dirs(corpus):
    kaldi = pytest.importorskip("lhotse.kaldi")
    out, _ = corpus
    recordings, supervisions, _ = kaldi.load_kaldi_data_dir(out / "train", sampling_rate=16000)
    data = read_data_dir(out / "train")
    assert sorted(r.id for r in recordings) == data.utterances()
    for sup in supervisions:
        assert sup.speaker == data.utt2spk[sup.id]
        assert sup.duration == pytest.approx(data.utt2dur[sup.id], abs=1e-3)
        assert sup.text == data.text[sup.id]


def test_cli_prepare_synth(runner, tmp_path):
    out = tmp_path / "cli"
    args = ["prepare", "synth", str(out), "--utts-per-speaker", "3", "--parallel-sentences", "1",
            "--speakers", "gb_m3", "--seed", "3"]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert f"{out}: 4 utterances, 1 speakers" in r.stdout
    assert (out / "train" / "ctm").is_file()
    r = runner.invoke(app, args)
    assert r.exit_code == 2
    assert r.stderr.strip() == f"error: {out}: exists (use --force to overwrite)"
    r = runner.invoke(app, [*args, "--force"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["prepare", "synth", str(tmp_path / "x"), "--speakers", "nope"])
    assert r.exit_code == 2
    assert r.stderr.strip().splitlines() == [
        "error: --speakers: unknown speaker id 'nope' (known: us_m1, us_f2, gb_m3, gb_f4, us_m5, car_f1, "
        "sc_m2, us_klatt3; or give id=voice, e.g. my_f3=en-us+f3)"]
    (tmp_path / "afile").write_text("")
    r = runner.invoke(app, ["prepare", "synth", str(tmp_path / "afile" / "x"), "--utts-per-speaker", "3",
                            "--speakers", "gb_m3"])
    assert r.exit_code == 2
    assert r.stderr.strip().startswith(f"error: {tmp_path / 'afile' / 'x'}: cannot write it: a parent path is a file")
    assert len(r.stderr.strip().splitlines()) == 1
    r = runner.invoke(app, ["data", "validate", str(out / "dev")])
    assert r.exit_code == 0 and "OK (1 utterances, 1 speakers" in r.stdout
