"""`vqspeech data ...`: inspect Kaldi data dirs."""

from __future__ import annotations

from pathlib import Path

import typer

data_app = typer.Typer(help="Inspect Kaldi data dirs (validate).", no_args_is_help=True)


@data_app.command("validate")
def validate(
    data_dir: Path = typer.Argument(..., help="A Kaldi data dir."),
    no_text: bool = typer.Option(False, "--no-text", help="Do not require a text file."),
) -> None:
    """Check a data dir as Kaldi's utils/validate_data_dir.sh --no-feats does.

    Prints every problem as FILE:LINE: message and exits 2 if there is any; otherwise prints a
    one-line summary (utterances, speakers, hours when utt2dur is present, and how many shell commands
    wav.scp runs: a `<command> |` entry runs when the audio is read, so a data dir from elsewhere is code).

    Examples:

      vqspeech data validate data/synth/train

      vqspeech data validate data/mycorpus --no-text
    """
    from vqspeech.data.validate import validate_data_dir
    from vqspeech.errors import VQSpeechError

    report = validate_data_dir(data_dir, require_text=not no_text)
    if not report.ok:
        for problem in report.problems:
            typer.echo(str(problem))
        n = len(report.problems)
        raise VQSpeechError(f"{data_dir}: {n} problem{'s' if n != 1 else ''} found")
    hours = f", {report.hours:.2f} h" if report.hours is not None else ""
    pipes = (f"; wav.scp runs {report.pipes} shell command{'s' if report.pipes != 1 else ''}: reading this data "
             "runs them (training needs --allow-pipes)") if report.pipes else ""
    typer.echo(f"{data_dir}: OK ({report.utterances} utterances, {report.speakers} speakers{hours}){pipes}")


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")
