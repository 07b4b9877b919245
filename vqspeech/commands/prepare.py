"""`vqspeech prepare ...`: corpora to Kaldi data dirs. `synth` lives here; other corpora (vctk,
librispeech) attach their commands to `prepare_app` from their own modules."""

from __future__ import annotations

import typer

prepare_app = typer.Typer(
    help="Prepare corpora as Kaldi data dirs (synth, vctk, librispeech).",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(prepare_app, name="prepare")
