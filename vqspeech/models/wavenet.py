"""WaveNet: a stack of gated, dilated, causal 1-D convolutions over a sequence of class indices.

Used as the VQ-VAE decoder (inputs: previous mu-law sample, local conditioning: quantized latents,
global conditioning: speaker) and as the prior over codes. Parameter names are an interface: the fast
generators in `vqspeech.generate` pack them. Per layer i (dilation d = 2 ** (i % layers_per_stack)):

    h = dilated(x) [+ cond(c)] [+ speaker(s)] [+ source(e)];  a, b = h.chunk(2, dim=1);  z = tanh(a) * sigmoid(b)
    skips += skip(z);  x = (x + res(z)) * sqrt(0.5)

and `logits = out2(relu(out1(relu(skips))))`. Causal: logits[:, :, t] depend on inputs[:, :t+1] and
cond[:, :, :t+1] only (the caller shifts the inputs so that position t sees the sample before t).
With `config.source_harmonics > 0` (the decoder only) an excitation e [B, source_channels, T] at the
sample rate (`vqspeech.models.source.sine_noise_source`) enters every layer through a bias-free 1x1 conv.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vqspeech.models.config import WaveNetConfig


class WaveNetLayer(nn.Module):
    """One gated residual layer; see the module docstring for the formula."""

    def __init__(self, residual: int, gate: int, skip: int, kernel_size: int, dilation: int,
                 cond_channels: int = 0, speaker_dim: int = 0, source_channels: int = 0) -> None:
        super().__init__()
        self.dilation = dilation
        self.kernel_size = kernel_size
        self.dilated = nn.Conv1d(residual, gate, kernel_size, dilation=dilation)
        self.cond = nn.Conv1d(cond_channels, gate, 1, bias=False) if cond_channels > 0 else None
        self.speaker = nn.Linear(speaker_dim, gate, bias=False) if speaker_dim > 0 else None
        self.source = nn.Conv1d(source_channels, gate, 1, bias=False) if source_channels > 0 else None
        self.res = nn.Conv1d(gate // 2, residual, 1)
        self.skip = nn.Conv1d(gate // 2, skip, 1)

    @property
    def padding(self) -> int:
        """Left padding that makes the dilated conv causal and length-preserving."""
        return (self.kernel_size - 1) * self.dilation

    def forward(self, x: torch.Tensor, c: torch.Tensor | None, s: torch.Tensor | None,
                cond_repeat: int = 1, e: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """x: [B, R, T]; c: [B, C, T / cond_repeat] or None; s: [B, S] or None; e: [B, E, >= T] or None
        -> (x [B, R, T], skip [B, K, T])."""
        h = self.dilated(F.pad(x, (self.padding, 0)))
        if self.cond is not None and c is not None:
            hc = self.cond(c)
            if cond_repeat > 1:
                hc = hc.repeat_interleave(cond_repeat, dim=2)
            h = h + hc[:, :, : h.shape[2]]
        if self.speaker is not None and s is not None:
            h = h + self.speaker(s).unsqueeze(-1)
        if self.source is not None and e is not None:
            h = h + self.source(e[:, :, : h.shape[2]])
        a, b = h.chunk(2, dim=1)
        z = torch.tanh(a) * torch.sigmoid(b)
        return (x + self.res(z)) * math.sqrt(0.5), self.skip(z)


class ScalarInput(nn.Module):
    """Input "embedding" of 8-bit mu-law symbols as a linear function of the sample they stand for:
    row k = W @ [companded value of k, amplitude of k] + b. `weight` is that [256, R] table, so code
    that reads `wavenet.embed.weight` (the fast generators) works for both input kinds."""

    def __init__(self, in_classes: int, channels: int) -> None:
        super().__init__()
        from vqspeech.audio import mu_law_decode

        self.proj = nn.Linear(2, channels)
        k = np.arange(in_classes)
        features = np.stack([2.0 * k / (in_classes - 1) - 1.0, mu_law_decode(k, in_classes)], axis=1)
        self.register_buffer("levels", torch.from_numpy(features.astype(np.float32)), persistent=False)

    @property
    def weight(self) -> torch.Tensor:
        return self.proj(self.levels)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return F.embedding(inputs, self.weight)


class WaveNet(nn.Module):
    """A WaveNet over `in_classes` input symbols predicting `out_classes`-way logits.

    `cond_channels > 0` adds local conditioning (1x1 conv per layer); `num_speakers > 0` adds a speaker
    embedding projected into every layer (global conditioning).
    """

    def __init__(self, config: WaveNetConfig, in_classes: int, out_classes: int,
                 cond_channels: int = 0, num_speakers: int = 0) -> None:
        super().__init__()
        self.config = config
        self.in_classes = in_classes
        self.out_classes = out_classes
        self.cond_channels = cond_channels
        self.num_speakers = num_speakers
        self.source_channels = config.source_channels
        c = config
        if c.input == "mulaw_scalar":
            if in_classes != 256:
                raise ValueError("input 'mulaw_scalar' is for the 8-bit mu-law decoder input (256 classes)")
            self.embed: nn.Module = ScalarInput(in_classes, c.residual_channels)
        else:
            self.embed = nn.Embedding(in_classes, c.residual_channels)
        self.speaker_embed = nn.Embedding(num_speakers, c.speaker_dim) if num_speakers > 0 else None
        spk_dim = c.speaker_dim if num_speakers > 0 else 0
        self.layers = nn.ModuleList(
            WaveNetLayer(c.residual_channels, c.gate_channels, c.skip_channels, c.kernel_size, d,
                         cond_channels, spk_dim, self.source_channels)
            for d in c.dilations
        )
        self.out1 = nn.Conv1d(c.skip_channels, c.skip_channels, 1)
        self.out2 = nn.Conv1d(c.skip_channels, out_classes, 1)

    @property
    def dilations(self) -> list[int]:
        return self.config.dilations

    @property
    def receptive_field(self) -> int:
        """Inputs each output depends on: `(kernel_size - 1) * sum(dilations) + 1`."""
        return self.config.receptive_field

    def forward(self, inputs: torch.Tensor, cond: torch.Tensor | None = None,
                speaker: torch.Tensor | None = None, cond_repeat: int = 1,
                source: torch.Tensor | None = None) -> torch.Tensor:
        """Teacher-forced logits.

        inputs: [B, T] int64 in [0, in_classes); cond: [B, cond_channels, T] float, or, with
        `cond_repeat = r > 1`, [B, cond_channels, ceil(T / r)] at frame rate (each frame repeated r times;
        the same result as repeating `cond` first, computed r times cheaper); speaker: [B] int64 or None;
        source: [B, source_channels, >= T] the excitation (needed when `source_channels > 0`). Returns logits [B, out_classes, T].
        """
        if self.cond_channels > 0 and cond is None:
            raise ValueError("this WaveNet needs local conditioning (cond)")
        if cond is not None:
            if cond.shape[1] != self.cond_channels:
                raise ValueError(f"cond has {cond.shape[1]} channels, expected {self.cond_channels}")
            if cond.shape[2] * cond_repeat < inputs.shape[1]:
                raise ValueError(f"cond covers {cond.shape[2] * cond_repeat} steps < {inputs.shape[1]} inputs")
        if self.source_channels > 0:
            if source is None or source.shape[1] != self.source_channels or source.shape[2] < inputs.shape[1]:
                got = None if source is None else tuple(source.shape)
                raise ValueError(f"this WaveNet needs source [B, {self.source_channels}, >= T], got {got}")
        s = None
        if self.speaker_embed is not None:
            if speaker is None:
                raise ValueError("this WaveNet is speaker-conditioned: pass speaker [B] int64")
            s = self.speaker_embed(speaker)
        x = self.embed(inputs).transpose(1, 2)
        skips = None
        for layer in self.layers:
            x, sk = layer(x, cond, s, cond_repeat, source)
            skips = sk if skips is None else skips + sk
        return self.out2(F.relu(self.out1(F.relu(skips))))
