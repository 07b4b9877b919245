"""`vqspeech prepare vctk|librispeech`: real corpora -> Kaldi data dirs (verbs added to `prepare_app`)."""

from __future__ import annotations

from pathlib import Path

import typer

from vqspeech.errors import VQSpeechError


def _csv(value: str | None, what: str) -> list[str] | None:
    if value is None:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    if not items:
        raise VQSpeechError(f"{what} {value!r}: give a comma-separated list")
    return items


def _split(value: str) -> tuple[float, float, float]:
    try:
        parts = tuple(float(v) for v in value.split(","))
    except ValueError:
        parts = ()
    if len(parts) != 3 or any(p < 0 for p in parts) or sum(parts) <= 0:
        raise VQSpeechError(f"--split {value!r}: expected three non-negative fractions train,dev,test "
                            "such as 0.9,0.05,0.05")
    return parts  # type: ignore[return-value]


def vctk_cmd(
    src: Path = typer.Argument(..., help="VCTK root (holds wav48/ + txt/, or wav48_silence_trimmed/ + txt/)."),
    data: Path = typer.Argument(Path("data/vctk"), help="Output: DATA/{train,dev,test} [+ DATA/flac16k]."),
    mic: str = typer.Option("mic2", "--mic", help="VCTK 0.92 microphone: mic1 or mic2 (0.80 has one)."),
    corpus_version: str = typer.Option("auto", "--corpus-version", help="auto, 0.80 or 0.92."),
    flac16k: bool = typer.Option(False, "--flac16k", help="Write trimmed 16 kHz flac copies to DATA/flac16k."),
    trim: bool = typer.Option(True, "--trim/--no-trim", help="Trim leading/trailing silence."),
    top_db: float = typer.Option(40.0, "--top-db", help="Trim threshold: dB below the loudest frame."),
    split: str = typer.Option("0.9,0.05,0.05", "--split", help="Per-speaker train,dev,test fractions."),
    seed: int = typer.Option(0, "--seed", help="Seed of the per-speaker split."),
    speakers: str | None = typer.Option(None, "--speakers", help="Only these speakers, e.g. p225,p226."),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Worker processes for reading audio."),
    force: bool = typer.Option(False, "--force", help="Replace existing DATA/{train,dev,test}."),
) -> None:
    """Prepare VCTK (0.80 or 0.92, auto-detected) as Kaldi data dirs split per speaker.

    Without --flac16k no audio is copied: trimming goes into `segments` and wav.scp points at the
    48 kHz originals. With --flac16k, trimmed 16 kHz copies are written once under DATA/flac16k.

    Examples:

      vqspeech prepare vctk /corpora/VCTK-Corpus-0.92 data/vctk --mic mic2

      vqspeech prepare vctk /corpora/VCTK-Corpus data/vctk --flac16k --jobs 2
    """
    from vqspeech.commands.common import check_finite, check_seed
    from vqspeech.data.vctk import prepare_vctk

    check_seed(seed)
    check_finite("--top-db", top_db, 200.0)

    outs = prepare_vctk(src, data, mic=mic, version=corpus_version, trim=trim, split=_split(split), seed=seed,
                        flac16k=flac16k, top_db=top_db, speakers=_csv(speakers, "--speakers"), jobs=jobs,
                        force=force, progress=True)
    typer.echo(" ".join(str(p) for p in outs.values()))


def librispeech_cmd(
    src: Path = typer.Argument(..., help="LibriSpeech root (holds train-clean-100/ etc., or LibriSpeech/)."),
    data: Path = typer.Argument(Path("data/librispeech"), help="Output: one DATA/<part> dir per part."),
    parts: str | None = typer.Option(None, "--parts", help="Comma-separated parts (default: all found)."),
    alignments: Path | None = typer.Option(
        None, "--alignments", help="MFA output tree (<spk>/<utt>.TextGrid): written as each part's ctm."),
    force: bool = typer.Option(False, "--force", help="Replace existing part dirs."),
) -> None:
    """Prepare LibriSpeech parts as Kaldi data dirs (train-clean-100 -> DATA/train_clean_100).

    Examples:

      vqspeech prepare librispeech /corpora/LibriSpeech data --parts train-clean-100,dev-clean

      vqspeech prepare librispeech /corpora/LibriSpeech data --parts dev-clean --alignments mfa_out/
    """
    from vqspeech.data.librispeech import prepare_librispeech

    outs = prepare_librispeech(src, data, parts=_csv(parts, "--parts"), alignments=alignments, force=force,
                               progress=True)
    typer.echo(" ".join(str(p) for p in outs.values()))


def register(app: typer.Typer) -> None:
    """Add `vctk` and `librispeech` to the `prepare` group (owned by vqspeech.commands.prepare)."""
    from vqspeech.commands.prepare import prepare_app

    prepare_app.command("vctk", no_args_is_help=True)(vctk_cmd)
    prepare_app.command("librispeech", no_args_is_help=True)(librispeech_cmd)
