import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from vqspeech import __version__
from vqspeech.cli import app
from vqspeech.errors import VQSpeechError


def test_version(runner):
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"vqspeech {__version__}"


def test_help_lists_registered_verbs(runner):
    from vqspeech.commands import AREAS

    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "--version" in result.output and "--debug" in result.output
    for name in [c.name for c in app.registered_commands] + [g.name for g in app.registered_groups]:
        assert name in result.output
    assert isinstance(AREAS, list)


def _app_with(fn):
    """A copy of the root group wiring with one extra failing command, to test the handler."""
    from vqspeech import cli

    test_app = typer.Typer(cls=cli._ErrorHandlingGroup)
    test_app.callback()(cli._root)
    test_app.command("boom")(fn)
    return test_app


def test_user_error_is_one_line_exit_2(runner):
    def boom():
        raise VQSpeechError("x.wav: no such file")

    result = runner.invoke(_app_with(boom), ["boom"])
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: x.wav: no such file"
    assert "Traceback" not in result.output


def test_unexpected_error_hints_debug(runner):
    def boom():
        raise ZeroDivisionError("division by zero")

    result = runner.invoke(_app_with(boom), ["boom"])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--debug" in lines[0] and "ZeroDivisionError" in lines[0]
    result = runner.invoke(_app_with(boom), ["--debug", "boom"])
    assert isinstance(result.exception, ZeroDivisionError)


def test_console_script_runs():
    out = subprocess.run([sys.executable, "-m", "vqspeech", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and re.match(r"vqspeech \d", out.stdout)


def test_subcommand_help_exits_zero(runner):
    """`--help` of a subcommand raises typer.Exit(0) inside the group: it must pass through."""

    def hello():
        """Say hello."""

    result = runner.invoke(_app_with(hello), ["boom", "--help"])
    assert result.exit_code == 0, result.output
    assert "Say hello" in result.output and "error" not in result.output


def _console_script() -> str:
    """The installed `vqspeech` console script next to this interpreter (what a user runs)."""
    script = Path(sys.executable).parent / "vqspeech"
    assert script.is_file(), f"{script}: the console script is not installed (pip install -e .)"
    return str(script)


def _run(*args, cwd=None):
    env = {**os.environ, "COLUMNS": "100", "NO_COLOR": "1"}
    return subprocess.run([_console_script(), *args], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=300)


@pytest.mark.parametrize("args, usage, message", [
    (["encode"], "Usage: vqspeech encode", "Missing argument"),
    (["decode", "x.vqs", "--no-such-option"], "Usage: vqspeech decode", "No such option: --no-such-option"),
    (["no-such-verb"], "Usage: vqspeech", "No such command"),
    (["encode", "x.wav", "--chunk-seconds", "many"], "Usage: vqspeech encode", "Invalid value"),
    (["train", "vqvae", "--data"], "", "Option '--data' requires an argument"),  # typer shows no usage here
])
def test_console_script_usage_errors_exit_2_with_usage(args, usage, message, tmp_path):
    """Run as a user does (the installed script, in a subprocess): a usage error prints typer's usage line
    and the error, exits 2, and is never called unexpected."""
    out = _run(*args, cwd=tmp_path)
    assert out.returncode == 2, (out.returncode, out.stderr)
    assert usage in out.stderr and message in out.stderr, out.stderr
    assert "unexpected" not in out.stderr and "Traceback" not in out.stderr


def test_console_script_user_error_is_one_line_exit_2(tmp_path):
    out = _run("decode", "missing.vqs", cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip().splitlines() == ["error: missing.vqs: no such file or directory"]


def test_console_script_help_and_version_exit_0(tmp_path):
    out = _run("info", "--help", cwd=tmp_path)
    assert out.returncode == 0 and "Usage: vqspeech info" in out.stdout, out.stderr
    out = _run("--version", cwd=tmp_path)
    assert out.returncode == 0 and out.stdout.strip() == f"vqspeech {__version__}"


def test_usage_error_in_process_exit_2(runner):
    result = runner.invoke(app, ["encode"])
    assert result.exit_code == 2
    assert "Missing argument" in result.output and "unexpected" not in result.output
