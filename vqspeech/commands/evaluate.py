"""`vqspeech eval reconstruct|convert|sample`: objective evaluation reports."""

from __future__ import annotations

from pathlib import Path

import typer

RECONSTRUCT_HELP = """Encode + decode every utterance; MCD, MCD 0-4 kHz, LSD, PESQ-WB, STOI vs the original.

Codec2 (3200/2400/1200/700C) and Opus (6/9 kbps) run on the same utterances when installed (Debian
packages codec2, opus-tools). Bitrate: raw (code rate x ceil(log2 K)) and, with --prior, ideal
(prior NLL) and range-coded. Writes metrics.json, summary.md, plots and index.html (audio players)
to --out (default: ./eval_reconstruct_<model>).

Examples:

  vqspeech eval reconstruct --model exp/vqvae/model --data data/test --max-utts 20

  vqspeech eval reconstruct -m exp/vqvae/model -d data/test --prior exp/prior/model --out reports/rec

  vqspeech eval reconstruct -m M -d data/test --baseline codec2-3200 --baseline opus-6k
"""

CONVERT_HELP = """Voice conversion: every utterance of a parallel data dir decoded as every other speaker.

MCD against the target speaker's utterance of the same text (matched through DATA/text), speaker
similarity of the converted audio to the target and the source centroids (resemblyzer embeddings,
centroids from DATA's utterances) and speaker identification accuracy (nearest centroid = target).

Examples:

  vqspeech eval convert --model exp/vqvae/model --data data/synth/parallel

  vqspeech eval convert -m M -d data/synth/parallel --target gb_f4 --target us_m2 --max-pairs 20
"""

SAMPLE_HELP = """Prior samples: NLL in bits per code on held-out data, samples per speaker, speaker identification.

The NLL is measured on the codes the VQ-VAE gives DATA's utterances; samples of --seconds are drawn
for each speaker (--speaker, default: all the prior knows), decoded, and identified against speaker
centroids from DATA.

Examples:

  vqspeech eval sample --prior exp/prior/model --model exp/vqvae/model --data data/test

  vqspeech eval sample -p exp/prior/model -m exp/vqvae/model -d data/test --speaker gb_f4 --seconds 3
"""


def _default_out(kind: str, model: Path | None) -> Path:
    from vqspeech.analysis.eval_common import model_name

    return Path(f"eval_{kind}_{model_name(model) if model is not None else 'default'}")


def _print_table(result: dict) -> None:
    from vqspeech.analysis.html_report import markdown_table

    typer.echo(markdown_table(result["table"]))
    for note in result.get("notes", []):
        typer.echo(f"note: {note}", err=True)
    if "report_dir" in result:
        typer.echo(f"report: {result['report_dir']}")


