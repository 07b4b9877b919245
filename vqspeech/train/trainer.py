"""The training loop shared by the VQ-VAE and the prior: AdamW, warmup + cosine lr, grad clipping,
non-finite loss detection, bf16 autocast on CUDA, optional torch.compile, DDP under torchrun,
periodic validation, JSONL/TensorBoard logs, a progress bar, atomic checkpoints with exact resume, and
an export of the inference model to EXP/model/ at every checkpoint.

A `Task` supplies what differs between models: the (unwrapped) module, the batches of a step, a loss
function returning `(loss, metrics)`, dev batches and an export function.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from vqspeech.errors import VQSpeechError
from vqspeech.train import checkpoint as ckpt
from vqspeech.train.config import TrainSection
from vqspeech.train.distributed import DistInfo, all_reduce_sum, barrier
from vqspeech.train.logger import TrainLogger, read_log
from vqspeech.train.schedule import lr_factor

log = logging.getLogger(__name__)

LossFn = Callable[[torch.nn.Module, Any], tuple[torch.Tensor, dict[str, torch.Tensor]]]


@dataclass
class Task:
    name: str  # "vqvae" | "prior"
    model: torch.nn.Module  # the unwrapped module (saved and exported)
    batches: Any  # batches[step] -> batch (a map-style dataset over steps)
    loss_fn: LossFn  # (model, batch) -> (loss, {name: scalar tensor})
    export_fn: Callable[[torch.nn.Module, Path], None]  # writes the inference model dir
    dev_batches: list = field(default_factory=list)
    samples_per_batch: int = 0  # for samples/s
    sampler_state: dict = field(default_factory=dict)
    extra_metrics: Callable[[dict[str, float]], dict[str, float]] | None = None  # derived log values


def pick_device(name: str, info: DistInfo) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and info.enabled:
        name = f"cuda:{info.local_rank}"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise VQSpeechError(f"train.device={name}: CUDA is not available on this machine")
    dev = torch.device(name)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    return dev


def _to(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, (list, tuple)):
        return type(batch)(_to(b, device) for b in batch)
    return batch.to(device, non_blocking=True) if isinstance(batch, torch.Tensor) else batch


def _batch_iter(batches: Any, start: int, stop: int, workers: int):
    if workers <= 0:
        return (batches[s] for s in range(start, stop))
    loader = torch.utils.data.DataLoader(
        batches, batch_size=None, sampler=range(start, stop), num_workers=workers,
        persistent_workers=False, prefetch_factor=4,
    )
    return iter(loader)


def _autocast(device: torch.device, bf16: bool):
    if device.type == "cuda" and bf16:
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def validate(task: Task, device: torch.device, bf16: bool) -> dict[str, float]:
    """Mean metrics over the fixed dev batches (eval mode, no grad, RNG untouched)."""
    if not task.dev_batches:
        return {}
    model = task.model
    was_training = model.training
    model.eval()
    sums: dict[str, float] = {}
    count = 0
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), torch.no_grad():
        for batch in task.dev_batches:
            batch = _to(batch, device)
            n = int(batch[0].shape[0])
            with _autocast(device, bf16):
                loss, metrics = task.loss_fn(model, batch)
            for k, v in {"loss": loss, **metrics}.items():
                sums[k] = sums.get(k, 0.0) + float(v) * n
            count += n
    model.train(was_training)
    return {k: v / count for k, v in sums.items()}


def run_training(
    task: Task, tcfg: TrainSection, exp: str | Path, info: DistInfo, device: torch.device,
    resume: bool = False, workers: int = 0, progress: bool = True,
) -> dict[str, Any]:
    """Train `task.model` for `tcfg.steps` steps; returns a summary (final step, last train/dev metrics)."""
    from vqspeech.progress import progress_bar

    exp = Path(exp)
    model = task.model.to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=tcfg.lr, betas=tuple(tcfg.betas), weight_decay=tcfg.weight_decay)
    start, best = 0, math.inf
    latest = ckpt.latest_checkpoint(exp) if resume else None
    if latest is not None:
        state = ckpt.load_checkpoint(latest, model)
        try:
            opt.load_state_dict(state["optimizer"])
            ckpt.set_rng_state(state["rng"])
            ckpt.restore_buffers(model, state.get("buffers", {}))
        except (KeyError, IndexError, TypeError, ValueError, RuntimeError, AttributeError) as err:
            raise VQSpeechError(f"{latest / 'state.pt'}: does not fit this run ({str(err).splitlines()[0] if str(err) else type(err).__name__}); "
                                f"delete {latest} to resume from the checkpoint before it, or start over with --force") from None
        start, best = int(state["step"]), float(state["best_loss"])
        if hasattr(task.batches, "sampler"):
            task.batches.sampler.check_state(state.get("sampler", {}))
        if info.is_main:
            log.info(f"resuming from {latest} (step {start})")
    elif resume and info.is_main:
        log.info(f"{exp}: no complete checkpoint to resume from; starting at step 0")
    if info.is_main and (exp / "log" / "train.jsonl").is_file():
        _truncate_log(exp / "log" / "train.jsonl", start)
    logger = TrainLogger(exp, enabled=info.is_main)

    train_model: torch.nn.Module = model
    if info.enabled:
        from torch.nn.parallel import DistributedDataParallel as DDP

        # the last WaveNet layer's `res` conv is never used: find_unused_parameters (static_graph=True
        # left gradients unsynchronised with torch 2.13 + gloo in our test)
        train_model = DDP(model, device_ids=[device.index] if device.type == "cuda" else None,
                          find_unused_parameters=True)
    if tcfg.compile:
        train_model = torch.compile(train_model)

    def save(step: int) -> None:
        if info.is_main:
            state = {
                "step": step, "best_loss": best, "optimizer": opt.state_dict(),
                "scheduler": {"step": step, "lr_factor": lr_factor(step, tcfg.steps, tcfg.warmup_steps,
                                                                   tcfg.decay, tcfg.min_lr_ratio)},
                "rng": ckpt.rng_state(), "buffers": ckpt.extra_buffers(model), "sampler": {**task.sampler_state, "step": step},
            }
            path = ckpt.save_checkpoint(exp, step, model, state, tcfg.keep_last)
            task.export_fn(model, exp / "model")
            ckpt.drop_previous_run(exp)  # the run that --force replaces is kept until now
            log.debug(f"checkpoint {path}")
        barrier(info)

    bar = progress_bar(total=tcfg.steps, initial=start, desc=f"train {task.name}", unit="step", disable=not
               (progress and info.is_main), dynamic_ncols=True, mininterval=2.0)
    sums: dict[str, float] = {}
    n_sum, t_compute = 0, 0.0
    last: dict[str, float] = {}
    dev: dict[str, float] = {}
    model.train()
    batches = _batch_iter(task.batches, start, tcfg.steps, workers)
    try:
        for step in range(start, tcfg.steps):
            batch = _to(next(batches), device)
            t0 = time.perf_counter()
            lr = tcfg.lr * lr_factor(step, tcfg.steps, tcfg.warmup_steps, tcfg.decay, tcfg.min_lr_ratio)
            for g in opt.param_groups:
                g["lr"] = lr
            with _autocast(device, tcfg.bf16):
                loss, metrics = task.loss_fn(train_model, batch)
            bad = (~torch.isfinite(loss.detach())).float().reshape(1)
            if float(all_reduce_sum(bad).item()) > 0:
                _stop(exp, step, f"loss is {float(loss.detach()):.4g}")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            clip = tcfg.grad_clip if tcfg.grad_clip > 0 else math.inf
            gnorm = torch.nn.utils.clip_grad_norm_(params, clip)
            if not torch.isfinite(gnorm):
                _stop(exp, step, f"gradient norm is {float(gnorm):.4g}")
            opt.step()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            t_compute += time.perf_counter() - t0
            done = step + 1
            for k, v in {"loss": loss.detach(), **metrics, "grad_norm": gnorm}.items():
                sums[k] = sums.get(k, 0.0) + float(v)
            n_sum += 1
            bar.update(1)
            final = done == tcfg.steps
            if done % tcfg.log_every == 0 or final:
                last = {k: v / n_sum for k, v in sums.items()}
                last["lr"] = lr
                last["samples_per_s"] = n_sum * task.samples_per_batch * info.world_size / max(t_compute, 1e-9)
                if task.extra_metrics:
                    last.update(task.extra_metrics(last))
                logger.write(done, "train", last)
                bar.set_postfix({k: f"{last[k]:.3g}" for k in ("loss", "perplexity", "lr") if k in last})
                sums, n_sum, t_compute = {}, 0, 0.0
            if task.dev_batches and ((tcfg.validate_every and done % tcfg.validate_every == 0) or final):
                dev = validate(task, device, tcfg.bf16)
                if task.extra_metrics:
                    dev.update(task.extra_metrics(dev))
                best = min(best, dev["loss"])
                logger.write(done, "dev", dev)
                if info.is_main:
                    log.info(f"step {done}: dev " + " ".join(f"{k}={v:.4g}" for k, v in dev.items()))
            elif not task.dev_batches and (done % tcfg.log_every == 0 or final):
                best = min(best, last.get("loss", math.inf))
            if done % tcfg.checkpoint_every == 0 or final:
                save(done)
        if start >= tcfg.steps and info.is_main:
            task.export_fn(model, exp / "model")
    finally:
        bar.close()
        logger.close()
    return {"step": max(start, tcfg.steps), "train": last, "dev": dev, "best_loss": best}


def _stop(exp: Path, step: int, what: str) -> None:
    latest = ckpt.latest_checkpoint(exp)
    keep = f"the last good checkpoint is {latest}" if latest else "no checkpoint was written yet"
    raise VQSpeechError(f"step {step + 1}: {what}; training stopped ({keep}; try a lower train.lr)")


def _truncate_log(path: Path, step: int) -> None:
    """Drop records past `step` (written after the checkpoint a resumed run restarts from)."""
    import json

    from vqspeech.fileutil import write_text_atomic

    try:
        records = read_log(path)
    except ValueError:  # a line cut by a kill, or garbage: keep the readable records
        records = []
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            with contextlib.suppress(ValueError, RecursionError):
                records.append(json.loads(line))
    keep = [r for r in records if isinstance(r, dict) and isinstance(r.get("step", 0), int)
            and r.get("step", 0) <= step]
    if len(keep) < len(records):
        log.debug(f"{path}: dropped {len(records) - len(keep)} records past step {step} or unreadable")
    write_text_atomic(path, "".join(json.dumps(r) + "\n" for r in keep))
