"""Objective speech quality metrics (numpy/librosa only; PESQ, STOI and resemblyzer are optional).

Mel-cepstral distortion (`mcd`), in dB:

- both signals are level-normalised (scaled to unit RMS), then analysed with a 25 ms Hann window
  every 5 ms (n_fft 512 at 16 kHz);
- mel-cepstrum: the magnitude spectrum through `n_mels` (40) mel filters (librosa, Slaney norm) between
  0 Hz and `fmax` (Nyquist, or 4 kHz for `mcd(..., fmax=4000)`, fair against narrowband codecs), natural
  log of the filter amplitudes (floored 60 dB below the utterance's largest filter amplitude, so that an
  empty band, e.g. 4-8 kHz after a narrowband codec, costs a bounded amount), then a DCT-II scaled so that
  `ln|H(w)| = c0 + 2 * sum_n c_n cos(n w)` (the scale of SPTK mel-cepstra: c_n = DCT_n / (2 * n_mels));
  coefficients c1..c24 are kept, c0 (the level) is excluded;
- frame selection: frames whose energy is within 40 dB (`silence_db`) of the loudest frame of the same
  signal are kept (leading/trailing/inner silences dropped from each signal separately);
- the two sequences are aligned with DTW (`librosa.sequence.dtw`, Euclidean cost on the cepstra) and
  `MCD = mean over the path of 10 / ln 10 * sqrt(2 * sum_d (c_d - c'_d)^2)`.

Log-spectral distance (`lsd`), in dB: per frame `sqrt(mean_f (10 log10 P_ref - 10 log10 P_test)^2)` over
the power spectra (each floored 60 dB below its own peak), averaged over the non-silent frames of the
reference; the signals are compared time-aligned (call `align_delay` first for a codec with a delay) and
not level-normalised (a gain error counts).

PESQ (wideband, ITU-T P.862.2, `pesq` package) and STOI (`pystoi`) need 16 kHz and time alignment;
they return None with a note when their package is missing.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import math
import warnings

import numpy as np

from vqspeech.errors import VQSpeechError

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
MCD_CONST = 10.0 / math.log(10.0) * math.sqrt(2.0)  # dB per unit of Euclidean cepstral distance
N_FFT = 512
WIN = 400  # 25 ms at 16 kHz
HOP = 80  # 5 ms at 16 kHz
N_MELS = 40
N_MCEP = 24
SILENCE_DB = 40.0
DYNAMIC_RANGE_DB = 60.0  # spectra are floored this far below their utterance's peak (like librosa's top_db)
AMP_FLOOR = 1e-5
POW_FLOOR = 1e-10


def _check(wav: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(wav, dtype=np.float64).reshape(-1) if np.ndim(wav) <= 1 else None
    if x is None:
        raise VQSpeechError(f"{name}: expected a 1-D waveform, got shape {np.shape(wav)}")
    if x.size < N_FFT:
        raise VQSpeechError(f"{name}: {x.size} samples, too short for the metrics (at least {N_FFT})")
    if not np.all(np.isfinite(x)):
        raise VQSpeechError(f"{name}: waveform holds NaN or inf")
    return x


def _normalise(x: np.ndarray) -> np.ndarray:
    rms = float(np.sqrt(np.mean(x ** 2)))
    return x / rms if rms > 0 else x


def _stft_power(x: np.ndarray) -> np.ndarray:
    """x: [T] -> power spectrogram [frames, n_fft // 2 + 1]."""
    import librosa

    spec = librosa.stft(x, n_fft=N_FFT, hop_length=HOP, win_length=WIN, window="hann", center=True)
    return (np.abs(spec) ** 2).T


def _active(power: np.ndarray, silence_db: float) -> np.ndarray:
    """power: [frames, F] -> bool mask of frames within `silence_db` of the loudest frame."""
    e = power.sum(axis=1)
    if e.max() <= 0:
        return np.zeros(e.shape, dtype=bool)
    return 10 * np.log10(np.maximum(e, 1e-30) / e.max()) > -silence_db


@functools.lru_cache(maxsize=8)
def _mel_basis(sample_rate: int, fmax: float, n_mels: int) -> np.ndarray:
    import librosa

    return librosa.filters.mel(sr=sample_rate, n_fft=N_FFT, n_mels=n_mels, fmin=0.0, fmax=fmax)


def mel_cepstrum(wav: np.ndarray, sample_rate: int = SAMPLE_RATE, *, n_mcep: int = N_MCEP, n_mels: int = N_MELS,
                 fmax: float | None = None, silence_db: float | None = SILENCE_DB) -> np.ndarray:
    """wav: [T] float -> mel-cepstra [frames, n_mcep + 1] (c0..c_n_mcep) of the level-normalised signal,
    non-silent frames only unless `silence_db` is None (see the module docstring)."""
    from scipy.fft import dct

    x = _normalise(_check(wav, "mel_cepstrum"))
    fmax = float(sample_rate) / 2 if fmax is None else float(fmax)
    if not 0 < fmax <= sample_rate / 2:
        raise VQSpeechError(f"mel_cepstrum: fmax {fmax} Hz not in (0, {sample_rate / 2}]")
    power = _stft_power(x)
    amp = np.sqrt(power) @ _mel_basis(int(sample_rate), fmax, n_mels).T  # [frames, n_mels]
    floor = max(AMP_FLOOR, float(amp.max()) * 10 ** (-DYNAMIC_RANGE_DB / 20))
    log_amp = np.log(np.maximum(amp, floor))
    cep = dct(log_amp, type=2, axis=1, norm=None)[:, : n_mcep + 1] / (2 * n_mels)
    if silence_db is not None:
        mask = _active(power, silence_db)
        if mask.sum() >= 2:
            cep = cep[mask]
    return cep


def mcd(ref: np.ndarray, test: np.ndarray, sample_rate: int = SAMPLE_RATE, *, fmax: float | None = None,
        dtw: bool = True, n_mcep: int = N_MCEP) -> float:
    """Mel-cepstral distortion in dB between `ref` and `test` ([T] float, any lengths with `dtw`)."""
    a = mel_cepstrum(ref, sample_rate, n_mcep=n_mcep, fmax=fmax)[:, 1:]
    b = mel_cepstrum(test, sample_rate, n_mcep=n_mcep, fmax=fmax)[:, 1:]
    if dtw:
        import librosa

        _, wp = librosa.sequence.dtw(X=a.T, Y=b.T, metric="euclidean")
        ia, ib = wp[::-1, 0], wp[::-1, 1]
    else:
        n = min(len(a), len(b))
        ia = ib = np.arange(n)
    dist = np.sqrt(np.sum((a[ia] - b[ib]) ** 2, axis=1))
    return float(MCD_CONST * dist.mean())


def lsd(ref: np.ndarray, test: np.ndarray, sample_rate: int = SAMPLE_RATE, *,
        silence_db: float = SILENCE_DB) -> float:
    """Log-spectral distance in dB of time-aligned signals (the shorter length is used)."""
    r, t = _check(ref, "lsd reference"), _check(test, "lsd test")
    n = min(r.size, t.size)
    pr, pt = _stft_power(r[:n]), _stft_power(t[:n])
    mask = _active(pr, silence_db)
    if not mask.any():
        mask[:] = True
    rel = 10 ** (-DYNAMIC_RANGE_DB / 10)
    lr = 10 * np.log10(np.maximum(pr[mask], max(POW_FLOOR, pr.max() * rel)))
    lt = 10 * np.log10(np.maximum(pt[mask], max(POW_FLOOR, pt.max() * rel)))
    d = lr - lt
    return float(np.mean(np.sqrt(np.mean(d ** 2, axis=1))))


def _envelope(x: np.ndarray, step: int) -> np.ndarray:
    n = x.size // step
    e = np.log(np.mean(x[: n * step].reshape(n, step) ** 2, axis=1) + 1e-8)
    return e - e.mean()


def _xcorr_lag(r: np.ndarray, t: np.ndarray, max_lag: int) -> int:
    n = 1 << int(np.ceil(np.log2(r.size + t.size)))
    xc = np.fft.irfft(np.fft.rfft(t, n) * np.conj(np.fft.rfft(r, n)), n)
    lags = np.r_[np.arange(0, max_lag + 1), np.arange(-max_lag, 0)]
    return int(lags[np.argmax(xc[lags % n])])


def align_delay(ref: np.ndarray, test: np.ndarray, max_lag: int = 1600, waveform: bool = True) -> tuple[np.ndarray, int]:
    """Shift `test` so that it lines up with `ref`: the lag (within +-max_lag samples) that best
    correlates the log-energy envelopes (1 ms steps; works for parametric codecs, whose phases differ),
    refined on the waveforms within +-1 ms when `waveform` (waveform-matching codecs).

    Returns (test shifted and cut/zero-padded to len(ref), lag in samples; positive = test was late)."""
    r = np.asarray(ref, dtype=np.float64).reshape(-1)
    t = np.asarray(test, dtype=np.float64).reshape(-1)
    step = 16
    lag = step * _xcorr_lag(_envelope(r, step), _envelope(t, step), max(1, max_lag // step))
    if waveform:
        shifted = t[lag:] if lag >= 0 else np.r_[np.zeros(-lag), t]
        lag += _xcorr_lag(r, shifted, step)
    out = np.zeros(r.size, dtype=np.float32)
    src = t[lag:] if lag >= 0 else np.r_[np.zeros(-lag), t]
    m = min(r.size, src.size)
    out[:m] = src[:m]
    return out, lag


def have(package: str) -> bool:
    """Whether an optional package can be imported."""
    return importlib.util.find_spec(package) is not None


def pesq_wb(ref: np.ndarray, test: np.ndarray, sample_rate: int = SAMPLE_RATE) -> float | None:
    """Wideband PESQ (MOS-LQO, about 1.0-4.64) of time-aligned 16 kHz signals; None when `pesq` is
    missing or it finds no speech."""
    if sample_rate != 16000:
        raise VQSpeechError(f"PESQ wideband needs 16 kHz audio, got {sample_rate} Hz")
    if not have("pesq"):
        return None
    from pesq import pesq

    n = min(len(ref), len(test))
    try:
        return float(pesq(16000, np.asarray(ref[:n], dtype=np.float32), np.asarray(test[:n], dtype=np.float32),
                          "wb"))
    except Exception as err:  # noqa: BLE001 - pesq raises its own types for silent input
        log.debug("PESQ failed: %s", err)
        return None


def stoi(ref: np.ndarray, test: np.ndarray, sample_rate: int = SAMPLE_RATE) -> float | None:
    """STOI (0-1) of time-aligned signals; None when `pystoi` is missing or there is too little speech."""
    if not have("pystoi"):
        return None
    from pystoi import stoi as _stoi

    n = min(len(ref), len(test))
    with np.errstate(all="ignore"), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        v = float(_stoi(np.asarray(ref[:n], dtype=np.float64), np.asarray(test[:n], dtype=np.float64),
                        sample_rate, extended=False))
    if any("Not enough STFT frames" in str(w.message) for w in caught):
        return None  # too little speech (pystoi returns a meaningless 1e-5)
    return v if math.isfinite(v) else None


def missing_metric_notes() -> list[str]:
    """One note per optional metric whose package is not installed."""
    notes = []
    for pkg, what in (("pesq", "PESQ"), ("pystoi", "STOI")):
        if not have(pkg):
            notes.append(f"{what} skipped: package '{pkg}' not installed (pip install 'vqspeech[eval]')")
    return notes


def quality_metrics(ref: np.ndarray, test: np.ndarray, sample_rate: int = SAMPLE_RATE) -> dict[str, float | None]:
    """All reference-based metrics of one (time-aligned) pair: mcd, mcd_4k, lsd, pesq, stoi."""
    return {"mcd": mcd(ref, test, sample_rate), "mcd_4k": mcd(ref, test, sample_rate, fmax=4000.0),
            "lsd": lsd(ref, test, sample_rate),
            "pesq": pesq_wb(ref, test, sample_rate) if sample_rate == 16000 else None,
            "stoi": stoi(ref, test, sample_rate)}


def summarize(values: list[float | None]) -> dict[str, float | int | None]:
    """mean / std / median / n of the non-None values."""
    v = np.array([x for x in values if x is not None and math.isfinite(x)], dtype=np.float64)
    if not v.size:
        return {"mean": None, "std": None, "median": None, "n": 0}
    return {"mean": float(v.mean()), "std": float(v.std()), "median": float(np.median(v)), "n": int(v.size)}
