"""`vqspeech analyze phones|pitch`: how a model's codes line up with phones; the F0 head vs a tracker."""

from __future__ import annotations

from pathlib import Path

import typer

PHONES_HELP = """Many-to-one phone accuracy, NMI, V-measure, purity, boundary F1 of the codes.

Each code frame is labelled with the phone at its centre; alignments come from DATA/ctm or
--alignments (CTM, TIMIT .PHN file/dir, TextGrid file/dir). Writes metrics.json, summary.md and PNG
plots to --out (default: MODEL/analysis for one model, else ./analysis_<names>).

Examples:

  vqspeech analyze phones --model exp/vqvae/model --data data/test

  vqspeech analyze phones -m exp/k128/model -m exp/k512/model --data data/test --out reports/phones

  vqspeech analyze phones --model M --data timit/test --alignments timit/test_phn --fold timit

  vqspeech analyze phones --codes codes_dir --data data/test --out report   # <utt>.vqs files
"""


def register(app: typer.Typer) -> None:
    group = typer.Typer(no_args_is_help=True, help="Analyse codes: how they line up with phones and carry pitch.")
    app.add_typer(group, name="analyze")

    register_pitch(group)

    @group.command("phones", help=PHONES_HELP, no_args_is_help=True)
    def phones(
        data: Path = typer.Option(..., "--data", "-d", help="Kaldi data dir whose utterances are analysed."),
        model: list[Path] = typer.Option(
            None, "--model", "-m", help="VQ-VAE model dir; repeat for a side-by-side table (default: bundled)."),
        codes: list[Path] = typer.Option(
            None, "--codes", help="Dir of already extracted <utt>.vqs files; repeatable, may be mixed with --model."),
        prior: Path = typer.Option(None, "--prior", help="Prior model dir, for entropy-coded .vqs files."),
        alignments: Path = typer.Option(
            None, "--alignments", "-a", help="CTM, TIMIT .PHN or TextGrid file/dir (default: DATA/ctm)."),
        fold: str = typer.Option(None, "--fold", help="Phone folding: 'timit' (61 -> 39) or a map file."),
        out: Path = typer.Option(None, "--out", "-o", help="Report dir (default: MODEL/analysis or ./analysis_<names>)."),
        max_utts: int = typer.Option(None, "--max-utts", min=1, help="Analyse only the first N aligned utterances."),
        outside: str = typer.Option(
            "sil", "--outside", help="Label of frames outside every phone interval; 'drop' leaves them out."),
        tolerance_ms: float = typer.Option(20.0, "--tolerance-ms", min=0.0, help="Boundary matching tolerance."),
        batch_size: int = typer.Option(16, "--batch-size", min=1, help="Utterances encoded per batch."),
        threads: int = typer.Option(None, "--threads", min=1, help="torch CPU threads (default: torch's)."),
        plots: bool = typer.Option(True, "--plots/--no-plots", help="Write the PNG plots."),
        force: bool = typer.Option(False, "--force", "-f", help="Replace an existing report dir."),
    ) -> None:
        from vqspeech.analysis.report import analyze_phones

        sources: list = [*(model or []), *(codes or [])]
        kinds = [False] * len(model or []) + [True] * len(codes or [])
        if not sources:
            from vqspeech.pretrained import default_model_dir

            sources, kinds = [default_model_dir()], [False]
            out = out or Path("analysis_default")  # not inside the installed package
        result = analyze_phones(
            sources, data, alignments=alignments, fold=fold, out=out, codes=kinds, prior=prior,
            max_utts=max_utts, outside=None if outside == "drop" else outside, tolerance=tolerance_ms / 1000.0,
            batch_size=batch_size, threads=threads, force=force, plots=plots, progress=True,
        )
        for name, m in result["models"].items():
            ins, held, b = m["in_sample"], m["held_out"], m["boundaries"]
            held_acc = "n/a" if held["accuracy"] is None else f"{held['accuracy']:.1%}"
            typer.echo(
                f"{name}: accuracy {ins['accuracy']:.1%} in-sample, {held_acc} held-out"
                f" (baseline {ins['baseline']:.1%}); bigram {ins['bigram_accuracy']:.1%};"
                f" NMI {m['nmi']:.3f}; boundary F1 {b['f1']:.1%}; {m['codes_used']}/{m['num_codes']} codes,"
                f" {m['num_phones']} phones, {m['frames']} frames"
            )
        typer.echo(f"report: {result['report_dir']}")


PITCH_HELP = """The F0 head's pitch from the codes against a pitch tracker on the input audio.

VDE, GPE, FFE, log-F0 correlation and RMSE in cents, per speaker and overall, at the code rate, with
the tracker the head was trained on. --speaker X predicts every utterance's pitch for speaker X (what
voice conversion uses) and reports the predictions' median F0 against X's. Writes metrics.json,
summary.md and f0_contours.png to --out (default: MODEL/pitch, or ./pitch_default for the bundled model).

Examples:

  vqspeech analyze pitch --data data/test

  vqspeech analyze pitch --model exp/vqvae/model --data data/test --speaker gb_f4 --out reports/pitch
"""


def register_pitch(group: typer.Typer) -> None:
    @group.command("pitch", help=PITCH_HELP, no_args_is_help=True)
    def pitch(
        data: Path = typer.Option(..., "--data", "-d", help="Kaldi data dir whose utterances are analysed."),
        model: Path = typer.Option(None, "--model", "-m", help="VQ-VAE model dir with an F0 head (default: bundled)."),
        out: Path = typer.Option(None, "--out", "-o", help="Report dir (default: MODEL/pitch or ./pitch_default)."),
        speaker: str = typer.Option(None, "--speaker", "-s", help="Predict for this speaker instead of each source's."),
        max_utts: int = typer.Option(None, "--max-utts", min=1, help="Analyse only the first N utterances."),
        force: bool = typer.Option(False, "--force", "-f", help="Replace an existing report dir."),
    ) -> None:
        from vqspeech.analysis.pitch import analyze_pitch

        if out is None:
            out = Path("pitch_default") if model is None else model / "pitch"
        r = analyze_pitch(model, data, out=out, speaker=speaker, max_utts=max_utts, force=force, progress=True)
        typer.echo(f"{r['model']}: VDE {r['vde']:.1%}, GPE {r['gpe']:.1%}, FFE {r['ffe']:.1%}, log-F0 corr "
                   f"{r['f0_corr']:.3f}, RMSE {r['f0_rmse_cents']:.0f} cents over {r['frames']} frames "
                   f"({r['utterances']} utterances, tracker {r['tracker']})")
        if speaker is not None:
            typer.echo(f"for {speaker}: median F0 {r['predicted_median_f0']:.1f} Hz vs the speaker's "
                       f"{r['speaker_median_f0']:.1f} Hz ({r['st_to_speaker']:+.2f} semitones)")
        typer.echo(f"report: {r['report_dir']}")
