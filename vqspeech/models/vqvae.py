"""The VQ-VAE: encoder -> vector quantizer -> speaker-conditioned WaveNet decoder over 8-bit mu-law.

Teacher forcing: targets are `mu_law_encode(wav)`; the decoder input is the targets shifted right by
one with 128 (the mu-law zero) first, so logits[:, :, t] predict sample t from samples < t.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from vqspeech.errors import VQSpeechError
from vqspeech.models.config import VQVAEConfig
from vqspeech.models.encoder import Encoder
from vqspeech.models.quantizer import VectorQuantizer
from vqspeech.models.wavenet import WaveNet

MU_LAW_CLASSES = 256
MU_LAW_ZERO = 128  # mu_law_encode(0.0): the decoder's first input


def mu_law_encode_torch(wav: torch.Tensor, channels: int = MU_LAW_CLASSES) -> torch.Tensor:
    """Same as `vqspeech.audio.mu_law_encode`, in torch: `[...] float in [-1, 1] -> [...] int64`."""
    mu = channels - 1
    x = wav.to(torch.float64).clamp(-1.0, 1.0)
    f = torch.sign(x) * torch.log1p(mu * x.abs()) / math.log1p(mu)
    return torch.floor((f + 1.0) / 2.0 * mu + 0.5).long()


@dataclass
class VQVAEOutput:
    logits: torch.Tensor  # [B, 256, T]
    loss: torch.Tensor  # scalar recon_loss + vq_loss
    recon_loss: torch.Tensor  # scalar cross-entropy, nats per sample
    vq_loss: torch.Tensor  # scalar quantizer loss (codebook + beta * commitment, or beta * commitment)
    commitment_loss: torch.Tensor  # scalar
    perplexity: torch.Tensor  # scalar code perplexity of the batch
    usage: torch.Tensor  # scalar fraction of codes used in the batch
    codes: torch.Tensor  # [B, ceil(T / hop)] int64


class VQVAE(nn.Module):
    """Wires built parts together; build one from a config with `build_vqvae`."""

    def __init__(self, encoder: Encoder, quantizer: VectorQuantizer, decoder: WaveNet, config: VQVAEConfig):
        super().__init__()
        self.config = config
        self.encoder = encoder
        self.quantizer = quantizer
        self.decoder = decoder
        self.speakers: list[str] = list(config.speakers)
        self.hop = config.hop
        self.sample_rate = config.sample_rate
        D = quantizer.dim
        if encoder.out_dim != D or decoder.cond_channels != D:
            raise ValueError("encoder output, quantizer and decoder conditioning sizes differ")
        # learned upsampling (only with upsample="transposed"): [B, D, N] -> [B, D, (N + 1) * hop], trimmed
        self.upsampler = (
            nn.ConvTranspose1d(D, D, 2 * self.hop, stride=self.hop) if config.upsample == "transposed" else None
        )

    def speaker_index(self, name: str) -> int:
        """The decoder's index of speaker `name`."""
        if name not in self.speakers:
            known = ", ".join(self.speakers) if self.speakers else "none: the model has no speakers"
            raise VQSpeechError(f"unknown speaker '{name}' (known: {known})")
        return self.speakers.index(name)

    @torch.no_grad()
    def encode(self, wav: torch.Tensor) -> torch.Tensor:
        """wav: [B, 1, T] float in [-1, 1] -> codes [B, ceil(T / hop)] int64 (no codebook updates)."""
        return self.quantizer.encode(self.encoder(wav))

    def conditioning_frames(self, codes: torch.Tensor) -> torch.Tensor:
        """codes: [B, N] -> quantized vectors [B, D, N] at frame rate."""
        return self.quantizer.decode(codes)

    def _upsample(self, q: torch.Tensor) -> torch.Tensor:
        """q: [B, D, N] -> [B, D, N * hop]."""
        if self.upsampler is None:
            return q.repeat_interleave(self.hop, dim=2)
        start = self.hop // 2  # centre the 2*hop kernels: frame n covers samples [n*hop, (n+1)*hop) mostly
        return self.upsampler(q)[:, :, start: start + q.shape[2] * self.hop]

    def conditioning(self, codes: torch.Tensor) -> torch.Tensor:
        """codes: [B, N] -> the decoder's local conditioning [B, D, N * hop] at the sample rate."""
        return self._upsample(self.conditioning_frames(codes))

    def _speaker(self, speaker: torch.Tensor | None, batch: int) -> torch.Tensor | None:
        if self.decoder.num_speakers == 0:
            return None
        if speaker is None:
            raise ValueError("this model is speaker-conditioned: pass speaker [B] int64")
        return speaker.to(torch.long).view(batch)

    def decoder_logits(self, inputs: torch.Tensor, quantized: torch.Tensor,
                       speaker: torch.Tensor | None) -> torch.Tensor:
        """Teacher-forced decoder: inputs [B, T] int64, quantized [B, D, N >= T / hop] -> [B, 256, T]."""
        spk = self._speaker(speaker, inputs.shape[0])
        if self.upsampler is None:  # frame-rate conditioning, repeated inside the WaveNet
            return self.decoder(inputs, quantized, spk, cond_repeat=self.hop)
        return self.decoder(inputs, self._upsample(quantized)[:, :, : inputs.shape[1]], spk)

    def forward(self, wav: torch.Tensor, speaker: torch.Tensor | None = None) -> VQVAEOutput:
        """wav: [B, 1, T] float in [-1, 1], speaker: [B] int64 -> VQVAEOutput (loss = recon + vq)."""
        z = self.encoder(wav)
        q = self.quantizer(z)
        targets = mu_law_encode_torch(wav[:, 0])
        inputs = F.pad(targets[:, :-1], (1, 0), value=MU_LAW_ZERO)
        logits = self.decoder_logits(inputs, q.quantized, speaker)
        recon = F.cross_entropy(logits.float(), targets)
        return VQVAEOutput(logits=logits, loss=recon + q.loss, recon_loss=recon, vq_loss=q.loss,
                           commitment_loss=q.commitment_loss, perplexity=q.perplexity, usage=q.usage,
                           codes=q.codes)


def build_vqvae(config: VQVAEConfig, sync_fn: Callable[[torch.Tensor], torch.Tensor] | None = None) -> VQVAE:
    """A freshly initialised VQ-VAE from its config (`sync_fn`: see VectorQuantizer)."""
    D = config.quantizer.dim
    encoder = Encoder(config.encoder, D)
    quantizer = VectorQuantizer(config.quantizer, sync_fn=sync_fn)
    decoder = WaveNet(config.decoder, MU_LAW_CLASSES, MU_LAW_CLASSES, cond_channels=D,
                      num_speakers=len(config.speakers))
    return VQVAE(encoder, quantizer, decoder, config)
