"""Phone alignments from CTM, TIMIT `.PHN` and Praat TextGrid files, normalised to one form.

The normal form is `dict[str, list[PhoneInterval]]`: utterance id -> phones sorted by start time,
times in seconds from the utterance start (`PhoneInterval` from `vqspeech.data.kaldi`).

- CTM (`<utt> 1 <start-s> <dur-s> <phone>`): a file, or a Kaldi data dir holding `ctm`.
- TIMIT `.PHN` (`<start-sample> <end-sample> <phone>`, 16 kHz by default): one file (utterance id =
  the file's stem) or a directory tree such as `TIMIT/TRAIN/DR1/FCJF0/SA1.PHN` (utterance id =
  `<speaker>-<sentence>` in lower case, e.g. `fcjf0-sa1`, so it starts with the speaker id).
- Praat TextGrid (Montreal Forced Aligner output): the `phones` tier (or MFA's `<speaker> - phones`,
  or any tier named with `tier=`); empty intervals become `sil`. One file (id = stem) or a directory
  tree of `*.TextGrid` (id = stem, as MFA names them after the utterance).

Folding: `TIMIT_61_TO_39` is Lee & Hon (1989)'s 61 -> 39 mapping as in Kaldi's
`egs/timit/s5/conf/phones.60-48-39.map`; the closures, `h#`, `pau` and `epi` fold to `sil`. The glottal
stop `q` is deleted (Lee & Hon drop it): `fold_phones` gives its time to the phone before it (or the one
after, when it comes first), so the folded alignment still covers the same time without gaps. After
folding, touching neighbours with the same label are merged into one interval.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

from vqspeech.data.kaldi import PhoneInterval, read_ctm, write_ctm
from vqspeech.errors import VQSpeechError
from vqspeech.fileutil import atomic_path, write_text_atomic

log = logging.getLogger(__name__)

Alignments = dict[str, list[PhoneInterval]]
FORMATS = ("ctm", "phn", "textgrid")
_TOUCH = 1e-6  # seconds: intervals closer than this count as touching when merging

# Lee & Hon (1989) 61 -> 39 folding; None = deleted (q). 61 keys, 39 distinct targets.
TIMIT_61_TO_39: dict[str, str | None] = {
    **{p: p for p in (
        "aa ae ah aw ay b ch d dh dx eh er ey f g hh ih iy jh k l m n ng ow oy p r s sh t th uh uw v w y z"
    ).split()},
    "ao": "aa", "ax": "ah", "ax-h": "ah", "axr": "er", "hv": "hh", "ix": "ih", "el": "l", "em": "m",
    "en": "n", "nx": "n", "eng": "ng", "zh": "sh", "ux": "uw",
    "bcl": "sil", "dcl": "sil", "gcl": "sil", "pcl": "sil", "tcl": "sil", "kcl": "sil",
    "h#": "sil", "pau": "sil", "epi": "sil",
    "q": None,
}


# ----------------------------------------------------------------------------------------------- reading
def read_alignments(
    path: str | os.PathLike, fmt: str = "auto", *, sample_rate: int = 16000, tier: str = "phones",
    empty: str = "sil", progress: bool = False,
) -> Alignments:
    """Read phone alignments from `path` (a file or a directory) in `fmt` ("auto", "ctm", "phn",
    "textgrid"). `sample_rate` applies to TIMIT `.PHN` sample offsets; `tier` and `empty` (the label
    for empty intervals) to TextGrids; `progress` shows a bar (stderr) while reading a directory tree.
    Returns utt -> phones sorted by start time."""
    path = Path(path)
    if not path.exists():
        raise VQSpeechError(f"{path}: no such file or directory")
    if fmt == "auto":
        fmt = detect_format(path)
    if fmt == "ctm":
        ctm = path / "ctm" if path.is_dir() else path
        if not ctm.is_file():
            raise VQSpeechError(f"{path}: a directory without a ctm file (expected a data dir with ctm)")
        return normalise(read_ctm(ctm), str(ctm))
    if fmt == "phn":
        if path.is_dir():
            return _read_tree(path, (".phn",), _timit_utt_id, lambda p: read_phn(p, sample_rate), progress)
        return {path.stem: read_phn(path, sample_rate)}
    if fmt == "textgrid":
        if path.is_dir():
            return _read_tree(path, (".textgrid",), lambda p: p.stem,
                              lambda p: read_textgrid(p, tier=tier, empty=empty), progress)
        return {path.stem: read_textgrid(path, tier=tier, empty=empty)}
    raise VQSpeechError(f"{fmt}: unknown alignment format (choose auto, {', '.join(FORMATS)})")


def detect_format(path: Path) -> str:
    """Guess the format of a file (extension, then content) or a directory (what it holds)."""
    if path.is_dir():
        if (path / "ctm").is_file():
            return "ctm"
        found = {s for p in path.rglob("*") if p.is_file() and (s := p.suffix.lower()) in (".phn", ".textgrid")}
        if len(found) == 1:
            return "phn" if found == {".phn"} else "textgrid"
        if found:
            raise VQSpeechError(f"{path}: holds both .PHN and .TextGrid files; pass the format explicitly")
        raise VQSpeechError(f"{path}: no ctm, .PHN or .TextGrid files found")
    suffix = path.suffix.lower()
    if suffix == ".ctm" or path.name == "ctm":
        return "ctm"
    if suffix in (".phn", ".textgrid"):
        return suffix[1:]
    head = _read_text(path)[:2000]
    if head.lstrip().startswith('File type = "ooTextFile"'):
        return "textgrid"
    first = next((ln.split() for ln in head.splitlines() if ln.strip()), [])
    if len(first) == 5:
        return "ctm"
    if len(first) == 3 and first[0].isdigit() and first[1].isdigit():
        return "phn"
    raise VQSpeechError(f"{path}: cannot tell the alignment format (expected CTM, TIMIT .PHN or TextGrid)")


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return path.read_text(encoding="latin-1")
    except OSError as err:
        raise VQSpeechError(f"{path}: cannot read ({err.strerror or err})") from None


def _timit_utt_id(path: Path) -> str:
    """TIMIT/TRAIN/DR1/FCJF0/SA1.PHN -> fcjf0-sa1 (speaker dir, then the sentence)."""
    return f"{path.parent.name}-{path.stem}".lower()


def _read_tree(root: Path, suffixes: tuple[str, ...], utt_id, reader, progress: bool = False) -> Alignments:
    from vqspeech.progress import progress_bar

    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)
    if not files:
        raise VQSpeechError(f"{root}: no {'/'.join(suffixes)} files found")
    out: Alignments = {}
    where: dict[str, Path] = {}
    for f in progress_bar(files, desc=root.name, unit="file", disable=not progress, leave=False):
        utt = utt_id(f)
        if utt in out:
            raise VQSpeechError(f"{f}: utterance id {utt} also comes from {where[utt]}")
        out[utt] = reader(f)
        where[utt] = f
    return out


def read_phn(path: str | os.PathLike, sample_rate: int = 16000) -> list[PhoneInterval]:
    """One TIMIT `.PHN` file (`<start-sample> <end-sample> <phone>` lines) -> phones in seconds."""
    path = Path(path)
    phones = []
    for n, line in enumerate(_read_text(path).splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 3:
            raise VQSpeechError(f"{path}:{n}: expected '<start-sample> <end-sample> <phone>', got {line!r}")
        try:
            start, end = int(fields[0]), int(fields[1])
        except ValueError:
            raise VQSpeechError(f"{path}:{n}: sample offsets must be integers, got {line!r}") from None
        if start < 0 or end < start:
            raise VQSpeechError(f"{path}:{n}: bad interval {start}..{end}")
        phones.append(PhoneInterval(start / sample_rate, end / sample_rate, fields[2]))
    return _sorted(phones, str(path))


def read_textgrid(
    path: str | os.PathLike, tier: str = "phones", empty: str = "sil"
) -> list[PhoneInterval]:
    """The interval tier `tier` of a Praat TextGrid (MFA: `phones`, or `<speaker> - phones` when the file
    has one speaker tier set); empty labels become `empty`; gaps in the tier are filled likewise."""
    from praatio import textgrid as tg_mod

    path = Path(path)
    if not path.is_file():
        raise VQSpeechError(f"{path}: no such file")
    try:
        tg = tg_mod.openTextgrid(str(path), includeEmptyIntervals=True, reportingMode="silence")
    except Exception as err:  # noqa: BLE001 - praatio raises many types for malformed files
        detail = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise VQSpeechError(f"{path}: not a readable TextGrid ({detail})") from None
    names = list(tg.tierNames)
    name = tier if tier in names else None
    if name is None:
        cands = [t for t in names if t.endswith(f" - {tier}")]
        if len(cands) == 1:
            name = cands[0]
    if name is None:
        raise VQSpeechError(f"{path}: no tier named {tier!r} (tiers: {', '.join(names) or 'none'})")
    t = tg.getTier(name)
    if not hasattr(t, "entries") or t.tierType != "IntervalTier":
        raise VQSpeechError(f"{path}: tier {name!r} is not an interval tier")
    phones = _sorted([PhoneInterval(float(s), float(e), lab.strip() or empty) for s, e, lab in t.entries],
                     str(path))
    filled, t_prev = [], float(t.minTimestamp)
    for p in phones + [PhoneInterval(float(t.maxTimestamp), float(t.maxTimestamp), "")]:
        if p.start > t_prev + _TOUCH:  # a gap in the tier: unlabelled time, joined to an empty neighbour
            if filled and filled[-1].phone == empty and filled[-1].end >= t_prev - _TOUCH:
                filled[-1] = PhoneInterval(filled[-1].start, p.start, empty)
            else:
                filled.append(PhoneInterval(t_prev, p.start, empty))
        if p.end > p.start:
            filled.append(p)
        t_prev = max(t_prev, p.end)
    return filled


def _sorted(phones: list[PhoneInterval], where: str) -> list[PhoneInterval]:
    """Sort by start; drop zero-length intervals; refuse negative or overlapping ones."""
    phones = sorted(phones, key=lambda p: (p.start, p.end))
    out = []
    for p in phones:
        if p.start < 0 or p.end < p.start:
            raise VQSpeechError(f"{where}: bad phone interval {p.phone} {p.start:.4f}..{p.end:.4f} s")
        if p.end == p.start:
            continue
        if out and p.start < out[-1].end - _TOUCH:
            raise VQSpeechError(
                f"{where}: phones overlap: {out[-1].phone} {out[-1].start:.4f}..{out[-1].end:.4f} s and "
                f"{p.phone} {p.start:.4f}..{p.end:.4f} s"
            )
        out.append(p)
    return out


def normalise(alignments: Mapping[str, list[PhoneInterval]], where: str = "alignments") -> Alignments:
    """Sorted utterances, each with its phones sorted by time (checked: no negative or overlapping)."""
    return {utt: _sorted(list(alignments[utt]), f"{where}: {utt}") for utt in sorted(alignments)}


# ----------------------------------------------------------------------------------------------- writing
def write_alignments(path: str | os.PathLike, alignments: Mapping[str, list[PhoneInterval]], fmt: str,
                     *, sample_rate: int = 16000, tier: str = "phones") -> None:
    """Write `alignments` as a CTM file (`fmt="ctm"`) or as one `<utt>.PHN` / `<utt>.TextGrid` per
    utterance in the directory `path` (written atomically as a whole)."""
    from vqspeech.data.vctk import apply_umask
    from vqspeech.fileutil import atomic_dir

    path = Path(path)
    if fmt == "ctm":
        write_ctm(path, dict(alignments))
        return
    if fmt not in FORMATS:
        raise VQSpeechError(f"{fmt}: unknown alignment format (choose {', '.join(FORMATS)})")
    with atomic_dir(path) as tmp:
        for utt, phones in alignments.items():
            if fmt == "phn":
                write_phn(tmp / f"{utt}.PHN", phones, sample_rate)
            else:
                write_textgrid(tmp / f"{utt}.TextGrid", phones, tier=tier)
        apply_umask(tmp)  # temp dirs/files are 0700/0600


def write_phn(path: str | os.PathLike, phones: list[PhoneInterval], sample_rate: int = 16000) -> None:
    """Write one TIMIT `.PHN` file; times are rounded to the nearest sample."""
    lines = [f"{round(p.start * sample_rate)} {round(p.end * sample_rate)} {p.phone}\n" for p in phones]
    write_text_atomic(path, "".join(lines))


def write_textgrid(path: str | os.PathLike, phones: list[PhoneInterval], tier: str = "phones",
                   max_time: float | None = None) -> None:
    """Write one long-format TextGrid with a single interval tier `tier` (gaps stay empty)."""
    from praatio import textgrid as tg_mod

    phones = _sorted(list(phones), str(path))
    end = max([p.end for p in phones] + [max_time or 0.0])
    tg = tg_mod.Textgrid(minTimestamp=0.0, maxTimestamp=end)
    tg.addTier(tg_mod.IntervalTier(tier, [(p.start, p.end, p.phone) for p in phones], 0.0, end))
    with atomic_path(path) as tmp:
        tg.save(str(tmp), format="long_textgrid", includeBlankSpaces=True)


# ----------------------------------------------------------------------------------------------- mapping
def read_phone_map(path: str | os.PathLike) -> dict[str, str | None]:
    """A user mapping file: `from to` per line; blank lines are skipped, and a field starting with `#`
    starts a comment (so TIMIT's `h#` is a phone, not a comment). A line with only `from` deletes that
    phone (Kaldi's convention for TIMIT's `q`). Returns from -> to (None = delete)."""
    path = Path(path)
    if not path.is_file():
        raise VQSpeechError(f"{path}: no such file")
    mapping: dict[str, str | None] = {}
    for n, line in enumerate(_read_text(path).splitlines(), 1):
        fields = line.split()
        fields = fields[: next((i for i, f in enumerate(fields) if f.startswith("#")), len(fields))]
        if not fields:
            continue
        if len(fields) > 2:
            raise VQSpeechError(f"{path}:{n}: expected 'from to' (two columns), got {len(fields)}: {line.strip()!r}")
        if fields[0] in mapping:
            raise VQSpeechError(f"{path}:{n}: phone {fields[0]!r} is mapped twice")
        mapping[fields[0]] = fields[1] if len(fields) == 2 else None
    if not mapping:
        raise VQSpeechError(f"{path}: the phone map is empty")
    return mapping


def fold_phones(
    alignments: Mapping[str, list[PhoneInterval]], mapping: Mapping[str, str | None], unknown: str = "error"
) -> Alignments:
    """Map every phone through `mapping` (None deletes: the time goes to the previous phone, or to the
    next when the deleted phone comes first), then merge touching neighbours with the same label.

    `unknown`: "error" (a phone missing from the mapping is an error naming it), or "keep"."""
    if unknown not in ("error", "keep"):
        raise VQSpeechError(f"unknown={unknown!r}: choose 'error' or 'keep'")
    out: Alignments = {}
    for utt, phones in alignments.items():
        folded: list[PhoneInterval] = []
        pending_start: float | None = None  # start of deleted phones at the head of the utterance
        for p in phones:
            if p.phone in mapping:
                label = mapping[p.phone]
            elif unknown == "keep":
                label = p.phone
            else:
                raise VQSpeechError(f"{utt}: phone {p.phone!r} is not in the phone map")
            if label is None:
                if folded and abs(folded[-1].end - p.start) <= _TOUCH:
                    folded[-1] = PhoneInterval(folded[-1].start, p.end, folded[-1].phone)
                elif pending_start is None:
                    pending_start = p.start
                continue
            start = p.start
            if pending_start is not None:
                start, pending_start = pending_start, None
            if folded and folded[-1].phone == label and abs(folded[-1].end - start) <= _TOUCH:
                folded[-1] = PhoneInterval(folded[-1].start, p.end, label)
            else:
                folded.append(PhoneInterval(start, p.end, label))
        out[utt] = folded
    return out
