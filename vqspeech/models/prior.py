"""The prior: a WaveNet over code indices (K-way softmax), optionally speaker-conditioned.

Teacher forcing: the input is the code sequence shifted right by one with the start token K first
(so the WaveNet has K + 1 input classes and K output classes); logits[:, :, t] predict codes[:, t].
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from vqspeech.errors import VQSpeechError
from vqspeech.models.config import PriorConfig
from vqspeech.models.wavenet import WaveNet


class CodePrior(nn.Module):
    """`forward(codes [B, N], speaker [B] | None) -> logits [B, K, N]`."""

    def __init__(self, wavenet: WaveNet, config: PriorConfig) -> None:
        super().__init__()
        if wavenet.in_classes != config.num_codes + 1 or wavenet.out_classes != config.num_codes:
            raise ValueError("prior WaveNet must have K + 1 input and K output classes")
        self.config = config
        self.wavenet = wavenet
        self.speakers: list[str] = list(config.speakers)
        self.num_codes = config.num_codes
        self.start_token = config.num_codes  # the first input: "no code yet"
        self.hop = config.hop
        self.sample_rate = config.sample_rate

    def speaker_index(self, name: str) -> int:
        if name not in self.speakers:
            known = ", ".join(self.speakers) if self.speakers else "none: the prior is unconditional"
            raise VQSpeechError(f"unknown speaker '{name}' (known: {known})")
        return self.speakers.index(name)

    def forward(self, codes: torch.Tensor, speaker: torch.Tensor | None = None) -> torch.Tensor:
        """codes: [B, N] int64 in [0, K), speaker: [B] int64 or None -> logits [B, K, N]."""
        inputs = F.pad(codes[:, :-1], (1, 0), value=self.start_token)
        spk = None
        if self.wavenet.num_speakers > 0:
            if speaker is None:
                raise ValueError("this prior is speaker-conditioned: pass speaker [B] int64")
            spk = speaker.to(torch.long).view(codes.shape[0])
        return self.wavenet(inputs, None, spk)

    def nll_bits(self, codes: torch.Tensor, speaker: torch.Tensor | None = None,
                 reduce: bool = True) -> torch.Tensor:
        """Negative log2-likelihood: mean bits per code (scalar), or [B, N] bits with reduce=False."""
        logits = self.forward(codes, speaker)
        nats = F.cross_entropy(logits, codes, reduction="mean" if reduce else "none")
        return nats / math.log(2.0)


def build_prior(config: PriorConfig) -> CodePrior:
    """A freshly initialised prior from its config."""
    K = config.num_codes
    return CodePrior(WaveNet(config.wavenet, K + 1, K, num_speakers=len(config.speakers)), config)
