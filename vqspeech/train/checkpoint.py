"""Checkpoints: `EXP/checkpoints/step_<N>/` with model.safetensors + config.json (a model directory:
`models.io.load_model` loads it) + state.pt.

`state.pt` holds only plain tensors, ints, floats, strings, lists and dicts (optimizer and scheduler
state, step, RNG states, sampler state, best loss), so it loads with `torch.load(weights_only=True)`.
A checkpoint directory is written under a temporary name and renamed into place when complete, so a
kill mid-save leaves the previous checkpoints untouched; `latest_checkpoint` only sees complete ones.
"""

from __future__ import annotations

import logging
import random
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vqspeech.errors import VQSpeechError
from vqspeech.fileutil import atomic_dir

log = logging.getLogger(__name__)

_STEP_RE = re.compile(r"^step_(\d+)$")
COMPLETE_FILES = ("model.safetensors", "state.pt", "config.json")
PREVIOUS_RUN = ".previous_run"  # EXP/.previous_run/: the run --force replaces, kept until the new one checkpoints


def rng_state() -> dict[str, Any]:
    """RNG states of python, numpy and torch (CPU and CUDA) as plain tensors/lists."""
    py = random.getstate()
    np_state = np.random.get_state()
    out: dict[str, Any] = {
        "python": [py[0], list(py[1]), py[2]],
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *map(float, np_state[2:])],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        out["cuda"] = torch.cuda.get_rng_state_all()
    return out


def set_rng_state(state: dict[str, Any]) -> None:
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    np_state = state["numpy"]
    np.random.set_state(
        (np_state[0], np_state[1].numpy().astype(np.uint32), int(np_state[2]), int(np_state[3]), np_state[4])
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def step_dir(exp: Path, step: int) -> Path:
    return Path(exp) / "checkpoints" / f"step_{step:08d}"


def list_checkpoints(exp: str | Path) -> list[tuple[int, Path]]:
    """Complete checkpoints under EXP/checkpoints, oldest first."""
    root = Path(exp) / "checkpoints"
    if not root.is_dir():
        return []
    out = []
    for d in root.iterdir():
        m = _STEP_RE.match(d.name)
        if m and d.is_dir() and all((d / f).is_file() for f in COMPLETE_FILES):
            out.append((int(m.group(1)), d))
    return sorted(out)


def latest_checkpoint(exp: str | Path) -> Path | None:
    found = list_checkpoints(exp)
    return found[-1][1] if found else None


def save_checkpoint(exp: str | Path, step: int, model: torch.nn.Module, state: dict[str, Any], keep_last: int) -> Path:
    """Write step_<N>/ atomically, then delete all but the newest `keep_last` complete checkpoints.

    config.json + model.safetensors are those of a model directory (`models.io.write_model_files`), so
    `load_model(EXP/checkpoints/step_N)` loads the model as it was at step N."""
    from vqspeech.models.io import write_model_files

    dest = step_dir(Path(exp), step)
    with atomic_dir(dest) as tmp:
        write_model_files(model, tmp)
        torch.save(state, tmp / "state.pt")
    for _, old in list_checkpoints(exp)[:-keep_last]:
        shutil.rmtree(old, ignore_errors=True)
    return dest


# what a resumed run needs from state.pt, and the type each must have
STATE_KEYS: dict[str, type | tuple[type, ...]] = {"step": int, "best_loss": (int, float), "optimizer": dict,
                                                   "rng": dict}


def read_state(path: str | Path) -> dict[str, Any]:
    """`path/state.pt` (weights_only), checked for what a resume needs; one-line VQSpeechError if not."""
    path = Path(path)
    try:
        state = torch.load(path / "state.pt", weights_only=True, map_location="cpu")
    except Exception as err:  # noqa: BLE001 - report a broken checkpoint in one line
        detail = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise VQSpeechError(f"{path / 'state.pt'}: unreadable training state ({detail}); delete {path} to "
                            "resume from the checkpoint before it") from None
    if not isinstance(state, dict):
        raise VQSpeechError(f"{path / 'state.pt'}: not a training state (a mapping); delete {path} to resume "
                            "from the checkpoint before it")
    for key, tp in STATE_KEYS.items():
        if not isinstance(state.get(key), tp) or isinstance(state.get(key), bool):
            what = "missing" if key not in state else f"a {type(state[key]).__name__}"
            raise VQSpeechError(f"{path / 'state.pt'}: its '{key}' is {what}; delete {path} to resume from the "
                                "checkpoint before it, or start over with --force")
    opt = state["optimizer"]
    if not isinstance(opt.get("state"), dict) or not isinstance(opt.get("param_groups"), list):
        raise VQSpeechError(f"{path / 'state.pt'}: its optimizer state is incomplete; delete {path} to resume "
                            "from the checkpoint before it, or start over with --force")
    if state["step"] < 0:
        raise VQSpeechError(f"{path / 'state.pt'}: step {state['step']} is negative")
    return state


def check_resumable(exp: str | Path) -> Path | None:
    """The newest complete checkpoint of `exp` after checking its state (None if there is none)."""
    latest = latest_checkpoint(exp)
    if latest is not None:
        read_state(latest)
    return latest


def drop_previous_run(exp: str | Path) -> None:
    """Delete the run that `--force` kept aside (called once the new run has a checkpoint and a model)."""
    shutil.rmtree(Path(exp) / PREVIOUS_RUN, ignore_errors=True)


def load_checkpoint(path: str | Path, model: torch.nn.Module) -> dict[str, Any]:
    """Load weights into `model` (strict) and return the training state dict."""
    from vqspeech.models.io import load_weights

    path = Path(path)
    tensors = load_weights(path / "model.safetensors")
    state = read_state(path)
    from vqspeech.models.io import _state_mismatch

    problem = _state_mismatch(model, tensors)
    if problem:
        raise VQSpeechError(f"{path}: checkpoint does not match the configured model: {problem} (resume with the "
                            "run's own config, or start over with --force)")
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as err:
        raise VQSpeechError(
            f"{path}: checkpoint does not match the configured model ({str(err).splitlines()[0]})"
        ) from None
    return state


def extra_buffers(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Non-persistent buffers (training statistics kept out of the model file, e.g. the quantizer's
    usage EMA and recent-output buffer): saved in state.pt so that a resumed run matches exactly."""
    persistent = set(model.state_dict().keys())
    return {n: b.detach().cpu().clone() for n, b in model.named_buffers() if n not in persistent}


def restore_buffers(model: torch.nn.Module, buffers: dict[str, torch.Tensor]) -> None:
    for name, value in buffers.items():
        owner_name, _, attr = name.rpartition(".")
        owner = model.get_submodule(owner_name) if owner_name else model
        old = getattr(owner, attr)
        setattr(owner, attr, value.to(device=old.device, dtype=old.dtype))
