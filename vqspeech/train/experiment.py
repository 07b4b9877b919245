"""The experiment-dir rules every training entry point follows (the CLI verbs and `train_vqvae`,
`train_prior`, `train_f0` called from Python alike).

- `--resume` and `--force` exclude each other; EXP must be a directory (or not exist yet).
- A fresh run refuses an EXP that holds a run (checkpoints, log, model) unless `force`.
- Everything a run reads is checked before EXP is touched: the data dirs (wav.scp shell commands only
  with `allow_pipes`), the VQ-VAE model dir (for a prior or an F0 head), the state a resume continues from.
- The run goes under `setup.ExpGuard`: a failure before its first checkpoint leaves EXP as it was, and
  `force` keeps the old run aside until the new one has checkpointed.
- Under torchrun, rank 0 does the EXP checks and the guard; the other ranks only read the inputs.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vqspeech.errors import VQSpeechError

if TYPE_CHECKING:
    from vqspeech.train.config import TrainConfig

RUN_CONFIG = "train_config.yaml"  # EXP/train_config.yaml: the config a run was started with


def is_worker() -> bool:
    """True in a torchrun process other than rank 0."""
    return int(os.environ.get("RANK", "0")) > 0


def default_exp_dir(kind: str, data: str | os.PathLike) -> Path:
    """exp/<kind>_<name of the data dir>: where a run goes when no --out is given."""
    return Path("exp") / f"{kind}_{Path(data).resolve().name}"


def check_exp(exp: str | os.PathLike, resume: bool, force: bool) -> None:
    """The flag and EXP checks that need nothing loaded (nothing in EXP is touched)."""
    from vqspeech.train.setup import RUN_PARTS

    exp = Path(exp)
    if resume and force:
        raise VQSpeechError("--resume and --force exclude each other")
    if exp.exists() and not exp.is_dir():
        raise VQSpeechError(f"{exp}: exists and is not a directory (--out names an experiment dir)")
    if is_worker():  # under torchrun, rank 0 checks
        return
    if not force and not resume and any((exp / p).exists() for p in RUN_PARTS):
        raise VQSpeechError(f"{exp}: holds a training run (use --resume to continue, --force to start over)")


def load_run_config(config: str | None, overrides: list[str], exp: str | os.PathLike, resume: bool,
                    kind: str) -> TrainConfig:
    """The training config: `config` (a path or a bundled name; None = the kind's default) with
    `overrides`; a resume without `config` reuses the run's own EXP/train_config.yaml."""
    from vqspeech.train.config import load_train_config

    if config is None and resume and (Path(exp) / RUN_CONFIG).is_file():
        config = str(Path(exp) / RUN_CONFIG)
    return load_train_config(config, overrides, kind=kind)


def check_inputs(data: str | os.PathLike, dev: str | os.PathLike | None, vqvae: str | os.PathLike | None,
                 exp: str | os.PathLike, resume: bool, allow_pipes: bool) -> None:
    """Everything a run reads, checked before EXP is touched: the data dirs (and their shell commands),
    the VQ-VAE model dir, the checkpoint a resume continues from."""
    from vqspeech.data.kaldi import check_pipes, read_data_dir

    for d in (data, dev):
        if d is not None:
            check_pipes(read_data_dir(d), allow_pipes)
    if vqvae is not None:
        from vqspeech.models.io import read_model_config

        meta = read_model_config(vqvae)
        if meta["kind"] != "vqvae":
            raise VQSpeechError(f"{vqvae}: is a {meta['kind']} model, not a VQ-VAE (--vqvae)")
    if resume and not is_worker():
        from vqspeech.train.checkpoint import check_resumable

        check_resumable(exp)


def run_experiment(run: Callable[[], dict[str, Any]], exp: str | os.PathLike, *, data: str | os.PathLike,
                   dev: str | os.PathLike | None = None, vqvae: str | os.PathLike | None = None,
                   resume: bool = False, force: bool = False, allow_pipes: bool = False) -> dict[str, Any]:
    """`run()` (a trainer's body) after `check_exp` and `check_inputs`, under `setup.ExpGuard`."""
    from vqspeech.train.setup import ExpGuard

    check_exp(exp, resume, force)
    check_inputs(data, dev, vqvae, exp, resume, allow_pipes)
    with ExpGuard(exp, force, enabled=not is_worker()):
        return run()
