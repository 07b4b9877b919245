"""Give an existing VQ-VAE an F0 head: `train_f0(vqvae_dir, data_dir, dev_dir, cfg, exp)`.

The VQ-VAE is frozen (its codes and codebook do not change, so .vqs files and priors made with it stay
valid for decoding); only the head trains, on the tracker's F0 of the training data (the F0 cache).
EXP/model is the VQ-VAE with the head: a complete model dir, usable wherever the original was.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from vqspeech.config import from_dict, to_dict
from vqspeech.errors import VQSpeechError
from vqspeech.train.config import TrainConfig, model_config

log = logging.getLogger(__name__)


def f0_head_loss(model: torch.nn.Module, batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """batch = (wav [B, 1, T], speaker [B], f0 [B, T // hop]) -> (head loss, metrics); codes frozen."""
    from vqspeech.models.f0_head import f0_loss
    from vqspeech.models.io import unwrap

    wav, spk, f0 = batch
    vq = unwrap(model)
    with torch.no_grad():
        q = vq.conditioning_frames(vq.encode(wav))
    pred = vq.predict_f0(q, spk)
    loss, metrics = f0_loss(pred, f0)
    return loss, metrics


def with_f0_head(vqvae, head_cfg) -> Any:
    """A copy of `vqvae` (same weights) with an F0 head of `head_cfg`: the model's own head when it has one
    of the same shape (the training continues from it: a refit on the frozen codes), else a fresh one."""
    from vqspeech.models.config import VQVAEConfig
    from vqspeech.models.vqvae import build_vqvae

    cfg = from_dict(VQVAEConfig, {**to_dict(vqvae.config), "f0_head": to_dict(head_cfg)})
    model = build_vqvae(cfg)
    state = vqvae.state_dict()
    own = vqvae.f0_head is not None and {k: tuple(v.shape) for k, v in vqvae.f0_head.state_dict().items()} == \
        {k: tuple(v.shape) for k, v in model.f0_head.state_dict().items()}
    if not own:
        state = {k: v for k, v in state.items() if not k.startswith("f0_head.")}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or any(not k.startswith("f0_head.") for k in missing):
        raise VQSpeechError("could not copy the VQ-VAE's weights into the model with an F0 head")
    log.info("F0 head: %s", "continuing from the model's own head" if own else "a new head")
    return model


def train_f0(vqvae_dir: str | Path, data_dir: str | Path, dev_dir: str | Path | None, cfg: TrainConfig,
             exp: str | Path, resume: bool = False, progress: bool = True, *, force: bool = False,
             allow_pipes: bool = False) -> dict[str, Any]:
    """Train an F0 head on the frozen VQ-VAE `vqvae_dir`; the model with its head lands in EXP/model.

    EXP and the inputs are checked first and a failed run leaves EXP as it was (`train.experiment`);
    force: replace a run in EXP; allow_pipes: let wav.scp run shell commands."""
    from vqspeech.train.experiment import run_experiment

    return run_experiment(lambda: _train_f0(vqvae_dir, data_dir, dev_dir, cfg, exp, resume, progress), exp,
                          data=data_dir, dev=dev_dir, vqvae=vqvae_dir, resume=resume, force=force,
                          allow_pipes=allow_pipes)


def _train_f0(vqvae_dir: str | Path, data_dir: str | Path, dev_dir: str | Path | None, cfg: TrainConfig,
              exp: str | Path, resume: bool, progress: bool) -> dict[str, Any]:
    from vqspeech.data.dataset import CropBatches, CropSampler, fixed_crops
    from vqspeech.models import save_model
    from vqspeech.models.loading import load_vqvae
    from vqspeech.pitch.cache import open_f0_caches
    from vqspeech.train.setup import open_caches, prepare_exp, training_run
    from vqspeech.train.trainer import Task, run_training

    t = cfg.train
    head_cfg = model_config(cfg, "f0")
    with training_run(t) as (info, device):
        exp = Path(exp)
        base, base_fp = load_vqvae(vqvae_dir)
        if t.crop_samples % base.hop:
            raise VQSpeechError(f"config: 'train.crop_samples' ({t.crop_samples}) must be a multiple of the hop "
                                f"({base.hop})")
        train_cache, dev_cache = open_caches(data_dir, dev_dir, base.sample_rate, cfg, exp, info, progress)
        unknown = sorted({s for s in train_cache.speakers if s not in base.speakers})
        if unknown and base.speakers:
            raise VQSpeechError(f"{data_dir}: speaker '{unknown[0]}' is not one of the model's speakers")
        f0_train, f0_dev = open_f0_caches([train_cache, dev_cache], base.hop, head_cfg.tracker, info, progress)
        torch.manual_seed(t.seed)
        model = with_f0_head(base, head_cfg)
        model.same_codes_as = tuple(dict.fromkeys([base_fp, *base.same_codes_as]))  # frozen: the codes stay
        for name, p in model.named_parameters():
            p.requires_grad_(name.startswith("f0_head."))
        prepare_exp(exp, cfg, info, resume)
        spk_index = {s: i for i, s in enumerate(base.speakers)} or {s: 0 for s in set(train_cache.speakers)}
        sampler = CropSampler(train_cache.lengths, t.batch_size, t.crop_samples, t.seed, info.rank,
                              info.world_size, cfg.data.short, name=str(data_dir))
        dev = []
        if dev_cache is not None:
            dev = fixed_crops(dev_cache, t.crop_samples, t.batch_size, cfg.data.dev_batches, cfg.data.max_dev_utts,
                              spk_index, f0=f0_dev)
        task = Task(name="f0", model=model, batches=CropBatches(train_cache, sampler, spk_index, f0=f0_train),
                    loss_fn=f0_head_loss, export_fn=lambda m, d: save_model(m, d), dev_batches=dev, samples_per_batch=t.batch_size,
                    sampler_state=sampler.state())
        cfg.model = to_dict(head_cfg)
        summary = run_training(task, t, exp, info, device, resume=resume, workers=cfg.data.workers,
                               progress=progress)
        summary["model_dir"] = str(exp / "model")
        return summary
