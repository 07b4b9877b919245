"""CLI verbs, one module per area. Each module defines `register(app)`, which adds its verbs.

Modules import heavy libraries (torch, numba) inside the command functions, so `vqspeech --help`
stays fast.
"""

from __future__ import annotations

import importlib

import typer

# Areas in the order their verbs appear in `vqspeech --help`.
AREAS: list[str] = ["codec", "train", "prepare", "corpora", "data", "analyze", "evaluate", "info"]


def register_all(app: typer.Typer) -> None:
    for area in AREAS:
        importlib.import_module(f"vqspeech.commands.{area}").register(app)
