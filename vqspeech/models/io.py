"""Model directories: `config.json` + `model.safetensors`. No pickle anywhere on the load path.

`config.json` holds `format_version`, `kind` ("vqvae" | "prior"), the model `config` (a VQVAEConfig or
PriorConfig dict), and for convenience `speakers`, `sample_rate`, `hop`, `num_codes` (and `latent_dim`
for a VQ-VAE). Loading builds the model from `config`, then `load_state_dict(strict=True)`.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vqspeech import __version__
from vqspeech.config import from_dict, to_dict
from vqspeech.errors import VQSpeechError
from vqspeech.fileutil import atomic_dir
from vqspeech.models.config import PriorConfig, VQVAEConfig
from vqspeech.models.prior import CodePrior, build_prior
from vqspeech.models.vqvae import VQVAE, build_vqvae

FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
KINDS = ("vqvae", "prior")
_PREFIXES = ("module.", "_orig_mod.")


def unwrap(model: nn.Module) -> nn.Module:
    """The bare model inside DistributedDataParallel and/or torch.compile wrappers."""
    while True:
        if hasattr(model, "_orig_mod") and isinstance(model._orig_mod, nn.Module):
            model = model._orig_mod
        elif hasattr(model, "module") and isinstance(model.module, nn.Module):
            model = model.module
        else:
            return model


def clean_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Strip `module.` / `_orig_mod.` prefixes; contiguous CPU copies ready for safetensors."""
    out = {}
    for key, value in state.items():
        changed = True
        while changed:
            changed = False
            for p in _PREFIXES:
                if key.startswith(p):
                    key, changed = key[len(p):], True
        out[key] = value.detach().to("cpu").contiguous().clone()
    return out


def model_metadata(model: VQVAE | CodePrior) -> dict[str, Any]:
    """The `config.json` content for `model`."""
    if isinstance(model, VQVAE):
        kind, extra = "vqvae", {"num_codes": model.quantizer.num_codes, "latent_dim": model.quantizer.dim}
    elif isinstance(model, CodePrior):
        kind, extra = "prior", {"num_codes": model.num_codes}
    else:
        raise TypeError(f"save_model: expected a VQVAE or CodePrior, got {type(model).__name__}")
    return {"format_version": FORMAT_VERSION, "kind": kind, "vqspeech_version": __version__,
            "sample_rate": model.sample_rate, "hop": model.hop, "speakers": list(model.speakers), **extra,
            "config": to_dict(model.config)}


def save_model(model: nn.Module, path: str | os.PathLike) -> Path:
    """Write `model` (unwrapped) to directory `path` atomically: config.json + model.safetensors."""
    from safetensors.torch import save_file

    bare = unwrap(model)
    meta = model_metadata(bare)  # type: ignore[arg-type]
    state = clean_state_dict(bare.state_dict())
    path = Path(path)
    with atomic_dir(path) as tmp:
        (tmp / CONFIG_NAME).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        save_file(state, str(tmp / WEIGHTS_NAME), metadata={"format": "pt"})  # one key: a deterministic header
    return path


def read_model_config(path: str | os.PathLike) -> dict[str, Any]:
    """Read and check `path/config.json` (format version, kind, config mapping); VQSpeechError if not ours.
    A bare name that is no path names a bundled model (`vqspeech.pretrained.resolve_model_path`)."""
    from vqspeech.pretrained import resolve_model_path

    path = resolve_model_path(path)
    if not path.exists():
        raise VQSpeechError(f"{path}: no such model directory")
    if not path.is_dir():
        raise VQSpeechError(f"{path}: not a model directory (a model is a directory with {CONFIG_NAME} "
                            f"and {WEIGHTS_NAME})")
    cfg_path = path / CONFIG_NAME
    if not cfg_path.is_file():
        raise VQSpeechError(f"{path}: not a vqspeech model directory (no {CONFIG_NAME})")
    try:
        meta = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise VQSpeechError(f"{cfg_path}: not valid JSON ({err})") from None
    if not isinstance(meta, dict) or "format_version" not in meta or "kind" not in meta:
        raise VQSpeechError(f"{cfg_path}: not a vqspeech model config (no format_version/kind)")
    version = meta["format_version"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise VQSpeechError(f"{cfg_path}: bad format_version {version!r}")
    if version > FORMAT_VERSION:
        raise VQSpeechError(f"{cfg_path}: format_version {version} is newer than this vqspeech supports "
                            f"({FORMAT_VERSION}); upgrade vqspeech")
    if meta["kind"] not in KINDS:
        raise VQSpeechError(f"{cfg_path}: unknown model kind {meta['kind']!r} (expected one of {', '.join(KINDS)})")
    if not isinstance(meta.get("config"), dict):
        raise VQSpeechError(f"{cfg_path}: no 'config' mapping")
    return meta


def build_from_metadata(meta: dict[str, Any], where: str = "config.json") -> VQVAE | CodePrior:
    """A freshly initialised model of the kind and config recorded in `meta`."""
    try:
        if meta["kind"] == "vqvae":
            return build_vqvae(from_dict(VQVAEConfig, meta["config"]))
        return build_prior(from_dict(PriorConfig, meta["config"]))
    except VQSpeechError as err:
        raise VQSpeechError(f"{where}: {err}") from None


def _state_mismatch(model: nn.Module, state: dict[str, torch.Tensor]) -> str | None:
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in expected.items()
              if k in state and tuple(state[k].shape) != tuple(v.shape)]
    parts = []
    if missing:
        parts.append(f"missing {len(missing)} tensors (e.g. {', '.join(missing[:3])})")
    if unexpected:
        parts.append(f"unexpected {len(unexpected)} tensors (e.g. {', '.join(unexpected[:3])})")
    if shapes:
        parts.append(f"{len(shapes)} shape mismatches (e.g. {'; '.join(shapes[:3])}; file vs config)")
    return ", ".join(parts) or None


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> VQVAE | CodePrior:
    """Load a model directory: build from config.json, load weights strictly; eval mode on `device`."""
    from safetensors.torch import load_file

    from vqspeech.pretrained import resolve_model_path

    path = resolve_model_path(path)
    meta = read_model_config(path)
    weights = path / WEIGHTS_NAME
    if not weights.is_file():
        raise VQSpeechError(f"{path}: no {WEIGHTS_NAME} next to {CONFIG_NAME}")
    model = build_from_metadata(meta, str(path / CONFIG_NAME))
    try:
        state = load_file(str(weights), device="cpu")
    except Exception as err:  # noqa: BLE001 - safetensors raises several types for bad files
        detail = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise VQSpeechError(f"{weights}: truncated or corrupt weights file ({detail})") from None
    problem = _state_mismatch(model, state)
    if problem:
        raise VQSpeechError(f"{weights}: weights do not match {CONFIG_NAME}: {problem}")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise VQSpeechError(f"{weights}: weights do not match {CONFIG_NAME} ({str(err).splitlines()[0]})") from None
    return model.to(device).eval()


def model_fingerprint(path: str | os.PathLike) -> str:
    """Hex digest (16 chars) of config.json (canonical JSON) and the weight bytes of a model directory."""
    from vqspeech.pretrained import resolve_model_path

    path = resolve_model_path(path)
    meta = read_model_config(path)
    h = hashlib.sha256(json.dumps(meta, sort_keys=True, separators=(",", ":")).encode("utf-8"))
    weights = path / WEIGHTS_NAME
    if not weights.is_file():
        raise VQSpeechError(f"{path}: no {WEIGHTS_NAME} next to {CONFIG_NAME}")
    with open(weights, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]
