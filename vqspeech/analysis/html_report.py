"""An evaluation's report dir, written atomically (temp dir + rename; refused if it exists without force):

- `metrics.json`: the metrics dict of `vqspeech.analysis.evaluate` (JSON-ready);
- `summary.md`: the summary table (markdown), notes, plots;
- `dist_<metric>.png`: per-utterance distributions, one box per system (matplotlib Agg);
- `index.html`: the table, the plots, and <audio> players for a few examples, with the wavs in
  `audio/` next to it (relative links: the dir can be moved or served as it is).
"""

from __future__ import annotations

import html
import json
import logging
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vqspeech.analysis.eval_common import fmt
from vqspeech.errors import VQSpeechError
from vqspeech.fileutil import atomic_dir

log = logging.getLogger(__name__)

LABELS = {"kbps": "kbps", "kbps_coded": "kbps (coded / measured)", "mcd": "MCD dB", "mcd_4k": "MCD 0-4k dB",
          "lsd": "LSD dB", "pesq": "PESQ-WB", "stoi": "STOI", "mcd_unconverted": "MCD unconverted dB",
          "sim_target": "sim. target", "sim_source": "sim. source", "id_accuracy": "speaker ID acc.",
          "reference_id_accuracy": "ID acc. of real utts (leave-one-out)",
          "nll_bits_per_code": "NLL bits/code", "nll_kbps": "NLL kbps", "voiced_fraction": "voiced",
          "vde": "VDE", "gpe": "GPE", "ffe": "FFE", "f0_corr": "log-F0 corr.", "f0_rmse_cents": "F0 RMSE cents",
          "f0_abs_st_to_target": "F0 off target, st", "f0_abs_st_to_source": "F0 off source, st",
          "f0_within_2st": "F0 within 2 st", "f0_abs_st_to_speaker": "F0 off speaker, st",
          "speaker_sim": "sim. own speaker", "speaker_id": "speaker ID acc."}


def check_out(out: str | Path, force: bool) -> None:
    """Refuse an existing report dir unless `force` (checked before any expensive work)."""
    p = Path(out)
    if p.exists() and not force:
        raise VQSpeechError(f"{p}: exists (use --force to overwrite)")
    if p.exists() and not p.is_dir():
        raise VQSpeechError(f"{p}: exists and is not a directory")


def _json_safe(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_json_safe(x) for x in v]
    if isinstance(v, (np.floating, float)):
        return float(v) if math.isfinite(float(v)) else None
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


def markdown_table(table: dict) -> str:
    cols = table["columns"]
    lines = ["| " + " | ".join(LABELS.get(c, c) for c in cols) + " |", "|" + "---|" * len(cols)]
    for row in table["rows"]:
        lines.append("| " + " | ".join(fmt(row.get(c), 3 if c in ("stoi", "id_accuracy", "reference_id_accuracy") else 2) for c in cols)
                     + " |")
    return "\n".join(lines)


def _html_table(table: dict) -> str:
    cols = table["columns"]
    head = "".join(f"<th>{html.escape(LABELS.get(c, c))}</th>" for c in cols)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(fmt(r.get(c), 3 if c in ('stoi', 'id_accuracy', 'reference_id_accuracy') else 2))}</td>"
                         for c in cols) + "</tr>" for r in table["rows"])
    return f"<table><tr>{head}</tr>{body}</table>"


def write_plots(out: Path, per_utt: dict[str, dict[str, list]]) -> list[str]:
    """One box plot per metric (systems side by side) -> the PNG file names written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = []
    for metric, systems in per_utt.items():
        data = {s: [float(v) for v in vals if v is not None and math.isfinite(v)] for s, vals in systems.items()}
        data = {s: v for s, v in data.items() if v}
        if not data:
            continue
        fig, ax = plt.subplots(figsize=(1.2 * len(data) + 2.5, 3.5))
        ax.boxplot(list(data.values()), showmeans=True)
        ax.set_xticks(range(1, len(data) + 1), list(data), rotation=30, ha="right")
        ax.set_ylabel(LABELS.get(metric, metric))
        ax.set_title(f"{LABELS.get(metric, metric)} per utterance")
        ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
        fname = f"dist_{metric}.png"
        fig.savefig(out / fname, dpi=100)
        plt.close(fig)
        names.append(fname)
    return names


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", s).strip("_") or "clip"


def write_report(out: str | Path, result: dict, examples: Sequence[dict], force: bool = False,
                 sample_rate: int = 16000) -> Path:
    """Write the report dir; `examples`: [{"title": str, "clips": [(label, wav [T] float32)]}]."""
    from vqspeech.analysis.plots import plot_spectrogram_f0
    from vqspeech.audio import save_audio

    out = Path(out)
    check_out(out, force)
    title = f"vqspeech eval {result.get('evaluation', '')}: {result.get('model', '')}"
    with atomic_dir(out) as tmp:
        (tmp / "metrics.json").write_text(json.dumps(_json_safe(result), indent=1, allow_nan=False) + "\n")
        plots = write_plots(tmp, result.get("per_utt", {}))
        notes = result.get("notes", [])
        md = [f"# {title}", "", f"data: `{result.get('data', 'n/a')}`", "", markdown_table(result["table"]), ""]
        md += [f"- note: {n}" for n in notes] + ([""] if notes else [])
        md += [f"![{p}]({p})" for p in plots]
        (tmp / "summary.md").write_text("\n".join(md) + "\n")
        (tmp / "audio").mkdir()
        ex_html = []
        for i, ex in enumerate(examples):
            cells = []
            for label, wav in ex["clips"]:
                fname = f"audio/{i:02d}_{_slug(label)}.wav"
                save_audio(tmp / fname, np.clip(np.asarray(wav, dtype=np.float32), -1, 1), sample_rate)
                png = fname[:-4] + ".png"
                plot_spectrogram_f0(wav, sample_rate, tmp / png, label)
                cells.append(f"<td>{html.escape(label)}<br><audio controls preload=\"none\" "
                             f"src=\"{html.escape(fname)}\"></audio><br><img src=\"{html.escape(png)}\" "
                             f"alt=\"spectrogram and F0 of {html.escape(label)}\"></td>")
            ex_html.append(f"<h3>{html.escape(ex['title'])}</h3><table><tr>{''.join(cells)}</tr></table>")
        page = [
            "<!doctype html><html><head><meta charset=\"utf-8\">", f"<title>{html.escape(title)}</title>",
            "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}</style></head><body>",
            f"<h1>{html.escape(title)}</h1>", f"<p>data: <code>{html.escape(str(result.get('data', 'n/a')))}</code></p>",
            _html_table(result["table"]),
            "<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>",
            "<h2>Examples</h2>", *ex_html, "<h2>Distributions</h2>",
            *(f"<img src=\"{html.escape(p)}\" alt=\"{html.escape(p)}\">" for p in plots),
            "<p><a href=\"metrics.json\">metrics.json</a> · <a href=\"summary.md\">summary.md</a></p>",
            "</body></html>",
        ]
        (tmp / "index.html").write_text("\n".join(page) + "\n")
    return out
