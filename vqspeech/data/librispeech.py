"""LibriSpeech -> one Kaldi data dir per part (`train-clean-100` -> `DATA/train_clean_100`).

Layout: `<src>/<part>/<spk>/<chapter>/<spk>-<chapter>-<n>.flac` with `<spk>-<chapter>.trans.txt`
(`<utt> <TRANSCRIPT>` lines); `src` may also be the directory holding `LibriSpeech/`. Utterance ids are
the file stems (`103-1240-0000`, which start with the speaker id), speakers the reader ids; wav.scp
points at the flac files (16 kHz already, nothing is copied); utt2dur comes from the file headers.

Optional phone alignments: a Montreal Forced Aligner output tree (`<spk>/<utt>.TextGrid`, `phones`
tier) is read with `vqspeech.data.alignments` and written as each part's `ctm` for the utterances it
holds; utterances MFA could not align are counted in a warning.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from vqspeech.errors import VQSpeechError

log = logging.getLogger(__name__)

ALL_PARTS = ("train-clean-100", "train-clean-360", "train-other-500", "dev-clean", "dev-other",
             "test-clean", "test-other")
_DUR_SLACK = 0.05  # seconds an alignment may run past the audio end before a warning


@dataclass(frozen=True)
class LibriUtterance:
    utt: str  # 103-1240-0000
    speaker: str  # 103
    audio: Path
    text: str


def part_dir_name(part: str) -> str:
    """`train-clean-100` -> `train_clean_100` (the data dir's name)."""
    return part.replace("-", "_")


def find_parts(src: str | os.PathLike, parts: Sequence[str] | None = None) -> dict[str, Path]:
    """Locate each part under `src` or `src/LibriSpeech`. `parts=None`: every standard part present."""
    src = Path(src)
    if not src.is_dir():
        raise VQSpeechError(f"{src}: no such directory (expected the LibriSpeech root)")
    bases = [src] + ([src / "LibriSpeech"] if (src / "LibriSpeech").is_dir() else [])
    if parts is None:
        found = {p: b / p for p in ALL_PARTS for b in reversed(bases) if (b / p).is_dir()}
        if not found:
            raise VQSpeechError(f"{src}: not a LibriSpeech corpus: expected part directories such as "
                                f"train-clean-100/<spk>/<chapter>/<spk>-<chapter>-<n>.flac")
        return {p: found[p] for p in ALL_PARTS if p in found}
    out = {}
    for part in parts:
        if "/" in part or part in ("", ".", ".."):
            raise VQSpeechError(f"{part!r}: not a part name (e.g. train-clean-100)")
        where = next((b / part for b in bases if (b / part).is_dir()), None)
        if where is None:
            raise VQSpeechError(f"{src / part}: no such part directory (expected <part>/<spk>/<chapter>/)")
        out[part] = where
    return out


def scan_part(part_dir: Path) -> list[LibriUtterance]:
    """Every utterance of one part that has both a flac file and a transcript line."""
    trans = sorted(part_dir.glob("*/*/*.trans.txt"))
    if not trans:
        raise VQSpeechError(f"{part_dir}: no <spk>/<chapter>/<spk>-<chapter>.trans.txt files (wrong layout: "
                            "expected <part>/<spk>/<chapter>/<spk>-<chapter>-<n>.flac + .trans.txt)")
    utts: list[LibriUtterance] = []
    no_audio = 0
    for tr in trans:
        spk = tr.parent.parent.name
        try:
            lines = tr.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as err:
            raise VQSpeechError(f"{tr}: cannot read ({getattr(err, 'strerror', None) or err})") from None
        for n, line in enumerate(lines, 1):
            fields = line.split(maxsplit=1)
            if not fields:
                continue
            utt = fields[0]
            if not utt.startswith(f"{spk}-"):
                raise VQSpeechError(f"{tr}:{n}: utterance id {utt!r} does not start with the speaker {spk}-")
            if len(fields) < 2 or not fields[1].strip():
                raise VQSpeechError(f"{tr}:{n}: no transcript for {utt}")
            audio = tr.parent / f"{utt}.flac"
            if not audio.is_file():
                no_audio += 1
                continue
            utts.append(LibriUtterance(utt, spk, audio.resolve(), " ".join(fields[1].split())))
    if no_audio:
        log.warning("%s: %d transcript line(s) without a flac file skipped", part_dir, no_audio)
    seen = set()
    for u in utts:
        if u.utt in seen:
            raise VQSpeechError(f"{part_dir}: utterance {u.utt} appears twice in the transcripts")
        seen.add(u.utt)
    if not utts:
        raise VQSpeechError(f"{part_dir}: no utterances with both a flac file and a transcript")
    return sorted(utts, key=lambda u: u.utt)


def prepare_librispeech(
    src: str | os.PathLike, data: str | os.PathLike, parts: Sequence[str] | None = None,
    alignments: str | os.PathLike | None = None, *, force: bool = False, progress: bool = False,
) -> dict[str, Path]:
    """Write `DATA/<part_with_underscores>` for each part (wav.scp, utt2spk, spk2utt, text, utt2dur, and
    `ctm` with `alignments`). All dirs are built in temporary dirs and renamed when every part is
    complete. Returns part -> data dir."""
    from vqspeech.audio import audio_duration
    from vqspeech.data.kaldi import DataDir, write_ctm, write_data_dir
    from vqspeech.data.vctk import apply_umask, format_duration
    from vqspeech.fileutil import atomic_dir
    from vqspeech.progress import progress_bar

    data = Path(data).absolute()
    found = find_parts(src, parts)
    outs = {p: data / part_dir_name(p) for p in found}
    existing = [str(p) for p in outs.values() if p.exists()]
    if existing and not force:
        raise VQSpeechError(f"{existing[0]}: exists (use --force to overwrite)")
    ali = None
    if alignments is not None:
        from vqspeech.data.alignments import read_alignments

        ali_path = Path(alignments)
        if not ali_path.is_dir():
            raise VQSpeechError(f"{ali_path}: no such directory (expected MFA output <spk>/<utt>.TextGrid)")
        ali = read_alignments(ali_path, fmt="textgrid", progress=progress)
        log.info("%s: %d aligned utterances", ali_path, len(ali))
    scanned = {p: scan_part(d) for p, d in found.items()}
    with contextlib.ExitStack() as stack:
        tmp = {p: stack.enter_context(atomic_dir(outs[p])) for p in found}
        for part, utts in scanned.items():
            durs = {}
            for u in progress_bar(utts, desc=part, unit="utt", disable=not progress, leave=False):
                durs[u.utt] = round(audio_duration(u.audio), 4)
            write_data_dir(tmp[part], DataDir(
                wav_scp={u.utt: str(u.audio) for u in utts}, utt2spk={u.utt: u.speaker for u in utts},
                text={u.utt: u.text for u in utts}, utt2dur=durs))
            if ali is not None:
                _write_part_ctm(tmp[part] / "ctm", ali, durs, part, write_ctm)
            apply_umask(tmp[part])
            log.info("%s: %d utterances, %d speakers, %s -> %s", part, len(utts),
                     len({u.speaker for u in utts}), format_duration(sum(durs.values())), outs[part])
    return outs


def _write_part_ctm(path: Path, ali: dict, durs: dict[str, float], part: str, write_ctm) -> None:
    mine = {utt: ali[utt] for utt in sorted(durs) if utt in ali and ali[utt]}
    missing = len(durs) - len(mine)
    if not mine:
        log.warning("%s: none of its %d utterances has an alignment (no ctm written)", part, len(durs))
        return
    if missing:
        log.warning("%s: %d of %d utterances have no alignment", part, missing, len(durs))
    late = [utt for utt, phones in mine.items() if phones[-1].end > durs[utt] + _DUR_SLACK]
    if late:
        log.warning("%s: %d alignment(s) run past the end of their audio (first: %s)", part, len(late), late[0])
    write_ctm(path, mine)
