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


def block_noise(seed: int, start: int, length: int, batch: int = 1) -> np.ndarray:
    """[batch, length] float32 uniform in [-1, 1): samples start .. start + length of stream b's noise,
    a pure function of (seed, b, absolute sample index)."""
    out = np.empty((batch, length), np.float32)
    first, last = start // NOISE_BLOCK, (start + length - 1) // NOISE_BLOCK if length else start // NOISE_BLOCK
    for b in range(batch):
        parts = [np.random.default_rng([seed, b, blk]).random(NOISE_BLOCK, dtype=np.float32)
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
