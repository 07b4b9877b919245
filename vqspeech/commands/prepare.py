"""`vqspeech prepare ...`: corpora to Kaldi data dirs. `synth` lives here; other corpora (vctk,
librispeech) attach their commands to `prepare_app` from their own modules."""

from __future__ import annotations

from pathlib import Path

import typer

prepare_app = typer.Typer(
    help="Prepare corpora as Kaldi data dirs (synth, vctk, librispeech).",
    no_args_is_help=True,
)


@prepare_app.command("synth")
def synth(
    data: Path = typer.Argument(Path("data/synth"), help="Output corpus dir (train/dev/test/parallel + wav/)."),
    utts_per_speaker: int = typer.Option(300, "--utts-per-speaker", help="Utterances per speaker "
                                         "(5% dev, 5% test, the rest train)."),
    speakers: str = typer.Option(None, "--speakers", help="Comma list of known ids or id=voice "
                                 "(eSpeak voice[+variant]); default: the 8 built-in speakers."),
    parallel_sentences: int = typer.Option(20, "--parallel-sentences",
                                           help="Sentences every speaker reads in the parallel set."),
    jobs: int = typer.Option(1, "--jobs", "-j", help="Parallel synthesis processes."),
    seed: int = typer.Option(0, "--seed", help="Seed for sentences, splits and prosody."),
    force: bool = typer.Option(False, "--force", help="Replace an existing DATA dir."),
) -> None:
    """Build the synthetic multi-speaker corpus with eSpeak NG and exact phone alignments (ctm).

    Writes DATA/{train,dev,test,parallel} Kaldi data dirs (wav.scp, utt2spk, spk2utt, text, utt2dur,
    ctm) and DATA/wav/<spk>/<utt>.wav (16 kHz mono). The same seed gives byte-identical wavs.

    Examples:

      vqspeech prepare synth data/synth --jobs 2

      vqspeech prepare synth data/tiny --utts-per-speaker 20 --speakers us_m1,gb_f4,my_f3=en-us+f3
    """
    from vqspeech.commands.common import check_seed
    from vqspeech.data.synth import build_synth_corpus, parse_speakers

    check_seed(seed)

    summary = build_synth_corpus(data, parse_speakers(speakers), utts_per_speaker=utts_per_speaker,
                                 parallel_sentences=parallel_sentences, seed=seed, jobs=jobs, force=force,
                                 progress=True)
    typer.echo(f"{data}: {summary.utterances} utterances, {summary.speakers} speakers, "
               f"{summary.hours:.2f} h, {summary.bytes_on_disk / 1e6:.1f} MB")


def register(app: typer.Typer) -> None:
    app.add_typer(prepare_app, name="prepare")
