"""Model directories: `config.json` + `model.safetensors`. No pickle anywhere on the load path.

`config.json` holds `format_version`, `kind` ("vqvae" | "prior"), the model `config` (a VQVAEConfig or
PriorConfig dict), and for convenience `speakers`, `sample_rate`, `hop`, `num_codes` (and `latent_dim`
for a VQ-VAE). Loading builds the model from `config`, then `load_state_dict(strict=True)`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vqspeech import __version__
from vqspeech.config import MAX_JSON_BYTES, from_dict, loads_json, to_dict
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
    if getattr(model, "same_codes_as", ()):
        extra["same_codes_as"] = list(model.same_codes_as)
    return {"format_version": FORMAT_VERSION, "kind": kind, "vqspeech_version": __version__,
            "sample_rate": model.sample_rate, "hop": model.hop, "speakers": list(model.speakers), **extra,
            "config": to_dict(model.config)}


def save_model(model: nn.Module, path: str | os.PathLike) -> Path:
    """Write `model` (unwrapped) to directory `path` atomically: config.json + model.safetensors."""
    path = Path(path)
    with atomic_dir(path) as tmp:
        write_model_files(model, tmp)
    return path


def write_model_files(model: nn.Module, directory: str | os.PathLike) -> None:
    """config.json (`model_metadata`) + model.safetensors of `model` (unwrapped) into an existing directory,
    not atomic by itself: `save_model` and the training checkpoints write into a temporary directory."""
    bare = unwrap(model)
    meta = model_metadata(bare)  # type: ignore[arg-type]
    directory = Path(directory)
    (directory / CONFIG_NAME).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    save_weights(clean_state_dict(bare.state_dict()), directory / WEIGHTS_NAME)


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
        if cfg_path.stat().st_size > MAX_JSON_BYTES:
            raise VQSpeechError(f"{cfg_path}: {cfg_path.stat().st_size} bytes, more than the {MAX_JSON_BYTES} a "
                                "model config may have")
        meta = loads_json(cfg_path.read_text(encoding="utf-8"), str(cfg_path))
    except UnicodeDecodeError as err:
        raise VQSpeechError(f"{cfg_path}: not valid JSON ({err})") from None
    except OSError as err:
        raise VQSpeechError(f"{cfg_path}: cannot read ({err.strerror})") from None
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
    _check_summary_fields(meta, cfg_path)
    try:
        check_config_bounds(meta["config"])
    except VQSpeechError as err:
        raise VQSpeechError(f"{cfg_path}: {err}") from None
    return meta


def _check_summary_fields(meta: dict[str, Any], where: Path) -> None:
    """The convenience copies beside `config` (speakers, sample_rate, hop, num_codes) have the right types
    and agree with it where both are present."""
    speakers = meta.get("speakers", [])
    if not isinstance(speakers, list) or not all(isinstance(s, str) for s in speakers):
        raise VQSpeechError(f"{where}: 'speakers' must be a list of names, got {str(speakers)[:60]}")
    for key, lo, hi in (("sample_rate", MIN_RATE, MAX_RATE), ("hop", 1, 1 << 16), ("num_codes", 2, 1 << 20),
                        ("latent_dim", 1, 1 << 15)):
        value = meta.get(key)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
            raise VQSpeechError(f"{where}: '{key}' must be an integer in {lo}..{hi}, got {value!r}")
    same = meta.get("same_codes_as", [])
    if not isinstance(same, list) or len(same) > 64 or not all(
            isinstance(f, str) and len(f) == 16 and all(c in "0123456789abcdef" for c in f) for f in same):
        raise VQSpeechError(f"{where}: 'same_codes_as' must be a list of model fingerprints (16 hex digits), "
                            f"got {str(same)[:60]}")
    if "sample_rate" in meta and meta["config"].get("sample_rate", meta["sample_rate"]) != meta["sample_rate"]:
        raise VQSpeechError(f"{where}: 'sample_rate' ({meta['sample_rate']}) differs from config.sample_rate "
                            f"({meta['config']['sample_rate']})")


def build_from_metadata(meta: dict[str, Any], where: str = "config.json") -> VQVAE | CodePrior:
    """A freshly initialised model of the kind and config recorded in `meta` (sizes checked first)."""
    try:
        check_config_bounds(meta["config"])
        if meta["kind"] == "vqvae":
            cfg = from_dict(VQVAEConfig, meta["config"])
            check_model_size(cfg, build_vqvae)
            return build_vqvae(cfg)
        cfg = from_dict(PriorConfig, meta["config"])
        check_model_size(cfg, build_prior)
        return build_prior(cfg)
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
    from vqspeech.pretrained import resolve_model_path

    path = resolve_model_path(path)
    meta = read_model_config(path)
    weights = path / WEIGHTS_NAME
    if not weights.is_file():
        raise VQSpeechError(f"{path}: no {WEIGHTS_NAME} next to {CONFIG_NAME}")
    with _no_weight_init():  # every tensor is overwritten by the strict load below
        model = build_from_metadata(meta, str(path / CONFIG_NAME))
    state = load_weights(weights)
    problem = _state_mismatch(model, state)
    if problem:
        raise VQSpeechError(f"{weights}: weights do not match {CONFIG_NAME}: {problem}")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise VQSpeechError(f"{weights}: weights do not match {CONFIG_NAME} ({str(err).splitlines()[0]})") from None
    if meta.get("same_codes_as"):
        model.same_codes_as = tuple(meta["same_codes_as"])
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


# ---- weights: a checksum stored with them, finite values checked at load --------------------------------

CHECKSUM_KEY = "vqspeech_sha256"  # safetensors metadata: sha256 over every tensor (name, dtype, shape, bytes)


def weights_checksum(tensors: dict[str, torch.Tensor]) -> str:
    """Hex sha256 over all tensors in name order: name, dtype, shape and the raw bytes of each."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().to("cpu").contiguous()
        h.update(f"{name}\0{str(t.dtype).removeprefix('torch.')}\0{tuple(t.shape)}\0".encode())
        if t.numel():
            h.update(memoryview(t.reshape(-1).view(torch.uint8).numpy()))
    return h.hexdigest()


