"""What a `.vqs` file holds, for `vqspeech info FILE.vqs`: header fields, frames and rates. No torch here,
nothing decoded (frame CRCs are checked)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from vqspeech.errors import VQSpeechError

_MAX_FRAMES = 12  # frames listed one by one in the text output


def vqs_summary(path: str | os.PathLike) -> dict[str, Any]:
    """-> a JSON-able dict: version, header fields, header bytes, frames (bytes, time, CRC), rates."""
    from vqspeech.codec import vqs2
    from vqspeech.codec.bitstream import MAGIC, check_version, frame_time, parse, read_vqs

    path = Path(path)
    read_vqs(path, raw_frames=True)  # every check of the reader (missing, empty, damaged header, ...)
    data = path.read_bytes()
    if data[:4] != MAGIC:
        raise VQSpeechError(f"{path}: not a .vqs file (bad magic bytes)")
    frames: list[dict[str, Any]] = []
    if check_version(data, str(path)) == 2:
        header, head_bytes, crc = vqs2.parse_header(data, str(path), float("inf"))
        for f in vqs2.parse_frames(data, header, head_bytes, crc, str(path)):
            t0, t1 = frame_time(header, f)
            frames.append({"index": f.index, "start_s": round(t0, 3), "end_s": round(t1, 3), "codes": f.n_codes,
                           "payload_bytes": f.length, "bytes": _vlen(f.length) + f.length + 2,
                           "crc_ok": f.ok})
    else:
        header, payload = parse(data, str(path))
        head_bytes = len(data) - len(payload)
    seconds = max(header.duration, 1e-9)
    payload_bytes = sum(f["payload_bytes"] for f in frames) if frames else len(data) - head_bytes
    out = {
        "path": str(path), "version": header.version, "file_bytes": len(data), "header_bytes": head_bytes,
        "model_fingerprint": header.model_fingerprint, "sample_rate": header.sample_rate, "hop": header.hop,
        "num_codes": header.num_codes, "num_samples": header.num_samples, "n_codes": header.n_codes,
        "duration_s": header.duration, "speaker": header.speaker, "bits_per_code": header.bits,
        "entropy": header.entropy, "metadata": header.extra,
        "frame_codes": header.frame_codes if header.version == 2 else None,
        "frames": frames, "damaged_frames": [f["index"] for f in frames if not f["crc_ok"]],
        "payload_bytes": payload_bytes,
        "kbps": {"file": len(data) * 8 / seconds / 1000, "payload": payload_bytes * 8 / seconds / 1000,
                 "bit_packed": header.n_codes * header.bits / seconds / 1000},
        "written_bits_per_code": payload_bytes * 8 / max(header.n_codes, 1),
    }
    return out


def _vlen(v: int) -> int:
    n = 1
    while v >= 128:
        v >>= 7
        n += 1
    return n


def format_vqs(s: dict[str, Any]) -> str:
    """The text form of `vqs_summary`."""
    ent = s["entropy"]
    coding = "bit-packed" if ent is None else (
        f"entropy-coded ({ent.get('coder')}, prior {ent.get('prior_fingerprint') or '?'})")
    lines = [
        f"file         {s['path']}",
        f"format       .vqs version {s['version']}: {s['file_bytes']} bytes, header {s['header_bytes']} bytes",
        f"model        {s['model_fingerprint']}",
        f"audio        {s['duration_s']:.3f} s = {s['num_samples']} samples at {s['sample_rate']} Hz, hop {s['hop']}",
        f"codes        {s['n_codes']} codes, K={s['num_codes']} ({s['written_bits_per_code']:.2f} bits/code as written), "
        f"{coding}",
        f"speaker      {s['speaker'] if s['speaker'] else '(none)'}",
    ]
    if s["metadata"]:
        lines.append("metadata     " + ", ".join(f"{k}={v}" for k, v in sorted(s["metadata"].items())))
    k = s["kbps"]
    lines.append(f"bitrate      {k['file']:.3f} kbps all included, payload {k['payload']:.3f} kbps "
                 f"(bit-packed would be {k['bit_packed']:.3f} kbps)")
    frames = s["frames"]
    if frames:
        lines.append(f"frames       {len(frames)} of {s['frame_codes']} codes; "
                     + (f"damaged: {', '.join(map(str, s['damaged_frames']))}" if s["damaged_frames"] else "all CRCs ok"))
        lines.append(f"  {'frame':>6} {'time (s)':>15} {'codes':>6} {'bytes':>6} {'kbps':>7}  crc")
        shown = frames if len(frames) <= _MAX_FRAMES else frames[: _MAX_FRAMES // 2] + frames[-_MAX_FRAMES // 2:]
        for i, f in enumerate(shown):
            if len(frames) > _MAX_FRAMES and i == _MAX_FRAMES // 2:
                lines.append(f"  {'...':>6} ({len(frames) - _MAX_FRAMES} more)")
            dur = max(f["end_s"] - f["start_s"], 1e-9)
            lines.append(f"  {f['index']:>6} {f['start_s']:>7.2f}-{f['end_s']:<7.2f} {f['codes']:>6} {f['bytes']:>6} "
                         f"{f['bytes'] * 8 / dur / 1000:>7.3f}  {'ok' if f['crc_ok'] else 'DAMAGED'}")
    return "\n".join(lines)
