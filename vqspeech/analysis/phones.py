"""How discrete codes line up with phones: frame labelling and metrics (pure numpy, vectorised).

Each code covers `hop` samples (`hop / sample_rate` seconds: 4 ms at hop 64 and 16 kHz). Frame `i`
of an utterance is labelled with the phone whose interval contains its centre `(i + 0.5) * hop / sr`;
a frame whose centre lies in no interval gets the `outside` label (default "sil"), or is dropped from
the label-based metrics when `outside=None`.

Metrics (`phone_metrics`), all over frames:
- many-to-one accuracy: each code -> its most frequent phone (ties: the phone that sorts first),
  scored in-sample (the paper's figure: 49.3% for K=128 codes vs 41 phones, majority class 7.2%) and
  held-out: fitted on the utterances at even positions of the sorted utterance ids, scored on those
  at odd positions (codes unseen in the fit half get the fit half's majority phone);
- the majority-class baseline (in-sample and held-out, same split);
- code purity (= in-sample many-to-one accuracy, frame-weighted) and phone purity (each phone ->
  its most frequent code, frame-weighted);
- mutual information, normalised by the arithmetic mean of the two entropies (NMI), and the
  V-measure (homogeneity, completeness); with that normalisation NMI == V-measure exactly;
- codes used per phone (distinct codes, and codes needed to cover 90% of the phone's frames);
- precision / recall / F1 of code-change points against phone boundaries, greedy one-to-one matching
  (closest pairs first) within a tolerance (default 20 ms, inclusive);
- the same many-to-one accuracy with code bigram context: each (previous code, code) pair -> its
  most frequent phone (the first frame of an utterance has a start symbol as previous code); held
  out, pairs unseen in the fit half back off to the unigram map.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from vqspeech.errors import VQSpeechError

log = logging.getLogger(__name__)

_EPS = 1e-9  # seconds: slack for float comparisons of times
# van den Oord et al. 2017, sec. 4.3: K=128 codes at 25 Hz (640x downsampling, 40 ms per code), 41 phones
PAPER_REFERENCE = {"accuracy": 0.493, "baseline": 0.072, "num_codes": 128, "num_phones": 41, "frame_ms": 40.0}


class Interval(Protocol):
    """A phone interval (`vqspeech.data.kaldi.PhoneInterval`): seconds from the utterance start."""

    start: float
    end: float
    phone: str


# ----------------------------------------------------------------------------- frame labelling


def frame_labels(
    intervals: Sequence[Interval], n_frames: int, hop: int, sample_rate: int, outside: str | None = "sil"
) -> np.ndarray:
    """The phone at the centre of each code frame.

    intervals: the utterance's phones (any order; where intervals overlap, the one starting last wins).
    Returns `[n_frames]` str; frames whose centre lies in no interval get `outside`, or "" when
    `outside` is None (the caller drops them).
    """
    centres = (np.arange(n_frames) + 0.5) * (hop / sample_rate)
    out = np.full(n_frames, "" if outside is None else outside, dtype=object)
    if not intervals or n_frames == 0:
        return out.astype(str)
    order = sorted(range(len(intervals)), key=lambda i: (intervals[i].start, i))
    starts = np.array([intervals[i].start for i in order], dtype=np.float64)
    ends = np.array([intervals[i].end for i in order], dtype=np.float64)
    names = np.array([intervals[i].phone for i in order], dtype=object)
    idx = np.searchsorted(starts, centres, side="right") - 1
    ok = idx >= 0
    ok[ok] = centres[ok] < ends[idx[ok]]
    out[ok] = names[idx[ok]]
    return out.astype(str)


def phone_boundaries(intervals: Sequence[Interval], outside: str | None = "sil") -> np.ndarray:
    """Times (s) where the phone label changes, sorted; adjacent intervals with the same phone merge.

    Gaps between intervals count as the `outside` phone (with `outside=None`, as a label unlike any
    phone), so the alignment's first start and last end are included; the caller clips to its span.
    """
    items = sorted((float(iv.start), float(iv.end), iv.phone) for iv in intervals)
    gap: object = outside if outside is not None else object()  # what lies between intervals
    times: list[float] = []
    prev_end, prev_phone = 0.0, gap
    for start, end, phone in items:
        if start > prev_end + _EPS:  # a gap between intervals
            if prev_phone != gap:
                times.append(prev_end)
            if phone != gap:
                times.append(start)
        elif phone != prev_phone:
            times.append(start)
        prev_end, prev_phone = max(prev_end, end), phone
    if prev_phone != gap:
        times.append(prev_end)
    return np.unique(np.array(times, dtype=np.float64))


def code_change_times(codes: np.ndarray, hop: int, sample_rate: int) -> np.ndarray:
    """Times (s) of the frame edges where the code changes: `i * hop / sr` for codes[i] != codes[i-1]."""
    codes = np.asarray(codes)
    idx = np.flatnonzero(codes[1:] != codes[:-1]) + 1
    return idx * (hop / sample_rate)


def match_boundaries(pred: np.ndarray, ref: np.ndarray, tolerance: float = 0.02) -> int:
    """Number of one-to-one matches between predicted and reference times within `tolerance` s.

    Greedy: candidate pairs in order of increasing distance (ties: earlier prediction, then earlier
    reference), each time used at most once. The tolerance is inclusive.
    """
    pred = np.asarray(pred, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if pred.size == 0 or ref.size == 0:
        return 0
    # only pairs within tolerance: for each reference, the predictions in [r - tol, r + tol]
    lo = np.searchsorted(pred, ref - tolerance - _EPS, side="left")
    hi = np.searchsorted(pred, ref + tolerance + _EPS, side="right")
    counts = hi - lo
    if counts.sum() == 0:
        return 0
    j = np.repeat(np.arange(ref.size), counts)
    i = np.concatenate([np.arange(a, b) for a, b in zip(lo, hi, strict=True) if b > a])
    dist = np.abs(pred[i] - ref[j])
    order = np.lexsort((j, i, np.round(dist / _EPS)))
    used_p = np.zeros(pred.size, dtype=bool)
    used_r = np.zeros(ref.size, dtype=bool)
    matched = 0
    for pi, rj in zip(i[order].tolist(), j[order].tolist(), strict=True):
        if not used_p[pi] and not used_r[rj]:
            used_p[pi] = used_r[rj] = True
            matched += 1
    return matched


# ----------------------------------------------------------------------------- the frames


@dataclass
class CodedFrames:
    """Codes and frame phone labels of a set of utterances, ready for `phone_metrics`."""

    utts: list[str]  # sorted utterance ids
    codes: list[np.ndarray]  # per utterance [N_u] int64 in [0, num_codes)
    labels: list[np.ndarray]  # per utterance [N_u] int64 index into `phones`; -1 = dropped frame
    boundaries: list[np.ndarray]  # per utterance reference phone boundaries (s) inside `spans`
    spans: list[tuple[float, float]]  # per utterance the evaluated time span (s) for boundaries
    phones: list[str]  # sorted phone inventory
    num_codes: int  # K
    hop: int  # samples per code
    sample_rate: int  # Hz
    skipped: list[str] = field(default_factory=list)  # utterances with codes but no alignment


def build_frames(
    codes: Mapping[str, np.ndarray],
    alignments: Mapping[str, Sequence[Interval]],
    hop: int,
    sample_rate: int,
    num_codes: int,
    outside: str | None = "sil",
    durations: Mapping[str, float] | None = None,
) -> CodedFrames:
    """Label the frames of every utterance that has both codes and an alignment.

    codes: utt -> [N_u] int codes; alignments: utt -> phone intervals (already folded);
    durations: utt -> audio seconds (default N_u * hop / sr), which bounds the boundary span.
    Utterances with codes but no alignment are skipped with one warning; none in common is an error.
    """
    common = sorted(set(codes) & set(alignments))
    skipped = sorted(set(codes) - set(alignments))
    if not common:
        raise VQSpeechError(
            f"no utterance has both codes and an alignment ({len(codes)} coded, {len(alignments)} aligned;"
            f" e.g. coded {sorted(codes)[:2]}, aligned {sorted(alignments)[:2]})"
        )
    if skipped:
        log.warning("%d of %d utterances have no alignment and are skipped (e.g. %s)",
                    len(skipped), len(codes), ", ".join(skipped[:3]))
    str_labels, all_codes, bounds, spans = [], [], [], []
    for utt in common:
        c = np.asarray(codes[utt]).astype(np.int64).reshape(-1)
        if c.size and (c.min() < 0 or c.max() >= num_codes):
            raise VQSpeechError(f"{utt}: codes outside [0, {num_codes})")
        ivs = alignments[utt]
        str_labels.append(frame_labels(ivs, c.size, hop, sample_rate, outside))
        all_codes.append(c)
        dur = durations.get(utt, c.size * hop / sample_rate) if durations else c.size * hop / sample_rate
        if outside is None and ivs:
            span = (min(iv.start for iv in ivs), min(dur, max(iv.end for iv in ivs)))
        else:
            span = (0.0, dur)
        b = phone_boundaries(ivs, outside)
        bounds.append(b[(b > span[0] + _EPS) & (b < span[1] - _EPS)])
        spans.append(span)
    flat = np.concatenate(str_labels) if str_labels else np.array([], dtype=str)
    phones, inverse = np.unique(flat, return_inverse=True)
    inverse = inverse.astype(np.int64)
    has_empty = phones.size > 0 and phones[0] == ""
    if has_empty:  # dropped frames
        phones, inverse = phones[1:], inverse - 1
    split = np.cumsum([len(s) for s in str_labels])[:-1]
    labels = np.split(inverse, split)
    if not any((lab >= 0).any() for lab in labels):
        raise VQSpeechError("no code frame falls inside any aligned phone (check times, hop and sample rate)")
    return CodedFrames(common, all_codes, labels, bounds, spans, [str(p) for p in phones], int(num_codes),
                       int(hop), int(sample_rate), skipped)


# ----------------------------------------------------------------------------- metrics


def contingency(codes: np.ndarray, labels: np.ndarray, num_codes: int, num_phones: int) -> np.ndarray:
    """Counts `[num_codes, num_phones]` int64: frames with code k and phone p."""
    return np.bincount(codes * num_phones + labels, minlength=num_codes * num_phones).reshape(num_codes, num_phones)


def fit_many_to_one(keys: np.ndarray, labels: np.ndarray, num_labels: int) -> tuple[np.ndarray, np.ndarray]:
    """Each distinct key -> its most frequent label (ties: smallest label). Returns (sorted keys, labels)."""
    combo = keys.astype(np.int64) * num_labels + labels
    uniq, cnt = np.unique(combo, return_counts=True)
    k, lab = uniq // num_labels, uniq % num_labels
    order = np.lexsort((lab, -cnt, k))
    ks = k[order]
    first = np.r_[True, ks[1:] != ks[:-1]]
    return ks[first], lab[order][first]


def apply_many_to_one(keys: np.ndarray, fitted: tuple[np.ndarray, np.ndarray], fallback: Any) -> np.ndarray:
    """Predicted labels for `keys`; keys not in the fitted map get `fallback` (scalar or per-key array)."""
    fk, fl = fitted
    if fk.size == 0:
        return np.broadcast_to(fallback, keys.shape).astype(np.int64)
    pos = np.clip(np.searchsorted(fk, keys), 0, fk.size - 1)
    return np.where(fk[pos] == keys, fl[pos], fallback).astype(np.int64)


def _entropy(counts: np.ndarray) -> float:
    counts = counts[counts > 0].astype(np.float64)
    if counts.size == 0:
        return 0.0
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum())


def information_scores(table: np.ndarray) -> dict[str, float]:
    """MI (nats), entropies, NMI (arithmetic mean), homogeneity, completeness, V-measure of a [K, P] table."""
    n = table.sum()
    rows, cols = table.sum(1).astype(np.float64), table.sum(0).astype(np.float64)
    h_codes, h_phones = _entropy(rows), _entropy(cols)
    k, p = np.nonzero(table)
    c = table[k, p].astype(np.float64)
    mi = float((c / n * np.log(c * n / (rows[k] * cols[p]))).sum()) if n else 0.0
    mi = max(mi, 0.0)
    hom = 1.0 if h_phones == 0 else mi / h_phones
    comp = 1.0 if h_codes == 0 else mi / h_codes
    v = 0.0 if hom + comp == 0 else 2 * hom * comp / (hom + comp)
    mean_h = (h_codes + h_phones) / 2
    nmi = 1.0 if mean_h == 0 else mi / mean_h
    return {"mutual_information_nats": mi, "entropy_codes_nats": h_codes, "entropy_phones_nats": h_phones,
            "nmi": nmi, "homogeneity": hom, "completeness": comp, "v_measure": v}


def _bigram_keys(codes: Sequence[np.ndarray], num_codes: int) -> list[np.ndarray]:
    """(previous code, code) -> one int key; the first frame's previous code is the start symbol K."""
    out = []
    for c in codes:
        prev = np.concatenate([[num_codes], c[:-1]]) if c.size else c
        out.append(prev * (num_codes + 1) + c)
    return out


