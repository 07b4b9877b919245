"""The source-filter decoder: harmonic-plus-noise synthesis driven by frame F0 (DDSP / NSF style).

    frames  = net(quantized [B, D, N], speaker, log-F0 and voicing of each frame)   # code rate
    harm    = sum_k a_k(t) sin(2 pi k phi(t)),  phi = cumsum(F0 / sr)               # sample rate
    noise   = white noise through each frame's FIR filter (overlap-added)
    wav     = harm + noise                                                          # float PCM

a_k = voicing x loudness x softmax distribution over harmonics (DDSP's harmonic synthesizer; harmonics
at or above Nyquist masked), both heads through DDSP's exp-sigmoid. Most work is at the code rate: the
only sample-rate work is the oscillator bank and the noise filter. Non-autoregressive, so decoding is a
few conv layers plus DSP; `context` frames each side make chunked decoding exact (`SourceFilterStream`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from vqspeech.models.config import SourceFilterConfig
from vqspeech.models.source import filtered_noise, harmonic_phase, harmonics, nyquist_mask, upsample_frames

NOISE_SCALE = 0.1  # the noise filter's magnitudes are exp-sigmoid(x) * NOISE_SCALE


def exp_sigmoid(x: torch.Tensor, max_value: float = 2.0, threshold: float = 1e-7) -> torch.Tensor:
    """DDSP's positive output nonlinearity: max_value * sigmoid(x) ** ln(10) + threshold."""
    return max_value * torch.sigmoid(x) ** math.log(10.0) + threshold


class _Block(nn.Module):
    def __init__(self, channels: int, dilation: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(channels, 2 * channels, 3, dilation=dilation, padding=dilation)
        self.out = nn.Conv1d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.conv(x).chunk(2, dim=1)
        return x + self.out(torch.tanh(a) * torch.sigmoid(b))


class SourceFilterDecoder(nn.Module):
    """(quantized [B, D, N], speaker [B], f0 [B, N] Hz with unvoiced frames filled, voiced [B, N] 0/1)
    -> waveform [B, N * hop] float32."""

    def __init__(self, config: SourceFilterConfig, cond_channels: int, num_speakers: int, hop: int,
                 sample_rate: int) -> None:
        super().__init__()
        self.config = config
        self.cond_channels = cond_channels
        self.num_speakers = num_speakers
        self.hop, self.sample_rate = hop, sample_rate
        ch = config.channels
        self.inp = nn.Conv1d(cond_channels + 2, ch, 1)
        self.speaker_embed = nn.Embedding(num_speakers, config.speaker_dim) if num_speakers > 0 else None
        self.speaker_proj = nn.Linear(config.speaker_dim, ch) if num_speakers > 0 else None
        self.blocks = nn.ModuleList(_Block(ch, 2 ** (i % config.dilation_cycle)) for i in range(config.layers))
        self.harm_out = nn.Conv1d(ch, 1 + config.harmonics, 1)
        self.noise_out = nn.Conv1d(ch, config.noise_bins, 1)
        with torch.no_grad():  # start quiet: noise well below the harmonics
            self.noise_out.bias.fill_(-3.0)

    @property
    def context(self) -> int:
        """Frames each side that one frame's parameters depend on (network + noise filter spill)."""
        spill = -(-(self.config.noise_bins - 1) // self.hop)
        return self.config.context + spill + 1

    def frame_params(self, quantized: torch.Tensor, speaker: torch.Tensor | None, f0: torch.Tensor,
                     voiced: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (harmonic amplitudes [B, K, N] (voicing applied), noise magnitudes [B, N, M])."""
        n = quantized.shape[2]
        lf = (torch.log(f0[:, :n].clamp(min=1.0)) - math.log(150.0)) / 0.5
        x = self.inp(torch.cat([quantized, lf[:, None], voiced[:, None, :n].float()], dim=1))
        if self.speaker_embed is not None and speaker is not None:
            x = x + self.speaker_proj(self.speaker_embed(speaker.long()))[:, :, None]
        for block in self.blocks:
            x = block(x)
        x = F.gelu(x)
        h = self.harm_out(x)
        loud = exp_sigmoid(h[:, :1])  # [B, 1, N]
        dist = torch.softmax(h[:, 1:], dim=1)  # [B, K, N]
        amps = loud * dist * voiced[:, None, :n].float() * nyquist_mask(f0[:, :n], dist.shape[1], self.sample_rate)
        noise_mag = exp_sigmoid(self.noise_out(x)).transpose(1, 2) * NOISE_SCALE
        return amps, noise_mag

    def synthesize(self, amps: torch.Tensor, noise_mag: torch.Tensor, f0: torch.Tensor, noise: torch.Tensor,
                   phase0: torch.Tensor | None = None, frames: slice | None = None, backend: str = "torch"
                   ) -> tuple[torch.Tensor, torch.Tensor]:
        """Frame parameters -> (waveform, phase after the last sample). noise: [B, N * hop].
        `frames` (a slice of frame indices) synthesises only those frames' samples; the harmonics of
        the others are not computed (chunked decoding keeps margins of frames for the noise filter and
        the amplitude interpolation, and the phase from the previous chunk). backend "numba" (batch 1,
        no gradient) runs the oscillator bank in `vqspeech.generate.harmonic_kernel`."""
        hop, sr = self.hop, self.sample_rate
        n = amps.shape[2]
        frames = frames if frames is not None else slice(0, n)
        s0, s1 = frames.start * hop, frames.stop * hop
        noise_part = filtered_noise(noise, noise_mag, hop)[:, s0:s1]
        if backend == "numba":
            from vqspeech.generate.harmonic_kernel import harmonics_numba

            p0 = 0.0 if phase0 is None else float(phase0.reshape(-1)[0])
            harm, p1 = harmonics_numba(f0[0, :n].double().cpu().numpy(), amps[0].double().cpu().numpy(), hop, sr,
                                       frames, p0)
            out = torch.from_numpy(harm).to(noise_part.device)[None] + noise_part
            return out, torch.tensor([p1], dtype=torch.float64)
        f0_up = upsample_frames(f0[:, None, :n].float(), hop)[:, 0][:, s0:s1]
        amp_up = upsample_frames(amps, hop)[:, :, s0:s1]
        phase, phase_end = harmonic_phase(f0_up, sr, phase0)
        return harmonics(phase, amp_up) + noise_part, phase_end

    def forward(self, quantized: torch.Tensor, speaker: torch.Tensor | None, f0: torch.Tensor,
                voiced: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """Whole-signal decoding (training: teacher-forced F0). noise: [B, N * hop] or None (drawn)."""
        amps, noise_mag = self.frame_params(quantized, speaker, f0, voiced)
        if noise is None:
            noise = torch.rand(quantized.shape[0], quantized.shape[2] * self.hop, device=quantized.device) * 2 - 1
        wav, _ = self.synthesize(amps, noise_mag, f0, noise)
        return wav


def stft_loss_fn(config: SourceFilterConfig, sample_rate: int):
    """auraloss's multi-resolution STFT loss (spectral convergence + log and linear magnitude L1)."""
    import auraloss

    sizes = list(config.stft_sizes)
    return auraloss.freq.MultiResolutionSTFTLoss(
        fft_sizes=sizes, hop_sizes=[max(1, s // 4) for s in sizes], win_lengths=sizes,
        w_sc=1.0, w_log_mag=1.0, w_lin_mag=1.0,
    )


def numpy_noise(seed: int, start: int, length: int, batch: int = 1) -> torch.Tensor:
    from vqspeech.models.source import block_noise

    return torch.from_numpy(block_noise(seed, start, length, batch))



