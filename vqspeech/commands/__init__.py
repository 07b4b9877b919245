"""CLI verbs, one module per area. Each module defines `register(app)`, which adds its verbs.

Modules import heavy libraries (torch, numba) inside the command functions, so `vqspeech --help`
stays fast.
"""

from __future__ import annotations

import importlib
import importlib.util

import typer

# Areas in the order their verbs appear in `vqspeech --help`.
AREAS: list[str] = ["codec", "train", "prepare", "corpora", "data", "analyze", "evaluate", "info"]


def register_all(app: typer.Typer) -> None:
    for area in AREAS:
        name = f"vqspeech.commands.{area}"
        if importlib.util.find_spec(name) is None:  # an area not written yet
            continue
        importlib.import_module(name).register(app)
