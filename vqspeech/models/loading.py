"""The one way to load a VQ-VAE and its prior: kind, K, hop and fingerprints checked, for every verb
and every Python entry point (codec, sampling, evaluation, phone analysis, training a prior or an F0
head, the demo).

- A model is a directory (or a bundled name), or an already-loaded module; None is the bundled default
  of that kind. A directory of the other kind is refused in one line naming the option it belongs to.
- A prior fits a VQ-VAE when it models the same K codes at the same hop, and was trained on that
  VQ-VAE's codes (its recorded `vqvae_fingerprint`): another VQ-VAE's prior is refused unless
  `ignore_mismatch` (then it is said once in `notes` when given).
"""

from __future__ import annotations

import os
from typing import Any

from vqspeech.errors import VQSpeechError

ModelSource = Any  # a model dir (str | PathLike), a bundled name, a loaded VQVAE / CodePrior, or None
_OPTION = {"vqvae": "--model", "prior": "--prior"}
_NAME = {"vqvae": "a VQ-VAE", "prior": "a prior"}


def load_kind(path: str | os.PathLike | None, kind: str, device: str = "cpu") -> tuple[Any, str]:
    """Load a model dir of `kind` ("vqvae" | "prior") -> (model in eval mode, fingerprint); None = the
    bundled default of that kind."""
    from vqspeech import pretrained
    from vqspeech.models.io import load_model, model_fingerprint, read_model_config

    if kind not in _OPTION:
        raise ValueError(f"kind must be 'vqvae' or 'prior', got {kind!r}")
    if path is None:
        path = pretrained.default_model_dir() if kind == "vqvae" else pretrained.default_prior_dir()
    check_device(device)
    meta = read_model_config(path)
    if meta["kind"] != kind:
        raise VQSpeechError(f"{path}: is a {meta['kind']} model, not a {kind} (pass it as {_OPTION[meta['kind']]})")
    return load_model(path, device=device), model_fingerprint(path)


def load_vqvae(model: ModelSource = None, device: str = "cpu") -> tuple[Any, str | None]:
    """A VQ-VAE dir (None = the bundled one) or a loaded VQVAE -> (VQVAE in eval mode, fingerprint; None
    for a loaded module)."""
    from vqspeech.models.vqvae import VQVAE

    if model is None or isinstance(model, (str, os.PathLike)):
        return load_kind(model, "vqvae", device)
    if not isinstance(model, VQVAE):
        raise VQSpeechError(f"expected a VQ-VAE model, got {type(model).__name__}")
    return model.eval(), None


def load_prior(prior: ModelSource = None, vqvae: Any = None, fingerprint: str | None = None, *,
               device: str = "cpu", ignore_mismatch: bool = False,
               notes: list[str] | None = None) -> tuple[Any, str | None]:
    """A prior dir (None = the bundled one) or a loaded CodePrior -> (CodePrior in eval mode, its
    fingerprint; None for a loaded module), checked against `vqvae` (with its `fingerprint`) when given."""
    from vqspeech.models.prior import CodePrior

    if prior is None or isinstance(prior, (str, os.PathLike)):
        p, fp = load_kind(prior, "prior", device)
    elif isinstance(prior, CodePrior):
        p, fp = prior.eval(), None
    else:
        raise VQSpeechError(f"expected a prior over codes, got {type(prior).__name__}")
    if vqvae is not None:
        where = f"{prior}: " if isinstance(prior, (str, os.PathLike)) else ""
        try:
            check_prior(vqvae, p, fingerprint, ignore_mismatch=ignore_mismatch, notes=notes)
        except VQSpeechError as err:
            raise VQSpeechError(f"{where}{err}") from None
    return p, fp


def check_prior(vqvae: Any, prior: Any, fingerprint: str | None = None, *, ignore_mismatch: bool = False,
                notes: list[str] | None = None) -> None:
    """A prior fit for this VQ-VAE: same K and hop; trained on its codes (the prior's recorded VQ-VAE
    fingerprint equals `fingerprint`) unless `ignore_mismatch`. One-line VQSpeechError otherwise."""
    k = int(vqvae.config.quantizer.num_codes)
    if int(prior.num_codes) != k:
        raise VQSpeechError(f"prior models {prior.num_codes} codes, the VQ-VAE has {k}")
    if int(prior.hop) != int(vqvae.hop):
        raise VQSpeechError(f"prior has hop {prior.hop}, the VQ-VAE {vqvae.hop}")
    want = getattr(prior.config, "vqvae_fingerprint", "") or ""
    if fingerprint and want and not same_codes(vqvae, fingerprint, want):
        if not ignore_mismatch:
            raise VQSpeechError(f"prior was trained on VQ-VAE {want}, not this model ({fingerprint}); "
                                "pass --ignore-model-mismatch to use it anyway")
        msg = f"the prior was trained on the codes of another VQ-VAE ({want}, this one is {fingerprint})"
        if notes is not None and msg not in notes:
            notes.append(msg)


def same_codes(vqvae: Any, fingerprint: str | None, other: str) -> bool:
    """Codes of the model with fingerprint `other` are `vqvae`'s own (fingerprint `fingerprint`): the
    same model, or one it shares its encoder and codebook with (`VQVAE.same_codes_as`)."""
    return bool(other) and (other == fingerprint or other in getattr(vqvae, "same_codes_as", ()))


def prior_fits(prior: Any, fingerprint: str | None, vqvae: Any = None) -> bool:
    """The prior was trained on the codes of the VQ-VAE with this fingerprint (or of a model whose codes
    `vqvae` shares)."""
    return bool(fingerprint) and same_codes(vqvae, fingerprint, getattr(prior.config, "vqvae_fingerprint", "") or "")


def check_device(device: str) -> None:
    """A CUDA device needs CUDA on this machine."""
    if str(device).startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise VQSpeechError(f"device {device!r}: CUDA is not available on this machine (use --device cpu)")
