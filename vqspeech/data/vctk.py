"""VCTK -> Kaldi data dirs `DATA/{train,dev,test}` (and optional 16 kHz flac copies in `DATA/flac16k`).

Layouts (auto-detected):
- VCTK 0.80: `wav48/pXXX/pXXX_YYY.wav` + `txt/pXXX/pXXX_YYY.txt` (one microphone).
- VCTK 0.92: `wav48_silence_trimmed/pXXX/pXXX_YYY_mic{1,2}.flac` + `txt/pXXX/pXXX_YYY.txt`.

Utterance ids are `<spk>-<stem>` (`p225-p225_001`, no mic suffix), speaker ids the directory names.
Speakers without transcripts (p315) or without the chosen microphone are skipped with a logged note.

Silence trimming (energy threshold, `trim_bounds`): leading and trailing frames more than `top_db`
below the loudest 25 ms frame are cut, keeping `pad` seconds. Without `flac16k` no audio is copied: the
bounds go into `segments` (`<utt> <utt> <start> <end>`, recording id = utterance id). With `flac16k`
the 16 kHz copies are written already trimmed (`DATA/flac16k/<spk>/<utt>.flac`, wav.scp points at them,
no segments), so training never resamples or seeks.

The split is per speaker, by utterance: each speaker's utterances are shuffled with a generator seeded
by `(seed, speaker)` and cut by `split` fractions, so every speaker appears in every part and adding or
removing speakers does not change the others' split.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import random
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vqspeech.errors import VQSpeechError

log = logging.getLogger(__name__)

PARTS = ("train", "dev", "test")
LAYOUTS = {"0.80": "wav48", "0.92": "wav48_silence_trimmed"}
MICS = ("mic1", "mic2")


@dataclass(frozen=True)
class VctkUtterance:
    utt: str  # p225-p225_001
    speaker: str  # p225
    audio: Path  # absolute path of the original audio
    text: str  # one line


# ------------------------------------------------------------------------------------------- discovery
def detect_layout(src: str | os.PathLike, version: str = "auto") -> tuple[Path, str]:
    """Find the corpus root and version under `src` (itself, or a single subdirectory such as
    `VCTK-Corpus/`). Returns `(root, "0.80" | "0.92")`."""
    src = Path(src)
    if not src.is_dir():
        raise VQSpeechError(f"{src}: no such directory (expected the VCTK corpus root)")
    if version not in ("auto", *LAYOUTS):
        raise VQSpeechError(f"version {version!r}: choose auto, 0.80 or 0.92")
    versions = list(LAYOUTS) if version == "auto" else [version]
    candidates = [src] + sorted(p for p in src.iterdir() if p.is_dir() and not p.name.startswith("."))
    for root in candidates:
        found = [v for v in versions if (root / LAYOUTS[v]).is_dir()]
        if len(found) > 1:
            raise VQSpeechError(f"{root}: holds both wav48/ (0.80) and wav48_silence_trimmed/ (0.92); "
                                "pass --version")
        if found:
            if not (root / "txt").is_dir():
                raise VQSpeechError(f"{root / 'txt'}: missing (expected transcripts txt/pXXX/pXXX_YYY.txt)")
            return root, found[0]
    want = " or ".join(f"{LAYOUTS[v]}/ (VCTK {v})" for v in versions)
    raise VQSpeechError(f"{src}: not a VCTK corpus: expected {want} with txt/pXXX/pXXX_YYY.txt next to it")


def _read_line(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise VQSpeechError(f"{path}: cannot read ({err.strerror or err})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return " ".join(text.split())


def scan_vctk(
    root: Path, version: str, mic: str = "mic2", speakers: Sequence[str] | None = None
) -> list[VctkUtterance]:
    """List the usable utterances (audio with a non-empty transcript), sorted by utterance id."""
    if mic not in MICS:
        raise VQSpeechError(f"mic {mic!r}: choose {' or '.join(MICS)}")
    wav_root, txt_root = root / LAYOUTS[version], root / "txt"
    spk_dirs = sorted(p for p in wav_root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if speakers:
        missing = sorted(set(speakers) - {p.name for p in spk_dirs})
        if missing:
            raise VQSpeechError(f"{wav_root}: no speaker {', '.join(missing)}")
        spk_dirs = [p for p in spk_dirs if p.name in set(speakers)]
    if not spk_dirs:
        raise VQSpeechError(f"{wav_root}: no speaker directories (expected {LAYOUTS[version]}/pXXX/)")
    out: list[VctkUtterance] = []
    for spk_dir in spk_dirs:
        spk = spk_dir.name
        if not (txt_root / spk).is_dir():
            log.info("%s: no transcripts in %s, speaker skipped", spk, txt_root / spk)
            continue
        if version == "0.80":
            audio = {p.stem: p for p in spk_dir.glob("*.wav")}
        else:
            suffix = f"_{mic}"
            audio = {p.stem[: -len(suffix)]: p for p in spk_dir.glob(f"*{suffix}.flac")}
        if not audio:
            what = "*.wav" if version == "0.80" else f"*_{mic}.flac"
            log.info("%s: no %s audio in %s, speaker skipped", spk, what, spk_dir)
            continue
        no_text = 0
        for stem in sorted(audio):
            txt = txt_root / spk / f"{stem}.txt"
            text = _read_line(txt) if txt.is_file() else ""
            if not text:
                no_text += 1
                continue
            out.append(VctkUtterance(f"{spk}-{stem}", spk, audio[stem].resolve(), text))
        if no_text:
            log.info("%s: %d utterance(s) without a transcript skipped", spk, no_text)
    if not out:
        raise VQSpeechError(f"{root}: no utterances with both audio and a transcript")
    return out


# ------------------------------------------------------------------------------------------- splitting
def split_counts(n: int, fractions: Sequence[float]) -> list[int]:
    """Cut `n` items by `fractions` (largest remainders); every part with a positive fraction gets at
    least one item when `n` allows it."""
    total = sum(fractions)
    raw = [n * f / total for f in fractions]
    counts = [math.floor(r) for r in raw]
    for i in sorted(range(len(raw)), key=lambda i: counts[i] - raw[i])[: n - sum(counts)]:
        counts[i] += 1
    for i, f in enumerate(fractions):  # take from the largest part for an empty positive one
        if f > 0 and counts[i] == 0:
            j = max(range(len(counts)), key=lambda k: counts[k])
            if counts[j] > 1:
                counts[j] -= 1
                counts[i] += 1
    return counts


def split_by_speaker(utts: Sequence[VctkUtterance], fractions: Sequence[float], seed: int
                     ) -> dict[str, list[VctkUtterance]]:
    """Per speaker, shuffle with `Random(f"{seed}-{speaker}")` and cut into train/dev/test."""
    if len(fractions) != 3 or any(f < 0 for f in fractions) or sum(fractions) <= 0:
        raise VQSpeechError(f"split {tuple(fractions)}: expected three non-negative fractions train,dev,test")
    by_spk: dict[str, list[VctkUtterance]] = {}
    for u in utts:
        by_spk.setdefault(u.speaker, []).append(u)
    parts: dict[str, list[VctkUtterance]] = {p: [] for p in PARTS}
    for spk in sorted(by_spk):
        items = sorted(by_spk[spk], key=lambda u: u.utt)
        random.Random(f"{seed}-{spk}").shuffle(items)
        start = 0
        for part, count in zip(PARTS, split_counts(len(items), fractions), strict=True):
            parts[part].extend(items[start: start + count])
            start += count
    return {p: sorted(v, key=lambda u: u.utt) for p, v in parts.items()}


# ------------------------------------------------------------------------------------------- trimming
def trim_bounds(wav: np.ndarray, rate: int, top_db: float = 40.0, pad: float = 0.1,
                frame: float = 0.025, hop: float = 0.010) -> tuple[int, int]:
    """Speech bounds `(start, end)` in samples of `wav: [T] float`: the first and last frame whose
    energy is within `top_db` of the loudest frame, widened by `pad` seconds. All-silent audio and
    audio shorter than a frame keep their full length."""
    n = len(wav)
    flen, fhop = max(1, round(rate * frame)), max(1, round(rate * hop))
    if n < flen:
        return 0, n
    c = np.concatenate([[0.0], np.cumsum(np.asarray(wav, dtype=np.float64) ** 2)])
    starts = np.arange(0, n - flen + 1, fhop)
    energy = np.maximum((c[starts + flen] - c[starts]) / flen, 0.0)
    if energy.max() <= 0.0:
        return 0, n
    db = 10.0 * np.log10(energy + 1e-20)
    loud = np.nonzero(db >= db.max() - top_db)[0]
    if loud.size == 0:  # non-finite samples: leave the audio alone
        return 0, n
    margin = round(pad * rate)
    return max(0, int(starts[loud[0]]) - margin), min(n, int(starts[loud[-1]]) + flen + margin)


def _process(job: tuple[str, str | None, bool, float, float]) -> tuple[float, float, float]:
    """One utterance: `(audio, flac_out, trim, top_db, pad) -> (start s, end s, file duration s)`.
    With `flac_out` the (trimmed) 16 kHz copy is written and times refer to it."""
    from vqspeech.audio import audio_duration, load_audio, read_audio, save_audio

    audio, flac_out, trim, top_db, pad = job
    if flac_out is not None:
        wav = load_audio(audio, 16000, check=False)
        if wav.size == 0 or not np.all(np.isfinite(wav)):
            raise VQSpeechError(f"{audio}: the file holds no audio samples or non-finite ones")
        s, e = trim_bounds(wav, 16000, top_db, pad) if trim else (0, len(wav))
        Path(flac_out).parent.mkdir(parents=True, exist_ok=True)
        save_audio(flac_out, wav[s:e], 16000)
        return 0.0, (e - s) / 16000, (e - s) / 16000
    if not trim:
        dur = audio_duration(audio)
        return 0.0, dur, dur
    data, rate = read_audio(audio)
    if data.shape[0] == 0 or not np.all(np.isfinite(data)):
        raise VQSpeechError(f"{audio}: the file holds no audio samples or non-finite ones")
    s, e = trim_bounds(data.mean(axis=1), rate, top_db, pad)
    # millisecond resolution, inside the file: start rounded down, end rounded down (never past the end)
    return math.floor(s / rate * 1000) / 1000, math.floor(e / rate * 1000) / 1000, data.shape[0] / rate


# ------------------------------------------------------------------------------------------- prepare
def apply_umask(root: Path) -> None:
    """Give `root` and everything under it the modes a plain mkdir/open would (0777/0666 less the
    umask): temp dirs and files are created 0700/0600, which would hide data dirs from a group."""
    mask = os.umask(0)
    os.umask(mask)
    for dirpath, _, filenames in os.walk(root):
        os.chmod(dirpath, 0o777 & ~mask)
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), 0o666 & ~mask)


def format_duration(seconds: float) -> str:
    """`5.2 s`, `12.3 min` or `44.21 h` for log lines."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min" if seconds < 3600 else f"{seconds / 3600:.2f} h"


