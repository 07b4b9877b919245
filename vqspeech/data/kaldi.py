"""Kaldi data directories: read, write and load audio from them.

A data dir holds `wav.scp` (`<reco> <path>` or `<reco> <command> |`), `utt2spk`, `spk2utt`, `text`,
optional `segments` (`<utt> <reco> <start-s> <end-s>`) and `utt2dur`, and for phone alignments a CTM
(`<utt> 1 <start-s> <dur-s> <phone>`, file `<data_dir>/ctm`). Files are sorted in C order (Python's
`sorted()` on str), keys are unique, every line ends with a newline.

Relative paths in wav.scp are resolved against the data dir (not the current directory), and piped
commands run with the data dir as their working directory. A segment end of -1 means "to the end of
the recording" (as in Kaldi's extract-segments).

`read_data_dir` is strict about syntax (malformed lines and duplicate keys raise `VQSpeechError`
naming file and line); consistency between files is checked by `vqspeech.data.validate`.
"""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vqspeech.errors import VQSpeechError
from vqspeech.fileutil import write_text_atomic

log = logging.getLogger(__name__)

CTM_DECIMALS = 7  # 1/16000 s = 0.0000625 s: 7 decimals hold any 16 kHz (or 8 kHz) sample time exactly


@dataclass(frozen=True)
class PhoneInterval:
    """One phone of an alignment; times in seconds from the utterance start."""

    start: float
    end: float
    phone: str


@dataclass
class DataDir:
    """The contents of a Kaldi data dir. `path` (not compared) anchors relative wav.scp paths."""

    wav_scp: dict[str, str]  # recording id -> path, or a shell command ending in " |"
    utt2spk: dict[str, str]  # utterance id -> speaker id
    text: dict[str, str] | None = None
    segments: dict[str, tuple[str, float, float]] | None = None  # utt -> (recording, start s, end s)
    utt2dur: dict[str, float] | None = None
    path: Path | None = field(default=None, compare=False, repr=False)

    def utterances(self) -> list[str]:
        """Sorted utterance ids."""
        return sorted(self.utt2spk)

    def speakers(self) -> list[str]:
        """Sorted speaker ids."""
        return sorted(set(self.utt2spk.values()))

    def spk2utt(self) -> dict[str, list[str]]:
        """Speaker id -> sorted utterance ids, speakers sorted."""
        out: dict[str, list[str]] = {}
        for utt in self.utterances():
            out.setdefault(self.utt2spk[utt], []).append(utt)
        return {spk: out[spk] for spk in sorted(out)}

    def recording(self, utt: str) -> str:
        """The wav.scp key holding `utt` (the utterance itself without segments)."""
        if self.segments is not None:
            if utt not in self.segments:
                raise VQSpeechError(f"{self._where('segments')}: no segment for utterance {utt!r}")
            return self.segments[utt][0]
        return utt

    def _where(self, name: str) -> str:
        return str(self.path / name) if self.path is not None else name


def format_time(x: float, decimals: int = CTM_DECIMALS) -> str:
    """Seconds as a short fixed-point string: `1.5`, `0`, `0.0000625`."""
    s = f"{float(x):.{decimals}f}".rstrip("0").rstrip(".")
    return "0" if s in ("", "-0") else s


