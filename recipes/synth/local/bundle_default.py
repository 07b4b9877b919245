#!/usr/bin/env python3
"""Bundle a trained synth-recipe experiment as the package's default model, with its model card.

    python local/bundle_default.py --exp exp/full --corpus data/synth_full [--dest ../../vqspeech/pretrained]
        [--decode-rtf "4.0x real time"] [--notes local/default_model_notes.md] [--name default]

Copies EXP/vqvae/model (EXP/vqvae_f0/model when the recipe refit the F0 head on the frozen codes) -> DEST/NAME
and EXP/prior/model -> DEST/NAME_prior (atomically), and writes the
model card (DEST/MODEL_CARD.md for the default, DEST/NAME/MODEL_CARD.md for another bundled model) from
what the recipe measured: the training logs and configs, stage 4's `vqspeech eval reconstruct|convert`
and `analyze pitch` reports, stage 5's phone analysis and stage 6's sample evaluation (each optional: a
missing report is said so in the card, never invented).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from vqspeech.analysis.html_report import markdown_table
from vqspeech.fileutil import atomic_dir, write_text_atomic
from vqspeech.models.io import load_model, model_fingerprint
from vqspeech.models.summary import _decoder_details, _decoder_rf

SIZE_LIMIT = 25 * 2**20  # bytes of weights + configs the package may carry


def _last_log(log: Path) -> dict:
    train = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    steps = [r for r in train if r.get("split") == "train"]
    dev = [r for r in train if r.get("split") == "dev"]
    out = {"steps": steps[-1]["step"] if steps else 0}
    if steps:
        out["wall_hours"] = (steps[-1]["time"] - steps[0]["time"]) / 3600
        tail = steps[-10:]
        for key in ("loss", "recon_loss", "recon_bits_per_sample", "bits_per_code", "perplexity", "usage"):
            vals = [r[key] for r in tail if key in r]
            if vals:
                out[f"train_{key}"] = sum(vals) / len(vals)
    if dev:
        out["dev"] = {k: v for k, v in dev[-1].items() if isinstance(v, (int, float)) and k not in ("time",)}
    return out


def _report(path: Path, title: str) -> list[str]:
    metrics = path / "metrics.json"
    if not metrics.is_file():
        return [f"### {title}", "", f"not measured (no `{metrics}`)", ""]
    m = json.loads(metrics.read_text())
    lines = [f"### {title}", ""]
    if "table" in m:
        lines += [markdown_table(m["table"]), ""]
    for note in m.get("notes", []):
        lines.append(f"- note: {note}")
    return lines + [""]


def _phones(path: Path) -> list[str]:
    summary = path / "summary.md"
    if not summary.is_file():
        return ["### Phone analysis", "", f"not measured (no `{summary}`)", ""]
    text = summary.read_text().split("\n## ")[0]  # the headline table, not the per-phone tables
    body = [ln for ln in text.splitlines() if not ln.startswith("# ") and "![" not in ln]
    return ["### Phone analysis (test set, exact eSpeak alignments)", "", *body, ""]


def build_card(exp: Path, corpus: Path, vq_dir: Path, prior_dir: Path, decode_rtf: str | None,
               notes: str | None = None, name: str = "default") -> str:
    vq = load_model(vq_dir)
    prior = load_model(prior_dir)
    vq_log = _last_log(exp / "vqvae" / "log" / "train.jsonl")
    f0_log = _last_log(exp / "vqvae_f0" / "log" / "train.jsonl") if (exp / "vqvae_f0" / "log" / "train.jsonl").is_file() else None
    prior_log = _last_log(exp / "prior" / "log" / "train.jsonl")
    vq_cfg = (exp / "vqvae" / "train_config.yaml").read_text()
    prior_cfg = (exp / "prior" / "train_config.yaml").read_text()
    synth = json.loads((corpus / "synth.json").read_text()) if (corpus / "synth.json").is_file() else {}
    bits = vq.config.quantizer.bits_per_code
    conf = "full" if name == "default" else name
    intro = ("The VQ-VAE (`default/`) and its code prior (`default_prior/`) that `vqspeech encode/decode/convert/"
             "sample` use when no `--model`/`--prior` is given." if name == "default" else
             f"The bundled VQ-VAE `{name}/` and its prior `{name}_prior/` (`--model {name} --prior {name}_prior`).")
    wavenet = vq.is_wavenet
    recon_unit = "nats/sample" if wavenet else "(multi-resolution STFT loss)"
    lines = [
        f"# vqspeech {name} model",
        "",
        intro,
        f"Reproduce with `recipes/synth/run.sh --conf conf/{conf}.conf` (the configurations and seeds below), then,",
        f"in recipes/synth, `python local/bundle_default.py --exp exp/{conf} --corpus data/synth_full --name {name}`",
        "with the listening notes as `--notes`.",
        "",
        *(["## Listening notes", "", notes.strip(), ""] if notes else []),
        "## Data",
        "",
        f"The synthetic corpus of `vqspeech prepare synth` (eSpeak NG voices), seed {synth.get('seed', 'n/a')}, "
        f"{synth.get('utts_per_speaker', 'n/a')} utterances per speaker; speakers: {', '.join(vq.speakers)}.",
        "It is formant-synthesised speech: figures here say how the model does on that corpus, not on human speech.",
        "",
        "## Model",
        "",
        f"- hop {vq.hop} samples at {vq.sample_rate} Hz -> {vq.sample_rate / vq.hop:g} codes/s; K={vq.config.quantizer.num_codes}"
        f" codes of dim {vq.config.quantizer.dim}; raw bitrate {vq.sample_rate / vq.hop * bits / 1000:.2f} kbps",
        f"- decoder: {_decoder_details(vq)}, receptive field {_decoder_rf(vq)} samples",
        *([f"- F0 head: {vq.f0_head.config.layers} dilated conv blocks of {vq.f0_head.config.channels} channels, "
           f"context +-{vq.f0_head.context} frames, trained on {vq.f0_head.config.tracker} F0"] if vq.f0_head else []),
        f"- parameters: VQ-VAE {sum(p.numel() for p in vq.parameters()):,}, prior "
        f"{sum(p.numel() for p in prior.parameters()):,}",
        f"- fingerprints: VQ-VAE `{model_fingerprint(vq_dir)}`, prior `{model_fingerprint(prior_dir)}`",
        "",
        "## Training",
        "",
        f"- VQ-VAE: {vq_log['steps']} steps in {vq_log.get('wall_hours', 0):.2f} h on a shared 2-core CPU; "
        f"last train reconstruction loss {vq_log.get('train_recon_loss', float('nan')):.3f} {recon_unit}"
        + (f" ({vq_log.get('train_recon_bits_per_sample', float('nan')):.2f} bits/sample of 8)" if wavenet else "")
        + ", codebook perplexity "
        f"{vq_log.get('train_perplexity', float('nan')):.0f}",
        *([f"- F0 head refit on the frozen codes (`vqspeech train f0`, replacing the jointly trained head; the "
           f"codes, so the prior and .vqs files, are the VQ-VAE's): {f0_log['steps']} steps in "
           f"{f0_log.get('wall_hours', 0):.2f} h; dev {json.dumps(f0_log.get('dev', {}))}"] if f0_log else []),
        f"- prior: {prior_log['steps']} steps in {prior_log.get('wall_hours', 0):.2f} h; last train "
        f"{prior_log.get('train_bits_per_code', float('nan')):.2f} bits/code",
        f"- dev set (last validation): VQ-VAE {json.dumps(vq_log.get('dev', {}))}",
        f"- dev set (last validation): prior {json.dumps(prior_log.get('dev', {}))}",
        "",
        "<details><summary>VQ-VAE training config (resolved)</summary>",
        "",
        "```yaml",
        vq_cfg.rstrip(),
        "```",
        "",
        "</details>",
        "",
        "<details><summary>Prior training config (resolved)</summary>",
        "",
        "```yaml",
        prior_cfg.rstrip(),
        "```",
        "",
        "</details>",
        "",
        "## Measured",
        "",
        f"- decoding speed (numba, one thread): {decode_rtf or 'not measured'}",
        "",
        *_report(exp / "eval" / "reconstruct", "Reconstruction (test set)"),
        *_report(exp / "eval" / "convert", "Voice conversion (parallel set)"),
        *(_report(exp / "eval" / "pitch", "F0 head: pitch from the codes vs the tracker (test set)")
          if vq.f0_head else []),
        *_report(exp / "eval" / "sample", "Samples from the prior"),
        *_phones(exp / "phones"),
    ]
    text = "\n".join(lines) + "\n"
    return text.replace(f"{Path.cwd()}/", "")  # the reports' paths, relative to where the recipe ran


def main(argv: list[str] | None = None) -> int:
    here = Path(__file__).resolve().parent
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--exp", type=Path, required=True, help="the recipe's experiment dir (exp/<tag>)")
    ap.add_argument("--corpus", type=Path, required=True, help="the synth corpus dir (data/synth_<name>)")
    ap.add_argument("--dest", type=Path, default=here.parents[2] / "vqspeech" / "pretrained")
    ap.add_argument("--decode-rtf", default=None, help="measured decoding speed to record, e.g. '2.1x real time'")
    ap.add_argument("--name", default="default", help="bundled name (default: the default model)")
    ap.add_argument("--notes", type=Path, default=None,
                    help="a markdown file of listening notes (what the output sounds like), put first in the card")
    args = ap.parse_args(argv)
    vq_dir, prior_dir = args.exp / "vqvae" / "model", args.exp / "prior" / "model"
    if (args.exp / "vqvae_f0" / "model" / "config.json").is_file():
        vq_dir = args.exp / "vqvae_f0" / "model"  # the recipe's f0_config: the head refit on the frozen codes
    for d in (vq_dir, prior_dir):
        if not (d / "config.json").is_file():
            print(f"error: {d}: no trained model there (run the recipe's stages 2 and 3 first)", file=sys.stderr)
            return 2
    size = sum(f.stat().st_size for d in (vq_dir, prior_dir) for f in d.iterdir())
    if size > SIZE_LIMIT:
        print(f"error: the models take {size / 2**20:.1f} MiB, over the {SIZE_LIMIT / 2**20:.0f} MiB limit", file=sys.stderr)
        return 2
    if args.notes is not None and not args.notes.is_file():
        print(f"error: --notes {args.notes}: no such file", file=sys.stderr)
        return 2
    card = build_card(args.exp, args.corpus, vq_dir, prior_dir, args.decode_rtf,
                      args.notes.read_text() if args.notes else None, args.name)
    card_path = args.dest / "MODEL_CARD.md" if args.name == "default" else args.dest / args.name / "MODEL_CARD.md"
    for src, name in ((vq_dir, args.name), (prior_dir, f"{args.name}_prior")):
        with atomic_dir(args.dest / name) as tmp:
            for f in ("config.json", "model.safetensors"):
                shutil.copy(src / f, tmp / f)
            if name == args.name and args.name != "default":
                (tmp / "MODEL_CARD.md").write_text(card)
    if args.name == "default":
        write_text_atomic(card_path, card)
    print(f"bundled {vq_dir} and {prior_dir} into {args.dest} as {args.name} ({size / 2**20:.1f} MiB), card: {card_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
