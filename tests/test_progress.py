"""Progress bars: tqdm on a terminal; in a log, whole lines at most every LOG_INTERVAL_S seconds."""

from __future__ import annotations

import io

import pytest

from vqspeech import progress


class _Clock:
    """A fake clock for tqdm: `advance` moves time without sleeping."""

    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


@pytest.fixture
def clock(monkeypatch):
    from tqdm import std

    c = _Clock()
    monkeypatch.setattr(std, "time", c)  # tqdm.std reads `time()` for its redraw intervals
    monkeypatch.setattr(std.tqdm, "monitor_interval", 0)  # no monitor thread
    return c


def test_log_stream_gets_whole_lines_at_most_every_interval(clock):
    log = io.StringIO()
    bar = progress.progress_bar(total=1000, desc="train", unit="step", file=log)
    for _ in range(1000):  # 1000 steps over 50 s: 0.05 s a step
        clock.t += 0.05
        bar.update()
    bar.close()
    text = log.getvalue()
    assert "\r" not in text and "\x1b" not in text and text.endswith("\n")
    lines = text.splitlines()
    # the first line, at most one per 10 s of the 50 s, and the final line
    assert 3 <= len(lines) <= 2 + 50 / progress.LOG_INTERVAL_S, lines
    assert lines[0].startswith("train:   0%") and "1000/1000" in lines[-1]
    assert all(ln.startswith("train:") and "|" in ln for ln in lines)


def test_log_stream_leave_false_bar_keeps_its_final_line(clock):
    log = io.StringIO()
    with progress.progress_bar(range(5), desc="cache", leave=False, file=log) as bar:
        for _ in bar:
            clock.t += 1
    lines = log.getvalue().splitlines()
    assert all(ln.strip() for ln in lines) and "\r" not in log.getvalue()
    assert lines[-1].startswith("cache: 100%")


def test_log_stream_refresh_before_close_is_not_repeated(clock):
    log = io.StringIO()
    bar = progress.progress_bar(total=2, desc="train", file=log)
    bar.update(2)
    for _ in range(5):
        clock.t += 1
        bar.set_postfix(loss=1.0)  # redraws at once on a terminal
        bar.refresh()
    bar.close()
    lines = log.getvalue().splitlines()
    assert len(lines) == 2 and lines[-1].startswith("train: 100%") and "loss=1" in lines[-1], lines


def test_terminal_keeps_tqdm_redraws(clock):
    class Tty(io.StringIO):
        def isatty(self):
            return True

    tty = Tty()
    bar = progress.progress_bar(total=3, desc="x", file=tty)
    for _ in range(3):
        clock.t += 1
        bar.update()
    bar.close()
    assert "\r" in tty.getvalue()


def test_disabled_bar_writes_nothing():
    log = io.StringIO()
    for _ in progress.progress_bar(range(3), file=log, disable=True):
        pass
    assert log.getvalue() == ""


def test_stderr_is_the_default(capsys, clock):
    for _ in progress.progress_bar(range(2), desc="d"):
        clock.t += 1
    err = capsys.readouterr().err
    assert "\r" not in err and err.splitlines()[-1].startswith("d: 100%")


def test_every_bar_goes_through_progress_bar():
    """tqdm is imported by vqspeech.progress only, so no bar writes carriage returns into a log."""
    import ast
    from pathlib import Path

    root = Path(progress.__file__).parent
    offenders = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            mods = ([a.name for a in node.names] if isinstance(node, ast.Import)
                    else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(m.split(".")[0] == "tqdm" for m in mods) and path.name != "progress.py":
                offenders.append(f"{path.relative_to(root.parent)}:{node.lineno}")
    assert not offenders, f"use vqspeech.progress.progress_bar instead of tqdm: {offenders}"
