"""Helpers shared by the CLI verbs: overwrite checks."""

from __future__ import annotations

import os
from pathlib import Path

from vqspeech.errors import VQSpeechError


def check_overwrite(path: str | os.PathLike, force: bool) -> None:
    """Refuse to overwrite an existing file unless `force`."""
    path = Path(path)
    if path.exists() and not force:
        raise VQSpeechError(f"{path}: exists (use --force to overwrite)")
