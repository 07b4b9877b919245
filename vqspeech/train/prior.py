"""Train a WaveNet prior over the codes of a frozen VQ-VAE: `train_prior(vqvae_dir, data_dir, ...)`.

The codes of every utterance are extracted once (EXP/codes/<split>.int16 + <split>.json, keyed by the
VQ-VAE's fingerprint and the data dir's hash) and the prior is trained on random windows of
`train.window_codes` codes. Windows running past an utterance's end are padded and the padded positions
are left out of the loss (the model is causal, so they never influence earlier positions).
Reported: NLL in bits per code and the bitrate entropy coding with the prior would give
(bits/code x codes/s).
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from vqspeech.config import to_dict
from vqspeech.fileutil import atomic_path, write_text_atomic
from vqspeech.train.config import TrainConfig, model_config

log = logging.getLogger(__name__)

IGNORE = -100


def extract_codes(model, data_dir: Path, out: Path, tag: str, cfg: TrainConfig, exp: Path, info,
                  fingerprint: str, progress: bool):
    """Encode every utterance of `data_dir` with `model` once (`codec.api.encode_waveform`, the codes
    `vqspeech encode` writes); returns an AudioCache-like view of codes."""
    from vqspeech.codec.api import encode_waveform
    from vqspeech.data.dataset import AudioCache, data_dir_hash
    from vqspeech.progress import progress_bar
    from vqspeech.train.setup import open_caches

    audio, _ = open_caches(data_dir, None, model.sample_rate, cfg, exp, info, progress)
    codes_path, index_path = out / f"{tag}.int16", out / f"{tag}.json"
    key = {"vqvae": fingerprint, "data": data_dir_hash(data_dir, model.sample_rate)}
    index = json.loads(index_path.read_text()) if index_path.is_file() else {}
    if index.get("key") != key and info.is_main:
        out.mkdir(parents=True, exist_ok=True)
        entries, offset = [], 0
        model.eval()
        with atomic_path(codes_path) as tmp, open(tmp, "wb") as fh:
            for i in progress_bar(range(len(audio)), desc=f"encoding {tag}", unit="utt", disable=not progress,
                          leave=False):
                c = encode_waveform(model, audio.utterance(i)).astype("<i2")
                fh.write(c.tobytes())
                entries.append({"utt": audio.utts[i], "offset": offset, "length": int(c.size),
                                "speaker": audio.speakers[i]})
                offset += int(c.size)
        index = {"key": key, "utts": entries}
        write_text_atomic(index_path, json.dumps(index) + "\n")
    from vqspeech.train.distributed import barrier

    barrier(info)
    index = json.loads(index_path.read_text())
    e = index["utts"]
    return AudioCache(codes_path, [x["utt"] for x in e], [x["speaker"] for x in e],
                      np.array([x["offset"] for x in e], np.int64), np.array([x["length"] for x in e], np.int64),
                      model.sample_rate)


class CodeWindows:
    """batches[step] -> (codes [B, W] int64 (pads = 0), targets [B, W] (pads = -100), speaker [B])."""

    def __init__(self, cache, sampler, speaker_index: dict[str, int] | None):
        self.cache, self.sampler, self.speaker_index = cache, sampler, speaker_index

    def __len__(self) -> int:
        return 2**62

    def make(self, items: list[tuple[int, int]]):
        w = self.sampler.crop
        codes = np.zeros((len(items), w), np.int64)
        targets = np.full((len(items), w), IGNORE, np.int64)
        for row, (u, s) in enumerate(items):
            c, n = self.cache.crop_raw(u, s, w)
            codes[row, :n] = c[:n]
            targets[row, :n] = c[:n]
        spk = np.array([self.speaker_index[self.cache.speakers[u]] if self.speaker_index else 0
                        for u, _ in items], np.int64)
        return torch.from_numpy(codes), torch.from_numpy(targets), torch.from_numpy(spk)

    def __getitem__(self, step: int):
        return self.make(self.sampler.items(int(step)))


def prior_loss(model: torch.nn.Module, batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """batch = (codes, targets, speaker) -> (mean nats per (unpadded) code, {})."""
    codes, targets, spk = batch
    logits = model(codes, spk)
    return F.cross_entropy(logits.float(), targets, ignore_index=IGNORE), {}


def prior_loss_unconditional(model: torch.nn.Module, batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    codes, targets, _ = batch
    return F.cross_entropy(model(codes, None).float(), targets, ignore_index=IGNORE), {}


def train_prior(
    vqvae_dir: str | Path, data_dir: str | Path, dev_dir: str | Path | None, cfg: TrainConfig,
    exp: str | Path, resume: bool = False, progress: bool = True, *, force: bool = False,
    allow_pipes: bool = False,
) -> dict[str, Any]:
    """Train (or resume) a prior for the VQ-VAE in `vqvae_dir`; the model goes to EXP/model.

    EXP and the inputs are checked first and a failed run leaves EXP as it was (`train.experiment`);
    force: replace a run in EXP; allow_pipes: let wav.scp run shell commands."""
    from vqspeech.train.experiment import run_experiment

    return run_experiment(lambda: _train_prior(vqvae_dir, data_dir, dev_dir, cfg, exp, resume, progress), exp,
                          data=data_dir, dev=dev_dir, vqvae=vqvae_dir, resume=resume, force=force,
                          allow_pipes=allow_pipes)


def _train_prior(vqvae_dir: str | Path, data_dir: str | Path, dev_dir: str | Path | None, cfg: TrainConfig,
                 exp: str | Path, resume: bool, progress: bool) -> dict[str, Any]:
    from vqspeech.data.dataset import CropSampler
    from vqspeech.models import build_prior, save_model
    from vqspeech.models.loading import load_vqvae
    from vqspeech.train.setup import prepare_exp, training_run
    from vqspeech.train.trainer import Task, run_training

    t = cfg.train
    with training_run(t) as (info, device):
        exp = Path(exp)
        vq, vq_fp = load_vqvae(vqvae_dir, str(device))
        for p in vq.parameters():
            p.requires_grad_(False)
        pcfg = model_config(cfg, "prior")
        pcfg.num_codes, pcfg.sample_rate, pcfg.hop = vq.config.quantizer.num_codes, vq.sample_rate, vq.hop
        pcfg.speakers = list(vq.speakers) if cfg.data.prior_speakers else []
        pcfg.vqvae_fingerprint = vq_fp
        cfg.model = to_dict(pcfg)
        prepare_exp(exp, cfg, info, resume)
        codes_dir = exp / "codes"
        train_codes = extract_codes(vq, Path(data_dir), codes_dir, "train", cfg, exp, info,
                                    pcfg.vqvae_fingerprint, progress)
        dev_codes = None if dev_dir is None else extract_codes(
            vq, Path(dev_dir), codes_dir, "dev", cfg, exp, info, pcfg.vqvae_fingerprint, progress)
        del vq
        spk_index = {s: i for i, s in enumerate(pcfg.speakers)} if pcfg.speakers else None
        torch.manual_seed(t.seed)
        model = build_prior(pcfg)
        sampler = CropSampler(train_codes.lengths, t.batch_size, t.window_codes, t.seed, info.rank,
                              info.world_size, "pad", name=str(data_dir))
        windows = CodeWindows(train_codes, sampler, spk_index)
        dev = []
        if dev_codes is not None:
            known = [i for i in range(len(dev_codes)) if spk_index is None or dev_codes.speakers[i] in spk_index]
            known = known[: min(cfg.data.max_dev_utts, t.batch_size * cfg.data.dev_batches)]
            dev = [windows.make([(i, 0) for i in known[k: k + t.batch_size]])
                   for k in range(0, len(known), t.batch_size)]
        rate = pcfg.code_rate

        def bits(m: dict[str, float]) -> dict[str, float]:
            b = m["loss"] / math.log(2)
            return {"bits_per_code": b, "bitrate_bps": b * rate}

        task = Task(
            name="prior", model=model, batches=windows,
            loss_fn=prior_loss if pcfg.speakers else prior_loss_unconditional, export_fn=lambda m, d: save_model(m, d), dev_batches=dev,
            samples_per_batch=t.batch_size, sampler_state=sampler.state(), extra_metrics=bits,
        )
        summary = run_training(task, t, exp, info, device, resume=resume, workers=cfg.data.workers,
                               progress=progress)
        summary["model_dir"] = str(exp / "model")
        summary["fixed_bitrate_bps"] = pcfg.code_rate * math.ceil(math.log2(pcfg.num_codes))
        return summary
