"""Excitation sources from frame F0 (plain DSP; NSF's sine + noise source, DDSP's harmonic synthesizer).

Frame convention of `vqspeech.pitch`: frame n is centred on sample n * hop + hop / 2. Frame values are
upsampled to the sample rate by linear interpolation between frame centres (`upsample_frames`).
Harmonic k of a sample with F0 f has phase k * phi, phi = cumsum(f / sr) cycles, accumulated in float64
and carried across chunks (`phase0`), so chunked synthesis equals whole-signal synthesis; harmonics at
or above Nyquist are masked to zero. Noise is a pure function of (seed, absolute sample index), drawn in
blocks, so any chunking draws the same noise.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

NOISE_BLOCK = 4096  # samples per independently seeded noise block


def upsample_frames(x: torch.Tensor, hop: int) -> torch.Tensor:
    """[B, C, N] frame values -> [B, C, N * hop] by linear interpolation between frame centres (ends held)."""
    return F.interpolate(x, scale_factor=hop, mode="linear", align_corners=False)


def fill_unvoiced(f0: torch.Tensor) -> torch.Tensor:
    """[B, N] Hz with 0 = unvoiced -> [B, N] with unvoiced frames linearly interpolated between voiced
    neighbours (held at the ends; 100 Hz where a row has no voiced frame): an oscillator frequency that
    never drops to 0 Hz across a voicing boundary."""
    out = f0.detach().to(torch.float64).cpu().numpy().copy()
    for row in out:
        v = np.flatnonzero(row > 0)
        if v.size == 0:
            row[:] = 100.0
        elif v.size < row.size:
            row[:] = np.interp(np.arange(row.size), v, row[v])
    return torch.from_numpy(out).to(f0.device, f0.dtype)


def harmonic_phase(f0_samples: torch.Tensor, sample_rate: int, phase0: torch.Tensor | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """f0_samples [B, T] Hz -> (phase [B, T] float64 cycles in [0, 1) of each sample, phase after the last
    sample [B] for the next chunk). Sample t has the phase accumulated over samples < t."""
    inc = f0_samples.to(torch.float64) / float(sample_rate)
    start = torch.zeros(inc.shape[0], 1, dtype=torch.float64, device=inc.device) if phase0 is None \
        else phase0.to(torch.float64).view(-1, 1)
    acc = torch.cumsum(torch.cat([start, inc], dim=1), dim=1)
    acc = acc - torch.floor(acc)
    return acc[:, :-1], acc[:, -1]


def nyquist_mask(f0_frames: torch.Tensor, num_harmonics: int, sample_rate: int) -> torch.Tensor:
    """[B, N] frame F0 Hz -> [B, K, N] 1.0 where harmonic k (1-based) lies below Nyquist, else 0.0."""
    k = torch.arange(1, num_harmonics + 1, device=f0_frames.device, dtype=torch.float32)[None, :, None]
    return ((k * f0_frames[:, None, :].float()) < (sample_rate / 2.0)).float()


def harmonics(phase: torch.Tensor, amplitudes: torch.Tensor) -> torch.Tensor:
    """Sum of sines: phase [B, T] cycles in [0, 1), amplitudes [B, K, T] -> [B, T] float32.
    Harmonic k (1-based) is amplitudes[:, k - 1] * sin(2 pi k phase); mask harmonics above Nyquist in
    the amplitudes (`nyquist_mask`). The phase is wrapped to [0, 1) in float64 before it is multiplied,
    so k * phase in float32 is exact to ~1e-5 cycles for k <= 128 however long the signal."""
    k = torch.arange(1, amplitudes.shape[1] + 1, device=phase.device, dtype=torch.float32)[None, :, None]
    arg = (2.0 * np.pi) * (k * phase.to(torch.float32)[:, None, :])
    return (torch.sin(arg) * amplitudes).sum(1)


def block_noise(seed: int, start: int, length: int, batch: int = 1, first_stream: int = 0) -> np.ndarray:
    """[batch, length] float32 uniform in [-1, 1): samples start .. start + length of stream b's noise
    (b = first_stream .. first_stream + batch - 1), a pure function of (seed, b, absolute sample index)."""
    out = np.empty((batch, length), np.float32)
    first, last = start // NOISE_BLOCK, (start + length - 1) // NOISE_BLOCK if length else start // NOISE_BLOCK
    for b in range(batch):
        parts = [np.random.default_rng([seed, first_stream + b, blk]).random(NOISE_BLOCK, dtype=np.float32)
                 for blk in range(first, last + 1)]
        flat = np.concatenate(parts) if parts else np.zeros(0, np.float32)
        off = start - first * NOISE_BLOCK
        out[b] = flat[off: off + length] * 2.0 - 1.0
    return out


def filtered_noise(noise: torch.Tensor, magnitudes: torch.Tensor, hop: int) -> torch.Tensor:
    """Frame-wise filtered noise (DDSP's frequency-sampling filter, overlap-added):
    noise [B, N * hop], magnitudes [B, N, M] (linear, M bins from 0 to Nyquist) -> [B, N * hop].

    Frame n's noise segment [n*hop, (n+1)*hop) is convolved with the zero-phase, Hann-windowed FIR of
    length 2 (M - 1) whose response is magnitudes[:, n]; its output spans hop + 2 (M - 1) - 1 samples
    centred on the segment (spilling M - 1 samples either side) and the segments are overlap-added."""
    B, N, M = magnitudes.shape
    L = 2 * (M - 1)
    ir = torch.fft.irfft(magnitudes.to(torch.float32).to(torch.complex64), n=L)  # [B, N, L], zero-phase
    ir = torch.roll(ir, shifts=L // 2, dims=-1) * torch.hann_window(L, periodic=False, device=ir.device)
    seg = noise.view(B, N, hop)
    n_fft = 1 << int(np.ceil(np.log2(hop + L - 1)))
    y = torch.fft.irfft(torch.fft.rfft(seg, n=n_fft) * torch.fft.rfft(ir, n=n_fft), n=n_fft)[..., : hop + L - 1]
    # overlap-add: segment n's output starts at n*hop - L/2 (centred filter)
    total = N * hop + L - 1
    out = F.fold(y.transpose(1, 2), output_size=(1, total), kernel_size=(1, hop + L - 1), stride=(1, hop))
    out = out.view(B, total)
    return out[:, L // 2: L // 2 + N * hop]


# ---- the WaveNet decoder's excitation (NSF's sine + noise source), exact under any frame-aligned chunking ----
# Everything below is float64 numpy, element by element from absolute sample indices, so a chunk's source
# is bit-identical to the same samples of the whole signal's (the WaveNet samples from it: one differing
# bit could change every later sample).

PHASE_ONE = 1 << 40  # the phase carried from frame to frame in units of 2**-40 cycles: integer sums are exact


def frames_at_samples(x: np.ndarray, hop: int, t0: int, t1: int, first: int = 0, total: int | None = None
                      ) -> np.ndarray:
    """`upsample_frames` for samples t0 .. t1 - 1 only: x [B, W] float values of frames first .. first + W - 1
    of a signal of `total` frames (default first + W) -> [B, t1 - t0] float64, linear between frame centres,
    held at the signal's ends. Needs frames from floor((t0 + 0.5) / hop - 0.5) to (t1 - 0.5) / hop + 0.5."""
    total = first + x.shape[1] if total is None else total
    p = np.maximum((np.arange(t0, t1, dtype=np.float64) + 0.5) / hop - 0.5, 0.0)
    i0 = np.floor(p).astype(np.int64)
    w = p - i0
    i1 = np.minimum(i0 + 1, total - 1) - first
    i0 = np.minimum(i0, total - 1) - first
    xd = np.asarray(x, dtype=np.float64)
    return xd[:, i0] * (1.0 - w) + xd[:, i1] * w


def frame_phase(f0_samples: np.ndarray, hop: int, sample_rate: int, carry: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """Phase of whole frames: f0_samples [B, n * hop] Hz -> (phase [B, n * hop] float64 cycles in [0, 1),
    carry after [B] int64). Sample t has the phase accumulated over samples < t: within a frame by float64
    cumsum, from frame to frame in fixed point (`PHASE_ONE`) starting at `carry` [B] (0 if None)."""
    b, t = f0_samples.shape
    inc = (np.asarray(f0_samples, np.float64) / float(sample_rate)).reshape(b, t // hop, hop)
    cum = np.cumsum(inc, axis=2)
    within = np.concatenate([np.zeros((b, t // hop, 1)), cum[:, :, :-1]], axis=2)
    steps = np.round(cum[:, :, -1] * PHASE_ONE).astype(np.int64) % PHASE_ONE
    c0 = np.zeros(b, np.int64) if carry is None else np.asarray(carry, np.int64)
    starts = (c0[:, None] + np.cumsum(steps, axis=1) - steps) % PHASE_ONE  # [B, n]
    phase = starts[:, :, None] / float(PHASE_ONE) + within
    phase = (phase - np.floor(phase)).reshape(b, t)
    return phase, (c0 + steps.sum(axis=1)) % PHASE_ONE


def sine_noise_source(f0: np.ndarray, voiced: np.ndarray, num_harmonics: int, hop: int, sample_rate: int,
                      t0: int, t1: int, noise: np.ndarray, first: int = 0, total: int | None = None,
                      carry: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The excitation of samples t0 .. t1 - 1 (whole frames: both multiples of hop):
    f0 [B, W] oscillator Hz (> 0 on every frame; unvoiced ones filled), voiced [B, W] 0/1 of frames first ..
    (see `frames_at_samples`), noise [B, t1 - t0] -> (source [B, num_harmonics + 1, t1 - t0] float32,
    phase carry after [B]). Channel k - 1 = v * sin(2 pi k phi) while k x F0 < Nyquist (else 0), the last
    channel = (1 - v) * noise, v = the voicing flags upsampled like F0 (a cross-fade at voicing changes)."""
    f0_s = frames_at_samples(f0, hop, t0, t1, first, total)
    v = frames_at_samples(voiced, hop, t0, t1, first, total)
    phase, carry = frame_phase(f0_s, hop, sample_rate, carry)
    b, n = phase.shape
    out = np.empty((b, num_harmonics + 1, n), np.float32)
    for k in range(1, num_harmonics + 1):
        s = np.sin((2.0 * np.pi) * (k * phase)) * v
        s[k * f0_s >= sample_rate / 2.0] = 0.0
        out[:, k - 1] = s
    out[:, -1] = (1.0 - v) * np.asarray(noise, np.float64)
    return out, carry
