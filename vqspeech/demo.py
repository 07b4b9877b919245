"""`make demo`: the main job, end to end, on the bundled default model.

1. new sentences (not in the training set) spoken by a few of the model's voices with the synth generator;
2. each utterance encoded to a `.vqs` file (bit-packed, and range-coded with the prior);
3. decoded back with the WaveNet decoder (the fast numba generator on CPU);
4. converted to two other speakers;
5. speech sampled from the prior;
6. the phone analysis of the codes against eSpeak's exact alignments;
7. `demo/`: the wavs, `report.md`, `index.html` (audio players, plots), `summary.json`; a summary table.

    python -m vqspeech.demo --out demo [--model DIR --prior DIR] [--speakers 3] [--force]
"""

from __future__ import annotations

import argparse
import html
import json
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from vqspeech.errors import VQSpeechError

log = logging.getLogger("vqspeech.demo")

DEMO_SEED = 20261121  # sentences of their own: the training corpus uses seed 0


def _pick_speakers(model, n: int) -> list[str]:
    from vqspeech.data.synth import DEFAULT_SPEAKERS

    known = [s for s in model.speakers if s in DEFAULT_SPEAKERS]
    if len(known) < 3:
        raise VQSpeechError("the demo needs a model trained on at least 3 of the synth corpus's speakers")
    step = max(1, len(known) // n)
    return known[::step][:n]


def _make_utterances(workdir: Path, speakers: list[str]) -> Path:
    """Three new utterances per run: one per speaker, from the synth generator, with phone alignments."""
    from vqspeech.data.synth import DEFAULT_SPEAKERS, build_synth_corpus

    corpus = workdir / "corpus"
    build_synth_corpus(corpus, [(s, DEFAULT_SPEAKERS[s]) for s in speakers], utts_per_speaker=3,
                       parallel_sentences=1, seed=DEMO_SEED, jobs=2, force=True)
    return corpus / "test"


def run_demo(out: Path, model_dir: Path | None = None, prior_dir: Path | None = None, n_speakers: int = 3,
             seconds: float = 2.0, force: bool = False) -> dict:
    """Run the whole demo into `out` (replaced atomically); returns the summary dict."""
    import torch

    from vqspeech.analysis.metrics import mcd
    from vqspeech.analysis.report import analyze_phones
    from vqspeech.audio import load_audio
    from vqspeech.codec.files import encode_to_vqs, read_codes
    from vqspeech.data.kaldi import read_data_dir
    from vqspeech.fileutil import atomic_dir
    from vqspeech.generate import decode_codes, sample_codes
    from vqspeech.models.loading import load_prior, load_vqvae
    from vqspeech.pitch.metrics import compare_pitch
    from vqspeech.pretrained import default_model_dir, default_prior_dir

    if out.exists() and not force:
        raise VQSpeechError(f"{out}: exists (use --force to overwrite)")
    torch.set_num_threads(1)
    model_dir = Path(model_dir or default_model_dir())
    prior_dir = Path(prior_dir or default_prior_dir())
    model, fingerprint = load_vqvae(model_dir)
    prior, prior_fp = load_prior(prior_dir, model, fingerprint)
    speakers = _pick_speakers(model, n_speakers)
    timings: dict[str, float] = {}
    with atomic_dir(out) as tmp, tempfile.TemporaryDirectory(prefix="vqspeech-demo-") as work:
        t = time.perf_counter()
        print(f"[1/6] synthesising new sentences for {', '.join(speakers)}", file=sys.stderr)
        data_dir = _make_utterances(Path(work), speakers)
        data = read_data_dir(data_dir)
        utts = data.utterances()
        (tmp / "wav").mkdir()
        originals = {}
        for utt in utts:
            src = data.wav_scp[utt] if Path(data.wav_scp[utt]).is_absolute() else data_dir / data.wav_scp[utt]
            shutil.copy(src, tmp / "wav" / f"{utt}.wav")
            originals[utt] = load_audio(tmp / "wav" / f"{utt}.wav", model.sample_rate)
        timings["synthesise"] = time.perf_counter() - t

        t = time.perf_counter()
        print("[2/6] encoding to .vqs (bit-packed and entropy-coded with the prior)", file=sys.stderr)
        (tmp / "vqs").mkdir()
        encoded = {}
        for utt in utts:
            spk = data.utt2spk[utt]
            plain = encode_to_vqs(model, fingerprint, tmp / "wav" / f"{utt}.wav", tmp / "vqs" / f"{utt}.vqs",
                                  speaker=spk)
            coded = encode_to_vqs(model, fingerprint, tmp / "wav" / f"{utt}.wav",
                                  tmp / "vqs" / f"{utt}.entropy.vqs", speaker=spk, prior=prior,
                                  prior_fingerprint=prior_fp)
            _, codes = read_codes(tmp / "vqs" / f"{utt}.vqs")
            encoded[utt] = (codes, plain, coded)
        timings["encode"] = time.perf_counter() - t

        t = time.perf_counter()
        print("[3/6] decoding, and [4/6] converting each utterance to two other speakers", file=sys.stderr)
        jobs = []  # (utt, target speaker)
        for utt in utts:
            own = data.utt2spk[utt]
            others = [s for s in speakers if s != own][:2]
            jobs += [(utt, own)] + [(utt, s) for s in others]
        wavs = decode_codes(model, [encoded[u][0] for u, _ in jobs], [model.speaker_index(s) for _, s in jobs],
                            seed=0, num_samples=[len(originals[u]) for u, _ in jobs], progress=True)
        decode_seconds = time.perf_counter() - t
        timings["decode+convert"] = decode_seconds
        from vqspeech.audio import save_audio

        rows = []
        (tmp / "decoded").mkdir()
        for (utt, spk), wav in zip(jobs, wavs, strict=True):
            own = data.utt2spk[utt]
            name = f"{utt}.decoded.wav" if spk == own else f"{utt}.to_{spk}.wav"
            save_audio(tmp / "decoded" / name, wav, model.sample_rate)
            if spk == own:
                codes, plain, coded = encoded[utt]
                pitch = compare_pitch(originals[utt], wav, model.sample_rate)
                rows.append({"utterance": utt, "speaker": own, "seconds": round(plain.duration, 2),
                             "codes": plain.n_codes, "kbps": round(plain.packed_kbps, 3),
                             "kbps_entropy": round(coded.payload_kbps, 3),
                             "mcd_db": round(float(mcd(originals[utt], wav, model.sample_rate)), 2),
                             "voiced_in": round(pitch["ref_voiced_fraction"], 2),
                             "voiced": round(pitch["voiced_fraction"], 2), "vde": round(pitch["vde"], 3),
                             "gpe": _round(pitch["gpe"], 3)})
        audio_seconds = sum(len(w) for w in wavs) / model.sample_rate

        t = time.perf_counter()
        print(f"[5/6] sampling {seconds:g} s per speaker from the prior", file=sys.stderr)
        (tmp / "samples").mkdir()
        n_codes = int(round(seconds * model.sample_rate / model.hop))
        prior_spk = [(prior.speaker_index(s) if getattr(prior, "speakers", None) else None) for s in speakers]
        sampled = [sample_codes(prior, n_codes, ps, seed=i)[0] for i, ps in enumerate(prior_spk)]
        sample_wavs = decode_codes(model, sampled, [model.speaker_index(s) for s in speakers], seed=0,
                                   progress=True)
        for spk, wav in zip(speakers, sample_wavs, strict=True):
            save_audio(tmp / "samples" / f"sample.{spk}.wav", wav, model.sample_rate)
        timings["sample"] = time.perf_counter() - t

        t = time.perf_counter()
        print("[6/6] phone analysis of the codes against the exact eSpeak alignments", file=sys.stderr)
        analysis_log = logging.getLogger("vqspeech.analysis")
        level = analysis_log.level
        analysis_log.setLevel(logging.WARNING)  # its "wrote <temp dir>" lines would name the temp dir
        try:
            phones = analyze_phones(model_dir, data_dir, out=tmp / "phones", force=True, progress=False)
        finally:
            analysis_log.setLevel(level)
        timings["phones"] = time.perf_counter() - t

        _spectrograms(tmp, model.sample_rate)
        summary = _summary(model_dir, speakers, rows, phones, audio_seconds, decode_seconds, timings)
        (tmp / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
        _write_report(tmp, summary, jobs, speakers)
    return summary


def _round(v, digits: int):
    return None if v is None or not np.isfinite(v) else round(float(v), digits)


def _spectrograms(tmp: Path, sample_rate: int) -> None:
    """figs/<dir>/<name>.png: spectrogram + F0 contour of every wav of the demo, shown beside its player."""
    from vqspeech.analysis.plots import plot_spectrogram_f0
    from vqspeech.audio import load_audio

    for sub in ("wav", "decoded", "samples"):
        (tmp / "figs" / sub).mkdir(parents=True, exist_ok=True)
        for w in sorted((tmp / sub).glob("*.wav")):
            plot_spectrogram_f0(load_audio(w, sample_rate), sample_rate, tmp / "figs" / sub / f"{w.stem}.png",
                                w.stem, width=3.2)


def _phone_figures(phones: dict) -> dict:
    """The headline phone metrics of the (single) model in an analyze_phones result."""
    m = next(iter(phones["models"].values()))
    return {
        "phone_accuracy": m["in_sample"]["accuracy"],
        "phone_accuracy_held_out": m["held_out"]["accuracy"],
        "majority_baseline": m["in_sample"]["baseline"],
        "nmi": m["nmi"],
        "codes_used": m["codes_used"],
        "boundary_f1": (m.get("boundaries") or {}).get("f1"),
    }


def _fmt(v) -> str:
    return "n/a" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)


def model_listening_note(model_dir: Path) -> str:
    """The first paragraph of "## Listening notes" in the MODEL_CARD.md beside a bundled model ("" if none)."""
    card = Path(model_dir) / "MODEL_CARD.md"  # a named bundled model's own card, else the default's
    card = card if card.is_file() else Path(model_dir).parent / "MODEL_CARD.md"
    if not card.is_file():
        return ""
    text = card.read_text()
    if "## Listening notes" not in text:
        return ""
    section = text.split("## Listening notes", 1)[1].split("\n## ", 1)[0].strip()
    return " ".join(section.split("\n\n", 1)[0].split())


def _summary(model_dir, speakers, rows, phones, audio_seconds, decode_seconds, timings) -> dict:
    return {
        "model": str(model_dir),
        "model_note": model_listening_note(model_dir),
        "speakers": speakers,
        "utterances": rows,
        "mean_mcd_db": round(float(np.mean([r["mcd_db"] for r in rows])), 2),
        "mean_voiced_fraction": round(float(np.mean([r["voiced"] for r in rows])), 3),
        "mean_input_voiced_fraction": round(float(np.mean([r["voiced_in"] for r in rows])), 3),
        "mean_kbps": round(float(np.mean([r["kbps"] for r in rows])), 3),
        "mean_kbps_entropy": round(float(np.mean([r["kbps_entropy"] for r in rows])), 3),
        "decode_real_time_factor": round(audio_seconds / max(decode_seconds, 1e-9), 2),
        "phones": _phone_figures(phones),
        "seconds": {k: round(v, 1) for k, v in timings.items()},
    }


DEMO_COLUMNS = ["utterance", "speaker", "seconds", "codes", "kbps", "kbps_entropy", "mcd_db", "voiced_in", "voiced",
                "vde", "gpe"]


def _write_report(tmp: Path, summary: dict, jobs: list[tuple[str, str]], speakers: list[str]) -> None:
    cols = DEMO_COLUMNS
    note = summary.get("model_note", "")
    md = ["# vqspeech demo", "", f"model: `{summary['model']}`", "", *([f"> {note}", ""] if note else []),
          "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    md += ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in summary["utterances"]]
    md += ["", f"decoding speed: {summary['decode_real_time_factor']}x real time (numba, one thread)", "",
           "## Phone analysis", ""] + [f"- {k}: {_fmt(v)}" for k, v in summary["phones"].items()]
    md += [""] + [f"![{p.name}](phones/{p.name})" for p in sorted((tmp / "phones").glob("*.png"))] + ["",
           "Audio: wav/ (originals), decoded/ (reconstructions and conversions), samples/ (from the prior)."]
    (tmp / "report.md").write_text("\n".join(md) + "\n")
    plots = sorted(p.relative_to(tmp).as_posix() for p in (tmp / "phones").glob("*.png"))

    def player(path: str, label: str) -> str:
        fig = "figs/" + path[:-4] + ".png"
        return (f"<td>{html.escape(label)}<br><audio controls preload=\"none\" src=\"{html.escape(path)}\">"
                f"</audio><br><img src=\"{html.escape(fig)}\" alt=\"spectrogram and F0 of {html.escape(label)}\"></td>")

    rows_html = []
    for utt in [r["utterance"] for r in summary["utterances"]]:
        cells = [player(f"wav/{utt}.wav", "original")]
        for u, spk in jobs:
            if u == utt:
                name = f"decoded/{utt}.decoded.wav" if spk == utt.split("-")[0] else f"decoded/{utt}.to_{spk}.wav"
                label = "reconstruction" if spk == utt.split("-")[0] else f"as {spk}"
                cells.append(player(name, label))
        rows_html.append(f"<tr><th>{html.escape(utt)}</th>{''.join(cells)}</tr>")
    samples = "".join(player(f"samples/sample.{s}.wav", s) for s in speakers)
    table = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(r[c]))}</td>" for c in cols) + "</tr>" for r in summary["utterances"])
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>vqspeech demo</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px}}img{{max-width:100%}}</style></head><body>
<h1>vqspeech demo</h1><p>model: <code>{html.escape(summary['model'])}</code>;
decoding {summary['decode_real_time_factor']}x real time on one CPU thread</p>
{f"<blockquote>{html.escape(note).replace('**', '')}</blockquote>" if note else ""}
<table><tr>{''.join(f'<th>{c}</th>' for c in cols)}</tr>{table}</table>
<h2>Reconstruction and voice conversion</h2><table>{''.join(rows_html)}</table>
<h2>Sampled from the prior</h2><table><tr>{samples}</tr></table>
<h2>Codes and phones</h2><ul>{''.join(f'<li>{html.escape(k)}: {_fmt(v)}</li>' for k, v in summary['phones'].items())}</ul>
{''.join(f'<img src="{html.escape(p)}" alt="{html.escape(p)}">' for p in plots)}
<p><a href="report.md">report.md</a> · <a href="summary.json">summary.json</a> ·
<a href="phones/summary.md">phone analysis</a></p></body></html>
"""
    (tmp / "index.html").write_text(page)


def print_summary(summary: dict, out: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"vqspeech demo -> {out}/index.html")
    cols = DEMO_COLUMNS
    for c in cols:
        table.add_column(c, justify="right" if c not in ("utterance", "speaker") else "left")
    for r in summary["utterances"]:
        table.add_row(*(str(r[c]) for c in cols))
    console = Console()
    console.print(table)
    console.print(f"decode: {summary['decode_real_time_factor']}x real time (one thread); "
                  + "; ".join(f"{k} {_fmt(v)}" for k, v in summary["phones"].items()))
    console.print("time per stage (s): " + ", ".join(f"{k} {v}" for k, v in summary["seconds"].items()))
    if summary.get("model_note"):
        first = summary["model_note"].replace("**", "").split(". ")[0].rstrip(".")
        console.print(f"about this model: {first} (see {Path(summary['model']).parent / 'MODEL_CARD.md'})",
                      markup=False)


def main(argv: list[str] | None = None) -> int:
    from vqspeech.cli import setup_logging

    parser = argparse.ArgumentParser(prog="python -m vqspeech.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("demo"), help="output directory (default: demo)")
    parser.add_argument("--model", type=Path, default=None, help="VQ-VAE dir (default: the bundled one)")
    parser.add_argument("--prior", type=Path, default=None, help="prior dir (default: the bundled one)")
    parser.add_argument("--speakers", type=int, default=3, help="voices to use (default 3)")
    parser.add_argument("--seconds", type=float, default=2.0, help="seconds sampled per speaker")
    parser.add_argument("--force", action="store_true", help="replace an existing output directory")
    args = parser.parse_args(argv)
    setup_logging()
    try:
        summary = run_demo(args.out, args.model, args.prior, args.speakers, args.seconds, args.force)
    except VQSpeechError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print_summary(summary, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
