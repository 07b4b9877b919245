"""Progress bars on stderr: tqdm on a terminal; in a log (CI, recipe logs, `2> log`) whole lines, at most one
every `LOG_INTERVAL_S` seconds.

tqdm redraws its bar with carriage returns, which in a file pile up as hundreds of updates in one line.
When the bar's stream is not a terminal, `progress_bar` gives tqdm a minimum redraw interval of
`LOG_INTERVAL_S` and a stream that writes each redraw as its own line: a log gets the first line, one line
per interval, and the final line (none for a bar made with `leave=False`, which tqdm erases when done).
"""

from __future__ import annotations

import re
import sys
from typing import Any

LOG_INTERVAL_S = 10.0  # seconds between two lines of a bar written to a file or pipe

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class _LineStream:
    """A text stream for tqdm that turns each carriage-return redraw into one newline-terminated line."""

    def __init__(self, stream):
        self._stream = stream
        self.encoding = getattr(stream, "encoding", None) or "utf-8"

    def write(self, s: str) -> None:
        line = _ANSI.sub("", s).replace("\r", "").rstrip()
        if line:  # tqdm's erase (spaces) and its bare line ends carry nothing
            self._stream.write(line + "\n")

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return False


def is_terminal(stream) -> bool:
    """Whether `stream` is an interactive terminal."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def progress_bar(iterable=None, **kwargs: Any):
    """`tqdm(iterable, **kwargs)` on stderr (or `file=`), in whole lines at most every `LOG_INTERVAL_S`
    seconds when that stream is not a terminal. Takes and returns what tqdm does."""
    from tqdm import tqdm

    stream = kwargs.pop("file", None) or sys.stderr
    if not is_terminal(stream):
        stream = _LineStream(stream)
        kwargs["mininterval"] = max(float(kwargs.get("mininterval", 0.1)), LOG_INTERVAL_S)
        kwargs["dynamic_ncols"] = False
        kwargs.setdefault("ascii", True)  # "###" bars: plain text in any log
    return tqdm(iterable, file=stream, **kwargs)
