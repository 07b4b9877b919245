"""The VQ-VAE: encoder -> vector quantizer -> speaker-conditioned decoder, plus an optional F0 head.

Decoder types (`VQVAEConfig.decoder.type`):
- "wavenet": the paper's WaveNet over 8-bit mu-law. Teacher forcing: targets are `mu_law_encode(wav)`;
  the decoder input is the targets shifted right by one with 128 (the mu-law zero) first, so
  logits[:, :, t] predict sample t from samples < t. Loss: cross-entropy. With `source_harmonics > 0`
  an excitation built from the tracker's F0 (teacher forcing) is a further input (`excitation`).
- "source_filter": harmonic-plus-noise synthesis from frame F0 (`vqspeech.models.source_filter`),
  teacher-forced with the tracker's F0 in training. Loss: multi-resolution STFT.
The F0 head (`vqspeech.models.f0_head`), when configured, adds its own weighted loss on the tracker's
F0; at decoding time it gives the source-filter decoder its pitch.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from vqspeech.errors import VQSpeechError
from vqspeech.models.config import SourceFilterConfig, VQVAEConfig
from vqspeech.models.encoder import Encoder
from vqspeech.models.f0_head import F0Head, F0Prediction, f0_loss
from vqspeech.models.quantizer import VectorQuantizer
from vqspeech.models.source_filter import SourceFilterDecoder, stft_loss_fn
from vqspeech.models.wavenet import WaveNet
from vqspeech.mulaw import MU_LAW_CHANNELS as MU_LAW_CLASSES
from vqspeech.mulaw import MU_LAW_ZERO  # mu_law_encode(0.0): the decoder's first input


def mu_law_encode_torch(wav: torch.Tensor, channels: int = MU_LAW_CLASSES) -> torch.Tensor:
    """Same as `vqspeech.audio.mu_law_encode`, in torch: `[...] float in [-1, 1] -> [...] int64`."""
    mu = channels - 1
    x = wav.to(torch.float64).clamp(-1.0, 1.0)
    f = torch.sign(x) * torch.log1p(mu * x.abs()) / math.log1p(mu)
    return torch.floor((f + 1.0) / 2.0 * mu + 0.5).long()


@dataclass
class VQVAEOutput:
    logits: torch.Tensor | None  # [B, 256, T] (wavenet) or None
    loss: torch.Tensor  # scalar recon_loss + vq_loss (+ f0_head.loss_weight * f0 loss)
    recon_loss: torch.Tensor  # scalar: cross-entropy in nats per sample (wavenet) or MR-STFT loss
    vq_loss: torch.Tensor  # scalar quantizer loss (codebook + beta * commitment, or beta * commitment)
    commitment_loss: torch.Tensor  # scalar
    perplexity: torch.Tensor  # scalar code perplexity of the batch
    usage: torch.Tensor  # scalar fraction of codes used in the batch
    codes: torch.Tensor  # [B, ceil(T / hop)] int64
    wav: torch.Tensor | None = None  # [B, T] the source-filter decoder's output
    f0_metrics: dict | None = None  # the F0 head's loss terms and errors (when it and an F0 track exist)


class VQVAE(nn.Module):
    """Wires built parts together; build one from a config with `build_vqvae`."""

    def __init__(self, encoder: Encoder, quantizer: VectorQuantizer, decoder: WaveNet | SourceFilterDecoder,
                 config: VQVAEConfig, f0_head: F0Head | None = None):
        super().__init__()
        self.config = config
        self.encoder = encoder
        self.quantizer = quantizer
        self.decoder = decoder
        self.f0_head = f0_head
        self.decoder_type = config.decoder.type
        # fingerprints of the models whose codes this one shares (its encoder and codebook are theirs, as
        # after `vqspeech train f0`): their .vqs files and priors fit it (config.json "same_codes_as")
        self.same_codes_as: tuple[str, ...] = ()
        self._aux: dict = {}  # not a submodule: losses built on first use (never saved)
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

    @property
    def is_wavenet(self) -> bool:
        return self.decoder_type == "wavenet"

    def predict_f0(self, quantized: torch.Tensor, speaker: torch.Tensor | None) -> F0Prediction:
        """quantized [B, D, N] -> the F0 head's prediction (VQSpeechError when the model has no head)."""
        if self.f0_head is None:
            raise VQSpeechError("this model has no F0 head: train one with `vqspeech train f0 --vqvae MODEL "
                                "--data DIR --out EXP`")
        return self.f0_head(quantized, self._speaker(speaker, quantized.shape[0]))

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

    @property
    def source_harmonics(self) -> int:
        """Harmonics of the WaveNet decoder's excitation input (0: none, or not a WaveNet)."""
        return int(getattr(self.config.decoder, "source_harmonics", 0))

    def excitation(self, f0: torch.Tensor, num_samples: int, noise: torch.Tensor | None = None) -> torch.Tensor:
        """The WaveNet decoder's excitation from a tracker F0 (teacher forcing): f0 [B, >= ceil(T / hop)] Hz
        (0 = unvoiced) -> [B, source_harmonics + 1, T] float32 on f0's device, phase 0 at sample 0.
        noise [B, n * hop] in [-1, 1): drawn from torch's global RNG in training (saved with the
        training state), `block_noise(0, ...)` in eval mode, so both are reproducible."""
        import numpy as np

        from vqspeech.models.source import block_noise, fill_unvoiced, sine_noise_source

        hop, b = self.hop, f0.shape[0]
        n = -(-num_samples // hop)
        f0 = f0[:, :n].float()
        if f0.shape[1] < n:  # hold the last frame
            f0 = torch.cat([f0, f0[:, -1:].expand(b, n - f0.shape[1])], dim=1)
        if noise is None:
            noise = torch.rand(b, n * hop) * 2 - 1 if self.training else torch.from_numpy(block_noise(0, 0, n * hop, b))
        src, _ = sine_noise_source(fill_unvoiced(f0).double().cpu().numpy(), (f0 > 0).cpu().numpy().astype(np.float64),
                                   self.source_harmonics, hop, self.sample_rate, 0, n * hop,
                                   noise.detach().double().cpu().numpy())
        return torch.from_numpy(src[:, :, :num_samples]).to(f0.device)

    def decoder_logits(self, inputs: torch.Tensor, quantized: torch.Tensor,
                       speaker: torch.Tensor | None, source: torch.Tensor | None = None) -> torch.Tensor:
        """Teacher-forced decoder: inputs [B, T] int64, quantized [B, D, N >= T / hop], source [B, E, T] the
        excitation (with `source_harmonics > 0`) -> [B, 256, T]."""
        spk = self._speaker(speaker, inputs.shape[0])
        if self.upsampler is None:  # frame-rate conditioning, repeated inside the WaveNet
            return self.decoder(inputs, quantized, spk, cond_repeat=self.hop, source=source)
        return self.decoder(inputs, self._upsample(quantized)[:, :, : inputs.shape[1]], spk, source=source)

    def forward(self, wav: torch.Tensor, speaker: torch.Tensor | None = None,
                f0: torch.Tensor | None = None) -> VQVAEOutput:
        """wav: [B, 1, T] float in [-1, 1], speaker: [B] int64, f0: [B, ceil(T / hop)] tracker Hz (0 =
        unvoiced; needed by the source-filter decoder, a source-excited WaveNet and to train the F0 head)."""
        z = self.encoder(wav)
        q = self.quantizer(z)
        logits = out_wav = None
        if self.is_wavenet:
            targets = mu_law_encode_torch(wav[:, 0])
            inputs = F.pad(targets[:, :-1], (1, 0), value=MU_LAW_ZERO)
            source = None
            if self.source_harmonics:
                if f0 is None:
                    raise ValueError("a source-excited WaveNet trains on an F0 track: pass f0 [B, N]")
                source = self.excitation(f0, wav.shape[2])
            logits = self.decoder_logits(inputs, q.quantized, speaker, source)
            recon = F.cross_entropy(logits.float(), targets)
        else:
            if f0 is None:
                raise ValueError("the source-filter decoder trains on an F0 track: pass f0 [B, N]")
            from vqspeech.models.source import fill_unvoiced

            n = q.quantized.shape[2]
            f0 = f0[:, :n].float()
            spk = self._speaker(speaker, wav.shape[0])
            out_wav = self.decoder(q.quantized, spk, fill_unvoiced(f0), (f0 > 0).float())
            if "stft" not in self._aux:
                self._aux["stft"] = stft_loss_fn(self.config.decoder, self.sample_rate)
            recon = self._aux["stft"](out_wav[:, None, : wav.shape[2]].float(), wav.float())
        loss = recon + q.loss
        f0_metrics = None
        if self.f0_head is not None and f0 is not None:
            pred = self.f0_head(q.quantized, self._speaker(speaker, wav.shape[0]))
            fl, f0_metrics = f0_loss(pred, f0)
            f0_metrics = {"f0_loss": fl.detach(), **f0_metrics}
            loss = loss + self.config.f0_head.loss_weight * fl
        return VQVAEOutput(logits=logits, loss=loss, recon_loss=recon, vq_loss=q.loss,
                           commitment_loss=q.commitment_loss, perplexity=q.perplexity, usage=q.usage,
                           codes=q.codes, wav=out_wav, f0_metrics=f0_metrics)


def build_vqvae(config: VQVAEConfig, sync_fn: Callable[[torch.Tensor], torch.Tensor] | None = None) -> VQVAE:
    """A freshly initialised VQ-VAE from its config (`sync_fn`: see VectorQuantizer)."""
    D = config.quantizer.dim
    encoder = Encoder(config.encoder, D)
    quantizer = VectorQuantizer(config.quantizer, sync_fn=sync_fn)
    n_spk = len(config.speakers)
    if isinstance(config.decoder, SourceFilterConfig):
        decoder = SourceFilterDecoder(config.decoder, D, n_spk, config.hop, config.sample_rate)
    else:
        decoder = WaveNet(config.decoder, MU_LAW_CLASSES, MU_LAW_CLASSES, cond_channels=D, num_speakers=n_spk)
    f0_head = F0Head(config.f0_head, D, n_spk) if config.f0_head is not None else None
    return VQVAE(encoder, quantizer, decoder, config, f0_head)
