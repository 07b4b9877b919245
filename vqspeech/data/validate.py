"""Validate a Kaldi data dir: the checks of Kaldi's `utils/validate_data_dir.sh --no-feats`, every problem
reported with file and line.

Checks: required files present (wav.scp, utt2spk, spk2utt, text unless `require_text=False`); every file
UTF-8, newline-terminated, without empty lines, with the right number of fields, keys unique and sorted
in C order; the same utterance list in utt2spk, text, utt2dur and segments (or wav.scp without
segments); spk2utt the exact inverse of utt2spk; utterance ids prefixed by their speaker id; segments
naming wav.scp recordings with 0 <= start < end (end -1 = to the end); positive durations; wav.scp files
that exist (pipes are not run, but counted: `pipes`); a `ctm` naming only known utterances, with numeric non-negative times.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from vqspeech.errors import VQSpeechError


@dataclass(frozen=True)
class Problem:
    """One problem: `file` (path), `line` (1-based, 0 = the whole file), `message`."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}" if self.line else f"{self.file}: {self.message}"


@dataclass
class ValidationReport:
    path: Path
    problems: list[Problem] = field(default_factory=list)
    utterances: int = 0
    speakers: int = 0
    hours: float | None = None  # from utt2dur, when present
    pipes: int = 0  # wav.scp entries that are shell commands (`<command> |`): reading the data runs them

    @property
    def ok(self) -> bool:
        return not self.problems


class _File:
    """A file's lines as (line number, fields), with the generic checks applied."""

    def __init__(self, report: ValidationReport, path: Path, min_fields: int, max_fields: int | None,
                 form: str, sorted_keys: bool = True) -> None:
        self.path, self.rows, self.keys = path, [], {}
        name = str(path)
        add = report.problems.append
        try:
            raw = path.read_bytes()
        except OSError as err:
            raise VQSpeechError(f"{path}: cannot read ({err.strerror})") from None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            add(Problem(name, raw[:err.start].count(b"\n") + 1, "not valid UTF-8"))
            text = raw.decode("utf-8", "replace")
        if text and not text.endswith("\n"):
            add(Problem(name, text.count("\n") + 1, "last line is not newline-terminated"))
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        prev = None
        for n, line in enumerate(lines, start=1):
            fields = line.split()
            if not fields:
                add(Problem(name, n, "empty line"))
                continue
            if len(fields) < min_fields or (max_fields is not None and len(fields) > max_fields):
                add(Problem(name, n, f"expected {form}, got {line.strip()!r}"))
                continue
            key = fields[0]
            if key in self.keys and sorted_keys:
                add(Problem(name, n, f"duplicate key {key!r} (first on line {self.keys[key]})"))
                continue
            if sorted_keys and prev is not None and key < prev:
                add(Problem(name, n, f"not sorted in C order: {key!r} comes after {prev!r}"))
            prev = key
            self.keys.setdefault(key, n)
            self.rows.append((n, fields))


def _number(report: ValidationReport, f: _File, n: int, value: str, what: str) -> float | None:
    try:
        x = float(value)
    except ValueError:
        report.problems.append(Problem(str(f.path), n, f"{what} {value!r} is not a number"))
        return None
    if x != x or x in (float("inf"), float("-inf")):
        report.problems.append(Problem(str(f.path), n, f"{what} {value!r} is not finite"))
        return None
    return x


def _same_keys(report: ValidationReport, ref: _File, other: _File, what: str = "utterance") -> None:
    """Report keys of `other` missing from `ref` (at their line) and keys of `ref` missing in `other`."""
    for key, n in other.keys.items():
        if key not in ref.keys:
            report.problems.append(Problem(str(other.path), n, f"{what} {key!r} is not in {ref.path.name}"))
    missing = [k for k in ref.keys if k not in other.keys]
    if missing:
        report.problems.append(Problem(str(other.path), 0, f"{len(missing)} {what}(s) of {ref.path.name} are "
                                       f"missing, first {missing[0]!r} ({ref.path.name} line {ref.keys[missing[0]]})"))


