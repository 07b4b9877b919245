"""`vqspeech info [MODEL]`: what a model directory holds (parts, sizes, receptive fields, rates)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from vqspeech.errors import VQSpeechError

_MAX_SPEAKERS = 20  # speakers listed by name in the text output


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"


def _format(s: dict) -> str:
    kind = {"vqvae": "VQ-VAE", "prior": "code prior"}[s["kind"]]
    lines = [
        f"model        {s['path']}",
        f"kind         {kind} (format_version {s['format_version']}, fingerprint {s['fingerprint']})",
        "files        " + ", ".join(f"{k} {_size(v)}" for k, v in s["file_bytes"].items()),
        f"audio        {s['sample_rate']} Hz, hop {s['hop']} samples -> {s['code_rate_hz']:g} codes/s",
    ]
    codes = f"K={s['num_codes']}"
    if "latent_dim" in s:
        codes += f" x D={s['latent_dim']}"
    lines.append(f"codes        {codes}, {s['bits_per_code']} bits/code -> raw bitrate "
                 f"{s['raw_bitrate_bps']:g} bit/s ({s['raw_bitrate_bps'] / 1000:g} kbit/s)")
    spk = s["speakers"]
    shown = ", ".join(spk[:_MAX_SPEAKERS]) + (f", ... ({len(spk) - _MAX_SPEAKERS} more)" if len(spk) > _MAX_SPEAKERS else "")
    lines.append(f"speakers     {len(spk)}" + (f": {shown}" if spk else " (not speaker-conditioned)"))
    for name, rf in s["receptive_field"].items():
        unit = "codes" if "codes" in rf else "samples"
        lines.append(f"receptive    {name}: {rf[unit]} {unit} ({rf['ms']:g} ms)")
    if s.get("upsample"):
        lines.append(f"upsample     {s['upsample']}")
    if s["kind"] == "prior":
        lines.append(f"for VQ-VAE   {s.get('vqvae_fingerprint') or '(fingerprint not recorded)'}")
    if s.get("same_codes_as"):
        lines.append(f"same codes   as {', '.join(s['same_codes_as'])} (their .vqs files and priors fit)")
    lines.append("")
    lines.append(f"{'part':<12} {'parameters':>12}  details")
    for p in s["parts"]:
        lines.append(f"{p['name']:<12} {p['parameters']:>12,}  {p['details']}")
    lines.append(f"{'total':<12} {s['total_parameters']:>12,}  ({_size(4 * s['total_parameters'])} as float32)")
    return "\n".join(lines)


def info_cmd(
    model: Path | None = typer.Argument(
        None, help="A model directory (config.json + model.safetensors), e.g. EXP/model (default: the bundled "
        "default model), or a .vqs file."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON object instead of text."),
) -> None:
    """Describe a VQ-VAE or prior model directory: parts, parameter counts, receptive fields, speakers,
    code rate and raw bitrate (code rate x ceil(log2 K)), format version and fingerprint. Given a .vqs
    file: its header, frames (bytes, time, CRC) and bitrates.

    Examples:

      vqspeech info

      vqspeech info exp/vqvae_train/model

      vqspeech info exp/prior_train/model --json

      vqspeech info speech.vqs
    """
    from vqspeech.models.io import CONFIG_NAME
    from vqspeech.models.summary import model_summary

    if model is not None and model.suffix.lower() == ".vqs" and not model.is_dir():
        from vqspeech.codec.describe import format_vqs, vqs_summary

        s = vqs_summary(model)
        typer.echo(json.dumps(s, indent=2) if as_json else format_vqs(s))
        return

    if model is None:
        from vqspeech.pretrained import default_model_dir

        model = default_model_dir()
    if model.is_dir() and not (model / CONFIG_NAME).exists() and (model / "model" / CONFIG_NAME).is_file():
        raise VQSpeechError(f"{model}: not a model directory (no {CONFIG_NAME}); did you mean {model / 'model'}?")
    summary = model_summary(model)
    typer.echo(json.dumps(summary, indent=2) if as_json else _format(summary))


def register(app: typer.Typer) -> None:
    app.command("info")(info_cmd)
