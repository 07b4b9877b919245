"""Run setup shared by the VQ-VAE and prior trainers: torch threads, the experiment dir, data caches."""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import torch
import yaml

from vqspeech.errors import VQSpeechError
from vqspeech.fileutil import write_text_atomic
from vqspeech.train.config import TrainConfig, TrainSection, config_to_dict
from vqspeech.train.distributed import DistInfo, barrier

log = logging.getLogger(__name__)

RUN_PARTS = ("checkpoints", "log", "model")


def setup_torch(t: TrainSection) -> None:
    if t.threads > 0:
        torch.set_num_threads(t.threads)


@contextlib.contextmanager
def training_run(t: TrainSection) -> Iterator[tuple[DistInfo, torch.device]]:
    """Join the torchrun group if there is one (nccl for CUDA runs, else gloo), pick the device, set the
    thread count; yields (dist info, device) and leaves the group at the end."""
    from vqspeech.train.distributed import init_distributed, shutdown
    from vqspeech.train.trainer import pick_device

    cuda = t.device.startswith("cuda") or (t.device == "auto" and torch.cuda.is_available())
    info = init_distributed("cuda" if cuda else "cpu")
    try:
        device = pick_device(t.device, info)
        setup_torch(t)
        yield info, device
    finally:
        shutdown(info)


def prepare_exp(exp: Path, cfg: TrainConfig, info: DistInfo, resume: bool) -> None:
    """Write EXP/train_config.yaml (rank 0). A fresh run refuses a dir that holds a run (the CLI's
    --force removes it first)."""
    if info.is_main:
        if not resume and any((exp / p).exists() for p in RUN_PARTS):
            raise VQSpeechError(f"{exp}: holds a training run (use --resume to continue, --force to start over)")
        exp.mkdir(parents=True, exist_ok=True)
        write_text_atomic(exp / "train_config.yaml", yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
    barrier(info)


def clear_exp(exp: Path) -> None:
    """Remove the parts of a previous run (for --force)."""
    for p in RUN_PARTS:
        shutil.rmtree(exp / p, ignore_errors=True)


def _cache_dir(data_dir: Path, cfg: TrainConfig, exp: Path, tag: str) -> Path:
    if cfg.data.cache_dir:
        return Path(cfg.data.cache_dir) / tag
    default = Path(data_dir) / ".cache"
    try:
        default.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=default, prefix=".write_test."):  # unique: ranks probe at once
            pass
        return default
    except OSError:
        log.warning(f"{data_dir}: not writable; caching audio under {exp / 'cache' / tag}")
        return exp / "cache" / tag


def open_caches(data_dir, dev_dir, sample_rate: int, cfg: TrainConfig, exp: Path, info: DistInfo,
                progress: bool):
    """Open the audio caches of the training and dev data dirs. Each node's local rank 0 builds a missing
    one (so multi-node runs work without a shared data filesystem; on a shared one the atomic writes of
    identical files make concurrent builds harmless); the other ranks wait, then open it."""
    from vqspeech.data.dataset import open_audio_cache

    out = []
    for tag, d in (("train", data_dir), ("dev", dev_dir)):
        if d is None:
            out.append(None)
            continue
        cdir = _cache_dir(Path(d), cfg, exp, tag)
        if info.local_rank == 0:
            open_audio_cache(d, sample_rate, cdir, build=True, progress=progress and info.is_main)
        barrier(info)
        out.append(open_audio_cache(d, sample_rate, cdir, build=False, progress=False))
    return out[0], out[1]
