"""Train a VQ-VAE on a Kaldi data dir: `train_vqvae(data_dir, dev_dir, cfg, exp)`.

The model's speaker list is the sorted speakers of the training data dir (unless the config lists
speakers, which must then include every training speaker). Under torchrun, the quantizer's EMA
statistics are summed over ranks through `quantizer.sync_fn`, so all ranks keep the same codebook.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import torch

from vqspeech.config import to_dict
from vqspeech.errors import VQSpeechError
from vqspeech.train.config import TrainConfig, model_config

log = logging.getLogger(__name__)


def vqvae_loss(model: torch.nn.Module, batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """batch = (wav [B, 1, T] float, speaker [B] int64[, f0 [B, T // hop] Hz]) -> (total loss, metrics)."""
    wav, spk = batch[0], batch[1]
    f0 = batch[2] if len(batch) > 2 else None
    out = model(wav, spk, f0) if f0 is not None else model(wav, spk)
    metrics = {
        "recon_loss": out.recon_loss.detach().float(),
        "vq_loss": out.vq_loss.detach().float(),
        "perplexity": torch.as_tensor(out.perplexity).detach().float(),
        "usage": torch.as_tensor(out.usage).detach().float(),
    }
    for k, v in (out.f0_metrics or {}).items():
        metrics[k] = torch.as_tensor(v).detach().float()
    return out.loss.float(), metrics


def _derived(crop: int, rate: int, wavenet: bool = True):
    def f(m: dict[str, float]) -> dict[str, float]:
        out = {"recon_bits_per_sample": m["recon_loss"] / math.log(2)} if "recon_loss" in m and wavenet else {}
        if "samples_per_s" in m:  # seconds of audio trained on per second
            out["audio_s_per_s"] = m["samples_per_s"] * crop / rate
        return out

    return f


def train_vqvae(
    data_dir: str | Path, dev_dir: str | Path | None, cfg: TrainConfig, exp: str | Path,
    resume: bool = False, progress: bool = True, *, force: bool = False, allow_pipes: bool = False,
) -> dict[str, Any]:
    """Train (or resume) a VQ-VAE; checkpoints in EXP/checkpoints, the model in EXP/model.

    EXP and the inputs are checked first and a failed run leaves EXP as it was (`train.experiment`);
    force: replace a run in EXP; allow_pipes: let wav.scp run shell commands."""
    from vqspeech.train.experiment import run_experiment

    return run_experiment(lambda: _train_vqvae(data_dir, dev_dir, cfg, exp, resume, progress), exp, data=data_dir,
                          dev=dev_dir, resume=resume, force=force, allow_pipes=allow_pipes)


def _train_vqvae(data_dir: str | Path, dev_dir: str | Path | None, cfg: TrainConfig, exp: str | Path,
                 resume: bool, progress: bool) -> dict[str, Any]:
    from vqspeech.data.dataset import CropBatches, CropSampler, fixed_crops
    from vqspeech.models import build_vqvae, save_model
    from vqspeech.train.distributed import all_reduce_sum
    from vqspeech.train.setup import open_caches, prepare_exp, training_run
    from vqspeech.train.trainer import Task, run_training

    t = cfg.train
    with training_run(t) as (info, device):
        exp = Path(exp)
        mcfg = model_config(cfg, "vqvae")
        train_cache, dev_cache = open_caches(data_dir, dev_dir, mcfg.sample_rate, cfg, exp, info, progress)
        data_speakers = sorted(set(train_cache.speakers))
        if mcfg.speakers:
            missing = [s for s in data_speakers if s not in mcfg.speakers]
            if missing:
                raise VQSpeechError(f"{data_dir}: speaker '{missing[0]}' is not in the config's model.speakers")
        else:
            mcfg.speakers = data_speakers
        cfg.model = to_dict(mcfg)
        f0_train = f0_dev = None
        if mcfg.f0_head is not None:  # the F0 head and F0-driven decoders (source_filter, source_harmonics) train on it
            from vqspeech.pitch.cache import open_f0_caches

            f0_train, f0_dev = open_f0_caches([train_cache, dev_cache], mcfg.hop, mcfg.f0_head.tracker, info,
                                              progress)
        prepare_exp(exp, cfg, info, resume)

        torch.manual_seed(t.seed)
        model = build_vqvae(mcfg, sync_fn=all_reduce_sum if info.enabled else None)
        spk_index = {s: i for i, s in enumerate(mcfg.speakers)}
        sampler = CropSampler(train_cache.lengths, t.batch_size, t.crop_samples, t.seed, info.rank,
                              info.world_size, cfg.data.short, name=str(data_dir))
        dev = []
        if dev_cache is not None:
            dev = fixed_crops(dev_cache, t.crop_samples, t.batch_size, cfg.data.dev_batches,
                              cfg.data.max_dev_utts, spk_index, f0=f0_dev)
            if not dev:
                log.warning(f"{dev_dir}: no dev utterance has a training speaker; validation skipped")
        task = Task(
            name="vqvae", model=model,
            batches=CropBatches(train_cache, sampler, spk_index, f0=f0_train), loss_fn=vqvae_loss,
            export_fn=lambda m, d: save_model(m, d), dev_batches=dev,
            samples_per_batch=t.batch_size, sampler_state=sampler.state(), extra_metrics=_derived(t.crop_samples, mcfg.sample_rate,
                                                                                 mcfg.decoder.type == "wavenet"),
        )
        summary = run_training(task, t, exp, info, device, resume=resume, workers=cfg.data.workers,
                               progress=progress)
        summary["model_dir"] = str(exp / "model")
        return summary
