"""Run setup shared by the VQ-VAE and prior trainers: torch threads, the experiment dir, data caches."""

from __future__ import annotations

import contextlib
import logging
import os
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


RUN_FILES = (*RUN_PARTS, "train_config.yaml")  # what --force sets aside and a failed run puts back


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    else:
        p.unlink(missing_ok=True)


def recover_exp(exp: Path) -> None:
    """Finish what a killed `--force` run left: its new run has a checkpoint -> drop the old run; it has
    none -> the old run goes back in place (EXP as it was before that command)."""
    from vqspeech.train.checkpoint import PREVIOUS_RUN, drop_previous_run, list_checkpoints

    stash = exp / PREVIOUS_RUN
    if not stash.is_dir():
        return
    if list_checkpoints(exp):
        drop_previous_run(exp)
        return
    _restore_stash(exp)
    log.warning(f"{exp}: restored the run that a killed --force run was replacing")


def _restore_stash(exp: Path) -> None:
    from vqspeech.train.checkpoint import PREVIOUS_RUN

    stash = exp / PREVIOUS_RUN
    if not stash.is_dir():
        return
    for name in RUN_FILES:
        _remove(exp / name)
        if (stash / name).exists() or (stash / name).is_symlink():
            os.replace(stash / name, exp / name)
    shutil.rmtree(stash, ignore_errors=True)


class ExpGuard:
    """Keep a failed training command from changing EXP. `--force` sets the old run aside in
    EXP/.previous_run/ (deleted once the new run has written its first checkpoint and model); until the
    command has written a checkpoint, a failure puts everything back as it was: new files removed, the
    old run, train_config.yaml and log/train.jsonl restored."""

    def __init__(self, exp: str | os.PathLike, force: bool, enabled: bool = True):
        self.exp, self.force, self.enabled = Path(exp), force, enabled

    def __enter__(self) -> ExpGuard:
        if not self.enabled:
            return self
        from vqspeech.fileutil import clean_stale
        from vqspeech.train.checkpoint import PREVIOUS_RUN, list_checkpoints

        exp = self.exp
        self.existed = exp.exists()
        if self.existed:
            recover_exp(exp)
            clean_stale(exp)
            clean_stale(exp / "checkpoints")
        self.entries = {p.name for p in exp.iterdir()} if exp.is_dir() else set()
        self.checkpoints = {s for s, _ in list_checkpoints(exp)}
        self.saved = {}
        for rel in ("train_config.yaml", "log/train.jsonl"):
            if (exp / rel).is_file():
                self.saved[rel] = (exp / rel).read_bytes()
        tb = exp / "log" / "tb"
        self.tb = {p for p in tb.rglob("*")} if tb.is_dir() else set()
        self.log_existed = (exp / "log").exists()
        if self.force:
            stash = exp / PREVIOUS_RUN
            moved = [n for n in RUN_FILES if (exp / n).exists()]
            if moved:
                stash.mkdir()
                for name in moved:
                    os.replace(exp / name, stash / name)
                self.entries.add(PREVIOUS_RUN)
        return self

    def committed(self) -> bool:
        from vqspeech.train.checkpoint import list_checkpoints

        return any(s not in self.checkpoints for s, _ in list_checkpoints(self.exp))

    def __exit__(self, kind, err, tb) -> None:
        if not self.enabled:
            return
        from vqspeech.train.checkpoint import drop_previous_run

        if kind is None or self.committed():
            drop_previous_run(self.exp)
            return
        self.rollback()

    def rollback(self) -> None:
        exp = self.exp
        if not self.existed:
            shutil.rmtree(exp, ignore_errors=True)
            return
        if not exp.is_dir():
            return
        for p in exp.iterdir():
            if p.name not in self.entries:
                _remove(p)
        if self.force:
            _restore_stash(exp)
            return
        tb = exp / "log" / "tb"
        if tb.is_dir():
            for p in sorted(tb.rglob("*"), reverse=True):
                if p not in self.tb:
                    _remove(p)
        for rel, data in self.saved.items():
            if not ((exp / rel).is_file() and (exp / rel).read_bytes() == data):
                write_bytes_atomic(exp / rel, data)
        if self.log_existed and "log/train.jsonl" not in self.saved:
            (exp / "log" / "train.jsonl").unlink(missing_ok=True)


def write_bytes_atomic(path: Path, data: bytes) -> None:
    from vqspeech.fileutil import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


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
