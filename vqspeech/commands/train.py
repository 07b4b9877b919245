"""`vqspeech train vqvae|prior`: train a VQ-VAE on a data dir, or a code prior for a trained VQ-VAE."""

from __future__ import annotations

from pathlib import Path

import typer

train_app = typer.Typer(
    no_args_is_help=True,
    help="Train a VQ-VAE or a code prior (checkpoints, exact --resume, logs, torchrun).",
    context_settings={"help_option_names": ["-h", "--help"]},
)

_CONFIG_HELP = "Training YAML: a path, or a bundled name (tiny, small). Sections: model, train, data."
_SET_HELP = "Override one config value, e.g. --set train.lr=3e-4 (repeatable)."


def _prepare(out: Path | None, kind: str, data: Path, config: str | None, overrides: list[str], resume: bool,
             force: bool):
    """-> (EXP, config): the flag/EXP checks first, so that they are reported before a config problem."""
    from vqspeech.train import experiment

    exp = out if out is not None else experiment.default_exp_dir(kind, data)
    experiment.check_exp(exp, resume, force)
    return exp, experiment.load_run_config(config, overrides, exp, resume, kind)


_PIPES_HELP = "Let wav.scp entries run shell commands ('<command> |'): a data dir from elsewhere is code."


@train_app.command("vqvae")
def vqvae_cmd(
    data: Path = typer.Option(..., "--data", help="Training data dir (Kaldi style: wav.scp, utt2spk)."),
    dev: Path | None = typer.Option(None, "--dev", help="Dev data dir for periodic validation loss."),
    config: str | None = typer.Option(None, "--config", "-c", help=_CONFIG_HELP),
    overrides: list[str] = typer.Option([], "--set", help=_SET_HELP),
    out: Path | None = typer.Option(None, "--out", "-o", help="Experiment dir (default exp/vqvae_<data>)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the newest complete checkpoint."),
    force: bool = typer.Option(False, "--force", help="Replace a previous run in --out (kept until the new "
                               "run's first checkpoint)."),
    allow_pipes: bool = typer.Option(False, "--allow-pipes", help=_PIPES_HELP),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bar on stderr."),
) -> None:
    """Train a VQ-VAE (encoder, quantizer, speaker-conditioned WaveNet decoder).

    Writes EXP/checkpoints/step_<N>/ (model.safetensors, config.json, state.pt), EXP/model/ (the inference model, refreshed at every checkpoint), EXP/log/train.jsonl, TensorBoard events in EXP/log/tb, and EXP/train_config.yaml. --resume without --config reuses EXP/train_config.yaml.

    Examples:

      vqspeech train vqvae --data data/synth/train --dev data/synth/dev --config small --out exp/vq

      vqspeech train vqvae --data data/train --config tiny --set train.steps=200 --out exp/t --force

      vqspeech train vqvae --data data/synth/train --out exp/vq --resume

      torchrun --nproc_per_node=4 -m vqspeech train vqvae --data data/train --config small --out exp/vq
    """
    from vqspeech.train.vqvae import train_vqvae

    exp, cfg = _prepare(out, "vqvae", data, config, overrides, resume, force)
    summary = train_vqvae(data, dev, cfg, exp, resume=resume, progress=progress, force=force,
                          allow_pipes=allow_pipes)
    _print_summary(summary)


