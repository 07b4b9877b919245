"""Alignment readers (CTM, TIMIT .PHN, TextGrid), writers, the TIMIT 61->39 map and phone folding."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vqspeech.data.alignments import (
    TIMIT_61_TO_39,
    detect_format,
    fold_phones,
    read_alignments,
    read_phone_map,
    write_alignments,
    write_phn,
    write_textgrid,
)
from vqspeech.data.kaldi import PhoneInterval as P
from vqspeech.data.kaldi import write_ctm
from vqspeech.errors import VQSpeechError

TIMIT_61 = ("aa ae ah ao aw ax ax-h axr ay b bcl ch d dcl dh dx eh el em en eng epi er ey f g gcl h# hh hv ih "
            "ix iy jh k kcl l m n ng nx ow oy p pau pcl q r s sh t tcl th uh uw ux v w y z zh").split()

ALI = {
    "s1-a": [P(0.0, 0.1, "sil"), P(0.1, 0.25, "ah"), P(0.25, 0.4, "b")],
    "s1-b": [P(0.0, 0.05, "k"), P(0.05, 0.3, "iy")],
}


def _close(a, b, tol=1e-6):
    assert a.keys() == b.keys()
    for utt in a:
        assert len(a[utt]) == len(b[utt]), utt
        for x, y in zip(a[utt], b[utt], strict=True):
            assert x.phone == y.phone and abs(x.start - y.start) < tol and abs(x.end - y.end) < tol


# ------------------------------------------------------------------------------------------------ TIMIT map
def test_timit_map_is_lee_and_hon():
    assert sorted(TIMIT_61_TO_39) == sorted(TIMIT_61) and len(TIMIT_61) == 61
    targets = {v for v in TIMIT_61_TO_39.values() if v is not None}
    assert len(targets) == 39
    assert TIMIT_61_TO_39["q"] is None
    for a, b in [("ao", "aa"), ("ax-h", "ah"), ("axr", "er"), ("hv", "hh"), ("ix", "ih"), ("el", "l"),
                 ("em", "m"), ("nx", "n"), ("eng", "ng"), ("zh", "sh"), ("ux", "uw"), ("h#", "sil"),
                 ("pau", "sil"), ("epi", "sil"), ("kcl", "sil"), ("dx", "dx")]:
        assert TIMIT_61_TO_39[a] == b


def test_fold_merges_and_deletes_q():
    ali = {"u": [P(0.0, 0.1, "h#"), P(0.1, 0.15, "q"), P(0.15, 0.2, "pcl"), P(0.2, 0.3, "p"),
                 P(0.3, 0.4, "ix"), P(0.4, 0.5, "ih"), P(0.5, 0.6, "h#")],
           "v": [P(0.0, 0.1, "q"), P(0.1, 0.2, "ao")]}
    out = fold_phones(ali, TIMIT_61_TO_39)
    assert [(p.start, p.end, p.phone) for p in out["u"]] == [
        (0.0, 0.2, "sil"), (0.2, 0.3, "p"), (0.3, 0.5, "ih"), (0.5, 0.6, "sil")]
    assert [(p.start, p.end, p.phone) for p in out["v"]] == [(0.0, 0.2, "aa")]


def test_fold_unknown_phone():
    with pytest.raises(VQSpeechError, match="'zz'"):
        fold_phones({"u": [P(0, 1, "zz")]}, {"a": "b"})
    assert fold_phones({"u": [P(0, 1, "zz")]}, {"a": "b"}, unknown="keep")["u"][0].phone == "zz"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(TIMIT_61), st.integers(1, 50)), min_size=1, max_size=30))
def test_fold_invariants(items):
    t, phones = 0, []
    for ph, d in items:
        phones.append(P(t / 1000, (t + d) / 1000, ph))
        t += d
    out = fold_phones({"u": phones}, TIMIT_61_TO_39)["u"]
    if all(ph == "q" for ph, _ in items):
        assert out == []
        return
    assert abs(out[0].start) < 1e-9 and abs(out[-1].end - t / 1000) < 1e-9  # same time covered, no gaps
    for a, b in zip(out[:-1], out[1:], strict=True):
        assert abs(a.end - b.start) < 1e-9 and a.phone != b.phone
    assert {p.phone for p in out} <= set(TIMIT_61_TO_39.values()) - {None}


# ------------------------------------------------------------------------------------------------ phone map
def test_read_phone_map(tmp_path):
    f = tmp_path / "map.txt"
    f.write_text("# TIMIT-ish\n\naa aa\nao aa  # merged\nq\nh# sil #closure\n")
    assert read_phone_map(f) == {"aa": "aa", "ao": "aa", "q": None, "h#": "sil"}
    f.write_text("aa aa\nao aa x\n")
    with pytest.raises(VQSpeechError, match=r"map.txt:2: expected 'from to'"):
        read_phone_map(f)
    f.write_text("aa aa\n\naa b\n")
    with pytest.raises(VQSpeechError, match=r"map.txt:3: .*mapped twice"):
        read_phone_map(f)
    with pytest.raises(VQSpeechError, match="no such file"):
        read_phone_map(tmp_path / "nope")


_tok = st.text(st.characters(whitelist_categories=("L", "N"), whitelist_characters="#-_+"), min_size=1,
               max_size=6).filter(lambda s: not s.startswith("#"))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(_tok, st.one_of(st.none(), _tok), min_size=1, max_size=20), st.booleans())
def test_phone_map_roundtrip(tmp_path, mapping, comments):
    lines = []
    for k, v in mapping.items():
        lines.append(f"{k}  {v}" if v is not None else k)
        if comments:
            lines.append("   # a comment\n")
    f = tmp_path / "m.txt"
    f.write_text("\n".join(lines) + "\n")
    assert read_phone_map(f) == mapping


# ------------------------------------------------------------------------------------------------ readers
def test_ctm_file_and_data_dir(tmp_path):
    write_ctm(tmp_path / "ctm", ALI)
    _close(read_alignments(tmp_path / "ctm"), ALI)
    _close(read_alignments(tmp_path), ALI)  # a data dir holding ctm
    assert detect_format(tmp_path / "ctm") == "ctm"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(
    st.from_regex(r"[a-z][a-z0-9_-]{0,8}", fullmatch=True),
    st.lists(st.tuples(st.integers(1, 400), st.sampled_from(["a", "b", "sil", "ax-h", "h#"])),
             min_size=1, max_size=10),
    min_size=1, max_size=5))
def test_ctm_roundtrip_property(tmp_path, spec):
    ali = {}
    for utt, items in spec.items():
        t, phones = 0, []
        for d, ph in items:
            phones.append(P(t / 100, (t + d) / 100, ph))
            t += d
        ali[utt] = phones
    write_alignments(tmp_path / "x.ctm", ali, "ctm")
    _close(read_alignments(tmp_path / "x.ctm"), ali, tol=1e-3)


def test_phn_file_and_timit_tree(tmp_path):
    f = tmp_path / "TIMIT" / "TRAIN" / "DR1" / "FCJF0" / "SA1.PHN"
    f.parent.mkdir(parents=True)
    f.write_text("0 3050 h#\n3050 4559 sh\n4559 5723 ix\n")
    got = read_alignments(f)
    assert list(got) == ["SA1"]
    assert got["SA1"][1] == P(3050 / 16000, 4559 / 16000, "sh")
    g = tmp_path / "TIMIT" / "TEST" / "DR2" / "MABC0" / "SX10.PHN"
    g.parent.mkdir(parents=True)
    g.write_text("0 800 h#\n800 1600 q\n")
    tree = read_alignments(tmp_path / "TIMIT")
    assert sorted(tree) == ["fcjf0-sa1", "mabc0-sx10"]
    assert read_alignments(f, sample_rate=8000)["SA1"][0].end == 3050 / 8000


def test_phn_errors(tmp_path):
    f = tmp_path / "x.PHN"
    f.write_text("0 10 h#\n10 x sh\n")
    with pytest.raises(VQSpeechError, match=r"x.PHN:2: sample offsets must be integers"):
        read_alignments(f)
    f.write_text("0 10 h#\n5 20 sh\n")
    with pytest.raises(VQSpeechError, match="overlap"):
        read_alignments(f)


def test_phn_roundtrip(tmp_path):
    write_alignments(tmp_path / "out", ALI, "phn")
    back = read_alignments(tmp_path / "out", "phn")  # tree ids are <dir>-<stem>
    _close({k.split("-", 1)[1]: v for k, v in back.items()}, ALI, tol=1 / 16000)
    write_phn(tmp_path / "one.PHN", ALI["s1-a"])
    _close(read_alignments(tmp_path / "one.PHN"), {"one": ALI["s1-a"]}, tol=1 / 16000)


MFA_TG = '''File type = "ooTextFile"
Object class = "TextGrid"

xmin = 0
xmax = 1.0
tiers? <exists>
size = 2
item []:
    item [1]:
        class = "IntervalTier"
        name = "words"
        xmin = 0
        xmax = 1.0
        intervals: size = 1
        intervals [1]:
            xmin = 0
            xmax = 1.0
            text = "cat"
    item [2]:
        class = "IntervalTier"
        name = "phones"
        xmin = 0
        xmax = 1.0
        intervals: size = 4
        intervals [1]:
            xmin = 0
            xmax = 0.2
            text = ""
        intervals [2]:
            xmin = 0.2
            xmax = 0.4
            text = "K"
        intervals [3]:
            xmin = 0.4
            xmax = 0.7
            text = "AE1"
        intervals [4]:
            xmin = 0.7
            xmax = 0.9
            text = "T"
'''


def test_textgrid_mfa(tmp_path):
    f = tmp_path / "spk1" / "spk1-utt1.TextGrid"
    f.parent.mkdir()
    f.write_text(MFA_TG)
    want = [P(0.0, 0.2, "sil"), P(0.2, 0.4, "K"), P(0.4, 0.7, "AE1"), P(0.7, 0.9, "T"), P(0.9, 1.0, "sil")]
    got = read_alignments(f)
    _close(got, {"spk1-utt1": want})
    _close(read_alignments(tmp_path), {"spk1-utt1": want})  # a tree, ids = stems
    assert read_alignments(f, tier="words")["spk1-utt1"][0].phone == "cat"
    with pytest.raises(VQSpeechError, match="no tier named 'segments'.*words, phones"):
        read_alignments(f, tier="segments")
    (tmp_path / "spk1" / "bad.TextGrid").write_text("not a textgrid\n")
    with pytest.raises(VQSpeechError, match="bad.TextGrid"):
        read_alignments(tmp_path)


def test_textgrid_speaker_tier_and_roundtrip(tmp_path):
    f = tmp_path / "a.TextGrid"
    f.write_text(MFA_TG.replace('name = "phones"', 'name = "spk1 - phones"'))
    assert [p.phone for p in read_alignments(f)["a"]][:2] == ["sil", "K"]
    write_textgrid(tmp_path / "b.TextGrid", ALI["s1-a"])
    _close(read_alignments(tmp_path / "b.TextGrid"), {"b": ALI["s1-a"]})
    write_alignments(tmp_path / "tg", ALI, "textgrid")
    _close(read_alignments(tmp_path / "tg"), ALI)


def test_detect_errors(tmp_path):
    with pytest.raises(VQSpeechError, match="no such file"):
        read_alignments(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(VQSpeechError, match="no ctm, .PHN or .TextGrid"):
        read_alignments(tmp_path / "empty")
    weird = tmp_path / "w.txt"
    weird.write_text("hello world\n")
    with pytest.raises(VQSpeechError, match="cannot tell the alignment format"):
        read_alignments(weird)
    with pytest.raises(VQSpeechError, match="unknown alignment format"):
        read_alignments(weird, fmt="json")
    (tmp_path / "phn.txt").write_text("0 10 h#\n")
    assert detect_format(tmp_path / "phn.txt") == "phn"


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(st.sampled_from(["u1", "1", "0.5", "-1", "x", "1e400", "nan", "h#", "3", "", "#"]),
                         max_size=6).map(" ".join), max_size=6),
       st.sampled_from(["a.ctm", "a.PHN", "map.txt"]))
def test_parsers_fail_cleanly(tmp_path, lines, name):
    """Any line soup either parses or raises VQSpeechError (never another exception)."""
    f = tmp_path / name
    f.write_text("\n".join(lines) + "\n")
    try:
        out = read_phone_map(f) if name == "map.txt" else read_alignments(f)
    except VQSpeechError:
        return
    if name != "map.txt":
        for phones in out.values():
            assert all(0 <= p.start < p.end for p in phones)
            assert all(a.end <= b.start + 1e-6 for a, b in zip(phones[:-1], phones[1:], strict=True))
