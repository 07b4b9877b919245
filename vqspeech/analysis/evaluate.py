"""The three evaluations: reconstruction (with Codec2/Opus baselines), voice conversion, prior samples.

Each function returns a JSON-ready metrics dict and, when `out` is given, writes a report dir
(`vqspeech.analysis.html_report.write_report`: metrics.json, summary.md, plots, index.html + wavs).
Common keys: `evaluation`, `model`, `data`, `table` ({"columns", "rows"}: the summary table),
`per_utt` ({metric: {system: [values]}}: the distributions), `notes`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vqspeech.analysis import eval_common as ec
from vqspeech.analysis.metrics import align_delay, mcd, missing_metric_notes, quality_metrics
from vqspeech.codec.api import encode_waveform
from vqspeech.errors import VQSpeechError
from vqspeech.models.precision import check_precision
from vqspeech.pitch.metrics import compare_pitch, eval_f0, median_f0, semitones
from vqspeech.speakers import resolve_speaker

log = logging.getLogger(__name__)

QUALITY = ("mcd", "mcd_4k", "lsd", "pesq", "stoi")
PITCH = ("voiced_fraction", "vde", "gpe", "ffe", "f0_corr", "f0_rmse_cents")
SPEAKER = ("speaker_sim", "speaker_id")  # reconstructions: similarity to the own speaker's centroid, identified


def _per_utt(systems: dict[str, list[dict]], keys: Sequence[str]) -> dict[str, dict[str, list]]:
    return {k: {s: [r.get(k) for r in rows] for s, rows in systems.items()} for k in keys}


def _finish(result: dict, out, force: bool, examples: list[dict]) -> dict:
    if out is not None:
        from vqspeech.analysis.html_report import write_report

        result["report_dir"] = str(write_report(out, result, examples, force=force))
    return result


def _bitrate(vq, prior, codes: list[np.ndarray], spks: list[str], seconds: float, notes: list[str]) -> dict:
    """Raw bitrate, and with a prior: the ideal (NLL) and the range-coded (vqspeech.codec) bitrate."""
    k = int(vq.config.quantizer.num_codes)
    code_rate = vq.sample_rate / vq.hop
    out: dict[str, Any] = {"code_rate_hz": code_rate, "num_codes": k, "bits_per_code_raw": math.ceil(math.log2(k)),
                           "raw_kbps": code_rate * math.ceil(math.log2(k)) / 1000}
    if prior is None:
        return out
    import torch

    nll_total, coded_total, n_total = 0.0, 0, 0
    try:
        from vqspeech.codec.entropy import entropy_encode
    except ImportError:
        entropy_encode = None
        notes.append("vqspeech.codec.entropy not available: entropy-coded bitrate is the ideal one (prior NLL)")
    for c, spk in zip(codes, spks, strict=True):
        idx = ec.speaker_index(prior.speakers, spk, notes, "prior") if prior.speakers else None
        spk_t = None if idx is None else torch.tensor([idx])
        with torch.no_grad():
            nll_total += float(prior.nll_bits(torch.from_numpy(c)[None], spk_t, reduce=False).sum())
        n_total += c.size
        if entropy_encode is not None:
            words, _ = entropy_encode(prior, c, spk if spk in prior.speakers else None)
            coded_total += 32 * int(words.size)
    out["nll_bits_per_code"] = nll_total / n_total
    out["ideal_kbps"] = nll_total / seconds / 1000
    out["entropy_coded_kbps"] = coded_total / seconds / 1000 if entropy_encode is not None else out["ideal_kbps"]
    return out


def evaluate_reconstruction(model: Any = None, data: Any = None, *, prior: Any = None, max_utts: int | None = None,
                            baselines: bool | Sequence[str] = True, out: str | Path | None = None,
                            force: bool = False, examples: int = 3, temperature: float = 1.0, seed: int = 0,
                            batch_size: int = 8, device: str = "cpu", embedder: str | None = "auto",
                            progress: bool = False, precision: str = "auto") -> dict:
    """Encode + decode every utterance of `data`; MCD, MCD 0-4 kHz, LSD, PESQ, STOI and pitch errors against
    the original, side by side with Codec2/Opus (`baselines`: True = all installed, False = none, or names).
    With an `embedder` (None: skip), each output's speaker similarity to its own speaker's centroid and
    nearest-centroid identification among all of DATA's speakers (centroids from DATA's real utterances)."""
    from vqspeech.analysis.baselines import available_baselines, run_baseline
    from vqspeech.analysis.speaker_id import cosine, embed, identify, resolve_embedder
    from vqspeech.data.kaldi import load_utterance

    if out is not None:
        from vqspeech.analysis.html_report import check_out

        check_out(out, force)
    vq, name, fp = ec.load_vqvae(model, device)
    precision = check_precision(vq, precision)  # a bad value fails before any work
    dd = ec.read_data(data)
    utts = ec.select_utts(dd, max_utts)
    notes = missing_metric_notes()
    emb_name = None
    if embedder is not None:
        emb_name, note = resolve_embedder(embedder)
        notes += [note] if note else []
    pr = None
    if prior is not None:
        pr, more = ec.load_prior(prior, vq, fp)
        notes += more
    chosen, skipped = (available_baselines(None if baselines is True else list(baselines))
                       if baselines is not False else ([], []))
    notes += skipped
    sr = vq.sample_rate
    wavs = [load_utterance(dd, u, sr) for u in utts]
    spk_names = [dd.utt2spk[u] for u in utts]
    codes = [encode_waveform(vq, w) for w in ec.progress_iter(wavs, len(wavs), progress, "encode")]
    spk_idx = [ec.speaker_index(vq.speakers, s, notes) for s in spk_names]
    recon = ec.decode_many(vq, codes, spk_idx, [w.size for w in wavs], temperature=temperature, seed=seed,
                           batch_size=batch_size, progress=progress, precision=precision)
    seconds = sum(w.size for w in wavs) / sr
    bitrate = _bitrate(vq, pr, codes, spk_names, seconds, notes)
    systems: dict[str, list[dict]] = {name: []}
    rows_meta: dict[str, dict] = {name: {"kbps": bitrate["raw_kbps"], "kbps_coded": bitrate.get("entropy_coded_kbps")}}
    ex: list[dict] = [{"title": utts[i], "clips": [("original", wavs[i]), (name, recon[i])]}
                      for i in range(min(examples, len(utts)))]
    for i in ec.progress_iter(range(len(utts)), len(utts), progress, "metrics"):
        systems[name].append({"utt": utts[i], **quality_metrics(wavs[i], recon[i], sr),
                              **compare_pitch(wavs[i], recon[i], sr)})
    outputs: dict[str, list[np.ndarray]] = {name: recon}
    for b in chosen:
        systems[b.name] = []
        outputs[b.name] = []
        bits = 0
        for i in ec.progress_iter(range(len(utts)), len(utts), progress, b.name):
            y, nbits = run_baseline(b, wavs[i], sr)
            bits += nbits
            ya, lag = align_delay(wavs[i], y, waveform=b.codec == "opus")
            outputs[b.name].append(ya)
            systems[b.name].append({"utt": utts[i], "delay_ms": 1000 * lag / sr, **quality_metrics(wavs[i], ya, sr),
                                    **compare_pitch(wavs[i], ya, sr)})
            if i < len(ex):
                ex[i]["clips"].append((b.name, ya))
        rows_meta[b.name] = {"kbps": b.kbps, "kbps_coded": bits / seconds / 1000}
    ref_info: dict[str, Any] = {}
    keys = (*QUALITY, *PITCH)
    if emb_name is not None:
        keys = (*keys, *SPEAKER)
        cents = _centroids(dd, dd.speakers(), sr, emb_name, progress, ref_info)
        for s, per_utt in systems.items():
            for i, row in enumerate(ec.progress_iter(per_utt, len(per_utt), progress, f"speaker ID ({s})")):
                e = embed(outputs[s][i], emb_name)
                ident, _ = identify(e, cents)
                row.update(speaker_sim=cosine(e, cents[spk_names[i]]), speaker_id=float(ident == spk_names[i]))
    rows = [{"system": s, **rows_meta[s], **{k: ec.mean_of(r, k) for k in keys}} for s, r in systems.items()]
    result = {
        "evaluation": "reconstruct", "model": name, "model_fingerprint": fp, "data": str(dd.path),
        "utterances": len(utts), "seconds": seconds, "temperature": temperature, "seed": seed,
        "bitrate": bitrate, "notes": notes, "decoder_type": getattr(vq, "decoder_type", "wavenet"),
        "precision": precision,
        "input_voiced_fraction": ec.mean_of(systems[name], "ref_voiced_fraction"),
        **{k: rows[0][k] for k in PITCH}, **({k: rows[0][k] for k in SPEAKER} if emb_name else {}),
        "embedder": emb_name, **ref_info,
        "table": {"columns": ["system", "kbps", "kbps_coded", *keys], "rows": rows},
        "systems": {s: {"per_utt": r} for s, r in systems.items()},
        "per_utt": _per_utt(systems, keys),
    }
    return _finish(result, out, force, ex)


def _centroids(dd, speakers: Sequence[str], sr: int, embedder: str, progress: bool,
               result: dict) -> dict[str, np.ndarray]:
    """Speaker centroids from DATA's utterances; stores the references' leave-one-out accuracy in result."""
    from vqspeech.analysis.speaker_id import centroids, embed, leave_one_out_accuracy
    from vqspeech.data.kaldi import load_utterance

    s2u = dd.spk2utt()
    embs: dict[str, list[np.ndarray]] = {}
    todo = [(s, u) for s in speakers for u in s2u.get(s, [])]
    for s, u in ec.progress_iter(todo, len(todo), progress, "speaker embeddings"):
        embs.setdefault(s, []).append(embed(load_utterance(dd, u, sr), embedder))
    result["reference_id_accuracy"] = leave_one_out_accuracy(embs)
    return centroids(embs)


def _speaker_median_f0(dd, speakers: Sequence[str], sr: int, progress: bool) -> dict[str, float]:
    """Median F0 (Hz) over the voiced frames of each speaker's utterances in DATA."""
    from vqspeech.data.kaldi import load_utterance

    s2u = dd.spk2utt()
    todo = [(s, u) for s in speakers for u in s2u.get(s, [])]
    f0s: dict[str, list[np.ndarray]] = {}
    for s, u in ec.progress_iter(todo, len(todo), progress, "speaker F0"):
        f0s.setdefault(s, []).append(eval_f0(load_utterance(dd, u, sr), sr))
    return {s: median_f0(np.concatenate(v)) for s, v in f0s.items()}


