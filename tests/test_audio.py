import logging

import numpy as np
import pytest
import soundfile as sf

from vqspeech import audio
from vqspeech.errors import VQSpeechError


def test_mu_law_roundtrip_all_levels():
    k = np.arange(256)
    assert np.array_equal(audio.mu_law_encode(audio.mu_law_decode(k)), k)


def test_mu_law_range_and_monotone():
    x = np.linspace(-1, 1, 10001)
    k = audio.mu_law_encode(x)
    assert k.min() == 0 and k.max() == 255
    assert np.all(np.diff(k) >= 0)
    assert np.max(np.abs(audio.mu_law_decode(k) - x)) < 0.022  # half the widest step, at full scale
    assert audio.mu_law_encode(np.array([0.0]))[0] in (127, 128)


@pytest.mark.parametrize("fmt,subtype", [("wav", "PCM_16"), ("wav", "PCM_U8"), ("wav", "FLOAT"), ("flac", "PCM_24"),
                                         ("ogg", "VORBIS")])
def test_load_formats_rates_channels(tmp_path, tone, fmt, subtype):
    wav = tone(0.5, 22050)
    stereo = np.stack([wav, wav * 0.5], axis=1)
    path = tmp_path / f"x.{fmt}"
    sf.write(path, stereo, 22050, subtype=subtype)
    out = audio.load_audio(path, 16000)
    assert out.dtype == np.float32 and out.ndim == 1
    assert abs(out.size - 8000) <= 2
    ref = audio.resample((wav + wav * 0.5) / 2, 22050, 16000)
    tol = 0.1 if fmt == "ogg" else 0.02
    assert np.sqrt(np.mean((out[: ref.size] - ref[: out.size]) ** 2)) < tol


def test_save_is_atomic_and_roundtrips(tmp_path, tone):
    wav = tone(0.25)
    path = audio.save_audio(tmp_path / "a.wav", wav)
    assert [p.name for p in tmp_path.iterdir()] == ["a.wav"]
    back = audio.load_audio(path)
    assert np.max(np.abs(back - wav)) < 1e-3


def test_save_failure_keeps_old_file(tmp_path, tone, monkeypatch):
    path = audio.save_audio(tmp_path / "a.wav", tone(0.25))
    before = path.read_bytes()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(audio.sf, "write", boom)
    with pytest.raises(OSError):
        audio.save_audio(path, tone(0.5))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["a.wav"]


def test_save_rejects_unknown_extension(tmp_path, tone):
    with pytest.raises(VQSpeechError, match="unsupported output extension"):
        audio.save_audio(tmp_path / "a.mp9", tone(0.1))


def test_errors(tmp_path):
    with pytest.raises(VQSpeechError, match="no such file"):
        audio.load_audio(tmp_path / "missing.wav")
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"this is not audio at all" * 10)
    with pytest.raises(VQSpeechError, match="not a readable audio file"):
        audio.load_audio(garbage)
    with pytest.raises(VQSpeechError, match="is a directory"):
        audio.load_audio(tmp_path)
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, dtype=np.float32), 16000)
    with pytest.raises(VQSpeechError, match="no audio samples"):
        audio.load_audio(empty)
    nan = tmp_path / "nan.wav"
    sf.write(nan, np.array([0.1, np.nan, 0.2], dtype=np.float32), 16000, subtype="FLOAT")
    with pytest.raises(VQSpeechError, match="NaN"):
        audio.load_audio(nan)


def test_warnings_for_silence_and_clipping(tmp_path, caplog):
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(1600, dtype=np.float32), 16000)
    clipped = tmp_path / "clipped.wav"
    sf.write(clipped, np.ones(1600, dtype=np.float32), 16000)
    with caplog.at_level(logging.WARNING, logger="vqspeech"):
        audio.load_audio(silent)
        audio.load_audio(clipped)
    text = caplog.text
    assert "silence" in text and "clipped" in text
