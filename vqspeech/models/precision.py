"""Inference precision of the source-filter decoder's convolutions: float32, or bfloat16 where the CPU has it.

The frame network and the F0 head are stacks of 1-D convolutions at the code rate, most of the decoding
time on a CPU. On CPUs with native bfloat16 dot products (x86 AVX512-BF16 or AMX) oneDNN runs them about
twice as fast in bfloat16 (float32 accumulation). `inference_copy` gives a copy of such a stack whose inner
convolutions take and return float32 but compute in bfloat16: the residual stream, the input projection and
the output heads stay float32, so the F0 and the amplitudes keep float32 resolution (measured on the synth
test set: F0 0.2 cents apart, PESQ-WB 2.0015 against 2.0002 in float32; README, "Decoders that speak").
Elsewhere bfloat16 is emulated and slower, so "auto" means float32 there.

    precision = resolve_precision("auto")        # "bfloat16" on this CPU, else "float32"
    head = inference_copy(model.f0_head, precision)
"""

from __future__ import annotations

import copy
import functools
import sys

import torch
import torch.nn.functional as F
from torch import nn

from vqspeech.errors import VQSpeechError

PRECISIONS = ("auto", "float32", "bfloat16")


@functools.cache
def native_bfloat16() -> bool:
    """Whether this CPU computes bfloat16 dot products natively (Linux: AVX512-BF16 or AMX-BF16 flags)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool({"avx512_bf16", "amx_bf16"} & flags)
    except OSError:
        return False
    return False


def resolve_precision(precision: str, device: torch.device | str = "cpu") -> str:
    """"auto" | "float32" | "bfloat16" -> "float32" or "bfloat16" (auto: bfloat16 on a CPU that has it)."""
    if precision not in PRECISIONS:
        raise VQSpeechError(f"precision '{precision}': expected one of {', '.join(PRECISIONS)}")
    if precision != "auto":
        return precision
    return "bfloat16" if torch.device(device).type == "cpu" and native_bfloat16() else "float32"


def check_precision(model, precision: str) -> str:
    """`precision` for decoding with `model`, resolved: bfloat16 only where the decoder has that path
    (the source-filter decoder); a WaveNet decodes in float32 ("auto" means that for it)."""
    resolved = resolve_precision(precision, next(model.parameters()).device)
    if getattr(model, "is_wavenet", True):
        if precision == "bfloat16":
            raise VQSpeechError("--precision bfloat16: only the source-filter decoder has a bfloat16 path; this "
                                "model's decoder is a WaveNet (use auto or float32)")
        return "float32"
    return resolved


class Bfloat16Conv1d(nn.Module):
    """An inference-only Conv1d that computes in bfloat16 between float32 input and output."""

    def __init__(self, conv: nn.Conv1d) -> None:
        super().__init__()
        if conv.groups != 1 or conv.padding_mode != "zeros" or isinstance(conv.padding, str):
            raise ValueError("Bfloat16Conv1d: plain zero-padded convolutions only")
        self.register_buffer("weight", conv.weight.detach().to(torch.bfloat16))
        self.register_buffer("bias", None if conv.bias is None else conv.bias.detach().to(torch.bfloat16))
        self.stride, self.padding, self.dilation = conv.stride, conv.padding, conv.dilation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.conv1d(x.to(torch.bfloat16), self.weight, self.bias, self.stride, self.padding, self.dilation)
        return y.float()


def inference_copy(module: nn.Module, precision: str) -> nn.Module:
    """`module` itself for float32; for bfloat16, a copy whose convolutions inside `module.blocks` compute
    in bfloat16 (everything else as it was). Gradients are not supported on the copy."""
    if precision == "float32":
        return module
    if precision != "bfloat16":
        raise VQSpeechError(f"precision '{precision}': expected float32 or bfloat16")
    out = copy.deepcopy(module).eval()
    for block in out.blocks:
        for name, child in list(block.named_children()):
            if isinstance(child, nn.Conv1d):
                setattr(block, name, Bfloat16Conv1d(child))
    return out


__all__ = ["PRECISIONS", "Bfloat16Conv1d", "check_precision", "inference_copy", "native_bfloat16", "resolve_precision"]
