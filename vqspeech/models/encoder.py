"""Strided 1-D convolutional encoder: raw waveform -> one D-dimensional latent per `hop` samples.

Padding (so that the code length is exactly `ceil(T / hop)` for every T):
1. the input is right-padded with zeros to a multiple of `hop`;
2. each strided conv (kernel `2 * s`, stride `s`) pads `s` zeros in total, `s // 2` on the left and
   `s - s // 2` on the right (symmetric for s = 2, asymmetric 2 + 3 for s = 5), so a length that is a
   multiple of `s` is divided exactly by `s`.
Then residual blocks of 1x1 convs (`x + conv(relu(conv(relu(x))))`) and a 1x1 projection to D.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vqspeech.models.config import EncoderConfig


class _ResBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(channels, channels, 1)
        self.conv2 = nn.Conv1d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


class Encoder(nn.Module):
    """`[B, 1, T] float in [-1, 1] -> [B, out_dim, ceil(T / hop)]`; see the module docstring for padding."""

    def __init__(self, config: EncoderConfig, out_dim: int) -> None:
        super().__init__()
        self.config = config
        self.out_dim = out_dim
        ch = config.hidden_channels
        self.convs = nn.ModuleList(
            nn.Conv1d(1 if i == 0 else ch, ch, 2 * s, stride=s) for i, s in enumerate(config.strides)
        )
        self.blocks = nn.ModuleList(_ResBlock(ch) for _ in range(config.residual_blocks))
        self.out = nn.Conv1d(ch, out_dim, 1)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """He-normal weights and zero biases on every conv.

        PyTorch's default conv init shrinks the signal at each ReLU layer, so after six strided convs
        the latents of different frames differ by ~0.05% of their norm (set by the biases, not the
        audio); the quantizer then sends every frame to one code and the codebook collapses.
        With this init the latents' spread across frames is of the order of their norm.
        """
        for module in self.modules():
            if isinstance(module, nn.Conv1d):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                nn.init.zeros_(module.bias)

    @property
    def hop(self) -> int:
        """Samples per latent vector: the product of the strides."""
        return self.config.hop

    @property
    def context(self) -> tuple[int, int]:
        """Samples before and after its own `hop` samples that latent n depends on (left, right)."""
        start, end = 0, 0  # input interval of output frame 0, walked back through the convs
        for s in reversed(self.config.strides):
            left = s // 2
            start = start * s - left
            end = end * s - left + 2 * s - 1
        return -start, end - (self.hop - 1)

    @property
    def receptive_field(self) -> int:
        """Input samples that one latent vector depends on."""
        left, right = self.context
        return left + self.hop + right

    def num_frames(self, num_samples: int) -> int:
        """Latent length for T input samples: ceil(T / hop)."""
        return -(-num_samples // self.hop)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        """wav: [B, 1, T] float -> z: [B, D, ceil(T / hop)]."""
        if wav.dim() != 3 or wav.shape[1] != 1:
            raise ValueError(f"encoder expects [B, 1, T] audio, got shape {tuple(wav.shape)}")
        T = wav.shape[2]
        n = self.num_frames(T)
        x = F.pad(wav, (0, n * self.hop - T))
        for conv, s in zip(self.convs, self.config.strides, strict=True):
            x = F.relu(conv(F.pad(x, (s // 2, s - s // 2))))
        for block in self.blocks:
            x = block(x)
        return self.out(F.relu(x))
