"""Progress bars on stderr: tqdm on a terminal; in a log (CI, recipe logs, `2> log`) whole lines, at most one
every `LOG_INTERVAL_S` seconds.

tqdm redraws its bar with carriage returns, which in a file pile up as hundreds of updates in one line.
When the bar's stream is not a terminal, `progress_bar` gives tqdm a minimum redraw interval of
`LOG_INTERVAL_S` and a stream that writes each redraw as its own line: a log gets the first line, one line
per interval, and the final line (also of a bar made with `leave=False`: a log cannot be erased, so its last
line should say the work finished).
"""

from __future__ import annotations

import functools
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
        self._last = None

    def write(self, s: str) -> None:
        line = _ANSI.sub("", s).replace("\r", "").rstrip()
        # tqdm's erase (spaces) and bare line ends carry nothing; a refresh just before close repeats a line
        if line and line != self._last:
            self._stream.write(line + "\n")
            self._last = line

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


@functools.cache
def _log_bar_class():
    from tqdm import tqdm

    class LogBar(tqdm):
        """tqdm for a log: besides tqdm's own `mininterval`, explicit redraws (`refresh()`, `set_postfix`)
        within LOG_INTERVAL_S of the last line are skipped too; the final line (at close) never is."""

        _line_t: float | None = None

        def display(self, msg=None, pos=None):
            now = self._time()
            if not self.disable and self._line_t is not None and now - self._line_t < LOG_INTERVAL_S:
                return True  # tqdm.close sets `disable` before its last display
            self._line_t = now
            return super().display(msg, pos)

    return LogBar


def progress_bar(iterable=None, **kwargs: Any):
    """`tqdm(iterable, **kwargs)` on stderr (or `file=`), in whole lines at most every `LOG_INTERVAL_S`
    seconds when that stream is not a terminal. Takes and returns what tqdm does."""
    from tqdm import tqdm

    stream = kwargs.pop("file", None) or sys.stderr
    if is_terminal(stream):
        return tqdm(iterable, file=stream, **kwargs)
    kwargs["mininterval"] = max(float(kwargs.get("mininterval", 0.1)), LOG_INTERVAL_S)
    kwargs["dynamic_ncols"] = False
    kwargs["leave"] = True
    kwargs.setdefault("ascii", True)  # "###" bars: plain text in any log
    return _log_bar_class()(iterable, file=_LineStream(stream), **kwargs)


class RateBar:
    """A bar over generated samples (or codes) on stderr showing the real-time factor; a no-op when not
    `enabled`. `restart()` starts the clock after one-time set-up (loading the compiled kernel)."""

    def __init__(self, total: int, sample_rate: float, enabled: bool, desc: str) -> None:
        import time

        self._clock = time.perf_counter
        self.bar = None
        self.rate = sample_rate
        self.done = 0
        self.start = self._clock()
        if enabled:
            self.bar = progress_bar(total=total, unit="sample", unit_scale=True, desc=desc, file=sys.stderr,
                                    dynamic_ncols=True)

    def restart(self) -> None:
        self.start = self._clock()
        if self.bar is not None:
            self.bar.reset(total=self.bar.total)

    def update(self, n: int) -> None:
        self.done += n
        if self.bar is not None:
            wall = max(self._clock() - self.start, 1e-9)
            self.bar.set_postfix_str(f"{self.done / self.rate / wall:.2f}x real time", refresh=False)
            self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
