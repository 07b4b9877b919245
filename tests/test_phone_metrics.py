"""Phone/code metrics on hand-made codes and labels with known answers."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pytest

from vqspeech.analysis.phones import (
    CodedFrames,
    build_frames,
    code_change_times,
    contingency,
    frame_labels,
    information_scores,
    match_boundaries,
    phone_boundaries,
    phone_metrics,
)
from vqspeech.errors import VQSpeechError


@dataclass(frozen=True)
class Iv:
    start: float
    end: float
    phone: str


def frames_from_arrays(codes: list[np.ndarray], labels: list[np.ndarray], num_codes: int, num_phones: int,
                       hop: int = 64, sr: int = 16000) -> CodedFrames:
    utts = [f"u{i:03d}" for i in range(len(codes))]
    return CodedFrames(utts, [np.asarray(c, np.int64) for c in codes], [np.asarray(x, np.int64) for x in labels],
                       [np.zeros(0)] * len(codes), [(0.0, len(c) * hop / sr) for c in codes],
                       [f"p{i}" for i in range(num_phones)], num_codes, hop, sr)


def random_frames(seed: int, n_utts: int = 20, n: int = 400, num_codes: int = 8, num_phones: int = 5,
                  skew: bool = True) -> CodedFrames:
    rng = np.random.default_rng(seed)
    probs = np.array([0.4, 0.25, 0.15, 0.12, 0.08])[:num_phones] if skew else None
    if probs is not None:
        probs = probs / probs.sum()
    labels = [rng.choice(num_phones, n, p=probs) for _ in range(n_utts)]
    codes = [rng.integers(0, num_codes, n) for _ in range(n_utts)]
    return frames_from_arrays(codes, labels, num_codes, num_phones)


def test_contingency_matches_loop():
    rng = np.random.default_rng(0)
    c, lab = rng.integers(0, 7, 500), rng.integers(0, 4, 500)
    table = contingency(c, lab, 7, 4)
    ref = np.zeros((7, 4), int)
    for a, b in zip(c, lab, strict=True):
        ref[a, b] += 1
    assert (table == ref).all()


def test_perfect_bijection_scores_one():
    rng = np.random.default_rng(1)
    labels = [rng.integers(0, 5, 300) for _ in range(6)]
    perm = np.array([3, 0, 4, 1, 2])
    m = phone_metrics(frames_from_arrays([perm[x] for x in labels], labels, 5, 5))
    assert m["in_sample"]["accuracy"] == 1.0
    assert m["held_out"]["accuracy"] == 1.0
    assert m["in_sample"]["bigram_accuracy"] == 1.0
    for key in ("nmi", "v_measure", "homogeneity", "completeness", "code_purity", "phone_purity"):
        assert m[key] == pytest.approx(1.0), key
    assert m["codes_per_phone_mean"] == 1.0
    assert all(v["accuracy"] == 1.0 for v in m["per_phone"].values())


def test_many_codes_per_phone_perfectly_homogeneous():
    rng = np.random.default_rng(2)
    labels = [rng.integers(0, 3, 300) for _ in range(4)]
    codes = [lab * 4 + rng.integers(0, 4, lab.size) for lab in labels]  # 4 codes per phone
    m = phone_metrics(frames_from_arrays(codes, labels, 12, 3))
    assert m["in_sample"]["accuracy"] == 1.0 and m["homogeneity"] == pytest.approx(1.0)
    assert m["completeness"] < 0.9  # each phone is spread over 4 codes
    assert m["codes_per_phone_mean"] == 4.0
    assert m["phone_purity"] < 0.5


def test_independent_codes_give_the_baseline():
    m = phone_metrics(random_frames(3))
    ins, held = m["in_sample"], m["held_out"]
    assert ins["baseline"] == pytest.approx(0.4, abs=0.02)
    assert ins["baseline"] <= ins["accuracy"] <= ins["baseline"] + 0.02  # 8 codes: little overfit
    assert held["accuracy"] == pytest.approx(held["baseline"], abs=0.02)
    assert m["nmi"] < 0.01


def test_information_scores_match_sklearn():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(4)
    lab = rng.integers(0, 6, 2000)
    c = np.where(rng.random(2000) < 0.6, lab * 2 + rng.integers(0, 2, 2000), rng.integers(0, 12, 2000))
    info = information_scores(contingency(c, lab, 12, 6))
    h, comp, v = metrics.homogeneity_completeness_v_measure(lab, c)
    assert info["homogeneity"] == pytest.approx(h) and info["completeness"] == pytest.approx(comp)
    assert info["v_measure"] == pytest.approx(v)
    assert info["nmi"] == pytest.approx(metrics.normalized_mutual_info_score(lab, c, average_method="arithmetic"))
    assert info["nmi"] == pytest.approx(info["v_measure"])  # identical under arithmetic normalisation


def test_bigram_at_least_unigram_in_sample_and_helps_when_context_matters():
    m = phone_metrics(random_frames(5, num_codes=16))
    assert m["in_sample"]["bigram_accuracy"] >= m["in_sample"]["accuracy"]
    # the phone is decided by the previous code: unigram near chance, bigram perfect
    rng = np.random.default_rng(6)
    codes = [rng.integers(0, 4, 300) for _ in range(10)]
    labels = [np.concatenate([[0], (c[:-1] >= 2).astype(int)]) for c in codes]
    m = phone_metrics(frames_from_arrays(codes, labels, 4, 2))
    assert m["in_sample"]["accuracy"] < 0.6
    assert m["in_sample"]["bigram_accuracy"] == 1.0
    assert m["held_out"]["bigram_accuracy"] == 1.0


def test_per_phone_accuracy_and_codes_known():
    # phone 0: codes 0,0,0,1 ; phone 1: codes 1,1 ; code 0 -> p0, code 1 -> p1 (2 of 3)
    m = phone_metrics(frames_from_arrays([[0, 0, 0, 1, 1, 1]], [[0, 0, 0, 0, 1, 1]], 3, 2))
    assert m["in_sample"]["accuracy"] == pytest.approx(5 / 6)
    assert m["per_phone"]["p0"] == {"frames": 4, "accuracy": 0.75, "codes_used": 2, "codes_90": 2}
    assert m["per_phone"]["p1"] == {"frames": 2, "accuracy": 1.0, "codes_used": 1, "codes_90": 1}
    assert m["codes_used"] == 2 and m["num_codes"] == 3
    assert m["held_out"]["accuracy"] is None  # one utterance: no held-out half


def test_match_boundaries_tolerance_and_one_to_one():
    assert match_boundaries(np.array([0.1, 0.2, 0.5]), np.array([0.12, 0.21, 0.3]), 0.02) == 2
    assert match_boundaries(np.array([0.1]), np.array([0.1201]), 0.02) == 0
    assert match_boundaries(np.array([0.1]), np.array([0.09, 0.11]), 0.02) == 1  # one-to-one
    assert match_boundaries(np.array([0.10, 0.125]), np.array([0.11, 0.14]), 0.02) == 2  # closest first
    assert match_boundaries(np.array([]), np.array([0.1]), 0.02) == 0


def test_boundary_scores_at_frame_level():
    hop, sr = 64, 16000  # 4 ms frames
    ivs = [Iv(0.0, 0.1, "a"), Iv(0.1, 0.2, "b")]
    for change_frame, hit in [(25, True), (30, True), (20, True), (31, False), (19, False)]:
        codes = np.r_[np.zeros(change_frame), np.ones(50 - change_frame)].astype(int)
        fr = build_frames({"u": codes}, {"u": ivs}, hop, sr, 2)
        b = phone_metrics(fr)["boundaries"]
        assert b["reference"] == 1 and b["predicted"] == 1
        assert b["f1"] == (1.0 if hit else 0.0), change_frame


def test_frame_labels_at_centres():
    ivs = [Iv(0.0, 0.010, "a"), Iv(0.010, 0.020, "b"), Iv(0.030, 0.040, "c")]
    got = frame_labels(ivs, 11, 64, 16000)  # centres 2, 6, 10, ... 42 ms
    assert got.tolist() == ["a", "a", "b", "b", "b", "sil", "sil", "c", "c", "c", "sil"]
    got = frame_labels(list(reversed(ivs)), 11, 64, 16000, outside=None)
    assert got.tolist() == ["a", "a", "b", "b", "b", "", "", "c", "c", "c", ""]


def test_phone_boundaries_merge_and_gaps():
    ivs = [Iv(0.0, 0.1, "sil"), Iv(0.1, 0.2, "a"), Iv(0.2, 0.3, "a"), Iv(0.35, 0.4, "b")]
    assert phone_boundaries(ivs).tolist() == pytest.approx([0.1, 0.3, 0.35, 0.4])
    assert phone_boundaries(ivs, outside=None).tolist() == pytest.approx([0.0, 0.1, 0.3, 0.35, 0.4])


def test_code_change_times():
    assert code_change_times(np.array([1, 1, 2, 2, 2, 3]), 64, 16000).tolist() == pytest.approx([0.008, 0.02])


def test_build_frames_drop_skip_and_errors(caplog):
    ivs = {"a": [Iv(0.0, 0.02, "x")], "b": [Iv(0.0, 0.04, "y")]}
    codes = {"a": np.zeros(10, int), "b": np.ones(10, int), "c": np.zeros(10, int)}
    with caplog.at_level(logging.WARNING, logger="vqspeech"):
        fr = build_frames(codes, ivs, 64, 16000, 2, outside=None)
    assert "1 of 3 utterances have no alignment" in caplog.text
    assert fr.utts == ["a", "b"] and fr.skipped == ["c"] and fr.phones == ["x", "y"]
    assert fr.labels[0].tolist() == [0] * 5 + [-1] * 5
    m = phone_metrics(fr)
    assert m["frames"] == 15 and m["in_sample"]["accuracy"] == 1.0
    with pytest.raises(VQSpeechError, match="no utterance has both"):
        build_frames({"z": np.zeros(3, int)}, ivs, 64, 16000, 2)
    with pytest.raises(VQSpeechError, match="outside"):
        build_frames({"a": np.array([0, 5])}, ivs, 64, 16000, 2)
    with pytest.raises(VQSpeechError, match="no code frame"):
        build_frames({"a": np.zeros(3, int)}, {"a": [Iv(5.0, 6.0, "x")]}, 64, 16000, 2, outside=None)


def _greedy_reference(pred, ref, tol):
    # distances equal to within 1 ns are ties, broken by prediction then reference index
    pairs = sorted((round(abs(p - r) / 1e-9), i, j) for i, p in enumerate(pred) for j, r in enumerate(ref)
                   if abs(p - r) <= tol + 1e-9)
    used_p, used_r, n = set(), set(), 0
    for _, i, j in pairs:
        if i not in used_p and j not in used_r:
            used_p.add(i)
            used_r.add(j)
            n += 1
    return n


def test_match_boundaries_equals_all_pairs_greedy():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    times = st.lists(st.integers(0, 400), max_size=25, unique=True).map(lambda xs: np.sort(np.array(xs)) * 0.004)

    @settings(max_examples=150, deadline=None)
    @given(times, times)
    def check(pred, ref):
        got = match_boundaries(pred, ref, 0.02)
        assert got == _greedy_reference(pred.tolist(), ref.tolist(), 0.02)
        assert got <= min(pred.size, ref.size)

    check()


def test_frame_labels_equal_a_loop():
    rng = np.random.default_rng(7)
    for _ in range(20):
        cuts = np.sort(rng.uniform(0, 1, 12))
        ivs = [Iv(a, b, f"p{i}") for i, (a, b) in enumerate(zip(cuts[:-1], cuts[1:], strict=True)) if i % 3]
        got = frame_labels(ivs, 260, 64, 16000, outside=None)
        for i, lab in enumerate(got):
            c = (i + 0.5) * 0.004
            want = [iv.phone for iv in ivs if iv.start <= c < iv.end]
            assert lab == (want[0] if want else "")