def evaluate_conversion(model: Any = None, data: Any = None, *, targets: Sequence[str] | None = None,
                        max_utts: int | None = None, max_pairs: int | None = None, embedder: str = "auto",
                        out: str | Path | None = None, force: bool = False, examples: int = 3,
                        temperature: float = 1.0, seed: int = 0, batch_size: int = 8, device: str = "cpu",
                        progress: bool = False, precision: str = "auto") -> dict:
    """Convert every utterance of a parallel data dir to the other speakers; MCD against the target's
    utterance of the same text, speaker similarity to the target and source centroids, identification."""
    from vqspeech.analysis.speaker_id import cosine, embed, identify, resolve_embedder
    from vqspeech.data.kaldi import load_utterance

    if out is not None:
        from vqspeech.analysis.html_report import check_out

        check_out(out, force)
    vq, name, fp = ec.load_vqvae(model, device)
    precision = check_precision(vq, precision)  # a bad value fails before any work
    dd = ec.read_data(data)
    if not dd.text:
        raise VQSpeechError(f"{dd.path}: no 'text' file: a parallel data dir is needed to match sentences")
    emb_name, note = resolve_embedder(embedder)
    notes = missing_metric_notes() + ([note] if note else [])
    data_spks = dd.speakers()
    if targets:
        for t in targets:
            vq.speaker_index(t)  # VQSpeechError listing the model's speakers
            if t not in data_spks:
                raise VQSpeechError(f"target speaker {t!r} has no utterances in {dd.path} (needed for its centroid)")
        tgts = list(targets)
    else:
        tgts = [s for s in vq.speakers if s in data_spks]
        if not tgts:
            raise VQSpeechError(f"{dd.path}: none of its speakers is known to the model ({', '.join(vq.speakers[:5])}...)")
    by_text: dict[tuple[str, str], str] = {(dd.text.get(u, ""), dd.utt2spk[u]): u for u in dd.utterances()}
    pairs = [(u, t) for u in ec.select_utts(dd, max_utts) for t in tgts if t != dd.utt2spk[u]]
    if max_pairs is not None:
        pairs = pairs[:max_pairs]
    if not pairs:
        raise VQSpeechError("no (utterance, target speaker) pairs: every target is the source speaker")
    sr = vq.sample_rate
    srcs = sorted({u for u, _ in pairs})
    wav = {u: load_utterance(dd, u, sr) for u in srcs}
    codes = {u: encode_waveform(vq, wav[u]) for u in ec.progress_iter(srcs, len(srcs), progress, "encode")}
    conv = ec.decode_many(vq, [codes[u] for u, _ in pairs], [vq.speaker_index(t) for _, t in pairs],
                          [wav[u].size for u, _ in pairs], temperature=temperature, seed=seed,
                          batch_size=batch_size, progress=progress, precision=precision)
    ref_info: dict[str, Any] = {}
    involved = sorted(set(tgts) | {dd.utt2spk[u] for u in srcs})
    cents = _centroids(dd, involved, sr, emb_name, progress, ref_info)
    spk_f0 = _speaker_median_f0(dd, involved, sr, progress)
    rows, ex = [], []
    for i, (u, t) in enumerate(ec.progress_iter(pairs, len(pairs), progress, "metrics")):
        src = dd.utt2spk[u]
        ref_utt = by_text.get((dd.text.get(u, ""), t))
        row: dict[str, Any] = {"utt": u, "source": src, "target": t, "target_utt": ref_utt}
        if ref_utt is not None:
            ref = load_utterance(dd, ref_utt, sr)
            row.update(mcd=mcd(ref, conv[i], sr), mcd_4k=mcd(ref, conv[i], sr, fmax=4000.0),
                       mcd_unconverted=mcd(ref, wav[u], sr))
        e = embed(conv[i], emb_name)
        ident, _ = identify(e, cents)
        row.update(sim_target=cosine(e, cents[t]), sim_source=cosine(e, cents[src]), identified=ident,
                   correct=ident == t)
        f0_out = eval_f0(conv[i], sr)
        med = median_f0(f0_out)
        row.update(voiced_fraction=float((f0_out > 0).mean()), f0_median=med,
                   st_to_target=semitones(med, spk_f0.get(t, math.nan)),
                   st_to_source=semitones(med, spk_f0.get(src, math.nan)))
        row["f0_within_2st"] = bool(abs(row["st_to_target"]) <= 2.0) if math.isfinite(row["st_to_target"]) else None
        rows.append(row)
        if len(ex) < examples and ref_utt is not None:
            ex.append({"title": f"{u} -> {t}", "clips": [("source", wav[u]), (f"converted to {t}", conv[i]),
                                                          (f"{t} ({ref_utt})", ref)]})
    if not any(r.get("target_utt") for r in rows):
        notes.append("no target utterance shares a source's text: MCD not computed (is this a parallel set?)")
    acc = float(np.mean([r["correct"] for r in rows]))
    keys = ["mcd", "mcd_4k", "mcd_unconverted", "sim_target", "sim_source", "voiced_fraction"]
    judged_f0 = [r for r in rows if r["f0_within_2st"] is not None]
    f0_ok = float(np.mean([r["f0_within_2st"] for r in judged_f0])) if judged_f0 else None
    abs_st = [abs(r["st_to_target"]) for r in judged_f0]
    table_row = {"system": name, "pairs": len(rows), **{k: ec.mean_of(rows, k) for k in keys}, "id_accuracy": acc,
                 "reference_id_accuracy": ref_info["reference_id_accuracy"],
                 "f0_abs_st_to_target": float(np.mean(abs_st)) if abs_st else None,
                 "f0_abs_st_to_source": ec.mean_of([{"v": abs(r["st_to_source"])} for r in judged_f0
                                                    if math.isfinite(r["st_to_source"])], "v"),
                 "f0_within_2st": f0_ok}
    result = {
        "evaluation": "convert", "model": name, "model_fingerprint": fp, "data": str(dd.path), "embedder": emb_name,
        "precision": precision,
        "targets": tgts, "pairs": len(rows), "id_accuracy": acc, **ref_info, "temperature": temperature, "seed": seed,
        "speaker_median_f0": spk_f0, "voiced_fraction": table_row["voiced_fraction"],
        "f0_abs_st_to_target": table_row["f0_abs_st_to_target"], "f0_within_2st": f0_ok,
        "notes": notes, "table": {"columns": list(table_row), "rows": [table_row]},
        "per_pair": rows, "per_utt": _per_utt({name: rows}, ["mcd", "mcd_4k", "sim_target", "sim_source"]),
    }
    return _finish(result, out, force, ex)