def _read_lines(path: Path) -> list[tuple[int, str]]:
    """Non-empty lines of a text file as (line number, stripped text)."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise VQSpeechError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    except OSError as err:
        raise VQSpeechError(f"{path}: cannot read ({err.strerror})") from None
    out = []
    for n, line in enumerate(text.split("\n"), start=1):
        line = line.strip()
        if line:
            out.append((n, line))
    return out


def read_key_value(path: str | os.PathLike, min_fields: int = 2) -> dict[str, str]:
    """Read `<key> <rest of line>` lines; the value is the rest with outer whitespace stripped.

    `min_fields=1` allows an empty value (as in `text`). Duplicate keys and short lines raise
    `VQSpeechError` naming file and line.
    """
    path = Path(path)
    out: dict[str, str] = {}
    for n, line in _read_lines(path):
        parts = line.split(None, 1)
        if len(parts) < min_fields:
            raise VQSpeechError(f"{path}:{n}: expected '<key> <value>', got {line!r}")
        key = parts[0]
        if key in out:
            raise VQSpeechError(f"{path}:{n}: duplicate key {key!r}")
        out[key] = parts[1].strip() if len(parts) > 1 else ""
    return out


def _parse_float(path: Path, n: int, value: str, what: str) -> float:
    try:
        x = float(value)
    except ValueError:
        raise VQSpeechError(f"{path}:{n}: {what} {value!r} is not a number") from None
    if not np.isfinite(x):
        raise VQSpeechError(f"{path}:{n}: {what} {value!r} is not finite")
    return x


def _read_keyed_rows(path: str | os.PathLike, layout: str, parse: Callable[[int, list[str]], Any]) -> dict[str, Any]:
    """Read lines of exactly the fields in `layout` (e.g. "<utt> <seconds>"), keyed by the first;
    `parse(line_number, fields)` makes the value. Wrong field counts and duplicate keys raise
    `VQSpeechError` naming file and line."""
    path = Path(path)
    width = len(layout.split())
    out: dict[str, Any] = {}
    for n, line in _read_lines(path):
        f = line.split()
        if len(f) != width:
            raise VQSpeechError(f"{path}:{n}: expected '{layout}', got {line!r}")
        if f[0] in out:
            raise VQSpeechError(f"{path}:{n}: duplicate key {f[0]!r}")
        out[f[0]] = parse(n, f)
    return out


def read_segments(path: str | os.PathLike) -> dict[str, tuple[str, float, float]]:
    """Read `segments`: `<utt> <reco> <start-s> <end-s>` per line."""
    p = Path(path)
    return _read_keyed_rows(p, "<utt> <reco> <start> <end>", lambda n, f: (
        f[1], _parse_float(p, n, f[2], "start"), _parse_float(p, n, f[3], "end")))


def read_utt2dur(path: str | os.PathLike) -> dict[str, float]:
    """Read `utt2dur`: `<utt> <seconds>` per line."""
    p = Path(path)
    return _read_keyed_rows(p, "<utt> <seconds>", lambda n, f: _parse_float(p, n, f[1], "duration"))


def read_data_dir(path: str | os.PathLike) -> DataDir:
    """Read a Kaldi data dir (wav.scp and utt2spk required; text, segments, utt2dur optional)."""
    path = Path(path)
    if not path.exists():
        raise VQSpeechError(f"{path}: no such data dir")
    if not path.is_dir():
        raise VQSpeechError(f"{path}: not a directory (expected a Kaldi data dir)")
    for name in ("wav.scp", "utt2spk"):
        if not (path / name).is_file():
            raise VQSpeechError(f"{path}: not a Kaldi data dir ({name} is missing)")
    wav_scp = read_key_value(path / "wav.scp")
    utt2spk = read_key_value(path / "utt2spk")
    for n, line in _read_lines(path / "utt2spk"):
        if len(line.split()) != 2:
            raise VQSpeechError(f"{path / 'utt2spk'}:{n}: expected '<utt> <speaker>', got {line!r}")
    text = read_key_value(path / "text", min_fields=1) if (path / "text").is_file() else None
    segments = read_segments(path / "segments") if (path / "segments").is_file() else None
    utt2dur = read_utt2dur(path / "utt2dur") if (path / "utt2dur").is_file() else None
    return DataDir(wav_scp=wav_scp, utt2spk=utt2spk, text=text, segments=segments, utt2dur=utt2dur,
                   path=path)


def _check_key(key: str, name: str) -> None:
    if not key or any(c.isspace() for c in key):
        raise VQSpeechError(f"{name}: key {key!r} is empty or holds whitespace")


def _lines(items: dict[str, str], name: str) -> str:
    out = []
    for key in sorted(items):
        _check_key(key, name)
        value = items[key]
        if "\n" in value:
            raise VQSpeechError(f"{name}: value for {key!r} holds a newline")
        out.append(f"{key} {value}".rstrip(" ") + "\n")
    return "".join(out)


def write_data_dir(path: str | os.PathLike, data: DataDir) -> None:
    """Write `data` to the dir `path` (created if needed): C-sorted, newline-terminated files,
    `spk2utt` derived from `utt2spk`. Each file is written atomically; optional files that `data`
    lacks (text, segments, utt2dur) are removed so the dir stays consistent."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    files: dict[str, str | None] = {
        "wav.scp": _lines(data.wav_scp, "wav.scp"),
        "utt2spk": _lines(data.utt2spk, "utt2spk"),
        "spk2utt": _lines({s: " ".join(u) for s, u in data.spk2utt().items()}, "spk2utt"),
        "text": None if data.text is None else _lines(data.text, "text"),
        "segments": None if data.segments is None else _lines(
            {u: f"{r} {format_time(s)} {format_time(e)}" for u, (r, s, e) in data.segments.items()}, "segments"),
        "utt2dur": None if data.utt2dur is None else _lines(
            {u: format_time(d) for u, d in data.utt2dur.items()}, "utt2dur"),
    }
    for name, text in files.items():
        if text is None:
            if (path / name).exists():
                (path / name).unlink()
        else:
            write_text_atomic(path / name, text)


