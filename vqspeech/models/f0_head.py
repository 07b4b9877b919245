"""The F0 head: per-frame voicing probability and log-F0 read from the quantized codes and the speaker.

Non-causal: a stack of residual dilated convolutions (kernel 3, dilations 1, 2, 4, ...) at the code
rate, so frame n sees frames n - R .. n + R with R = `F0HeadConfig.context`. Trained on a tracker's F0
(`vqspeech.pitch`): binary cross-entropy on voicing plus L1 on log-F0 of voiced frames, weighted by
`loss_weight`; its gradient reaches the encoder through the quantizer's straight-through path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from vqspeech.models.config import F0HeadConfig


@dataclass
class F0Prediction:
    voiced_logit: torch.Tensor  # [B, N]
    log_f0: torch.Tensor  # [B, N] natural log of Hz (meaningful on voiced frames; smooth elsewhere)

    def f0(self, threshold: float = 0.5, shift_semitones: float = 0.0) -> torch.Tensor:
        """[B, N] Hz, 0 on frames whose voicing probability is below `threshold`."""
        hz = torch.exp(self.log_f0 + shift_semitones * math.log(2.0) / 12.0)
        return torch.where(torch.sigmoid(self.voiced_logit) >= threshold, hz, torch.zeros_like(hz))


class _Block(nn.Module):
    def __init__(self, channels: int, dilation: int, kernel_size: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, kernel_size, dilation=dilation,
                              padding=dilation * (kernel_size - 1) // 2)
        self.mix = nn.Conv1d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.mix(F.gelu(self.conv(F.gelu(x))))


class F0Head(nn.Module):
    """quantized [B, D, N] + speaker [B] -> F0Prediction."""

    def __init__(self, config: F0HeadConfig, in_channels: int, num_speakers: int) -> None:
        super().__init__()
        self.config = config
        ch = config.channels
        self.inp = nn.Conv1d(in_channels, ch, 1)
        self.speaker_embed = nn.Embedding(num_speakers, ch) if num_speakers > 0 else None
        self.blocks = nn.ModuleList(_Block(ch, 2 ** (i % config.dilation_cycle), config.kernel_size)
                                    for i in range(config.layers))
        self.out = nn.Conv1d(ch, 2, 1)
        nn.init.zeros_(self.out.weight)
        with torch.no_grad():  # start at voiced, log-F0 = log(F0_REF)
            self.out.bias.copy_(torch.tensor([0.0, 0.0]))

    @property
    def context(self) -> int:
        return self.config.context

    def forward(self, quantized: torch.Tensor, speaker: torch.Tensor | None) -> F0Prediction:
        x = self.inp(quantized)
        if self.speaker_embed is not None and speaker is not None:
            x = x + self.speaker_embed(speaker.long())[:, :, None]
        for block in self.blocks:
            x = block(x)
        y = self.out(F.gelu(x))
        return F0Prediction(voiced_logit=y[:, 0], log_f0=math.log(self.config.f0_ref) + y[:, 1])


def f0_loss(pred: F0Prediction, f0: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """pred vs tracker f0 [B, N] Hz (0 = unvoiced) -> (loss, metrics: voicing error, log-F0 L1, GPE)."""
    n = min(pred.log_f0.shape[1], f0.shape[1])
    logit, lf, f0 = pred.voiced_logit[:, :n], pred.log_f0[:, :n], f0[:, :n].float()
    voiced = f0 > 0
    bce = F.binary_cross_entropy_with_logits(logit, voiced.float())
    target = torch.log(f0.clamp(min=1.0))
    err = (lf - target).abs()
    l1 = (err * voiced).sum() / voiced.sum().clamp(min=1)
    with torch.no_grad():
        vde = ((logit > 0) != voiced).float().mean()
        both = voiced & (logit > 0)
        gpe = ((err > math.log(1.2)) & both).sum() / both.sum().clamp(min=1)
    return bce + l1, {"f0_vde": vde, "f0_l1": l1.detach(), "f0_gpe": gpe}
