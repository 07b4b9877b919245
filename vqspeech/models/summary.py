"""What a model directory holds, as a plain dict: parts, parameter counts, receptive fields, rates.

`vqspeech info MODEL` prints it; the numbers come from the loaded model, so a broken directory fails
here with the same clear errors as `load_model`.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from torch import nn

from vqspeech.models.config import _NAMED_DECODERS, WaveNetConfig, bits_per_code
from vqspeech.models.io import CONFIG_NAME, WEIGHTS_NAME, load_model, model_fingerprint, read_model_config
from vqspeech.models.prior import CodePrior
from vqspeech.models.vqvae import VQVAE


def count_parameters(module: nn.Module | None) -> int:
    """Number of learned values in `module` (trainable parameters)."""
    return 0 if module is None else sum(p.numel() for p in module.parameters())


def wavenet_name(cfg: WaveNetConfig) -> str | None:
    """The named config ("tiny", "small", "paper") equal to `cfg`, if any."""
    for name, fields in _NAMED_DECODERS.items():
        if dataclasses.asdict(WaveNetConfig(**fields)) == dataclasses.asdict(cfg):
            return name
    return None


def _wavenet_details(cfg: WaveNetConfig) -> str:
    name = wavenet_name(cfg)
    text = (f"{cfg.stacks} stacks x {cfg.layers_per_stack} layers, residual {cfg.residual_channels}, "
            f"gate {cfg.gate_channels}, skip {cfg.skip_channels}, kernel {cfg.kernel_size}")
    return f'"{name}": {text}' if name else text


def _decoder_details(model) -> str:
    if model.is_wavenet:
        h = model.decoder.config.source_harmonics
        src = f", excited by a sine + noise source ({h} harmonics of the F0 head's pitch)" if h else ""
        return "wavenet: " + _wavenet_details(model.decoder.config) + src
    c = model.decoder.config
    return (f"source_filter: {c.layers} gated dilated conv blocks at the code rate, {c.channels} channels, "
            f"{c.harmonics} harmonics + {c.noise_bins}-bin filtered noise, non-autoregressive")


def _decoder_rf(model) -> int:
    """Samples of the input signal's frames that one output sample depends on."""
    if model.is_wavenet:
        return int(model.decoder.receptive_field)
    return (2 * int(model.decoder.context) + 1) * int(model.hop)


def _rf(samples: int, rate: float, unit: str = "samples") -> dict[str, Any]:
    return {unit: samples, "ms": round(1000.0 * samples / rate, 2)}


def model_summary(path: str | os.PathLike) -> dict[str, Any]:
    """A JSON-ready description of the model directory `path` (a VQ-VAE or a prior)."""
    path = Path(path)
    meta = read_model_config(path)
    model = load_model(path)
    files = {name: (path / name).stat().st_size for name in (CONFIG_NAME, WEIGHTS_NAME)}
    out: dict[str, Any] = {
        "path": str(path), "kind": meta["kind"], "format_version": meta["format_version"],
        "fingerprint": model_fingerprint(path), "file_bytes": files,
        "sample_rate": model.sample_rate, "hop": model.hop, "code_rate_hz": model.sample_rate / model.hop,
        "speakers": list(model.speakers),
    }
    if isinstance(model, VQVAE):
        q, e = model.quantizer, model.encoder
        K, D = q.num_codes, q.dim
        ec = e.config
        parts = [
            {"name": "encoder", "parameters": count_parameters(e),
             "details": f"strides {'x'.join(map(str, ec.strides))}, {ec.hidden_channels} hidden channels, "
                        f"{ec.residual_blocks} residual blocks, D={D}"},
            {"name": "quantizer", "parameters": K * D,
             "details": f"K={K} x D={D}, mode {q.config.mode}, beta {q.config.beta}"},
            {"name": "decoder", "parameters": count_parameters(model.decoder),
             "details": _decoder_details(model)
                        + f", speaker dim {model.decoder.config.speaker_dim if model.speakers else 0}"},
        ]
        if model.f0_head is not None:
            fc = model.f0_head.config
            parts.append({"name": "f0_head", "parameters": count_parameters(model.f0_head),
                          "details": f"{fc.layers} dilated conv blocks, {fc.channels} channels, context "
                                     f"+-{fc.context} frames ({1000 * fc.context * model.hop / model.sample_rate:.0f} ms), "
                                     f"trained on {fc.tracker} F0"})
        if model.upsampler is not None:
            parts.append({"name": "upsampler", "parameters": count_parameters(model.upsampler),
                          "details": f"transposed conv, kernel {2 * model.hop}, stride {model.hop}"})
        out.update(
            num_codes=K, latent_dim=D, bits_per_code=bits_per_code(K),
            raw_bitrate_bps=out["code_rate_hz"] * bits_per_code(K), upsample=model.config.upsample,
            decoder_type=model.decoder_type, f0_head=model.f0_head is not None,
            same_codes_as=list(model.same_codes_as),
            receptive_field={"encoder": _rf(e.receptive_field, model.sample_rate),
                             "decoder": _rf(_decoder_rf(model), model.sample_rate)},
        )
    else:
        assert isinstance(model, CodePrior)
        K = model.num_codes
        parts = [{"name": "wavenet", "parameters": count_parameters(model.wavenet),
                  "details": _wavenet_details(model.wavenet.config) + f", {K + 1} inputs -> {K} outputs"}]
        rf = model.wavenet.receptive_field
        out.update(
            num_codes=K, bits_per_code=bits_per_code(K), raw_bitrate_bps=out["code_rate_hz"] * bits_per_code(K),
            vqvae_fingerprint=model.config.vqvae_fingerprint or None,
            receptive_field={"prior": {"codes": rf, "ms": round(1000.0 * rf * model.hop / model.sample_rate, 2)}},
        )
    out["parts"] = parts
    out["total_parameters"] = sum(p["parameters"] for p in parts)  # the EMA codebook counts as learned
    return out
