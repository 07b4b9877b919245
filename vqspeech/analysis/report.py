"""`analyze_phones`: codes of one or more models (or `.vqs` dirs) vs phone alignments -> a report dir.

The report dir (written atomically: built in a temp dir, then renamed) holds
- `metrics.json`: `{"models": {name: metrics}, "data": ..., "alignments": ..., "fold": ..., ...}`,
  metrics as in `vqspeech.analysis.phones.phone_metrics`;
- `summary.md`: the metrics side by side (one column per model), the paper's figures for reference,
  and the plots;
- per model: `heatmap_<name>.png` (code x phone co-occurrence, row-normalised, codes ordered by their
  dominant phone), `per_phone_accuracy_<name>.png`, `cooccurrence_<name>.tsv` (counts: used codes x phones).
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vqspeech import __version__
from vqspeech.analysis.phone_data import Codes, encode_utterances, load_alignments, read_codes_dir
from vqspeech.analysis.phones import PAPER_REFERENCE, CodedFrames, build_frames, contingency, phone_metrics
from vqspeech.errors import VQSpeechError
from vqspeech.fileutil import atomic_dir

log = logging.getLogger(__name__)

Source = Any  # a model dir / .vqs dir path, or a loaded VQVAE


def source_name(src: Source) -> str:
    """A short name for a model or codes source: the dir name (its parent's for `.../model`)."""
    if isinstance(src, (str, os.PathLike)):
        p = Path(src).resolve()
        name = p.parent.name if p.name in ("model", "") and p.parent.name else p.name
    else:
        name = type(src).__name__.lower()
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name) or "model"


def _names(sources: Sequence[Source]) -> list[str]:
    names, seen = [], {}
    for s in sources:
        n = source_name(s)
        seen[n] = seen.get(n, 0) + 1
        names.append(n if seen[n] == 1 else f"{n}_{seen[n]}")
    return names


def default_report_dir(sources: Sequence[Source], names: Sequence[str]) -> Path:
    """`<model>/analysis` for one model dir; else `analysis_<name>[_<name>...]` in the current dir."""
    if len(sources) == 1 and isinstance(sources[0], (str, os.PathLike)) and (Path(sources[0]) / "config.json").exists():
        return Path(sources[0]) / "analysis"
    return Path("analysis_" + "_".join(names))


def is_codes_dir(src: Source) -> bool:
    """A directory of `.vqs` files (and not a model dir)."""
    if not isinstance(src, (str, os.PathLike)):
        return False
    p = Path(src)
    return p.is_dir() and not (p / "config.json").exists() and any(p.rglob("*.vqs"))


def _codes_for(src: Source, data: Any, utts: list[str], codes_dir: bool | None, batch_size: int,
               progress: bool, prior: Any) -> Codes:
    if codes_dir or (codes_dir is None and is_codes_dir(src)):
        return read_codes_dir(src, utts, prior)
    from vqspeech.models.loading import load_vqvae

    if not isinstance(src, (str, os.PathLike)) and not hasattr(src, "encoder"):
        raise VQSpeechError(f"{src}: not a VQ-VAE (a prior cannot encode audio)")
    model, _ = load_vqvae(src)
    return encode_utterances(model, data, utts, batch_size=batch_size, progress=progress)