def read_ctm(path: str | os.PathLike) -> dict[str, list[PhoneInterval]]:
    """Read a CTM (`<utt> <channel> <start-s> <dur-s> <phone> [<confidence>]`); intervals sorted by start.

    Ends are `start + dur` rounded to 7 decimals, so contiguous phones written by `write_ctm` read back
    with `end == next start` exactly.
    """
    path = Path(path)
    if not path.is_file():
        raise VQSpeechError(f"{path}: no such CTM file")
    out: dict[str, list[PhoneInterval]] = {}
    for n, line in _read_lines(path):
        if line.startswith(";;"):  # NIST comment
            continue
        f = line.split()
        if len(f) not in (5, 6):
            raise VQSpeechError(f"{path}:{n}: expected '<utt> 1 <start> <dur> <phone>', got {line!r}")
        start = _parse_float(path, n, f[2], "start")
        dur = _parse_float(path, n, f[3], "duration")
        if dur < 0 or start < 0:
            raise VQSpeechError(f"{path}:{n}: negative start or duration in {line!r}")
        out.setdefault(f[0], []).append(PhoneInterval(start, round(start + dur, CTM_DECIMALS), f[4]))
    for utt in out:
        out[utt].sort(key=lambda p: (p.start, p.end))
    return out


def write_ctm(path: str | os.PathLike, alignments: dict[str, list[PhoneInterval]]) -> None:
    """Write a CTM atomically, sorted by utterance then start time; times with 7 decimals."""
    lines = []
    for utt in sorted(alignments):
        _check_key(utt, "ctm")
        for p in sorted(alignments[utt], key=lambda p: (p.start, p.end)):
            if not p.phone or any(c.isspace() for c in p.phone):
                raise VQSpeechError(f"ctm: utterance {utt!r}: phone {p.phone!r} is empty or holds whitespace")
            if p.end < p.start:
                raise VQSpeechError(f"ctm: utterance {utt!r}: phone {p.phone!r} ends before it starts")
            start = round(p.start, CTM_DECIMALS)
            dur = round(p.end, CTM_DECIMALS) - start
            lines.append(f"{utt} 1 {format_time(start)} {format_time(dur)} {p.phone}\n")
    write_text_atomic(path, "".join(lines))


def is_pipe(entry: str) -> bool:
    """A wav.scp entry that is a shell command (`<command> |`) rather than a path."""
    return entry.strip().endswith("|")


def pipe_entries(data: DataDir) -> list[tuple[str, str]]:
    """(recording, command) of every wav.scp entry that runs a shell command."""
    return [(reco, entry.strip()[:-1].strip()) for reco, entry in sorted(data.wav_scp.items()) if is_pipe(entry)]