def prepare_vctk(
    src: str | os.PathLike, data: str | os.PathLike, mic: str = "mic2", version: str = "auto",
    trim: bool = True, split: Sequence[float] = (0.9, 0.05, 0.05), seed: int = 0, flac16k: bool = False,
    *, top_db: float = 40.0, pad: float = 0.1, speakers: Sequence[str] | None = None, jobs: int = 1,
    force: bool = False, progress: bool = False,
) -> dict[str, Path]:
    """Write `DATA/{train,dev,test}` (wav.scp, utt2spk, spk2utt, text, utt2dur, and segments when
    trimming without copies) and, with `flac16k`, `DATA/flac16k/`. Every output dir is built in a
    temporary dir and renamed into place only when all are complete. Returns part -> data dir."""
    from vqspeech.data.kaldi import DataDir, write_data_dir
    from vqspeech.fileutil import atomic_dir
    from vqspeech.progress import progress_bar

    data = Path(data).absolute()
    outs = {p: data / p for p in PARTS}
    targets = [*outs.values()] + ([data / "flac16k"] if flac16k else [])
    existing = [str(p) for p in targets if p.exists()]
    if existing and not force:
        raise VQSpeechError(f"{existing[0]}: exists (use --force to overwrite)")
    root, version = detect_layout(src, version)
    log.info("VCTK %s at %s (%s)", version, root, mic if version == "0.92" else "single microphone")
    utts = scan_vctk(root, version, mic, speakers)
    parts = split_by_speaker(utts, split, seed)
    flac_root = data / "flac16k"

    with contextlib.ExitStack() as stack:
        tmp = {p: stack.enter_context(atomic_dir(outs[p])) for p in PARTS}
        flac_tmp = stack.enter_context(atomic_dir(flac_root)) if flac16k else None  # renamed first
        jobs_list = [(str(u.audio), str(flac_tmp / u.speaker / f"{u.utt}.flac") if flac_tmp else None,
                      trim, top_db, pad) for u in utts]
        if jobs > 1:
            ex = stack.enter_context(ProcessPoolExecutor(max_workers=jobs))
            it = ex.map(_process, jobs_list, chunksize=16)
        else:
            it = map(_process, jobs_list)
        results = {}
        with progress_bar(total=len(utts), desc="vctk", unit="utt", disable=not progress, leave=False) as bar:
            for u, r in zip(utts, it, strict=True):
                results[u.utt] = r
                bar.update(1)
        for part in PARTS:
            members = parts[part]
            if not members:
                log.warning("%s: empty (split %s leaves no utterances)", outs[part], tuple(split))
            if flac16k:
                wav_scp = {u.utt: str(flac_root / u.speaker / f"{u.utt}.flac") for u in members}
            else:
                wav_scp = {u.utt: str(u.audio) for u in members}
            segments = None
            if trim and not flac16k:
                segments = {u.utt: (u.utt, results[u.utt][0], results[u.utt][1]) for u in members}
            utt2dur = {u.utt: round(results[u.utt][1] - results[u.utt][0], 3) for u in members}
            write_data_dir(tmp[part], DataDir(
                wav_scp=wav_scp, utt2spk={u.utt: u.speaker for u in members},
                text={u.utt: u.text for u in members}, segments=segments, utt2dur=utt2dur))
        for path in [*tmp.values()] + ([flac_tmp] if flac_tmp else []):
            apply_umask(path)
    seconds = sum(r[1] - r[0] for r in results.values())
    log.info("VCTK: %d speakers, %d utterances (%s%s): train %d, dev %d, test %d -> %s",
             len({u.speaker for u in utts}), len(utts), format_duration(seconds), " after trimming" if trim else "",
             *(len(parts[p]) for p in PARTS), data)
    return outs