def analyze_phones(
    sources: Source | Sequence[Source] | Mapping[str, Source],
    data_dir: str | os.PathLike,
    *,
    alignments: str | os.PathLike | None = None,
    fold: str | os.PathLike | None = None,
    out: str | os.PathLike | None = None,
    codes: bool | Sequence[bool] | None = None,
    prior: str | os.PathLike | None = None,
    max_utts: int | None = None,
    outside: str | None = "sil",
    tolerance: float = 0.02,
    batch_size: int = 16,
    threads: int | None = None,
    force: bool = False,
    plots: bool = True,
    progress: bool = True,
) -> dict[str, Any]:
    """Analyse how the codes of each source line up with the phones of `data_dir`; write a report.

    sources: a model dir, a loaded VQVAE, or a dir of `<utt>.vqs` files (`codes=None` tells them
    apart: a dir with .vqs files and no config.json; True/False, or one flag per source, forces it);
    or a list of them, or a {name: source} mapping (names key metrics.json). `prior`: the prior dir
    for entropy-coded .vqs. `out=None` writes to `default_report_dir`; an existing report is replaced
    only with `force`. `max_utts` keeps the first N aligned utterances (sorted ids). `outside`: label
    of frames outside every phone, None drops them. Returns the metrics.json dict (+ "report_dir").
    """
    from vqspeech.data.kaldi import read_data_dir

    if isinstance(sources, Mapping):
        names, srcs = list(sources), list(sources.values())
    else:
        srcs = list(sources) if isinstance(sources, (list, tuple)) else [sources]
        names = _names(srcs)
    if not srcs:
        raise VQSpeechError("nothing to analyse: give at least one model (or codes dir)")
    kinds = list(codes) if isinstance(codes, (list, tuple)) else [codes] * len(srcs)
    if len(kinds) != len(srcs):
        raise ValueError("analyze_phones: codes must be one flag per source")
    report = Path(out) if out is not None else default_report_dir(srcs, names)
    if report.exists() and not force:
        raise VQSpeechError(f"{report}: exists (use --force to overwrite)")
    if threads:
        import torch

        torch.set_num_threads(threads)

    data = read_data_dir(data_dir)
    ali = load_alignments(data_dir, alignments, fold)
    utts = data.utterances()
    missing = [u for u in utts if u not in ali]
    if missing and len(missing) < len(utts):
        log.warning("%d of %d utterances have no alignment and are skipped (e.g. %s)",
                    len(missing), len(utts), ", ".join(missing[:3]))
    utts = [u for u in utts if u in ali]
    if not utts:
        raise VQSpeechError(
            f"{data_dir}: no utterance has an alignment (data dir e.g. {data.utterances()[:2]},"
            f" alignments e.g. {sorted(ali)[:2]})")
    if max_utts is not None:
        utts = utts[: max(1, max_utts)]

    result: dict[str, Any] = {
        "vqspeech_version": __version__, "data": str(data_dir),
        "alignments": str(alignments if alignments is not None else Path(data_dir) / "ctm"),
        "fold": None if fold is None else str(fold), "outside": outside, "tolerance_s": tolerance,
        "paper_reference": PAPER_REFERENCE, "models": {},
    }
    frames_by_name: dict[str, CodedFrames] = {}
    for name, src, kind in zip(names, srcs, kinds, strict=True):
        log.info("%s: analysing %d utterances", name, len(utts))
        c = _codes_for(src, data, utts, kind, batch_size, progress, prior)
        uncoded = [u for u in utts if u not in c.codes]
        if uncoded:
            log.warning("%s: %d of %d aligned utterances have no codes and are skipped (e.g. %s)",
                        name, len(uncoded), len(utts), ", ".join(uncoded[:3]))
        fr = build_frames(c.codes, ali, c.hop, c.sample_rate, c.num_codes, outside, c.durations)
        frames_by_name[name] = fr
        m = phone_metrics(fr, tolerance)
        m["source"] = str(src) if isinstance(src, (str, os.PathLike)) else type(src).__name__
        result["models"][name] = m

    with atomic_dir(report) as tmp:
        (tmp / "metrics.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        for name, fr in frames_by_name.items():
            table = _table(fr)
            _write_tsv(tmp / f"cooccurrence_{name}.tsv", table, fr.phones)
            if plots:
                from vqspeech.analysis.plots import plot_cooccurrence, plot_per_phone_accuracy

                plot_cooccurrence(table, fr.phones, tmp / f"heatmap_{name}.png", f"{name}: P(phone | code)")
                plot_per_phone_accuracy(result["models"][name], tmp / f"per_phone_accuracy_{name}.png",
                                        f"{name}: per-phone accuracy")
        (tmp / "summary.md").write_text(summary_markdown(result, plots), encoding="utf-8")
    log.info("wrote %s", report)
    result["report_dir"] = str(report)
    return result


def _table(fr: CodedFrames) -> np.ndarray:
    codes = np.concatenate([c[lab >= 0] for c, lab in zip(fr.codes, fr.labels, strict=True)])
    labels = np.concatenate([lab[lab >= 0] for lab in fr.labels])
    return contingency(codes, labels, fr.num_codes, len(fr.phones))


def _write_tsv(path: Path, table: np.ndarray, phones: list[str]) -> None:
    lines = ["code\t" + "\t".join(phones)]
    for k in np.flatnonzero(table.sum(1) > 0):
        lines.append(f"{k}\t" + "\t".join(str(int(x)) for x in table[k]))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _pct(x: Any) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _num(x: Any, fmt: str = ".3f") -> str:
    return "n/a" if x is None else format(x, fmt)


_ROWS: list[tuple[str, Any]] = [
    ("utterances", lambda m: str(m["utterances"])),
    ("frames (frame length)", lambda m: f"{m['frames']} ({m['frame_ms']:g} ms)"),
    ("codes used / K", lambda m: f"{m['codes_used']} / {m['num_codes']}"),
    ("code perplexity", lambda m: _num(m["code_perplexity"], ".1f")),
    ("phones", lambda m: str(m["num_phones"])),
    ("many-to-one accuracy, in-sample", lambda m: _pct(m["in_sample"]["accuracy"])),
    ("majority baseline, in-sample", lambda m: f"{_pct(m['in_sample']['baseline'])} ({m['in_sample']['majority_phone']})"),
    ("many-to-one accuracy, held-out", lambda m: _pct(m["held_out"]["accuracy"])),
    ("majority baseline, held-out", lambda m: _pct(m["held_out"]["baseline"])),
    ("bigram accuracy, in-sample", lambda m: _pct(m["in_sample"]["bigram_accuracy"])),
    ("bigram accuracy, held-out", lambda m: _pct(m["held_out"]["bigram_accuracy"])),
    ("code purity", lambda m: _pct(m["code_purity"])),
    ("phone purity", lambda m: _pct(m["phone_purity"])),
    ("NMI (arithmetic)", lambda m: _num(m["nmi"])),
    ("homogeneity", lambda m: _num(m["homogeneity"])),
    ("completeness", lambda m: _num(m["completeness"])),
    ("V-measure", lambda m: _num(m["v_measure"])),
    ("codes per phone (distinct)", lambda m: _num(m["codes_per_phone_mean"], ".1f")),
    ("codes per phone (90% of frames)", lambda m: _num(m["codes_per_phone_90_mean"], ".1f")),
    ("boundary precision", lambda m: _pct(m["boundaries"]["precision"])),
    ("boundary recall", lambda m: _pct(m["boundaries"]["recall"])),
    ("boundary F1", lambda m: _pct(m["boundaries"]["f1"])),
    ("mean code run", lambda m: f"{m['boundaries']['mean_code_run_ms']:.1f} ms"),
]


def summary_markdown(result: dict[str, Any], plots: bool = True) -> str:
    """The summary.md text of a `analyze_phones` result."""
    models = result["models"]
    names = list(models)
    ref = result["paper_reference"]
    lines = [
        "# Phone analysis", "",
        f"Data: `{result['data']}`; alignments: `{result['alignments']}`; fold: {result['fold'] or 'none'};"
        f" frames outside any phone: {('labelled ' + repr(result['outside'])) if result['outside'] else 'dropped'};"
        f" boundary tolerance {1000 * result['tolerance_s']:g} ms.", "",
        "| metric | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for label, fn in _ROWS:
        lines.append(f"| {label} | " + " | ".join(fn(models[n]) for n in names) + " |")
    lines += [
        "",
        f"Paper (van den Oord et al. 2017, sec. 4.3): {100 * ref['accuracy']:.1f}% many-to-one accuracy"
        f" in-sample for K={ref['num_codes']} codes vs {ref['num_phones']} phones, majority-class baseline"
        f" {100 * ref['baseline']:.1f}%; their codes run at 25 Hz ({ref['frame_ms']:g} ms each), ours at the"
        " frame length above.",
        "",
        "Definitions: each frame (one code) is labelled with the phone at its centre. Many-to-one: each"
        " code (bigram: each (previous code, code) pair) maps to its most frequent phone. Held-out: maps"
        " fitted on the utterances at even positions of the sorted ids, scored on the odd ones. Code purity"
        " equals the in-sample accuracy; phone purity maps each phone to its most frequent code. NMI is"
        " normalised by the arithmetic mean of the entropies, which makes it equal to the V-measure."
        " Boundaries: code-change points vs phone boundaries, greedy one-to-one matching within the tolerance.",
    ]
    for n in names:
        lines += ["", f"## {n}", ""]
        if plots:
            lines += [f"![co-occurrence](heatmap_{n}.png)", "", f"![per-phone accuracy](per_phone_accuracy_{n}.png)", ""]
        per = models[n]["per_phone"]
        lines += ["| phone | frames | accuracy | codes used | codes for 90% |", "|---|---|---|---|---|"]
        for p in sorted(per, key=lambda q: (-per[q]["frames"], q)):
            v = per[p]
            lines.append(f"| {p} | {v['frames']} | {_pct(v['accuracy'])} | {v['codes_used']} | {v['codes_90']} |")
    return "\n".join(lines) + "\n"
