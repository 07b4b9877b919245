"""Training configs: `TrainConfig` = `model` (VQVAEConfig or PriorConfig fields) + `train` + `data`.

A YAML file maps one-to-one onto these dataclasses (unknown keys are errors naming the key) and
`--set train.lr=3e-4` overrides single values. `--config small` picks a bundled file from
vqspeech/train/configs/ (tiny.yaml, small.yaml; prior_tiny.yaml, prior_small.yaml for priors); anything
else is a path.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from vqspeech.config import apply_overrides, from_dict, load_yaml, merge, to_dict
from vqspeech.errors import VQSpeechError

CONFIG_DIR = Path(__file__).parent / "configs"


@dataclass
class TrainSection:
    steps: int = 100000  # optimizer steps in total
    batch_size: int = 8  # crops per step and per process (the global batch is batch_size x world size)
    crop_samples: int = 8192  # vqvae: crop length in samples (a multiple of the hop); prior: ignored
    window_codes: int = 256  # prior: code window length per training example
    lr: float = 4e-4  # peak learning rate (AdamW)
    weight_decay: float = 0.0  # AdamW decoupled weight decay
    betas: tuple[float, float] = (0.9, 0.999)  # AdamW betas
    warmup_steps: int = 1000  # linear warmup from 0 to lr
    decay: Literal["cosine", "none"] = "cosine"  # after warmup: cosine to min_lr_ratio x lr, or constant
    min_lr_ratio: float = 0.05  # final lr of the cosine decay, as a fraction of lr
    grad_clip: float = 1.0  # max global grad norm (0 = no clipping)
    checkpoint_every: int = 1000  # steps between checkpoints (and exports of EXP/model)
    keep_last: int = 3  # checkpoints kept on disk
    validate_every: int = 1000  # steps between dev-set validations (0 = never)
    log_every: int = 10  # steps between log records (JSONL, TensorBoard, progress bar)
    seed: int = 1234  # seeds model init, data order and crops
    threads: int = 0  # torch intra-op threads (0 = torch's default)
    compile: bool = False  # torch.compile the training model
    device: str = "auto"  # auto (cuda if available), cpu, cuda, cuda:1, ...
    bf16: bool = True  # bf16 autocast (used on CUDA only)


@dataclass
class DataSection:
    cache_dir: str | None = None  # audio cache; default <data_dir>/.cache (EXP/cache if not writable)
    short: Literal["pad", "skip"] = "pad"  # utterances shorter than a crop: zero-pad at the end, or skip
    workers: int = 0  # background batch-loading processes (0 = in the training process)
    dev_batches: int = 8  # batches of fixed dev crops per validation
    max_dev_utts: int = 64  # dev utterances used for validation (the first ones, sorted)
    prior_speakers: bool = False  # prior: condition on the speaker (the VQ-VAE's speaker list)


@dataclass
class TrainConfig:
    model: dict[str, Any] = field(default_factory=dict)  # VQVAEConfig / PriorConfig fields
    train: TrainSection = field(default_factory=TrainSection)
    data: DataSection = field(default_factory=DataSection)


def resolve_config_path(name: str, kind: str = "vqvae") -> Path:
    """`tiny` -> the bundled configs/tiny.yaml (configs/prior_tiny.yaml for a prior); else a path."""
    path = Path(name)
    if path.is_file():
        return path
    prefix = {"prior": "prior_", "f0": "f0_"}.get(kind, "")
    bundled = CONFIG_DIR / f"{prefix}{name}.yaml"
    if "/" not in name and bundled.is_file():
        return bundled
    stems = sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))
    names = [s[len(prefix):] for s in stems if s.startswith(prefix)] if prefix else [
        s for s in stems if not s.startswith(("prior_", "f0_"))]
    raise VQSpeechError(f"{name}: no such config file or bundled {kind} config (bundled: {', '.join(names)})")


def load_train_config(
    config: str | None = None, overrides: list[str] | None = None, kind: str = "vqvae"
) -> TrainConfig:
    """Defaults, then the YAML file `config` (name or path), then `--set` overrides; validated."""
    base = to_dict(TrainConfig())
    base["model"] = to_dict(_model_config_cls(kind)())
    user = {} if config is None else _floats(load_yaml(resolve_config_path(config, kind)))
    dec = user.get("model", {}).get("decoder") if isinstance(user.get("model"), dict) else None
    if isinstance(dec, dict) and dec.get("type", "wavenet") != base["model"].get("decoder", {}).get("type"):
        base["model"]["decoder"] = {}  # another decoder type: its own defaults, not the WaveNet's keys
    data = merge(base, user)
    unknown = sorted(set(data) - {"model", "train", "data"})
    if unknown:
        raise VQSpeechError(f"config: unknown key '{unknown[0]}' (known: data, model, train)")
    if overrides:
        data = apply_overrides(data, [_float_literal(o) for o in overrides])
    from vqspeech.models.io import check_config_bounds

    try:
        check_config_bounds(data.get("model"), "model")  # before any dataclass is built from it
    except VQSpeechError as err:
        raise VQSpeechError(f"config: {err}") from None
    cfg = from_dict(TrainConfig, data)
    model_config(cfg, kind)  # validate the model section now: unknown keys name 'model.<key>'
    _check(cfg, kind)
    return cfg


_EXP_FLOAT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$")


def _float_literal(override: str) -> str:
    """`train.lr=3e-4` -> `train.lr=0.0003`: YAML 1.1 reads `3e-4` as a string, users mean a float."""
    key, sep, value = override.partition("=")
    if sep and _EXP_FLOAT.match(value.strip()):
        text = repr(float(value))
        mantissa, e, exp = text.partition("e")
        return f"{key}={mantissa if '.' in mantissa else mantissa + '.0'}{e}{exp}"
    return override


def _floats(node: Any) -> Any:
    """YAML file values like `lr: 3e-4` (read as strings by YAML 1.1) -> floats."""
    if isinstance(node, dict):
        return {k: _floats(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_floats(v) for v in node]
    if isinstance(node, str) and _EXP_FLOAT.match(node.strip()):
        return float(node)
    return node


def _model_config_cls(kind: str) -> type:
    from vqspeech.models import config as mc

    return {"vqvae": mc.VQVAEConfig, "f0": mc.F0HeadConfig}.get(kind, mc.PriorConfig)


def model_config(cfg: TrainConfig, kind: str = "vqvae") -> Any:
    """The model section as a VQVAEConfig / PriorConfig (strict: unknown keys are errors)."""
    return from_dict(_model_config_cls(kind), cfg.model, "model")


def _check(cfg: TrainConfig, kind: str) -> None:
    t = cfg.train
    for name in ("steps", "batch_size", "crop_samples", "window_codes", "checkpoint_every", "log_every"):
        if getattr(t, name) <= 0:
            raise VQSpeechError(f"config: 'train.{name}' must be positive, got {getattr(t, name)}")
    if t.keep_last < 1:
        raise VQSpeechError(f"config: 'train.keep_last' must be at least 1, got {t.keep_last}")
    for name, lo, hi, what in (("lr", 0.0, math.inf, "> 0"), ("weight_decay", 0.0, math.inf, ">= 0"),
                               ("grad_clip", 0.0, math.inf, ">= 0 (0 = no clipping)"),
                               ("min_lr_ratio", 0.0, 1.0, "in [0, 1]")):
        v = getattr(t, name)
        if not (math.isfinite(v) and lo <= v <= hi) or (name == "lr" and v == 0):
            raise VQSpeechError(f"config: 'train.{name}' must be a finite number {what}, got {v}")
    if len(t.betas) != 2 or not all(math.isfinite(b) and 0.0 <= b < 1.0 for b in t.betas):
        raise VQSpeechError(f"config: 'train.betas' must be two numbers in [0, 1), got {list(t.betas)}")
    for name in ("warmup_steps", "validate_every", "threads", "seed"):
        if getattr(t, name) < 0:
            raise VQSpeechError(f"config: 'train.{name}' must be >= 0, got {getattr(t, name)}")
    d = cfg.data
    if d.workers < 0 or d.dev_batches < 1 or d.max_dev_utts < 1:
        raise VQSpeechError("config: 'data.workers' must be >= 0, 'data.dev_batches' and 'data.max_dev_utts' >= 1")
    check_device(t.device, "config: 'train.device'")
    from vqspeech.models import build_prior, build_vqvae
    from vqspeech.models.io import check_config_bounds, check_model_size

    try:
        check_config_bounds(cfg.model, "model")
        if kind in ("vqvae", "prior"):
            check_model_size(model_config(cfg, kind), build_vqvae if kind == "vqvae" else build_prior)
    except VQSpeechError as err:
        raise VQSpeechError(f"config: {err}") from None
    if kind == "vqvae":
        hop = model_config(cfg, kind).hop
        if t.crop_samples % hop:
            raise VQSpeechError(
                f"config: 'train.crop_samples' ({t.crop_samples}) must be a multiple of the hop ({hop})"
            )


def check_device(name: str, what: str = "--device") -> None:
    """`auto`, `cpu`, `cuda` or `cuda:N` that this machine has; a one-line error otherwise."""
    import torch

    if name == "auto":
        return
    try:
        dev = torch.device(name)
    except (RuntimeError, TypeError, ValueError):
        raise VQSpeechError(f"{what}: unknown device {name!r} (use auto, cpu, cuda or cuda:N)") from None
    if dev.type not in ("cpu", "cuda"):
        raise VQSpeechError(f"{what}: device {name!r} is not supported (use auto, cpu, cuda or cuda:N)")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise VQSpeechError(f"{what}: {name!r}, but CUDA is not available on this machine (use cpu)")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise VQSpeechError(f"{what}: {name!r}, but this machine has {torch.cuda.device_count()} CUDA devices")


def config_to_dict(cfg: TrainConfig) -> dict:
    """A JSON-ready dict (tuples become lists)."""
    return json_ready(dataclasses.asdict(cfg))


def json_ready(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_ready(v) for v in obj]
    return obj
