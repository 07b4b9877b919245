"""The `vqspeech` command: one typer app; each verb lives in `vqspeech/commands/<area>.py`.

The CLI is thin: it parses arguments, calls library functions and prints. Usage errors (a missing
argument, an unknown option) get typer's usage message and exit code 2; errors the user caused
(`VQSpeechError`) become one line on stderr and exit code 2; anything unexpected becomes one line plus
a hint to rerun with `--debug`, which shows the traceback (exit code 1).

typer >= 0.29 carries its own copy of click (click is no dependency of it, nor of vqspeech): its usage
errors derive from `typer.TyperException`, and `typer.Exit` / `typer.Abort` are its own classes, so those
three are what the handler passes through to typer.
"""

from __future__ import annotations

import logging
import sys

import typer
from typer.core import TyperGroup

from vqspeech import __version__
from vqspeech.errors import VQSpeechError

_state = {"debug": False}

# typer's own control flow: usage errors (TyperException; typer prints the usage line and exits 2),
# --help / --version (Exit) and Ctrl-C at a prompt (Abort).
_TYPER_SIGNALS = (typer.TyperException, typer.Exit, typer.Abort)


class _ErrorHandlingGroup(TyperGroup):
    """A typer group that turns exceptions from any subcommand into one stderr line."""

    def invoke(self, ctx: typer.Context):
        try:
            return super().invoke(ctx)
        except _TYPER_SIGNALS:
            raise
        except VQSpeechError as err:
            if _state["debug"]:
                raise
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None
        except Exception as err:  # noqa: BLE001 - the last line of defence for users
            if _state["debug"]:
                raise
            msg = str(err).splitlines()[0] if str(err) else ""
            typer.echo(
                f"error: unexpected {type(err).__name__}: {msg} (rerun with --debug for the traceback)", err=True
            )
            raise typer.Exit(1) from None


app = typer.Typer(
    cls=_ErrorHandlingGroup,
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="vqspeech: speech to discrete codes and back (VQ-VAE with a WaveNet decoder and prior).",
    pretty_exceptions_enable=False,
)


class _StderrFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        level = "warning" if record.levelno == logging.WARNING else record.levelname.lower()
        return record.getMessage() if record.levelno == logging.INFO else f"{level}: {record.getMessage()}"


def setup_logging(debug: bool = False) -> None:
    """Package log records go to stderr: warnings always, info in normal runs, debug with --debug."""
    logger = logging.getLogger("vqspeech")
    for handler in list(logger.handlers):
        if getattr(handler, "_vqspeech", False):
            logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._vqspeech = True  # type: ignore[attr-defined]
    handler.setFormatter(_StderrFormatter())
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if debug else logging.INFO)
    logger.propagate = False


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"vqspeech {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."
    ),
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks and debug logging."),
) -> None:
    """vqspeech: speech to discrete codes and back (VQ-VAE with a WaveNet decoder and prior)."""
    _state["debug"] = debug
    setup_logging(debug)


def _register_commands() -> None:
    """Attach each area's verbs. Import errors here are bugs, so they are not hidden."""
    from vqspeech.commands import register_all

    register_all(app)


_register_commands()


def main() -> None:
    """Console-script entry point."""
    app(prog_name="vqspeech")


if __name__ == "__main__":
    main()