def validate_data_dir(path: str | os.PathLike, require_text: bool = True) -> ValidationReport:
    """Check the data dir `path`; problems in it are returned in the report (a missing or unreadable
    dir raises `VQSpeechError`)."""
    path = Path(path)
    if not path.is_dir():
        raise VQSpeechError(f"{path}: " + ("no such data dir" if not path.exists() else "not a directory"))
    report = ValidationReport(path)
    add = report.problems.append
    required = ["wav.scp", "utt2spk", "spk2utt"] + (["text"] if require_text else [])
    for name in required:
        if not (path / name).is_file():
            add(Problem(str(path / name), 0, "required file is missing"))
    p = {name: path / name for name in ("wav.scp", "utt2spk", "spk2utt", "text", "segments", "utt2dur", "ctm")}
    utt2spk = _File(report, p["utt2spk"], 2, 2, "'<utt> <speaker>'") if p["utt2spk"].is_file() else None
    if utt2spk is not None:
        for n, (utt, spk) in utt2spk.rows:
            if not utt.startswith(spk):
                add(Problem(str(utt2spk.path), n, f"utterance id {utt!r} does not start with its speaker id {spk!r}"))
        report.utterances = len(utt2spk.keys)
        report.speakers = len({f[1] for _, f in utt2spk.rows})
    if p["spk2utt"].is_file():
        spk2utt = _File(report, p["spk2utt"], 2, None, "'<speaker> <utt> ...'")
        if utt2spk is not None:
            spk_of = {f[0]: f[1] for _, f in utt2spk.rows}
            seen: set[str] = set()
            for n, (spk, *utts) in spk2utt.rows:
                if utts != sorted(utts):
                    add(Problem(str(spk2utt.path), n, f"utterances of speaker {spk!r} are not sorted"))
                for utt in utts:
                    if spk_of.get(utt) != spk:
                        where = f"utt2spk says {spk_of[utt]!r}" if utt in spk_of else "not in utt2spk"
                        add(Problem(str(spk2utt.path), n, f"utterance {utt!r} listed for speaker {spk!r} ({where})"))
                    if utt in seen:
                        add(Problem(str(spk2utt.path), n, f"utterance {utt!r} listed twice"))
                    seen.add(utt)
            for utt, n in utt2spk.keys.items():
                if utt not in seen:
                    add(Problem(str(utt2spk.path), n, f"utterance {utt!r} is missing from spk2utt"))
    wav = _File(report, p["wav.scp"], 2, None, "'<recording> <path or command |>'") if p["wav.scp"].is_file() \
        else None
    if wav is not None:
        for n, (reco, *rest) in wav.rows:
            entry = " ".join(rest)
            if entry.endswith("|"):
                report.pipes += 1
            elif len(rest) == 1:
                f = Path(entry) if Path(entry).is_absolute() else path / entry
                if not f.exists():
                    add(Problem(str(wav.path), n, f"audio file {entry!r} of {reco!r} does not exist"))
    if p["text"].is_file():
        text = _File(report, p["text"], 1, None, "'<utt> <words>'")
        if utt2spk is not None:
            _same_keys(report, utt2spk, text)
    if p["segments"].is_file():
        seg = _File(report, p["segments"], 4, 4, "'<utt> <recording> <start> <end>'")
        if utt2spk is not None:
            _same_keys(report, utt2spk, seg)
        for n, (utt, reco, s, e) in seg.rows:
            if wav is not None and reco not in wav.keys:
                add(Problem(str(seg.path), n, f"recording {reco!r} of {utt!r} is not in wav.scp"))
            start = _number(report, seg, n, s, "start")
            end = _number(report, seg, n, e, "end")
            if start is not None and start < 0:
                add(Problem(str(seg.path), n, f"negative start {s}"))
            if start is not None and end is not None and end != -1 and end <= start:
                add(Problem(str(seg.path), n, f"end {e} is not after start {s}"))
    elif wav is not None and utt2spk is not None:
        _same_keys(report, utt2spk, wav)
    if p["utt2dur"].is_file():
        dur = _File(report, p["utt2dur"], 2, 2, "'<utt> <seconds>'")
        if utt2spk is not None:
            _same_keys(report, utt2spk, dur)
        total = 0.0
        for n, (_utt, d) in dur.rows:
            x = _number(report, dur, n, d, "duration")
            if x is not None and not x > 0:
                add(Problem(str(dur.path), n, f"duration {d} is not positive"))
            total += x if x is not None and x > 0 else 0.0
        report.hours = total / 3600
    if p["ctm"].is_file():
        _check_ctm(report, p["ctm"], utt2spk)
    return report


def _check_ctm(report: ValidationReport, path: Path, utt2spk: _File | None) -> None:
    ctm = _File(report, path, 5, 6, "'<utt> 1 <start> <dur> <phone>'", sorted_keys=False)
    prev: tuple[str, float] | None = None
    for n, f in ctm.rows:
        utt = f[0]
        if utt2spk is not None and utt not in utt2spk.keys:
            report.problems.append(Problem(str(path), n, f"utterance {utt!r} is not in utt2spk"))
        start = _number(report, ctm, n, f[2], "start")
        d = _number(report, ctm, n, f[3], "duration")
        if (start is not None and start < 0) or (d is not None and d < 0):
            report.problems.append(Problem(str(path), n, "negative start or duration"))
        if start is not None:
            if prev is not None and (utt, start) < prev:
                report.problems.append(Problem(str(path), n, "not sorted by utterance, then start time"))
            prev = (utt, start)