def save_weights(tensors: dict[str, torch.Tensor], path: str | os.PathLike) -> None:
    """Write `tensors` to a safetensors file with their checksum in its metadata, byte-identical for the
    same tensors (the model fingerprint hashes these bytes): safetensors writes its metadata map in hash
    order, so the header is rewritten with the metadata keys sorted."""
    import struct

    from safetensors.torch import save

    blob = save(tensors, metadata={"format": "pt", CHECKSUM_KEY: weights_checksum(tensors)})
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    header["__metadata__"] = dict(sorted(header["__metadata__"].items()))
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # the data stays 8-byte aligned, as safetensors writes it
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        f.write(memoryview(blob)[8 + n:])


def load_weights(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a safetensors file; refuse it if damaged, if its stored checksum (when it has one: files
    written before checksums were stored have none) does not match, or if any float tensor holds NaN/inf."""
    from safetensors import safe_open

    path = Path(path)
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - safe_open has no __iter__
    except Exception as err:  # noqa: BLE001 - safetensors raises several types for bad files
        detail = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise VQSpeechError(f"{path}: truncated or corrupt weights file ({detail})") from None
    want = meta.get(CHECKSUM_KEY)
    if want is not None and weights_checksum(tensors) != want:
        raise VQSpeechError(f"{path}: the weights do not match their stored checksum (the file was damaged "
                            "or altered); copy the model again")
    for name in sorted(tensors):
        t = tensors[name]
        if t.is_floating_point() and t.numel() and not bool(torch.isfinite(t).all()):
            bad = int((~torch.isfinite(t)).sum())
            raise VQSpeechError(f"{path}: tensor '{name}' holds {bad} NaN/inf values (a diverged or damaged "
                                "model); use an earlier checkpoint")
    return tensors


# ---- sizes: a config whose model would not fit in memory is refused before anything is allocated ------

MAX_PARAMETERS = 1_000_000_000  # 4 GB of float32 weights, before optimizer state: far above any recipe
MAX_INT = 1 << 31  # no config integer is larger
MAX_LIST = 100_000  # no config list (speakers, strides, ...) is longer
MIN_RATE, MAX_RATE = 1000, 384_000  # Hz a model may run at
_CAPS = {  # per key name, wherever it sits in a model config
    "layers": 1024, "layers_per_stack": 1024, "stacks": 1024, "residual_blocks": 1024, "dilation_cycle": 64,
    "kernel_size": 64, "kmeans_iters": 10_000, "num_codes": 1 << 20, "restart_buffer": 1 << 22,
    "harmonics": 4096, "noise_bins": 1 << 16, "hop": 1 << 16,
}
_CHANNEL_CAP = 1 << 15  # any *channels / *dim key
_MAX_LAYERS = 1024  # stacks x layers_per_stack


def check_config_bounds(config: Any, where: str = "config") -> None:
    """Refuse absurd sizes in a model config (dict) before a dataclass or a module is built from it: rates
    outside 1-384 kHz, more than 1024 layers, huge channel counts, giant lists. Generic over model parts:
    the rules go by key name, so new parts that use the usual names are covered too."""
    if isinstance(config, dict):
        for key, value in config.items():
            here = f"{where}.{key}"
            if isinstance(value, (dict, list)):
                check_config_bounds(value, here)
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            if isinstance(value, float) and not math.isfinite(value):
                raise VQSpeechError(f"'{here}' is {value}; a finite number is needed")
            if key == "sample_rate" and not MIN_RATE <= value <= MAX_RATE:
                raise VQSpeechError(f"'{here}' is {value}; a model runs at {MIN_RATE}-{MAX_RATE} Hz")
            cap = _CAPS.get(key) or (_CHANNEL_CAP if key.endswith(("channels", "dim")) else None)
            if cap is not None and value > cap:
                raise VQSpeechError(f"'{here}' is {value}, more than the {cap} this vqspeech allows")
            if abs(value) > MAX_INT:
                raise VQSpeechError(f"'{here}' is {value}, out of range")
        stacks, per = config.get("stacks"), config.get("layers_per_stack")
        if isinstance(stacks, int) and isinstance(per, int) and stacks * per > _MAX_LAYERS:
            raise VQSpeechError(f"'{where}': {stacks} x {per} layers, more than the {_MAX_LAYERS} this vqspeech "
                                "allows")
    elif isinstance(config, list):
        if len(config) > MAX_LIST:
            raise VQSpeechError(f"'{where}' has {len(config)} entries, more than {MAX_LIST}")
        if where.endswith("strides"):
            if len(config) > 16 or any(isinstance(s, int) and s > 64 for s in config):
                raise VQSpeechError(f"'{where}' is {config[:20]}; at most 16 strides of at most 64 each")
        for i, value in enumerate(config):
            if isinstance(value, (dict, list)):
                check_config_bounds(value, f"{where}[{i}]")
            elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
                raise VQSpeechError(f"'{where}[{i}]' is {value}, out of range")


@contextlib.contextmanager
def _no_weight_init():
    """torch.nn.init's in-place initialisers as no-ops: on the meta device they route through torch's
    reference ops, whose first use imports torch._dynamo (about 1 s of every command's start-up)."""
    names = [n for n in vars(nn.init) if n.endswith("_") and not n.startswith("_") and callable(getattr(nn.init, n))]
    saved = {n: getattr(nn.init, n) for n in names}
    try:
        for n in names:
            setattr(nn.init, n, lambda tensor, *args, **kwargs: tensor)
        yield
    finally:
        for n, fn in saved.items():
            setattr(nn.init, n, fn)


def count_parameters(cfg: Any, build) -> int:
    """Parameters + buffers of `build(cfg)`, counted on the meta device (nothing is allocated, nothing
    initialised)."""
    with torch.device("meta"), _no_weight_init():
        model = build(cfg)
    return sum(t.numel() for t in model.parameters()) + sum(b.numel() for b in model.buffers())


def check_model_size(cfg: Any, build, limit: int = MAX_PARAMETERS) -> int:
    """Refuse a config whose model would hold more than `limit` numbers (checked without allocating).
    Call `check_config_bounds` on its dict first: that keeps even this dry-run build quick."""
    n = count_parameters(cfg, build)
    if n > limit:
        raise VQSpeechError(f"the model would have {n / 1e6:,.0f} M parameters, more than the {limit / 1e6:,.0f} M "
                            "this vqspeech builds (about 4 GB); check the sizes in the config")
    return n
