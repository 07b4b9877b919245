"""Classic low-bitrate codecs as baselines: Codec2 (Debian `codec2`) and Opus (`opus-tools`).

Each baseline runs the installed command-line tools on a 16 kHz waveform and returns the decoded
waveform at 16 kHz plus the bits it actually took:
- Codec2 3200 / 2400 / 1200 / 700C: resampled to 8 kHz raw s16 -> `c2enc MODE in.raw out.bit` ->
  `c2dec MODE out.bit out.raw` -> back to 16 kHz (narrowband: nothing above 4 kHz survives);
- Opus 6 / 9 kbps: `opusenc --bitrate N --speech` on a 16 kHz WAV -> `opusdec --rate 16000`
  (measured bits include the Ogg container).
A codec whose tools are not on PATH is skipped with a note (`available_baselines`).
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vqspeech.errors import VQSpeechError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Baseline:
    name: str  # e.g. "codec2-3200"
    codec: str  # "codec2" | "opus"
    mode: str  # codec2 mode ("3200", "700C") or opus bitrate in kbps ("6")
    kbps: float  # nominal bitrate
    tools: tuple[str, ...]  # executables it needs


BASELINES: tuple[Baseline, ...] = (
    *(Baseline(f"codec2-{m}", "codec2", m, k, ("c2enc", "c2dec"))
      for m, k in (("3200", 3.2), ("2400", 2.4), ("1200", 1.2), ("700C", 0.7))),
    *(Baseline(f"opus-{k}k", "opus", str(k), float(k), ("opusenc", "opusdec")) for k in (6, 9)),
)


def available_baselines(names: Sequence[str] | None = None) -> tuple[list[Baseline], list[str]]:
    """-> (baselines whose tools are installed, notes for those skipped). `names` selects by name."""
    chosen = list(BASELINES)
    if names is not None:
        known = {b.name: b for b in BASELINES}
        bad = [n for n in names if n not in known]
        if bad:
            raise VQSpeechError(f"unknown baseline(s) {', '.join(bad)}; known: {', '.join(known)}")
        chosen = [known[n] for n in names]
    ok, notes, noted = [], [], set()
    for b in chosen:
        missing = [t for t in b.tools if shutil.which(t) is None]
        if missing:
            if b.codec not in noted:
                pkg = "codec2" if b.codec == "codec2" else "opus-tools"
                notes.append(f"{b.codec} baselines skipped: {', '.join(missing)} not found on PATH "
                             f"(install the '{pkg}' package)")
                noted.add(b.codec)
        else:
            ok.append(b)
    return ok, notes


def _run(cmd: list[str], name: str) -> None:
    try:
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=600)
    except subprocess.CalledProcessError as err:
        msg = err.stderr.decode(errors="replace").strip().splitlines()
        raise VQSpeechError(f"{name}: {cmd[0]} failed (exit {err.returncode}): {msg[-1] if msg else ''}") from None


def _to_s16(x: np.ndarray) -> bytes:
    return (np.clip(x, -1.0, 1.0) * 32767.0).round().astype("<i2").tobytes()


def run_baseline(b: Baseline, wav: np.ndarray, sample_rate: int = 16000) -> tuple[np.ndarray, int]:
    """wav: [T] float32 at 16 kHz -> (decoded [T] float32 at 16 kHz, bits of the encoded stream)."""
    from vqspeech.audio import read_audio, resample, save_audio

    if sample_rate != 16000:
        raise VQSpeechError(f"{b.name}: baselines take 16 kHz audio, got {sample_rate} Hz")
    x = np.asarray(wav, dtype=np.float32).reshape(-1)
    with tempfile.TemporaryDirectory(prefix="vqspeech_baseline_") as tmp:
        d = Path(tmp)
        if b.codec == "codec2":
            (d / "in.raw").write_bytes(_to_s16(resample(x, 16000, 8000)))
            _run(["c2enc", b.mode, str(d / "in.raw"), str(d / "enc.bit")], b.name)
            _run(["c2dec", b.mode, str(d / "enc.bit"), str(d / "out.raw")], b.name)
            bits = (d / "enc.bit").stat().st_size * 8
            y8 = np.frombuffer((d / "out.raw").read_bytes(), dtype="<i2").astype(np.float32) / 32768.0
            y = resample(y8, 8000, 16000)
        elif b.codec == "opus":
            save_audio(d / "in.wav", x, 16000)
            _run(["opusenc", "--quiet", "--speech", "--bitrate", b.mode, str(d / "in.wav"), str(d / "enc.opus")],
                 b.name)
            _run(["opusdec", "--quiet", "--rate", "16000", str(d / "enc.opus"), str(d / "out.wav")], b.name)
            bits = (d / "enc.opus").stat().st_size * 8
            y2d, rate = read_audio(d / "out.wav")
            y = y2d.mean(axis=1) if y2d.ndim == 2 else y2d
            if rate != 16000:
                y = resample(y, rate, 16000)
        else:
            raise VQSpeechError(f"{b.name}: unknown codec {b.codec!r}")
    out = np.zeros(x.size, dtype=np.float32)
    n = min(x.size, y.size)
    out[:n] = y[:n]
    return out, int(bits)