@train_app.command("prior")
def prior_cmd(
    vqvae: Path = typer.Option(..., "--vqvae", help="The trained VQ-VAE model dir (e.g. EXP/model)."),
    data: Path = typer.Option(..., "--data", help="Training data dir, encoded once with the VQ-VAE."),
    dev: Path | None = typer.Option(None, "--dev", help="Dev data dir: validation NLL in bits/code."),
    config: str | None = typer.Option(None, "--config", "-c", help=_CONFIG_HELP),
    overrides: list[str] = typer.Option([], "--set", help=_SET_HELP),
    out: Path | None = typer.Option(None, "--out", "-o", help="Experiment dir (default exp/prior_<data>)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the newest complete checkpoint."),
    force: bool = typer.Option(False, "--force", help="Replace a previous run in --out (kept until the new "
                               "run's first checkpoint)."),
    allow_pipes: bool = typer.Option(False, "--allow-pipes", help=_PIPES_HELP),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bar on stderr."),
) -> None:
    """Train a WaveNet prior over the codes of a frozen VQ-VAE.

    The codes of --data (and --dev) are extracted once and cached in EXP/codes/. Reports the NLL in bits per code and the bitrate entropy coding with the prior would give (bits/code x codes/s). Bundled configs: tiny, small (vqspeech/train/configs/prior_*.yaml).

    Examples:

      vqspeech train prior --vqvae exp/vq/model --data data/synth/train --dev data/synth/dev --out exp/prior

      vqspeech train prior --vqvae exp/vq/model --data data/train --config tiny --set train.steps=100
    """
    from vqspeech.train.prior import train_prior

    exp, cfg = _prepare(out, "prior", data, config, overrides, resume, force)
    summary = train_prior(vqvae, data, dev, cfg, exp, resume=resume, progress=progress, force=force,
                          allow_pipes=allow_pipes)
    _print_summary(summary)


@train_app.command("f0")
def f0_cmd(
    vqvae: Path = typer.Option(..., "--vqvae", help="The trained VQ-VAE model dir that gets an F0 head."),
    data: Path = typer.Option(..., "--data", help="Training data dir (its F0 is tracked once and cached)."),
    dev: Path | None = typer.Option(None, "--dev", help="Dev data dir for validation."),
    config: str | None = typer.Option(None, "--config", "-c", help="Training YAML: a path, or a bundled name "
                                      "(tiny, small). Sections: model (F0HeadConfig), train, data."),
    overrides: list[str] = typer.Option([], "--set", help=_SET_HELP),
    out: Path | None = typer.Option(None, "--out", "-o", help="Experiment dir (default exp/f0_<data>)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the newest complete checkpoint."),
    force: bool = typer.Option(False, "--force", help="Replace a previous run in --out (kept until the new "
                               "run's first checkpoint)."),
    allow_pipes: bool = typer.Option(False, "--allow-pipes", help=_PIPES_HELP),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bar on stderr."),
) -> None:
    """Train an F0 head on a frozen VQ-VAE, so that an existing model gains one.

    The codes do not change (files and priors made with the model stay valid). EXP/model is the VQ-VAE with its head; `vqspeech analyze pitch --model EXP/model` scores it.

    Examples:

      vqspeech train f0 --vqvae exp/vq/model --data data/synth/train --dev data/synth/dev --config small --out exp/f0
    """
    from vqspeech.train.f0 import train_f0

    exp, cfg = _prepare(out, "f0", data, config if config is not None or resume else "small", overrides, resume,
                        force)
    summary = train_f0(vqvae, data, dev, cfg, exp, resume=resume, progress=progress, force=force,
                       allow_pipes=allow_pipes)
    _print_summary(summary)


def _print_summary(summary: dict) -> None:
    from vqspeech.train.experiment import is_worker

    if is_worker():
        return
    parts = [f"step {summary['step']}"]
    for split in ("train", "dev"):
        m = summary.get(split) or {}
        for k in ("loss", "recon_bits_per_sample", "bits_per_code", "bitrate_bps", "perplexity"):
            if k in m:
                parts.append(f"{split} {k}={m[k]:.4g}")
    if "fixed_bitrate_bps" in summary:
        parts.append(f"fixed-length codes: {summary['fixed_bitrate_bps']:.0f} bps")
    parts.append(f"model: {summary['model_dir']}")
    typer.echo("; ".join(parts))


def register(app: typer.Typer) -> None:
    app.add_typer(train_app, name="train")
