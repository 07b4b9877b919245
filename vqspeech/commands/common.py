"""Helpers shared by the CLI verbs: option checks (the overwrite check is vqspeech.codec.outputs.check_overwrite)."""

from __future__ import annotations

import math

from vqspeech.errors import VQSpeechError


def check_temperature(value: float) -> float:
    """--temperature: finite and >= 0 (0 = argmax)."""
    if not (math.isfinite(value) and value >= 0):
        raise VQSpeechError(f"--temperature must be a finite number >= 0 (0 = argmax), got {value}")
    return value


def check_seed(value: int | None) -> int | None:
    """--seed: None or an integer in 0..2**32-1 (what numpy and torch accept)."""
    if value is not None and not 0 <= value < 2**32:
        raise VQSpeechError(f"--seed must be an integer in 0..{2**32 - 1}, got {value}")
    return value


def check_seconds(option: str, value: float | None, zero_ok: bool = False, most: float | None = None) -> None:
    """A time option: finite, > 0 (or >= 0 with `zero_ok`), at most `most` seconds."""
    if value is None:
        return
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero_ok):
        raise VQSpeechError(f"{option} must be a finite number of seconds {'>=' if zero_ok else '>'} 0, got {value}")
    if most is not None and value > most:
        raise VQSpeechError(f"{option} {value:g} s is more than the {most:g} s allowed (--max-duration raises it)")


def check_finite(option: str, value: float, bound: float) -> None:
    """A numeric option that must be finite and within +-bound."""
    if not (math.isfinite(value) and abs(value) <= bound):
        raise VQSpeechError(f"{option} must be a finite number within +-{bound:g}, got {value}")


def check_device(device: str) -> None:
    """--device: cpu, cuda or cuda:N that this machine has."""
    from vqspeech.train.config import check_device as check

    if device == "auto":
        raise VQSpeechError("--device: name the device (cpu, cuda or cuda:N)")
    check(device, "--device")


MAX_DURATION_HELP = "Refuse audio longer than this many seconds (default 14400 = 4 h)."
