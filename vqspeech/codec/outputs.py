"""Where the codec verbs write: output names inferred from the inputs, planned and checked (overwrite,
duplicates, an output that would replace its input) before any work starts.

- One file `x.wav` -> `x.vqs` beside it (`x.vqs` -> `x.decoded.wav`), or `-o NAME`, or `-o DIR/`.
- A directory input is searched recursively and mirrored under the output dir (`DIR_vqs/` beside it
  when no `-o` is given; `-o OUT/<dirname>/` when there are several inputs).
- An existing output is refused unless `force`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from vqspeech.errors import VQSpeechError

AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".ogg", ".oga", ".aiff", ".aif", ".au", ".mp3", ".opus", ".caf",
                            ".w64"})
VQS_SUFFIXES = frozenset({".vqs"})


def check_overwrite(path: str | os.PathLike, force: bool) -> None:
    """Refuse to overwrite an existing file unless `force`."""
    path = Path(path)
    if path.exists() and not force:
        raise VQSpeechError(f"{path}: exists (use --force to overwrite)")


def plan_outputs(inputs: list[Path], out: Path | None, suffixes: set[str] | frozenset[str],
                 in_place_name: Callable[[Path], Path], out_suffix: str, dir_default: str,
                 force: bool) -> list[tuple[Path, Path]]:
    """Pair each input file with its output. A directory input is searched recursively and mirrored.

    in_place_name(path) -> the output for an input file (next to it, or by that name in -o DIR); the
    files of a directory input keep their relative names, with `out_suffix`, under the output dir."""
    inputs = [Path(p) for p in inputs]
    out = None if out is None else Path(out)
    pairs: list[tuple[Path, Path]] = []
    many = len(inputs) > 1 or any(p.is_dir() for p in inputs)
    if out is not None and many and out.exists() and not out.is_dir():
        raise VQSpeechError(f"{out}: exists and is not a directory (several inputs need -o DIR)")
    for inp in inputs:
        if not inp.exists():
            raise VQSpeechError(f"{inp}: no such file or directory")
        if inp.is_dir():
            files = sorted(p for p in inp.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)
            if not files:
                raise VQSpeechError(f"{inp}: no {'/'.join(sorted(suffixes))} files in this directory")
            base = (out / inp.resolve().name if len(inputs) > 1 else out) if out is not None else \
                inp.with_name(inp.resolve().name + dir_default)
            pairs += [(f, base / f.relative_to(inp).with_suffix(out_suffix)) for f in files]
        elif out is None:
            pairs.append((inp, in_place_name(inp)))
        elif many or out.is_dir() or str(out).endswith("/"):
            pairs.append((inp, out / in_place_name(inp).name))
        else:
            pairs.append((inp, out))
    seen: dict[Path, Path] = {}
    for inp, o in pairs:
        key = o.resolve()
        if key in seen:
            raise VQSpeechError(f"{o}: would be written twice (from {seen[key]} and {inp})")
        if key == inp.resolve():
            raise VQSpeechError(f"{o}: output would overwrite its input")
        seen[key] = inp
    for _, o in pairs:
        check_overwrite(o, force)
    return pairs


def encode_outputs(inputs: list[Path], out: Path | None = None, force: bool = False) -> list[tuple[Path, Path]]:
    """`vqspeech encode`: audio files/dirs -> (input, .vqs output) pairs."""
    return plan_outputs(inputs, out, AUDIO_SUFFIXES, lambda p: p.with_suffix(".vqs"), ".vqs", "_vqs", force)


def decode_outputs(inputs: list[Path], out: Path | None = None, force: bool = False) -> list[tuple[Path, Path]]:
    """`vqspeech decode`: .vqs files/dirs -> (input, audio output) pairs (x.vqs -> x.decoded.wav)."""
    return plan_outputs(inputs, out, VQS_SUFFIXES, lambda p: p.with_name(p.stem + ".decoded.wav"), ".wav",
                        "_decoded", force)


def convert_output(inp: Path, speaker: str, out: Path | None = None, force: bool = False) -> Path:
    """`vqspeech convert`: the output audio (default x.to_<speaker>.wav beside the input), checked."""
    inp = Path(inp)
    o = Path(out) if out is not None else inp.with_name(f"{inp.stem}.to_{speaker}.wav")
    if o.exists() and o.resolve() == inp.resolve():
        raise VQSpeechError(f"{o}: output would overwrite its input")
    check_overwrite(o, force)
    return o


def sample_output(speaker: str | None, out: Path | None = None, force: bool = False) -> Path:
    """`vqspeech sample`: the output audio (default sample.<speaker>.wav, or sample.unconditional.wav)."""
    o = Path(out) if out is not None else Path(f"sample.{speaker or 'unconditional'}.wav")
    check_overwrite(o, force)
    return o