def evaluate_samples(prior: Any, model: Any = None, *, data: Any = None, speakers: Sequence[str] | None = None,
                     seconds: float = 2.0, per_speaker: int = 1, max_utts: int | None = None,
                     embedder: str = "auto", out: str | Path | None = None, force: bool = False,
                     examples: int = 6, temperature: float = 1.0, seed: int = 0, device: str = "cpu",
                     progress: bool = False, precision: str = "auto") -> dict:
    """NLL (bits per code) of the prior on the codes of `data`; samples per speaker, decoded with the
    VQ-VAE; speaker identification of the samples against the requested speaker (centroids from `data`)."""
    import torch

    from vqspeech.analysis.speaker_id import cosine, embed, identify, resolve_embedder
    from vqspeech.data.kaldi import load_utterance
    from vqspeech.generate import sample_codes

    if out is not None:
        from vqspeech.analysis.html_report import check_out

        check_out(out, force)
    if seconds <= 0 or per_speaker < 1:
        raise VQSpeechError(f"seconds ({seconds}) must be > 0 and per_speaker ({per_speaker}) >= 1")
    vq, name, fp = ec.load_vqvae(model, device)
    precision = check_precision(vq, precision)  # a bad value fails before any work
    pr, notes = ec.load_prior(prior, vq, fp)
    notes = missing_metric_notes() + notes
    sr = vq.sample_rate
    result: dict[str, Any] = {"evaluation": "sample", "model": name, "prior": ec.model_name(prior),
                              "model_fingerprint": fp, "seconds": seconds, "temperature": temperature, "seed": seed,
                              "precision": precision}
    dd = ec.read_data(data) if data is not None else None
    if dd is not None:
        utts = ec.select_utts(dd, max_utts)
        total, n, counts = 0.0, 0, np.zeros(pr.num_codes)
        for u in ec.progress_iter(utts, len(utts), progress, "NLL"):
            c = encode_waveform(vq, load_utterance(dd, u, sr))
            idx = ec.speaker_index(pr.speakers, dd.utt2spk[u], notes, "prior") if pr.speakers else None
            with torch.no_grad():
                total += float(pr.nll_bits(torch.from_numpy(c)[None], None if idx is None else torch.tensor([idx]),
                                           reduce=False).sum())
            n += c.size
            counts += np.bincount(c, minlength=pr.num_codes)
        p = counts[counts > 0] / counts.sum()
        result.update(data=str(dd.path), utterances=len(utts), codes=n, nll_bits_per_code=total / n,
                      unigram_entropy_bits=float(-(p * np.log2(p)).sum()), uniform_bits=math.log2(pr.num_codes),
                      nll_kbps=total / n * sr / vq.hop / 1000)
    # the one speaker policy (vqspeech.speakers.resolve_speaker), as in generate.sample.sample_speech: a
    # requested name must be known to the decoder and, when it is speaker-conditioned, to the prior
    spks = list(speakers) if speakers else [s for s in (pr.speakers or vq.speakers) if s in vq.speakers] or [None]
    dec_of = {s: resolve_speaker(vq.speakers, s, what="decoder", notes=notes) for s in spks}
    prior_of = {s: resolve_speaker(pr.speakers, s, what="prior", notes=notes) if pr.speakers else None for s in spks}
    n_codes = max(1, int(round(seconds * sr / vq.hop)))
    streams, req = [], []
    for j, s in enumerate(ec.progress_iter(spks, len(spks), progress, "sample codes")):
        for c in sample_codes(pr, n_codes, prior_of[s], batch=per_speaker, temperature=temperature, seed=seed + j):
            streams.append(c)
            req.append(s)
    dec_idx = [dec_of[s] or 0 for s in req]
    wavs = ec.decode_many(vq, streams, dec_idx, [c.size * vq.hop for c in streams], temperature=temperature,
                          seed=seed, batch_size=8, progress=progress, precision=precision)
    rows = [{"speaker": s, "codes_used": int(np.unique(c).size), "voiced_fraction": float((eval_f0(w, sr) > 0).mean())}
            for s, c, w in zip(req, streams, wavs, strict=True)]
    id_spks = [s for s in dict.fromkeys(req) if dd is not None and s in dd.speakers()]
    if dd is None:
        notes.append("no --data: NLL and speaker identification skipped")
    elif id_spks:
        emb_name, note = resolve_embedder(embedder)
        notes += [note] if note else []
        cents = _centroids(dd, dd.speakers(), sr, emb_name, progress, result)
        spk_f0 = _speaker_median_f0(dd, id_spks, sr, progress)
        result["speaker_median_f0"] = spk_f0
        for r, w in zip(rows, wavs, strict=True):
            if r["speaker"] in cents:
                e = embed(w, emb_name)
                ident, _ = identify(e, cents)
                r.update(identified=ident, correct=ident == r["speaker"], sim_target=cosine(e, cents[r["speaker"]]))
            if r["speaker"] in spk_f0:
                r["st_to_speaker"] = semitones(median_f0(eval_f0(w, sr)), spk_f0[r["speaker"]])
        result["embedder"] = emb_name
    else:
        notes.append("none of the sampled speakers has utterances in the data dir: identification skipped")
    judged = [r for r in rows if "correct" in r]
    acc = float(np.mean([r["correct"] for r in judged])) if judged else None
    result.update(speakers=[s for s in dict.fromkeys(req)], samples=len(rows), id_accuracy=acc, per_sample=rows,
                  notes=notes)
    table_row = {"system": f"{result['prior']} + {name}", "nll_bits_per_code": result.get("nll_bits_per_code"),
                 "nll_kbps": result.get("nll_kbps"), "samples": len(rows), "id_accuracy": acc,
                 "sim_target": ec.mean_of(judged, "sim_target"),
                 "reference_id_accuracy": result.get("reference_id_accuracy"),
                 "voiced_fraction": ec.mean_of(rows, "voiced_fraction"),
                 "f0_abs_st_to_speaker": ec.mean_of([{"v": abs(r["st_to_speaker"])} for r in rows
                                                     if math.isfinite(r.get("st_to_speaker", math.nan))], "v")}
    result["voiced_fraction"] = table_row["voiced_fraction"]
    result["table"] = {"columns": list(table_row), "rows": [table_row]}
    result["per_utt"] = _per_utt({name: judged}, ["sim_target"]) if judged else {}
    ex = [{"title": f"sample {i} ({s or 'no speaker'})", "clips": [("sample", w)]}
          for i, (s, w) in enumerate(zip(req, wavs, strict=True)) if i < examples]
    return _finish(result, out, force, ex)