def register(app: typer.Typer) -> None:
    group = typer.Typer(no_args_is_help=True, help="Objective evaluation: reconstruction, conversion, samples.")
    app.add_typer(group, name="eval")

    @group.command("reconstruct", help=RECONSTRUCT_HELP, no_args_is_help=True)
    def reconstruct(
        data: Path = typer.Option(..., "--data", "-d", help="Kaldi data dir of the utterances to reconstruct."),
        model: Path = typer.Option(None, "--model", "-m", help="VQ-VAE model dir (default: the bundled model)."),
        prior: Path = typer.Option(None, "--prior", "-p", help="Prior model dir: adds the entropy-coded bitrate."),
        max_utts: int = typer.Option(None, "--max-utts", min=1, help="Evaluate only the first N utterances."),
        baseline: list[str] = typer.Option(
            None, "--baseline", help="Baseline to run (repeatable; default: all installed)."),
        no_baselines: bool = typer.Option(False, "--no-baselines", help="Skip Codec2/Opus."),
        out: Path = typer.Option(None, "--out", "-o", help="Report dir (default: ./eval_reconstruct_<model>)."),
        examples: int = typer.Option(3, "--examples", min=0, help="Utterances with audio players in index.html."),
        temperature: float = typer.Option(1.0, "--temperature", min=0.0, help="Decoder sampling temperature."),
        seed: int = typer.Option(0, "--seed", help="Decoder sampling seed."),
        batch_size: int = typer.Option(8, "--batch-size", min=1, help="Utterances decoded together."),
        device: str = typer.Option("cpu", "--device", help="VQ-VAE device: cpu (numba decoding) or cuda (torch)."),
        embedder: str = typer.Option(
            "auto", "--embedder", help="Speaker embedder for speaker similarity/ID: auto, resemblyzer, mcep or none."),
        precision: str = typer.Option("auto", "--precision", help="Source-filter decoder arithmetic: auto "
                                      "(bfloat16 where the CPU computes it natively), float32 or bfloat16."),
        force: bool = typer.Option(False, "--force", "-f", help="Replace an existing report dir."),
    ) -> None:
        from vqspeech.analysis.evaluate import evaluate_reconstruction
        from vqspeech.commands.common import check_device, check_seed, check_temperature

        check_temperature(temperature)
        check_seed(seed)
        check_device(device)

        result = evaluate_reconstruction(
            model, data, prior=prior, max_utts=max_utts,
            baselines=False if no_baselines else (list(baseline) if baseline else True),
            out=out or _default_out("reconstruct", model), force=force, examples=examples,
            temperature=temperature, seed=seed, batch_size=batch_size, device=device,
            embedder=None if embedder == "none" else embedder, progress=True, precision=precision)
        b = result["bitrate"]
        line = f"bitrate: {b['raw_kbps']:.2f} kbps raw"
        if "entropy_coded_kbps" in b:
            line += (f", {b['entropy_coded_kbps']:.2f} kbps range-coded ({b['nll_bits_per_code']:.2f} bits/code,"
                     f" ideal {b['ideal_kbps']:.2f} kbps)")
        typer.echo(line)
        _print_table(result)

    @group.command("convert", help=CONVERT_HELP, no_args_is_help=True)
    def convert(
        data: Path = typer.Option(..., "--data", "-d", help="Parallel Kaldi data dir (same text across speakers)."),
        model: Path = typer.Option(None, "--model", "-m", help="VQ-VAE model dir (default: the bundled model)."),
        target: list[str] = typer.Option(
            None, "--target", "-t", help="Target speaker (repeatable; default: every model speaker in DATA)."),
        max_utts: int = typer.Option(None, "--max-utts", min=1, help="Convert only the first N utterances."),
        max_pairs: int = typer.Option(None, "--max-pairs", min=1, help="At most N (utterance, target) pairs."),
        embedder: str = typer.Option("auto", "--embedder", help="Speaker embedder: auto, resemblyzer or mcep."),
        out: Path = typer.Option(None, "--out", "-o", help="Report dir (default: ./eval_convert_<model>)."),
        examples: int = typer.Option(3, "--examples", min=0, help="Conversions with audio players in index.html."),
        temperature: float = typer.Option(1.0, "--temperature", min=0.0, help="Decoder sampling temperature."),
        seed: int = typer.Option(0, "--seed", help="Decoder sampling seed."),
        batch_size: int = typer.Option(8, "--batch-size", min=1, help="Streams decoded together."),
        device: str = typer.Option("cpu", "--device", help="VQ-VAE device: cpu (numba decoding) or cuda (torch)."),
        precision: str = typer.Option("auto", "--precision", help="Source-filter decoder arithmetic: auto "
                                      "(bfloat16 where the CPU computes it natively), float32 or bfloat16."),
        force: bool = typer.Option(False, "--force", "-f", help="Replace an existing report dir."),
    ) -> None:
        from vqspeech.analysis.evaluate import evaluate_conversion
        from vqspeech.commands.common import check_device, check_seed, check_temperature

        check_temperature(temperature)
        check_seed(seed)
        check_device(device)

        result = evaluate_conversion(
            model, data, targets=list(target) if target else None, max_utts=max_utts, max_pairs=max_pairs,
            embedder=embedder, out=out or _default_out("convert", model), force=force, examples=examples,
            temperature=temperature, seed=seed, batch_size=batch_size, device=device, progress=True,
            precision=precision)
        typer.echo(f"speaker identification accuracy: {result['id_accuracy']:.1%} over {result['pairs']} conversions"
                   f" ({result['embedder']} embeddings)")
        _print_table(result)

    @group.command("sample", help=SAMPLE_HELP, no_args_is_help=True)
    def sample(
        prior: Path = typer.Option(..., "--prior", "-p", help="Prior model dir."),
        model: Path = typer.Option(None, "--model", "-m", help="VQ-VAE model dir (default: the bundled model)."),
        data: Path = typer.Option(None, "--data", "-d", help="Held-out data dir: NLL and speaker centroids."),
        speaker: list[str] = typer.Option(None, "--speaker", "-s", help="Speaker to sample (repeatable)."),
        seconds: float = typer.Option(2.0, "--seconds", min=0.01, help="Length of each sample."),
        per_speaker: int = typer.Option(1, "--per-speaker", min=1, help="Samples per speaker."),
        max_utts: int = typer.Option(None, "--max-utts", min=1, help="NLL on the first N utterances only."),
        embedder: str = typer.Option("auto", "--embedder", help="Speaker embedder: auto, resemblyzer or mcep."),
        out: Path = typer.Option(None, "--out", "-o", help="Report dir (default: ./eval_sample_<prior>)."),
        temperature: float = typer.Option(1.0, "--temperature", min=0.0, help="Sampling temperature."),
        seed: int = typer.Option(0, "--seed", help="Sampling seed."),
        device: str = typer.Option("cpu", "--device", help="VQ-VAE device: cpu (numba decoding) or cuda (torch)."),
        precision: str = typer.Option("auto", "--precision", help="Source-filter decoder arithmetic: auto "
                                      "(bfloat16 where the CPU computes it natively), float32 or bfloat16."),
        force: bool = typer.Option(False, "--force", "-f", help="Replace an existing report dir."),
    ) -> None:
        from vqspeech.analysis.evaluate import evaluate_samples
        from vqspeech.commands.common import check_device, check_seconds, check_seed, check_temperature

        check_temperature(temperature)
        check_seed(seed)
        check_device(device)
        check_seconds("--seconds", seconds, most=3600.0)

        result = evaluate_samples(
            prior, model, data=data, speakers=list(speaker) if speaker else None, seconds=seconds,
            per_speaker=per_speaker, max_utts=max_utts, embedder=embedder,
            out=out or _default_out("sample", prior), force=force, temperature=temperature, seed=seed,
            device=device, progress=True, precision=precision)
        if "nll_bits_per_code" in result:
            typer.echo(f"NLL: {result['nll_bits_per_code']:.3f} bits/code ({result['nll_kbps']:.2f} kbps) on "
                       f"{result['codes']} codes; unigram entropy {result['unigram_entropy_bits']:.3f}, "
                       f"uniform {result['uniform_bits']:.3f}")
        _print_table(result)
