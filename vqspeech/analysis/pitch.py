"""`analyze pitch`: the F0 head's prediction from the codes against a tracker on the input audio.

Frames are on the code grid (`vqspeech.pitch`); the tracker is the one the head was trained on.
Scores (VDE, GPE, FFE, log-F0 correlation, RMSE in cents) pool the frames of each speaker and of all
utterances. With `speaker`, the head predicts for that speaker instead of each utterance's own (what
voice conversion does) and the report gives the predictions' median F0 against the speaker's.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from vqspeech.analysis import eval_common as ec
from vqspeech.codec.api import encode_waveform
from vqspeech.errors import VQSpeechError
from vqspeech.pitch.metrics import median_f0, pool_scores, semitones
from vqspeech.pitch.track import track_f0

NO_HEAD = ("{name}: this model has no F0 head; give it one with `vqspeech train f0 --vqvae {name} --data "
           "TRAIN_DIR --out EXP` (or train a model whose config has an f0_head section)")


def predict_f0(model, codes: np.ndarray, speaker: int) -> np.ndarray:
    """codes [N] -> the F0 head's F0 [N] Hz (0 = unvoiced) for decoder speaker index `speaker`."""
    import torch

    from vqspeech.generate.source_filter import VOICING_THRESHOLD

    with torch.no_grad():
        q = model.conditioning_frames(torch.from_numpy(np.asarray(codes, np.int64))[None])
        spk = torch.tensor([speaker]) if model.speakers else None
        pred = model.predict_f0(q, spk)
        return pred.f0(VOICING_THRESHOLD)[0].numpy().astype(np.float32)


def analyze_pitch(model: Any = None, data: Any = None, *, out: str | Path | None = None, speaker: str | None = None,
                  max_utts: int | None = None, plot_utts: int = 4, force: bool = False,
                  progress: bool = False) -> dict[str, Any]:
    """Score the F0 head on DATA; returns the metrics dict (and writes the report dir when `out`)."""
    from vqspeech.data.kaldi import load_utterance

    if out is not None:
        from vqspeech.analysis.html_report import check_out

        check_out(out, force)
    vq, name, fp = ec.load_vqvae(model)
    if vq.f0_head is None:
        raise VQSpeechError(NO_HEAD.format(name=model if model is not None else _default_dir()))
    tracker = vq.f0_head.config.tracker
    if speaker is not None:
        target_idx = vq.speaker_index(speaker)
    dd = ec.read_data(data)
    utts = ec.select_utts(dd, max_utts)
    notes: list[str] = []
    sr, hop = vq.sample_rate, vq.hop
    per_spk: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    contours = []
    preds_all, refs_by_spk = [], {}
    for u in ec.progress_iter(utts, len(utts), progress, "pitch"):
        wav = load_utterance(dd, u, sr)
        src = dd.utt2spk[u]
        ref, _ = track_f0(wav, sr, hop, tracker)
        codes = encode_waveform(vq, wav)
        idx = target_idx if speaker is not None else ec.speaker_index(vq.speakers, src, notes)
        pred = predict_f0(vq, codes, idx)
        per_spk.setdefault(src, []).append((ref, pred))
        refs_by_spk.setdefault(src, []).append(ref)
        preds_all.append(pred)
        if len(contours) < plot_utts:
            contours.append((u, ref, pred))
    rows = []
    for s in sorted(per_spk):
        sc = pool_scores(per_spk[s]).as_dict()
        rows.append({"speaker": s, "utterances": len(per_spk[s]), **{k: sc[k] for k in
                     ("frames", "ref_voiced_fraction", "voiced_fraction", "vde", "gpe", "ffe", "f0_corr", "f0_rmse_cents")},
                     "ref_median_f0": median_f0(np.concatenate(refs_by_spk[s]))})
    overall = pool_scores([p for v in per_spk.values() for p in v]).as_dict()
    result: dict[str, Any] = {
        "analysis": "pitch", "model": name, "model_fingerprint": fp, "data": str(dd.path), "tracker": tracker,
        "frame_rate_hz": sr / hop, "utterances": len(utts), "speaker": speaker,
        **{k: overall[k] for k in ("vde", "gpe", "ffe", "f0_corr", "f0_rmse_cents", "voiced_fraction",
                                   "ref_voiced_fraction", "frames")},
        "per_speaker": rows, "notes": notes,
    }
    if speaker is not None:
        pred_med = median_f0(np.concatenate(preds_all))
        tgt = refs_by_spk.get(speaker)
        if tgt is None:
            tgt_utts = dd.spk2utt().get(speaker, [])
            tgt = [track_f0(load_utterance(dd, u, sr), sr, hop, tracker)[0] for u in tgt_utts[:20]]
        tgt_med = median_f0(np.concatenate(tgt)) if tgt else math.nan
        if not tgt:
            notes.append(f"speaker {speaker!r} has no utterances in {dd.path}: its median F0 is unknown")
        result.update(predicted_median_f0=pred_med, speaker_median_f0=tgt_med,
                      st_to_speaker=semitones(pred_med, tgt_med))
    table_cols = ["speaker", "utterances", "ref_voiced_fraction", "voiced_fraction", "vde", "gpe", "ffe", "f0_corr",
                  "f0_rmse_cents"]
    result["table"] = {"columns": table_cols,
                       "rows": [*({c: r[c] for c in table_cols} for r in rows),
                                {"speaker": "all", "utterances": len(utts),
                                 **{c: overall[c] for c in table_cols[2:]}}]}
    if out is not None:
        result["report_dir"] = str(_write(Path(out), result, contours, hop / sr))
    return result


def _write(out: Path, result: dict, contours: list, frame_s: float) -> Path:
    import json

    from vqspeech.analysis.html_report import _json_safe, markdown_table
    from vqspeech.analysis.plots import plot_f0_contours
    from vqspeech.fileutil import atomic_dir

    with atomic_dir(out) as tmp:
        (tmp / "metrics.json").write_text(json.dumps(_json_safe(result), indent=1, allow_nan=False) + "\n")
        if contours:
            plot_f0_contours(contours, frame_s, tmp / "f0_contours.png",
                             f"{result['model']}: F0 head (from the codes) vs {result['tracker']} (audio)")
        md = [f"# vqspeech analyze pitch: {result['model']}", "", f"data: `{result['data']}`, tracker "
              f"{result['tracker']}, {result['frame_rate_hz']:.0f} frames/s" +
              (f", predicted for speaker {result['speaker']}" if result["speaker"] else ""), "",
              markdown_table(result["table"]), ""]
        if result["speaker"]:
            md += [f"median F0 of the predictions {result['predicted_median_f0']:.1f} Hz, of {result['speaker']} "
                   f"{result['speaker_median_f0']:.1f} Hz ({result['st_to_speaker']:+.2f} semitones)", ""]
        md += [f"- note: {n}" for n in result["notes"]]
        md += ["", "![F0 contours](f0_contours.png)"] if contours else []
        (tmp / "summary.md").write_text("\n".join(md) + "\n")
    return out


def _default_dir() -> str:
    from vqspeech.pretrained import default_model_dir

    return str(default_model_dir())
