"""`vqspeech train vqvae|prior`: train a VQ-VAE on a data dir, or a code prior for a trained VQ-VAE."""

from __future__ import annotations

from pathlib import Path

import typer

from vqspeech.errors import VQSpeechError

train_app = typer.Typer(
    no_args_is_help=True,
    help="Train a VQ-VAE or a code prior (checkpoints, exact --resume, logs, torchrun).",
    context_settings={"help_option_names": ["-h", "--help"]},
)

_CONFIG_HELP = "Training YAML: a path, or a bundled name (tiny, small). Sections: model, train, data."
_SET_HELP = "Override one config value, e.g. --set train.lr=3e-4 (repeatable)."


def _exp_dir(out: Path | None, kind: str, data: Path) -> Path:
    return out if out is not None else Path("exp") / f"{kind}_{Path(data).resolve().name}"


def _check_exp(exp: Path, resume: bool, force: bool) -> None:
    """Flag and EXP checks that need nothing loaded (nothing in EXP is touched)."""
    from vqspeech.train.setup import RUN_PARTS

    if resume and force:
        raise VQSpeechError("--resume and --force exclude each other")
    if exp.exists() and not exp.is_dir():
        raise VQSpeechError(f"{exp}: exists and is not a directory (--out names an experiment dir)")
    if _is_worker():  # under torchrun, rank 0 checks
        return
    if not force and not resume and any((exp / p).exists() for p in RUN_PARTS):
        raise VQSpeechError(f"{exp}: holds a training run (use --resume to continue, --force to start over)")


def _is_worker() -> bool:
    import os

    return int(os.environ.get("RANK", "0")) > 0


def _load_config(config: str | None, overrides: list[str], exp: Path, resume: bool, kind: str):
    from vqspeech.train.config import load_train_config

    if config is None and resume and (exp / "train_config.yaml").is_file():
        config = str(exp / "train_config.yaml")  # resume with the run's own config
    return load_train_config(config, overrides, kind=kind)


def _check_inputs(data: Path, dev: Path | None, vqvae: Path | None, exp: Path, resume: bool,
                  allow_pipes: bool) -> None:
    """Everything a run reads, checked before EXP is touched: the data dirs (and their shell commands),
    the VQ-VAE model dir, the checkpoint a --resume continues from."""
    from vqspeech.data.kaldi import check_pipes, read_data_dir

    for d in (data, dev):
        if d is not None:
            check_pipes(read_data_dir(d), allow_pipes)
    if vqvae is not None:
        from vqspeech.models.io import read_model_config

        meta = read_model_config(vqvae)
        if meta["kind"] != "vqvae":
            raise VQSpeechError(f"{vqvae}: is a {meta['kind']} model, not a VQ-VAE (--vqvae)")
    if resume and not _is_worker():
        from vqspeech.train.checkpoint import check_resumable

        check_resumable(exp)


def _guarded(exp: Path, force: bool, run):
    """Run `run()` so that a failure before its first checkpoint leaves EXP as it was (train.setup.ExpGuard)."""
    from vqspeech.train.setup import ExpGuard

    with ExpGuard(exp, force, enabled=not _is_worker()):
        return run()


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

    exp = _exp_dir(out, "vqvae", data)
    _check_exp(exp, resume, force)
    cfg = _load_config(config, overrides, exp, resume, "vqvae")
    _check_inputs(data, dev, None, exp, resume, allow_pipes)
    summary = _guarded(exp, force, lambda: train_vqvae(data, dev, cfg, exp, resume=resume, progress=progress))
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

    exp = _exp_dir(out, "prior", data)
    _check_exp(exp, resume, force)
    cfg = _load_config(config, overrides, exp, resume, "prior")
    _check_inputs(data, dev, vqvae, exp, resume, allow_pipes)
    summary = _guarded(exp, force, lambda: train_prior(vqvae, data, dev, cfg, exp, resume=resume,
                                                       progress=progress))
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

    exp = _exp_dir(out, "f0", data)
    _check_exp(exp, resume, force)
    cfg = _load_config(config if config is not None or resume else "small", overrides, exp, resume, "f0")
    _check_inputs(data, dev, vqvae, exp, resume, allow_pipes)
    summary = _guarded(exp, force, lambda: train_f0(vqvae, data, dev, cfg, exp, resume=resume, progress=progress))
    _print_summary(summary)


def _print_summary(summary: dict) -> None:
    if _is_worker():
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