def check_pipes(data: DataDir, allow: bool, option: str = "--allow-pipes") -> int:
    """Refuse a data dir whose wav.scp runs shell commands unless `allow`; returns how many it runs.

    A `<command> |` entry is run through a shell when its audio is read (as Kaldi does), so a data dir
    from elsewhere is code: it can run anything with the user's rights."""
    pipes = pipe_entries(data)
    if pipes and not allow:
        reco, cmd = pipes[0]
        raise VQSpeechError(f"{data._where('wav.scp')}: runs {len(pipes)} shell command{'s' if len(pipes) != 1 else ''}"
                            f" (first, for {reco!r}: {cmd[:80]!r}); read them, and pass {option} if you trust them")
    if pipes:
        log.warning("%s: runs %d shell commands to read its audio (%s given)", data._where("wav.scp"), len(pipes),
                    option)
    return len(pipes)


def _run_pipe(command: str, name: str, cwd: Path | None) -> bytes:
    """Run a wav.scp command (without the trailing '|'); return its stdout."""
    try:
        proc = subprocess.run(command, shell=True, cwd=cwd, capture_output=True, check=False)
    except OSError as err:
        raise VQSpeechError(f"{name}: cannot run wav.scp command {command!r} ({err.strerror})") from None
    if proc.returncode != 0:
        detail = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        why = f": {detail[-1]}" if detail else ""
        raise VQSpeechError(f"{name}: wav.scp command failed with exit code {proc.returncode}{why}")
    if not proc.stdout:
        raise VQSpeechError(f"{name}: wav.scp command {command!r} wrote no audio")
    return proc.stdout


def _load_recording(data: DataDir, reco: str, utt: str) -> tuple[np.ndarray, int]:
    """A recording as it is: ([T] float32 mono, sample rate)."""
    from vqspeech.audio import read_audio, read_audio_bytes

    if reco not in data.wav_scp:
        raise VQSpeechError(f"{data._where('wav.scp')}: no entry for recording {reco!r} (utterance {utt!r})")
    entry = data.wav_scp[reco].strip()
    if entry.endswith("|"):
        raw = _run_pipe(entry[:-1].strip(), f"utterance {utt!r}", data.path)
        wav2d, rate = read_audio_bytes(raw, f"utterance {utt!r}")
    else:
        p = Path(entry)
        if not p.is_absolute() and data.path is not None:
            p = data.path / p
        try:
            wav2d, rate = read_audio(p)
        except VQSpeechError as err:
            raise VQSpeechError(f"utterance {utt!r}: {err}") from None
    from vqspeech.audio import MAX_RATE, MIN_RATE

    if not MIN_RATE <= int(rate) <= MAX_RATE:
        raise VQSpeechError(f"utterance {utt!r}: sample rate {rate} Hz, outside {MIN_RATE}-{MAX_RATE} Hz")
    wav = wav2d.mean(axis=1) if wav2d.shape[1] > 1 else wav2d[:, 0]
    return np.ascontiguousarray(wav, dtype=np.float32), int(rate)


def load_utterance(data: DataDir, utt: str, sample_rate: int = 16000) -> np.ndarray:
    """Load one utterance as `[T] float32` mono at `sample_rate` (segments and pipes handled)."""
    from vqspeech.audio import check_audio, resample

    if utt not in data.utt2spk:
        raise VQSpeechError(f"{data._where('utt2spk')}: no utterance {utt!r}")
    reco = data.recording(utt)
    wav, rate = _load_recording(data, reco, utt)
    if data.segments is not None:
        _, start, end = data.segments[utt]
        a = int(round(start * rate))
        b = wav.size if end < 0 else int(round(end * rate))
        if a >= wav.size or b <= a:
            raise VQSpeechError(
                f"{data._where('segments')}: segment of {utt!r} ({start}-{end} s) lies outside recording "
                f"{reco!r} ({wav.size / rate:.3f} s)")
        if b > wav.size + int(0.01 * rate):  # Kaldi tolerates small overruns
            log.warning("utterance %s: segment end %.3f s is past the recording's end %.3f s", utt, end,
                        wav.size / rate)
        wav = wav[a:b]
    check_audio(wav, name=f"utterance {utt!r}")
    return resample(wav, rate, sample_rate)
