"""VCTK preparation on fake 0.80 and 0.92 trees (48 kHz tones padded with near-silence, p315 without
text): outputs, trimming, mic choice, 16 kHz copies, the seeded per-speaker split, CLI bad input."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given
from hypothesis import strategies as st

from vqspeech.data.kaldi import load_utterance, read_data_dir
from vqspeech.data.validate import validate_data_dir
from vqspeech.data.vctk import PARTS, prepare_vctk, split_counts, trim_bounds

SR = 48000
LEAD = 0.15  # seconds of near-silence before and after the tone


def _utt_audio(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    tone = 0.4 * np.sin(2 * np.pi * 300 * t)
    quiet = np.zeros(int(LEAD * SR))
    wav = np.concatenate([quiet, tone, quiet])
    return (wav + 1e-4 * rng.standard_normal(wav.size)).astype(np.float32)


def make_vctk(root, version="0.80", speakers=("p225", "p226"), n=6, p315=True):
    """A fake corpus. Tones last 0.3 s (0.80 and 0.92 mic2) or 0.2 s (0.92 mic1)."""
    spks = list(speakers) + (["p315"] if p315 else [])
    for si, spk in enumerate(spks):
        for i in range(1, n + 1):
            stem = f"{spk}_{i:03d}"
            if spk != "p315":
                (root / "txt" / spk).mkdir(parents=True, exist_ok=True)
                (root / "txt" / spk / f"{stem}.txt").write_text(f"Please call Stella {i}.\n")
            if version == "0.80":
                d = root / "wav48" / spk
                d.mkdir(parents=True, exist_ok=True)
                sf.write(d / f"{stem}.wav", _utt_audio(0.3, si * 100 + i), SR)
            else:
                d = root / "wav48_silence_trimmed" / spk
                d.mkdir(parents=True, exist_ok=True)
                sf.write(d / f"{stem}_mic1.flac", _utt_audio(0.2, si * 100 + i), SR)
                sf.write(d / f"{stem}_mic2.flac", _utt_audio(0.3, si * 100 + i), SR)
    return root


def _validate(path):
    report = validate_data_dir(path)
    assert report.ok, [str(p) for p in report.problems]
    assert report.utterances > 0 and report.hours is not None and report.hours > 0


def _lhotse(path, n_utts, rate):
    kaldi = pytest.importorskip("lhotse.kaldi")
    recs, sups, _ = kaldi.load_kaldi_data_dir(path, sampling_rate=rate)
    assert len(sups) == n_utts
    return recs, sups


def test_trim_bounds():
    rate = 16000
    wav = np.zeros(rate, dtype=np.float32)
    wav[4000:12000] = 0.5 * np.sin(np.arange(8000) * 0.1)
    s, e = trim_bounds(wav, rate, pad=0.0)
    assert 4000 - 400 <= s <= 4000 and 12000 <= e <= 12000 + 400  # within one 25 ms frame, outside
    s2, e2 = trim_bounds(wav, rate, pad=0.1)
    assert s2 == max(0, s - 1600) and e2 == min(rate, e + 1600)
    assert trim_bounds(np.zeros(8000), rate) == (0, 8000)  # all silent: untouched
    assert trim_bounds(np.ones(10), rate) == (0, 10)  # shorter than a frame
    assert trim_bounds(np.full(8000, np.nan), rate) == (0, 8000)


@given(st.integers(0, 500), st.lists(st.floats(0, 1), min_size=3, max_size=3).filter(lambda f: sum(f) > 0.01))
def test_split_counts(n, fractions):
    counts = split_counts(n, fractions)
    assert sum(counts) == n and all(c >= 0 for c in counts)
    positive = [i for i, f in enumerate(fractions) if f > 0]
    if n >= 2 * len(positive):
        assert all(counts[i] >= 1 for i in positive)
    for i, f in enumerate(fractions):
        if f == 0:
            assert counts[i] == 0


def test_prepare_080_segments(tmp_path):
    src = make_vctk(tmp_path / "VCTK-Corpus", "0.80", n=8)
    outs = prepare_vctk(tmp_path, tmp_path / "data")  # the parent of VCTK-Corpus/ works too
    dirs = {p: read_data_dir(outs[p]) for p in PARTS}
    utts = [u for d in dirs.values() for u in d.utterances()]
    assert sorted(utts) == sorted(f"{s}-{s}_{i:03d}" for s in ("p225", "p226") for i in range(1, 9))
    for part, d in dirs.items():
        _validate(outs[part])
        assert d.speakers() == ["p225", "p226"]  # every speaker in every part
        assert all(u.startswith(d.utt2spk[u] + "-") for u in d.utterances())
        for utt in d.utterances():
            reco, start, end = d.segments[utt]
            assert reco == utt and d.wav_scp[reco] == str(src / "wav48" / d.utt2spk[utt] / f"{utt.split('-')[1]}.wav")
            assert LEAD - 0.1 - 0.025 - 0.002 <= start <= LEAD - 0.1 + 0.002
            assert LEAD + 0.4 - 0.002 <= end <= LEAD + 0.4 + 0.025 + 0.002
            assert d.utt2dur[utt] == pytest.approx(end - start, abs=1e-3)
            wav = load_utterance(d, utt, 16000)
            assert abs(wav.size / 16000 - (end - start)) < 1e-3
            assert d.text[utt].startswith("Please call Stella")
        _lhotse(outs[part], len(d.utterances()), SR)
    assert [len(dirs[p].utterances()) for p in PARTS] == [12, 2, 2]
    # no temp dirs left beside the outputs
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["dev", "test", "train"]


def test_prepare_092_mics_and_flac16k(tmp_path):
    src = make_vctk(tmp_path / "vctk", "0.92", n=4)
    o2 = prepare_vctk(src, tmp_path / "d2", mic="mic2", split=(1, 0, 0))
    o1 = prepare_vctk(src, tmp_path / "d1", mic="mic1", split=(1, 0, 0))
    d2, d1 = read_data_dir(o2["train"]), read_data_dir(o1["train"])
    assert d1.utterances() == d2.utterances() and len(d1.utterances()) == 8
    assert all(d2.wav_scp[u].endswith("_mic2.flac") for u in d2.utterances())
    assert all(d1.wav_scp[u].endswith("_mic1.flac") for u in d1.utterances())
    for u in d1.utterances():
        assert d2.utt2dur[u] - d1.utt2dur[u] == pytest.approx(0.1, abs=0.03)  # the longer mic2 tone
    assert read_data_dir(o2["dev"]).utterances() == []

    of = prepare_vctk(src, tmp_path / "df", flac16k=True, split=(2, 1, 1))
    df = read_data_dir(of["train"])
    assert df.segments is None
    for u in df.utterances():
        path = tmp_path / "df" / "flac16k" / df.utt2spk[u] / f"{u}.flac"
        assert df.wav_scp[u] == str(path.absolute())
        info = sf.info(path)
        assert info.samplerate == 16000 and info.channels == 1
        assert info.frames == round(df.utt2dur[u] * 16000)
        # trimmed to the tone + 2 x 0.1 s pad, give or take one 25 ms frame at each end
        assert 0.3 + 0.2 - 0.002 <= info.frames / 16000 <= 0.3 + 0.2 + 0.05 + 0.002
    _validate(of["train"])
    _lhotse(of["train"], len(df.utterances()), 16000)

    on = prepare_vctk(src, tmp_path / "dn", trim=False, split=(1, 0, 0))
    dn = read_data_dir(on["train"])
    assert dn.segments is None and all(v == pytest.approx(0.6, abs=1e-3) for v in dn.utt2dur.values())


def test_split_is_seeded_and_per_speaker(tmp_path):
    src = make_vctk(tmp_path / "vctk", "0.80", n=20, p315=False)

    def split(seed, name, speakers=None):
        outs = prepare_vctk(src, tmp_path / name, seed=seed, trim=False, split=(0.6, 0.2, 0.2),
                            speakers=speakers)
        return {p: read_data_dir(outs[p]).utterances() for p in PARTS}

    a, b, c = split(0, "a"), split(0, "b"), split(1, "c")
    assert a == b and a != c
    assert [len(a[p]) for p in PARTS] == [24, 8, 8]
    only = split(0, "only", ["p226"])  # other speakers do not change a speaker's split
    assert only == {p: [u for u in a[p] if u.startswith("p226-")] for p in PARTS}


# ------------------------------------------------------------------------------------------------ CLI
def test_cli_vctk(tmp_path, runner):
    from vqspeech.cli import app

    src = make_vctk(tmp_path / "vctk", "0.92", n=4)
    data = tmp_path / "data"
    r = runner.invoke(app, ["prepare", "vctk", str(src), str(data), "--mic", "mic1", "--seed", "3"])
    assert r.exit_code == 0, r.output
    assert "p315" in r.stderr and "no transcripts" in r.stderr
    assert read_data_dir(data / "train").utterances()
    r = runner.invoke(app, ["prepare", "vctk", str(src), str(data)])
    assert r.exit_code == 2 and "exists (use --force" in r.stderr
    r = runner.invoke(app, ["prepare", "vctk", str(src), str(data), "--force", "--flac16k"])
    assert r.exit_code == 0, r.output
    assert (data / "flac16k").is_dir()
    r = runner.invoke(app, ["prepare", "vctk", "--help"])
    assert "--flac16k" in r.output and "Examples" in r.output
    assert r.exit_code == 0


def test_cli_vctk_bad_input(tmp_path, runner):
    from vqspeech.cli import app

    data = tmp_path / "data"
    r = runner.invoke(app, ["prepare", "vctk", str(tmp_path / "nope"), str(data)])
    assert r.exit_code == 2 and "nope: no such directory" in r.stderr
    (tmp_path / "empty" / "wavs").mkdir(parents=True)
    r = runner.invoke(app, ["prepare", "vctk", str(tmp_path / "empty"), str(data)])
    assert r.exit_code == 2 and "not a VCTK corpus" in r.stderr and "wav48_silence_trimmed/" in r.stderr
    src = make_vctk(tmp_path / "vctk", "0.80", n=3, p315=False)
    r = runner.invoke(app, ["prepare", "vctk", str(src), str(data), "--split", "0.9,x"])
    assert r.exit_code == 2 and "--split" in r.stderr
    r = runner.invoke(app, ["prepare", "vctk", str(src), str(data), "--mic", "mic3"])
    assert r.exit_code == 2 and "mic3" in r.stderr
    bad = src / "wav48" / "p226" / "p226_002.wav"
    bad.write_bytes(b"RIFF not really a wav")
    r = runner.invoke(app, ["prepare", "vctk", str(src), str(data)])
    last = r.stderr.strip().splitlines()[-1]
    assert r.exit_code == 2 and last.startswith(f"error: {bad}: not a readable audio file")
    assert not data.exists() or list(data.iterdir()) == []  # nothing half-written, no temp dirs left
    r = runner.invoke(app, ["prepare", "vctk", str(src), str(data), "--no-trim"])  # header unreadable too
    assert r.exit_code == 2 and str(bad) in r.stderr
    assert not data.exists() or list(data.iterdir()) == []
    nan = np.full(4800, np.nan, dtype=np.float32)
    for flag in ([], ["--flac16k"]):
        sf.write(bad, nan, SR, subtype="FLOAT")
        r = runner.invoke(app, ["prepare", "vctk", str(src), str(data), *flag])
        assert r.exit_code == 2 and f"{bad}: audio contains NaN or infinite samples" in r.stderr
        assert not data.exists() or list(data.iterdir()) == []


def test_jobs_give_identical_output(tmp_path):
    src = make_vctk(tmp_path / "vctk", "0.80", n=3, p315=False)
    one = prepare_vctk(src, tmp_path / "one", jobs=1)
    two = prepare_vctk(src, tmp_path / "two", jobs=2)
    for part in PARTS:
        files = sorted(p.name for p in one[part].iterdir())
        assert files == sorted(p.name for p in two[part].iterdir()) and "segments" in files
        for name in files:
            assert (one[part] / name).read_text() == (two[part] / name).read_text()


def test_outputs_follow_the_umask(tmp_path):
    import os
    import stat

    src = make_vctk(tmp_path / "vctk", "0.80", n=3, p315=False)
    old = os.umask(0o022)
    try:
        outs = prepare_vctk(src, tmp_path / "data", flac16k=True)
    finally:
        os.umask(old)
    flac = next((tmp_path / "data" / "flac16k").rglob("*.flac"))
    for path, mode in [(outs["train"], 0o755), (outs["train"] / "wav.scp", 0o644),
                       (tmp_path / "data" / "flac16k", 0o755), (flac, 0o644)]:
        assert stat.S_IMODE(path.stat().st_mode) == mode, path