def _accuracy(pred: np.ndarray, labels: np.ndarray) -> float | None:
    return float((pred == labels).mean()) if labels.size else None


def _split(n_utts: int) -> tuple[np.ndarray, np.ndarray]:
    """Held-out split over sorted utterances: even positions fit, odd positions are scored."""
    idx = np.arange(n_utts)
    return idx[idx % 2 == 0], idx[idx % 2 == 1]


def phone_metrics(frames: CodedFrames, tolerance: float = 0.02) -> dict[str, Any]:
    """All metrics of `frames` as a JSON-ready dict (see the module docstring for definitions)."""
    K, P = frames.num_codes, len(frames.phones)
    keep = [lab >= 0 for lab in frames.labels]
    codes = np.concatenate([c[m] for c, m in zip(frames.codes, keep, strict=True)])
    labels = np.concatenate([lab[m] for lab, m in zip(frames.labels, keep, strict=True)])
    bikeys_all = _bigram_keys(frames.codes, K)
    bikeys = np.concatenate([b[m] for b, m in zip(bikeys_all, keep, strict=True)])
    n = int(labels.size)
    table = contingency(codes, labels, K, P)
    phone_counts = table.sum(0)
    majority = int(np.argmax(phone_counts))

    uni = fit_many_to_one(codes, labels, P)
    pred_uni = apply_many_to_one(codes, uni, majority)
    bi = fit_many_to_one(bikeys, labels, P)
    pred_bi = apply_many_to_one(bikeys, bi, pred_uni)

    # held out: even-position utterances fit the maps, odd-position ones are scored
    fit_idx, eval_idx = _split(len(frames.utts))
    held: dict[str, float | None] = {"accuracy": None, "baseline": None, "bigram_accuracy": None}
    if eval_idx.size:
        def cat(arrs, idx):
            return np.concatenate([arrs[i][keep[i]] for i in idx])
        fc, fl, fb = cat(frames.codes, fit_idx), cat(frames.labels, fit_idx), cat(bikeys_all, fit_idx)
        ec, el, eb = cat(frames.codes, eval_idx), cat(frames.labels, eval_idx), cat(bikeys_all, eval_idx)
        if fl.size and el.size:
            fit_major = int(np.argmax(np.bincount(fl, minlength=P)))
            pu = apply_many_to_one(ec, fit_many_to_one(fc, fl, P), fit_major)
            pb = apply_many_to_one(eb, fit_many_to_one(fb, fl, P), pu)
            held = {"accuracy": _accuracy(pu, el), "baseline": float((el == fit_major).mean()),
                    "bigram_accuracy": _accuracy(pb, el), "fit_frames": int(fl.size), "eval_frames": int(el.size)}
    if held["accuracy"] is None:
        log.warning("held-out scores need at least 2 utterances with aligned frames; reported as null")

    # codes per phone: distinct, and how many cover 90% of the phone's frames
    distinct = (table > 0).sum(0)
    sorted_cols = np.sort(table, axis=0)[::-1]
    cover = np.argmax(np.cumsum(sorted_cols, axis=0) >= 0.9 * phone_counts[None, :], axis=0) + 1
    present = phone_counts > 0
    per_phone_acc = np.bincount(labels, weights=(pred_uni == labels), minlength=P) / np.maximum(phone_counts, 1)

    # boundaries: code-change points vs phone boundaries, inside each utterance's span
    n_pred = n_ref = n_hit = 0
    run_lengths = []
    for c, b, (s0, s1) in zip(frames.codes, frames.boundaries, frames.spans, strict=True):
        t = code_change_times(c, frames.hop, frames.sample_rate)
        t = t[(t > s0 + _EPS) & (t < s1 - _EPS)]
        n_pred, n_ref = n_pred + t.size, n_ref + b.size
        n_hit += match_boundaries(t, b, tolerance)
        if c.size:
            run_lengths.append(c.size / (1 + np.count_nonzero(c[1:] != c[:-1])))
    prec = n_hit / n_pred if n_pred else 0.0
    rec = n_hit / n_ref if n_ref else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    frame_ms = 1000.0 * frames.hop / frames.sample_rate

    used = table.sum(1) > 0
    info = information_scores(table)
    return {
        "utterances": len(frames.utts),
        "skipped_utterances": len(frames.skipped),
        "frames": n,
        "num_codes": K,
        "codes_used": int(used.sum()),
        "code_perplexity": float(np.exp(info["entropy_codes_nats"])),
        "num_phones": int(present.sum()),
        "frame_ms": frame_ms,
        "in_sample": {
            "accuracy": _accuracy(pred_uni, labels),
            "baseline": float(phone_counts[majority] / n) if n else None,
            "bigram_accuracy": _accuracy(pred_bi, labels),
            "majority_phone": frames.phones[majority] if P else None,
        },
        "held_out": held,
        "code_purity": float(table.max(1).sum() / n) if n else None,
        "phone_purity": float(table.max(0).sum() / n) if n else None,
        **info,
        "nmi_normalisation": "arithmetic mean of H(codes) and H(phones)",
        "codes_per_phone_mean": float(distinct[present].mean()) if present.any() else 0.0,
        "codes_per_phone_90_mean": float(cover[present].mean()) if present.any() else 0.0,
        "boundaries": {"tolerance_s": tolerance, "predicted": n_pred, "reference": n_ref, "matched": n_hit,
                       "precision": prec, "recall": rec, "f1": f1,
                       "mean_code_run_ms": float(np.mean(run_lengths) * frame_ms) if run_lengths else 0.0},
        "per_phone": {
            frames.phones[p]: {"frames": int(phone_counts[p]), "accuracy": float(per_phone_acc[p]),
                               "codes_used": int(distinct[p]), "codes_90": int(cover[p])}
            for p in range(P) if present[p]
        },
        "split": "held-out: fit on utterances at even positions of the sorted ids, scored on odd positions",
    }
