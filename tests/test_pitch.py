"""Pitch trackers on signals with known F0, the metrics, and the F0 cache."""

from __future__ import annotations

import numpy as np
import pytest

from vqspeech.errors import VQSpeechError
from vqspeech.pitch import pitch_scores, track_f0
from vqspeech.pitch.metrics import compare_pitch, median_f0, pool_scores, semitones
from vqspeech.pitch.signals import pulse_train, silence, sine_sweep, vibrato, voiced_gaps, white_noise

SR, HOP = 16000, 64


@pytest.mark.parametrize("make", [lambda: pulse_train(100.0, 1.0), lambda: pulse_train(220.0, 1.0),
                                  lambda: vibrato(150.0, 1.5), lambda: sine_sweep(80.0, 400.0, 2.0),
                                  lambda: voiced_gaps(130.0, 2.0)])
def test_default_tracker_finds_known_f0(make):
    wav, f0 = make()
    est, voiced = track_f0(wav, SR, HOP)
    assert est.shape == f0.shape and voiced.dtype == bool
    edge = 20  # 80 ms: the analysis window needs a few periods at the file's ends
    assert pitch_scores(f0, est).vde < 0.08
    s = pitch_scores(f0[edge:-edge], est[edge:-edge])
    assert s.vde < 0.03, s
    assert s.gpe < 0.02, s
    assert s.f0_rmse_cents < 50, s


def test_frames_are_on_the_code_grid():
    for n in (1, 63, 64, 65, 16000):
        f0, _ = track_f0(np.zeros(n, np.float32), SR, HOP)
        assert f0.size == -(-n // HOP)


@pytest.mark.parametrize("wav", [silence(1.0)[0], white_noise(1.0, level=1.0)[0].clip(-1, 1),
                                 np.zeros(160, np.float32), np.ones(8000, np.float32),
                                 np.sign(pulse_train(120.0, 1.0)[0]) * 1.0])
def test_hostile_audio_gives_frames_never_a_crash(wav):
    f0, voiced = track_f0(wav, SR, HOP)
    assert f0.size == -(-wav.size // HOP)
    assert np.all(np.isfinite(f0)) and np.all(f0 >= 0)


def test_noise_and_silence_are_unvoiced():
    assert track_f0(silence(1.0)[0], SR, HOP)[1].mean() == 0
    assert track_f0(white_noise(1.0)[0], SR, HOP)[1].mean() < 0.02


def test_tracker_errors():
    with pytest.raises(VQSpeechError, match="empty"):
        track_f0(np.zeros(0), SR, HOP)
    with pytest.raises(VQSpeechError, match="NaN"):
        track_f0(np.full(100, np.nan), SR, HOP)
    with pytest.raises(VQSpeechError, match="expected one of"):
        track_f0(np.zeros(100), SR, HOP, "crepe")


def test_metrics_on_constructed_tracks():
    ref = np.array([0, 100, 100, 100, 0, 200, 200, 0], float)
    out = np.array([0, 100, 130, 0, 0, 200, 100, 150], float)
    s = pitch_scores(ref, out)
    assert s.vde == pytest.approx(2 / 8)  # frame 3 (missed) and 7 (false voicing)
    assert s.gpe == pytest.approx(2 / 4)  # 130 vs 100 (+30%) and 100 vs 200 among 4 both-voiced frames
    assert s.ffe == pytest.approx(4 / 8)
    assert s.voiced_fraction == pytest.approx(5 / 8)
    assert pitch_scores(ref, ref).vde == 0 and pitch_scores(ref, ref).f0_corr == pytest.approx(1.0)
    assert np.isnan(pitch_scores(np.zeros(4), np.zeros(4)).gpe)
    assert pool_scores([(ref, out), (ref, ref)]).frames == 16
    assert semitones(200.0, 100.0) == pytest.approx(12.0)
    assert np.isnan(median_f0(np.zeros(3)))


def test_compare_pitch_of_a_shifted_copy():
    wav, _ = pulse_train(120.0, 1.0)
    up, _ = pulse_train(240.0, 1.0)
    same = compare_pitch(wav, wav, SR)
    assert same["vde"] < 0.02 and same["gpe"] == 0
    assert compare_pitch(wav, up, SR)["gpe"] > 0.9


def test_f0_cache_is_built_once_and_rebuilt_when_audio_changes(tmp_path):
    import soundfile as sf

    from vqspeech.data.dataset import open_audio_cache
    from vqspeech.pitch.cache import data_dir_f0, open_f0_cache

    d = tmp_path / "data"
    (d / "wav").mkdir(parents=True)
    for i, f in enumerate((110.0, 180.0)):
        sf.write(d / "wav" / f"s{i}.wav", pulse_train(f, 0.6)[0], SR)
    (d / "wav.scp").write_text("".join(f"s-{i} wav/s{i}.wav\n" for i in range(2)))
    (d / "utt2spk").write_text("s-0 s\ns-1 s\n")
    (d / "spk2utt").write_text("s s-0 s-1\n")
    f0 = data_dir_f0(d, SR, HOP, progress=False)
    assert sorted(f0) == ["s-0", "s-1"]
    assert abs(median_f0(f0["s-0"]) - 110) < 3 and abs(median_f0(f0["s-1"]) - 180) < 4
    audio = open_audio_cache(d, SR, progress=False)
    cache = open_f0_cache(audio, HOP, build=False)
    assert cache.crop(1, 0, 5).shape == (5,) and cache.crop(1, 10**6, 3).tolist() == [0, 0, 0]
    (d / "wav.scp").write_text("s-0 wav/s1.wav\ns-1 wav/s0.wav\n")  # the audio changes: both caches rebuild
    f0b = data_dir_f0(d, SR, HOP, progress=False)
    assert abs(median_f0(f0b["s-0"]) - 180) < 4
