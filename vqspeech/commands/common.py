"""Helpers shared by the CLI verbs: output naming, overwrite checks, progress bars."""

from __future__ import annotations

import os
from pathlib import Path

from vqspeech.errors import VQSpeechError


def output_path(inp: str | os.PathLike, out: str | os.PathLike | None, suffix: str, tag: str = "") -> Path:
    """The output path: `out` if given, else the input's name with `tag` and `suffix`, next to it."""
    if out is not None:
        return Path(out)
    inp = Path(inp)
    return inp.with_name(f"{inp.stem}{tag}{suffix}")


def check_overwrite(path: str | os.PathLike, force: bool) -> None:
    """Refuse to overwrite an existing file unless `force`."""
    path = Path(path)
    if path.exists() and not force:
        raise VQSpeechError(f"{path}: exists (use --force to overwrite)")
