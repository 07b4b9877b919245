"""`vqspeech encode | decode | convert | sample | speakers`: audio <-> .vqs codes, voice conversion,
speech sampled from the prior.

Many inputs: outputs are planned and checked (overwrite, duplicates) before any work starts; then a
file that fails is reported on stderr ("error: ..."), the others are still written, and the command
exits 2 at the end. A failed file leaves no output (every write is atomic).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import typer

from vqspeech.codec.outputs import convert_output, decode_outputs, encode_outputs, sample_output
from vqspeech.commands.common import (
    MAX_DURATION_HELP,
    check_device,
    check_finite,
    check_seconds,
    check_seed,
    check_temperature,
)
from vqspeech.errors import VQSpeechError
from vqspeech.models.loading import load_kind, load_prior, load_vqvae, prior_fits
from vqspeech.speakers import resolve_speaker

log = logging.getLogger(__name__)

_MODEL_HELP = "VQ-VAE model directory (default: the bundled default model)."
_FORCE_HELP = "Overwrite existing outputs."
_PRECISION_HELP = ("Source-filter decoder arithmetic: auto (bfloat16 where the CPU computes it natively, about "
                   "twice as fast; else float32), float32, bfloat16.")


def _run_all(pairs: list[tuple[Path, Path]], work, desc: str) -> None:
    """work(inp, out) per pair; failures reported one line each, exit 2 at the end if any failed."""
    if len(pairs) == 1:
        work(*pairs[0])
        return
    from vqspeech.progress import progress_bar

    failed = 0
    for inp, o in progress_bar(pairs, desc=desc, unit="file", file=sys.stderr, dynamic_ncols=True):
        try:
            work(inp, o)
        except VQSpeechError as err:
            failed += 1
            typer.echo(f"error: {err}", err=True)
    if failed:
        raise VQSpeechError(f"{failed} of {len(pairs)} files failed (the other outputs were written)")


def encode_cmd(
    inputs: list[Path] = typer.Argument(..., help="Audio files (wav/flac/ogg, any rate/channels) or directories."),
    out: Path | None = typer.Option(None, "-o", "--out", help="Output .vqs (one input) or directory (several)."),
    model: Path | None = typer.Option(None, "--model", "-m", help=_MODEL_HELP),
    speaker: str | None = typer.Option(None, "--speaker", help="Source speaker, recorded in the header."),
    entropy: bool | None = typer.Option(None, "--entropy/--no-entropy", help="Range-code the codes with the prior "
                                        "(default: on when --prior is given or the bundled prior is the model's)."),
    prior: Path | None = typer.Option(None, "--prior", help="Prior model dir for entropy coding (default: bundled)."),
    metadata: bool = typer.Option(False, "--metadata", help="Store the vqspeech version and source name in the header."),
    chunk_seconds: float = typer.Option(5.0, "--chunk-seconds", help="Encoding chunk in s (bounds memory)."),
    max_duration: float | None = typer.Option(None, "--max-duration", help=MAX_DURATION_HELP),
    force: bool = typer.Option(False, "--force", "-f", help=_FORCE_HELP),
) -> None:
    """Encode audio into .vqs code files (x.wav -> x.vqs; a directory -> DIR_vqs/ mirroring names).

    Prints per file: duration, number of codes, bitrate (kbps) and the real size.

    Examples:

      vqspeech encode speech.wav --model exp/vq/model

      vqspeech encode a.wav b.flac -o codes/ --model exp/vq/model

      vqspeech encode data/wav --prior exp/prior/model -o codes/

      vqspeech encode speech.wav --no-entropy
    """
    from vqspeech.audio import check_audio_file, set_max_duration
    from vqspeech.codec.files import encode_to_vqs, file_metadata

    set_max_duration(max_duration)
    check_seconds("--chunk-seconds", chunk_seconds, most=3600.0)
    if prior is not None and entropy is False:
        raise VQSpeechError("--prior is used for entropy coding, not with --no-entropy")
    pairs = encode_outputs(inputs, out, force)
    vq, fp = load_vqvae(model)
    pr, pr_fp = load_kind(prior, "prior") if entropy is not False else (None, "")
    if entropy is None and prior is None and not prior_fits(pr, fp, vq):
        log.info("the bundled prior is not this model's: codes are bit-packed (pass --prior to entropy-code)")
        pr, pr_fp = None, ""

    def work(inp: Path, o: Path) -> None:
        check_audio_file(inp)  # header bounds (rate, duration) before any decoding
        r = encode_to_vqs(vq, fp, inp, o, speaker=speaker, prior=pr, prior_fingerprint=pr_fp,
                          chunk_seconds=chunk_seconds, progress=True,
                          metadata=file_metadata(inp) if metadata else None)
        line = f"{inp} -> {o}: {r.duration:.2f} s, {r.n_codes} codes, {r.packed_kbps:.3f} kbps"
        if r.entropy_coded:
            line += (f"; entropy-coded {r.payload_bytes} bytes = {r.payload_kbps:.3f} kbps "
                     f"({r.file_bytes} bytes = {r.file_kbps:.3f} kbps with header)")
        elif r.entropy_bytes is not None:
            line += (f"; entropy coding gave {r.entropy_bytes} bytes + a longer header, not smaller: bit-packed "
                     f"({r.file_bytes} bytes = {r.file_kbps:.3f} kbps with header)")
        else:
            line += f" ({r.file_bytes} bytes = {r.file_kbps:.3f} kbps with header)"
        typer.echo(line)

    _run_all(pairs, work, "encode")


def decode_cmd(
    inputs: list[Path] = typer.Argument(..., help=".vqs files or directories holding them."),
    out: Path | None = typer.Option(None, "-o", "--out", help="Output audio (one input) or directory."),
    model: Path | None = typer.Option(None, "--model", "-m", help=_MODEL_HELP),
    speaker: str | None = typer.Option(None, "--speaker", "-s", help="Target speaker (default: the source)."),
    temperature: float = typer.Option(1.0, "--temperature", "-t", help="Sampling temperature (0 = argmax)."),
    seed: int | None = typer.Option(None, "--seed", help="Random seed (same seed = same waveform)."),
    prior: Path | None = typer.Option(None, "--prior", help="Prior for entropy-coded files (default: bundled)."),
    ignore_mismatch: bool = typer.Option(False, "--ignore-model-mismatch",
                                         help="Decode codes made by another model anyway."),
    f0_shift: float = typer.Option(0.0, "--f0-shift", help="Move the pitch by this many semitones "
                                   "(source-filter decoders)."),
    conceal: bool = typer.Option(False, "--conceal", help="Replace damaged frames by silence (default: fail)."),
    start: float = typer.Option(0.0, "--start", help="Decode from this many seconds in (seeks to its frame)."),
    duration: float | None = typer.Option(None, "--duration", help="Decode this many seconds (default: to the end)."),
    device: str = typer.Option("cpu", "--device", help="cpu (numba kernel) or cuda (torch incremental)."),
    precision: str = typer.Option("auto", "--precision", help=_PRECISION_HELP),
    force: bool = typer.Option(False, "--force", "-f", help=_FORCE_HELP),
) -> None:
    """Decode .vqs files to audio with the model's decoder (x.vqs -> x.decoded.wav).

    Refuses a .vqs made by another model (fingerprint in the header) unless --ignore-model-mismatch.
    A damaged frame (bit errors) is named by index and time and fails the file, unless --conceal.

    Examples:

      vqspeech decode speech.vqs --model exp/vq/model

      vqspeech decode speech.vqs --speaker p226 --seed 1 -o p226.wav --model exp/vq/model

      vqspeech decode codes/ -o decoded/ --temperature 0.8 --model exp/vq/model

      vqspeech decode speech.vqs --start 2 --duration 1.5 --conceal
    """
    from vqspeech.codec.api import decode_to_file
    from vqspeech.codec.files import check_model, read_code_span
    from vqspeech.models.precision import check_precision, resolve_precision

    check_temperature(temperature)
    check_seed(seed)
    check_seconds("--start", start, zero_ok=True)
    check_seconds("--duration", duration)
    check_finite("--f0-shift", f0_shift, 48.0)
    check_device(device)
    resolve_precision(precision)
    pairs = decode_outputs(inputs, out, force)
    vq, fp = load_vqvae(model, device)
    check_precision(vq, precision)
    resolve_speaker(vq.speakers, speaker, what="decoder")  # an unknown name fails before any file
    cache: dict = {}

    def prior_loader():
        if "p" not in cache:
            cache["p"] = load_kind(prior, "prior")
        return cache["p"]

    def work(inp: Path, o: Path) -> None:
        span = read_code_span(inp, prior_loader, progress=True, conceal=conceal, start=start, duration=duration)
        header = span.header
        check_model(header, vq, fp, str(inp), ignore_mismatch)
        spk = resolve_speaker(vq.speakers, speaker, source=header.speaker, what="decoder")
        decode_to_file(vq, span.codes, o, spk, temperature=temperature, seed=seed,
                       num_samples=max(1, span.num_samples), progress=True, f0_shift=f0_shift, skip=span.skip,
                       silence=span.silence, precision=precision)
        name = vq.speakers[spk] if spk is not None else 0
        part = f" ({span.num_samples / header.sample_rate:.2f} s from {start:g} s)" if start or duration else ""
        hurt = f"; {len(span.damaged)} damaged frames concealed by silence" if span.damaged else ""
        typer.echo(f"{inp} -> {o}: {header.duration:.2f} s{part} decoded as speaker {name}{hurt}")

    _run_all(pairs, work, "decode")


def convert_cmd(
    inp: Path = typer.Argument(..., help="Audio file to convert."),
    speaker: str = typer.Option(..., "--speaker", "-s", help="Target speaker."),
    out: Path | None = typer.Option(None, "-o", "--out", help="Output audio (default x.to_<speaker>.wav)."),
    model: Path | None = typer.Option(None, "--model", "-m", help=_MODEL_HELP),
    temperature: float = typer.Option(1.0, "--temperature", "-t", help="Sampling temperature (0 = argmax)."),
    seed: int | None = typer.Option(None, "--seed", help="Random seed."),
    f0_shift: float = typer.Option(0.0, "--f0-shift", help="Move the pitch by this many semitones "
                                   "(source-filter decoders)."),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda."),
    max_duration: float | None = typer.Option(None, "--max-duration", help=MAX_DURATION_HELP),
    precision: str = typer.Option("auto", "--precision", help=_PRECISION_HELP),
    force: bool = typer.Option(False, "--force", "-f", help=_FORCE_HELP),
) -> None:
    """Voice conversion: encode, then decode as another speaker (a source-filter model also takes the
    target's pitch range from its F0 head).

    Examples:

      vqspeech convert p225_001.wav --speaker p226 --model exp/vq/model

      vqspeech convert in.flac -s p226 -o out.wav --seed 0 --model exp/vq/model
    """
    from vqspeech.audio import check_audio_file, set_max_duration
    from vqspeech.codec.api import decode_to_file, encode_file
    from vqspeech.models.precision import check_precision, resolve_precision

    set_max_duration(max_duration)
    check_temperature(temperature)
    check_seed(seed)
    check_finite("--f0-shift", f0_shift, 48.0)
    check_device(device)
    resolve_precision(precision)
    check_audio_file(inp)
    o = convert_output(inp, speaker, out, force)
    vq, _ = load_vqvae(model, device)
    check_precision(vq, precision)
    resolve_speaker(vq.speakers, speaker, what="decoder")
    codes, n = encode_file(vq, inp, progress=True)
    decode_to_file(vq, codes, o, speaker, temperature=temperature, seed=seed, num_samples=n, progress=True,
                   f0_shift=f0_shift, precision=precision)
    typer.echo(f"{inp} -> {o}: {n / vq.sample_rate:.2f} s as speaker {speaker}")


def sample_cmd(
    prior: Path | None = typer.Option(None, "--prior", help="Prior model dir (default: the bundled prior)."),
    speaker: str | None = typer.Option(None, "--speaker", "-s", help="Speaker (prior and decoder)."),
    seconds: float = typer.Option(3.0, "--seconds", help="Length of the sample."),
    out: Path | None = typer.Option(None, "-o", "--out", help="Output audio (default sample.<speaker>.wav)."),
    model: Path | None = typer.Option(None, "--model", "-m", help=_MODEL_HELP),
    temperature: float = typer.Option(1.0, "--temperature", "-t", help="Temperature for the prior and decoder."),
    seed: int | None = typer.Option(None, "--seed", help="Random seed."),
    ignore_mismatch: bool = typer.Option(False, "--ignore-model-mismatch",
                                         help="Use a prior trained for another VQ-VAE anyway."),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda."),
    precision: str = typer.Option("auto", "--precision", help=_PRECISION_HELP),
    force: bool = typer.Option(False, "--force", "-f", help=_FORCE_HELP),
) -> None:
    """Speech sampled from the prior: codes from the prior, decoded with the VQ-VAE.

    Examples:

      vqspeech sample --prior exp/prior/model --model exp/vq/model --speaker p225 --seconds 3 -o s.wav
    """
    from vqspeech.generate.sample import sample_speech
    from vqspeech.models.precision import check_precision, resolve_precision

    check_seconds("--seconds", seconds, most=3600.0)
    check_temperature(temperature)
    check_seed(seed)
    check_device(device)
    resolve_precision(precision)
    o = sample_output(speaker, out, force)
    vq, fp = load_vqvae(model, device)
    check_precision(vq, precision)
    pr, _ = load_prior(prior, vq, fp, device=device, ignore_mismatch=ignore_mismatch)
    r = sample_speech(vq, pr, seconds, speaker, temperature=temperature, seed=seed, path=o, progress=True,
                     precision=precision)
    typer.echo(f"{o}: {r.num_samples / vq.sample_rate:.2f} s sampled from the prior, speaker {r.speaker}")


def speakers_cmd(model: Path | None = typer.Option(None, "--model", "-m", help=_MODEL_HELP)) -> None:
    """List the model's speakers, one per line.

    Example:

      vqspeech speakers --model exp/vq/model
    """
    from vqspeech.models.io import read_model_config

    path = model
    if path is None:
        from vqspeech import pretrained

        path = pretrained.default_model_dir()
    meta = read_model_config(path)
    for name in meta.get("speakers") or meta.get("config", {}).get("speakers", []):
        typer.echo(name)


def register(app: typer.Typer) -> None:
    app.command("encode")(encode_cmd)
    app.command("decode")(decode_cmd)
    app.command("convert")(convert_cmd)
    app.command("sample")(sample_cmd)
    app.command("speakers")(speakers_cmd)
