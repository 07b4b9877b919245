"""Objective metrics, speaker identification and codec baselines: known relations on synthetic audio."""

from __future__ import annotations

import math
import os
import shutil

import numpy as np
import pytest

from vqspeech.analysis import baselines as bl
from vqspeech.analysis import metrics as m
from vqspeech.analysis import speaker_id as sid
from vqspeech.errors import VQSpeechError

SR = 16000


def speechlike(seconds: float = 1.0, f0: float = 140.0, tilt: float = 1.0, seed: int = 0) -> np.ndarray:
    """Harmonics of a gliding f0 with a spectral tilt, syllable-rate amplitude modulation, pauses."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    f = f0 * (1 + 0.1 * np.sin(2 * np.pi * 3 * t))
    phase = 2 * np.pi * np.cumsum(f) / SR
    wav = sum(np.sin(k * phase) / k ** tilt for k in range(1, 40) if k * f0 < 7500)
    env = np.clip(np.sin(2 * np.pi * 4 * t), 0, None) ** 0.5
    wav = wav * env + 0.003 * rng.standard_normal(t.size)
    return (0.3 * wav / np.abs(wav).max()).astype(np.float32)


@pytest.fixture(scope="module")
def ref():
    return speechlike()


def noisy(x: np.ndarray, level: float, seed: int = 1) -> np.ndarray:
    return (x + level * np.random.default_rng(seed).standard_normal(x.size)).astype(np.float32)


def test_identity_scores_perfect(ref):
    assert m.mcd(ref, ref) == 0.0
    assert m.mcd(ref, ref, fmax=4000) == 0.0
    assert m.lsd(ref, ref) == 0.0
    if m.have("pesq"):
        assert m.pesq_wb(ref, ref) > 4.4
    if m.have("pystoi"):
        assert m.stoi(ref, ref) > 0.99


def test_more_noise_scores_worse(ref):
    scores = [m.quality_metrics(ref, noisy(ref, lvl)) for lvl in (0.003, 0.03, 0.3)]
    for key in ("mcd", "mcd_4k", "lsd"):
        vals = [s[key] for s in scores]
        assert 0 < vals[0] < vals[1] < vals[2], (key, vals)
    for key in ("pesq", "stoi"):
        vals = [s[key] for s in scores]
        if vals[0] is not None:
            assert vals[0] > vals[1] > vals[2], (key, vals)
            assert vals[0] < (4.65 if key == "pesq" else 1.0 + 1e-9)


def test_mcd_is_level_normalised_and_lsd_is_not(ref):
    assert m.mcd(ref, 0.25 * ref) == pytest.approx(0.0, abs=1e-6)
    # a gain a changes every power bin by 20 log10(a) dB (well above the floor)
    assert m.lsd(ref, 0.5 * ref) == pytest.approx(20 * math.log10(2), rel=1e-3)


def test_mcd_constant_and_symmetry(ref):
    other = noisy(ref, 0.03)
    a, b = m.mel_cepstrum(ref)[:, 1:], m.mel_cepstrum(other)[:, 1:]  # c0 excluded
    n = min(len(a), len(b))
    expected = 10 / math.log(10) * math.sqrt(2) * np.mean(np.sqrt(((a[:n] - b[:n]) ** 2).sum(axis=1)))
    assert m.mcd(ref, other, dtw=False) == pytest.approx(expected, rel=1e-9)
    assert m.mcd(ref, other, dtw=False) == pytest.approx(m.mcd(other, ref, dtw=False), rel=1e-9)
    assert m.mel_cepstrum(ref, silence_db=None).shape[1] == m.N_MCEP + 1


def test_dtw_absorbs_a_local_time_warp(ref):
    # a voiced stretch played twice: frame-by-frame comparison slips from there on, DTW re-aligns
    warped = np.r_[ref[:1600], ref[400:1600], ref[1600:]]
    with_dtw, without = m.mcd(ref, warped), m.mcd(ref, warped, dtw=False)
    assert with_dtw < 0.5 * without


def test_narrowband_copy_is_fair_on_0_4khz(ref):
    from vqspeech.audio import resample

    nb = resample(resample(ref, SR, 8000), 8000, SR)[: ref.size]
    full, low = m.mcd(ref, nb), m.mcd(ref, nb, fmax=4000)
    assert low < 1.5 < full
    # the missing 4-8 kHz band costs a bounded amount: less than replacing the signal by white noise
    assert full < m.mcd(ref, noisy(np.zeros_like(ref), 0.1))


def test_align_delay_recovers_lag(ref):
    for lag in (37, -250, 0):
        shifted = np.r_[np.zeros(lag, dtype=np.float32), ref][: ref.size] if lag >= 0 else np.r_[ref[-lag:], np.zeros(-lag)]
        aligned, found = m.align_delay(ref, shifted)
        assert found == lag
        assert aligned.shape == ref.shape


@pytest.mark.parametrize("bad,msg", [(np.zeros((2, 4000)), "1-D"), (np.zeros(100), "too short"),
                                     (np.full(4000, np.nan), "NaN")])
def test_bad_input_is_a_clear_error(ref, bad, msg):
    with pytest.raises(VQSpeechError, match=msg):
        m.mcd(ref, bad)


def test_missing_optional_packages_are_noted(ref, monkeypatch):
    monkeypatch.setattr(m, "have", lambda pkg: pkg not in ("pesq", "pystoi"))
    assert m.pesq_wb(ref, ref) is None and m.stoi(ref, ref) is None
    notes = m.missing_metric_notes()
    assert len(notes) == 2 and "PESQ" in notes[0] and "STOI" in notes[1]
    with pytest.raises(VQSpeechError, match="16 kHz"):
        m.pesq_wb(ref, ref, 8000)


def test_stoi_of_too_short_audio_is_none(ref):
    if not m.have("pystoi"):
        pytest.skip("pystoi not installed")
    assert m.stoi(ref[:3000], ref[:3000]) is None  # pystoi needs ~30 frames of speech


def test_summarize_skips_missing():
    s = m.summarize([1.0, None, 3.0, float("nan")])
    assert s == {"mean": 2.0, "std": 1.0, "median": 2.0, "n": 2}
    assert m.summarize([None])["n"] == 0


def _speakers():
    """Three synthetic 'speakers': different pitch and spectral tilt; utterances vary in f0 and noise."""
    return {"low": (95.0, 0.6), "mid": (160.0, 1.2), "high": (260.0, 2.0)}


@pytest.mark.parametrize("embedder", ["mcep", pytest.param("resemblyzer", marks=pytest.mark.slow)])
def test_speaker_identification_of_distinct_voices(embedder, request):
    if embedder == "resemblyzer":
        if not m.have("resemblyzer"):
            pytest.skip("resemblyzer not installed")
        selected = request.config.getoption("-m") or ""
        if "slow" not in selected.replace("not slow", "") and not os.environ.get("VQSPEECH_SLOW_TESTS"):
            pytest.skip("slow (loads the resemblyzer encoder, ~10-40 s): run with -m slow or VQSPEECH_SLOW_TESTS=1")
    refs = {s: [sid.embed(speechlike(0.8, f0 * (1 + 0.03 * i), tilt, seed=i), embedder) for i in range(2)]
            for s, (f0, tilt) in _speakers().items()}
    cents = sid.centroids(refs)
    for s, (f0, tilt) in _speakers().items():
        e = sid.embed(speechlike(0.8, f0 * 0.98, tilt, seed=7), embedder)
        who, sims = sid.identify(e, cents)
        assert who == s, sims
        assert sims[s] == pytest.approx(sid.cosine(e, cents[s]))
    assert all(abs(np.linalg.norm(c) - 1) < 1e-5 for c in cents.values())
    assert sid.leave_one_out_accuracy(refs) == 1.0
    assert sid.leave_one_out_accuracy({s: e[:1] for s, e in refs.items()}) is None  # one utterance each


def test_embedder_resolution(monkeypatch):
    monkeypatch.setattr(sid, "have", lambda pkg: False)
    name, note = sid.resolve_embedder("auto")
    assert name == "mcep" and "resemblyzer" in note
    with pytest.raises(VQSpeechError, match="not installed"):
        sid.resolve_embedder("resemblyzer")
    with pytest.raises(VQSpeechError, match="embedder 'x'"):
        sid.resolve_embedder("x")
    with pytest.raises(VQSpeechError, match="no speaker centroids"):
        sid.identify(np.ones(3), {})


def test_baselines_skipped_with_a_note_when_absent(monkeypatch):
    monkeypatch.setattr(bl.shutil, "which", lambda name: None)
    ok, notes = bl.available_baselines()
    assert ok == []
    assert len(notes) == 2 and "codec2" in notes[0] and "opus-tools" in notes[1]
    monkeypatch.setattr(bl.shutil, "which", lambda name: None if name.startswith("opus") else "/bin/" + name)
    ok, notes = bl.available_baselines()
    assert [b.name for b in ok] == ["codec2-3200", "codec2-2400", "codec2-1200", "codec2-700C"]
    assert len(notes) == 1 and "opusenc" in notes[0]
    with pytest.raises(VQSpeechError, match="unknown baseline"):
        bl.available_baselines(["mp3-128k"])


@pytest.mark.parametrize("name", ["codec2-3200", "opus-9k"])
def test_baseline_round_trip_when_installed(ref, name):
    b = {b.name: b for b in bl.BASELINES}[name]
    if any(shutil.which(t) is None for t in b.tools):
        pytest.skip(f"{b.tools} not installed")
    y, bits = bl.run_baseline(b, ref)
    assert y.shape == ref.shape and y.dtype == np.float32
    seconds = ref.size / SR
    if b.codec == "codec2":  # a fixed-rate codec: the nominal bitrate (whole 40 ms frames)
        assert abs(bits - b.kbps * 1000 * seconds) <= 64 + b.kbps * 1000 * 0.04
    aligned, _ = m.align_delay(ref, y, waveform=b.codec == "opus")
    assert m.mcd(ref, aligned, fmax=4000) < m.mcd(ref, noisy(ref, 0.3), fmax=4000)
