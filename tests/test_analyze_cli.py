"""`vqspeech analyze phones` end to end on a tiny random model and a tiny data dir with a CTM."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from vqspeech.cli import app

torch = pytest.importorskip("torch")

SR = 16000
LENGTHS = [4800, 3200, 4000, 2999]  # samples: 0.3 s, 0.2 s, 0.25 s, ~0.19 s


def _tiny_model(seed: int):
    from vqspeech.models import EncoderConfig, QuantizerConfig, VQVAEConfig, build_vqvae, named_decoder_config

    torch.manual_seed(seed)
    cfg = VQVAEConfig(speakers=["spk1", "spk2"],
                      encoder=EncoderConfig(strides=[2, 2, 2, 2, 2, 2], hidden_channels=8, residual_blocks=1),
                      quantizer=QuantizerConfig(num_codes=16, dim=4), decoder=named_decoder_config("tiny"))
    return build_vqvae(cfg).eval()


@pytest.fixture
def model_dir(tmp_path):
    from vqspeech.models import save_model

    return save_model(_tiny_model(0), tmp_path / "exp_a" / "model")


@pytest.fixture
def data_dir(tmp_path):
    from vqspeech.data.kaldi import DataDir, PhoneInterval, write_ctm, write_data_dir

    rng = np.random.default_rng(0)
    d = tmp_path / "data"
    (d / "wav").mkdir(parents=True)
    wav_scp, utt2spk, ctm = {}, {}, {}
    for i, n in enumerate(LENGTHS):
        spk = f"spk{i % 2 + 1}"
        utt = f"{spk}-u{i}"
        t = np.arange(n) / SR
        wav = 0.3 * np.sin(2 * np.pi * (150 + 100 * i) * t) + 0.05 * rng.standard_normal(n)
        sf.write(d / "wav" / f"{utt}.wav", wav.astype(np.float32), SR)
        wav_scp[utt], utt2spk[utt] = str(d / "wav" / f"{utt}.wav"), spk
        dur = n / SR
        cuts = [0.0, 0.05, 0.1, 0.16, dur - 0.02, dur]
        names = ["sil", "a", "b", "a", "sil"]
        ctm[utt] = [PhoneInterval(round(s, 4), round(e, 4), p) for s, e, p in zip(cuts[:-1], cuts[1:], names, strict=True)]
    write_data_dir(d, DataDir(wav_scp=wav_scp, utt2spk=utt2spk))
    write_ctm(d / "ctm", ctm)
    return d


def _frames_expected() -> int:
    return sum(-(-n // 64) for n in LENGTHS)


def test_phones_cli_writes_report(runner, model_dir, data_dir, tmp_path):
    out = tmp_path / "report"
    res = runner.invoke(app, ["analyze", "phones", "--model", str(model_dir), "--data", str(data_dir),
                              "--out", str(out), "--threads", "1"])
    assert res.exit_code == 0, res.output
    assert "exp_a: accuracy" in res.stdout and f"report: {out}" in res.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    m = metrics["models"]["exp_a"]
    assert m["frames"] == _frames_expected() and m["utterances"] == 4
    assert m["num_codes"] == 16 and set(m["per_phone"]) == {"a", "b", "sil"}
    assert 0 < m["in_sample"]["baseline"] <= m["in_sample"]["accuracy"] <= m["in_sample"]["bigram_accuracy"] <= 1
    assert m["held_out"]["accuracy"] is not None
    assert m["boundaries"]["reference"] == 4 * 4  # sil|a|b|a|sil in every utterance
    summary = (out / "summary.md").read_text()
    assert "49.3%" in summary and "7.2%" in summary and "| metric | exp_a |" in summary
    for name in ("heatmap_exp_a.png", "per_phone_accuracy_exp_a.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    tsv = (out / "cooccurrence_exp_a.tsv").read_text().splitlines()
    assert tsv[0] == "code\ta\tb\tsil"
    assert sum(int(x) for line in tsv[1:] for x in line.split("\t")[1:]) == m["frames"]
    # no overwrite without --force; with --force it is replaced
    res = runner.invoke(app, ["analyze", "phones", "-m", str(model_dir), "-d", str(data_dir), "-o", str(out)])
    assert res.exit_code == 2 and "exists (use --force" in res.stderr
    res = runner.invoke(app, ["analyze", "phones", "-m", str(model_dir), "-d", str(data_dir), "-o", str(out),
                              "--force", "--no-plots", "--max-utts", "2"])
    assert res.exit_code == 0, res.output
    assert json.loads((out / "metrics.json").read_text())["models"]["exp_a"]["utterances"] == 2
    assert not (out / "heatmap_exp_a.png").exists()


def test_default_out_and_side_by_side(runner, model_dir, data_dir, tmp_path, monkeypatch):
    from vqspeech.models import save_model

    res = runner.invoke(app, ["analyze", "phones", "--model", str(model_dir), "--data", str(data_dir), "--no-plots"])
    assert res.exit_code == 0, res.output
    assert (model_dir / "analysis" / "metrics.json").is_file()
    other = save_model(_tiny_model(1), tmp_path / "exp_b" / "model")
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, ["analyze", "phones", "-m", str(model_dir), "-m", str(other), "-d", str(data_dir)])
    assert res.exit_code == 0, res.output
    report = tmp_path / "analysis_exp_a_exp_b"
    metrics = json.loads((report / "metrics.json").read_text())
    assert list(metrics["models"]) == ["exp_a", "exp_b"]
    assert "| metric | exp_a | exp_b |" in (report / "summary.md").read_text()
    assert (report / "heatmap_exp_b.png").is_file()


def test_codes_dir_gives_the_same_metrics(runner, model_dir, data_dir, tmp_path):
    from vqspeech.analysis.report import analyze_phones
    from vqspeech.codec.bitstream import VqsHeader, write_vqs
    from vqspeech.data.kaldi import load_utterance, read_data_dir
    from vqspeech.models import load_model

    model = load_model(model_dir)
    data = read_data_dir(data_dir)
    codes_dir = tmp_path / "codes"
    for utt in data.utterances():
        wav = load_utterance(data, utt)
        c = model.encode(torch.from_numpy(wav).view(1, 1, -1))[0].numpy()
        write_vqs(codes_dir / f"{utt}.vqs", VqsHeader("x", SR, 64, 16, len(wav), len(c)), c)
    a = analyze_phones(model_dir, data_dir, out=tmp_path / "r1", plots=False, progress=False)
    auto = analyze_phones(codes_dir, data_dir, out=tmp_path / "r0", plots=False, progress=False)  # detected
    assert auto["models"]["codes"]["in_sample"] == a["models"]["exp_a"]["in_sample"]
    res = runner.invoke(app, ["analyze", "phones", "--codes", str(codes_dir), "-m", str(model_dir),
                              "-d", str(data_dir), "-o", str(tmp_path / "r2"), "--no-plots"])
    assert res.exit_code == 0, res.output
    b = json.loads((tmp_path / "r2" / "metrics.json").read_text())
    assert list(b["models"]) == ["exp_a", "codes"]
    ma, mb = a["models"]["exp_a"], b["models"]["codes"]
    assert b["models"]["exp_a"]["in_sample"] == ma["in_sample"]
    for key in ("frames", "in_sample", "held_out", "nmi", "boundaries", "per_phone"):
        assert ma[key] == mb[key], key
    assert a["report_dir"] == str(tmp_path / "r1")


def test_fold_map_file(runner, model_dir, data_dir, tmp_path):
    pm = tmp_path / "fold.map"
    pm.write_text("a v\nb v\nsil sil\n")
    res = runner.invoke(app, ["analyze", "phones", "-m", str(model_dir), "-d", str(data_dir), "--fold", str(pm),
                              "-o", str(tmp_path / "r"), "--no-plots"])
    assert res.exit_code == 0, res.output
    m = json.loads((tmp_path / "r" / "metrics.json").read_text())["models"]["exp_a"]
    assert set(m["per_phone"]) == {"v", "sil"} and m["boundaries"]["reference"] == 4 * 2


def test_bad_alignments(runner, model_dir, data_dir, tmp_path):
    from vqspeech.data.kaldi import read_ctm, write_ctm

    base = ["analyze", "phones", "-m", str(model_dir), "-d", str(data_dir), "--no-plots"]
    res = runner.invoke(app, [*base, "-a", str(tmp_path / "nope.ctm"), "-o", str(tmp_path / "r0")])
    assert res.exit_code == 2 and "nope.ctm: no such" in res.stderr
    ctm = read_ctm(data_dir / "ctm")
    partial = tmp_path / "partial.ctm"
    write_ctm(partial, {u: v for u, v in ctm.items() if u != "spk1-u0"})
    res = runner.invoke(app, [*base, "-a", str(partial), "-o", str(tmp_path / "r1")])
    assert res.exit_code == 0, res.output
    assert "1 of 4 utterances have no alignment" in res.stderr
    assert json.loads((tmp_path / "r1" / "metrics.json").read_text())["models"]["exp_a"]["utterances"] == 3
    other = tmp_path / "other.ctm"
    write_ctm(other, {f"x-{u}": v for u, v in ctm.items()})
    res = runner.invoke(app, [*base, "-a", str(other), "-o", str(tmp_path / "r2")])
    assert res.exit_code == 2 and "no utterance has an alignment" in res.stderr
    assert not (tmp_path / "r2").exists()
    res = runner.invoke(app, [*base, "--codes", str(tmp_path), "-o", str(tmp_path / "r3")])
    assert res.exit_code == 2 and "no .vqs files" in res.stderr


def test_help_has_examples(runner):
    res = runner.invoke(app, ["analyze", "phones", "--help"])
    assert res.exit_code == 0 and "Examples" in res.stdout and "--fold timit" in res.stdout


def test_timit_phn_with_fold_and_textgrid(runner, model_dir, data_dir, tmp_path):
    from vqspeech.data.alignments import write_phn, write_textgrid
    from vqspeech.data.kaldi import PhoneInterval, read_ctm

    ctm = read_ctm(data_dir / "ctm")
    timit = {"sil": ["h#"], "a": ["bcl", "b"], "b": ["ix"]}  # folds to sil, sil+b, ih
    for utt, phones in ctm.items():
        spk, sent = utt.split("-")
        out = []
        for p in phones:
            names = timit[p.phone]
            mid = round((p.start + p.end) / 2, 4)
            edges = [p.start, mid, p.end] if len(names) == 2 else [p.start, p.end]
            out += [PhoneInterval(s, e, n) for s, e, n in zip(edges[:-1], edges[1:], names, strict=True)]
        write_phn(tmp_path / "timit" / "DR1" / spk.upper() / f"{sent.upper()}.PHN", out)
        write_textgrid(tmp_path / "tg" / f"{utt}.TextGrid", phones)
    base = ["analyze", "phones", "-m", str(model_dir), "-d", str(data_dir), "--no-plots"]
    res = runner.invoke(app, [*base, "-a", str(tmp_path / "timit"), "--fold", "timit", "-o", str(tmp_path / "r1")])
    assert res.exit_code == 0, res.output
    m = json.loads((tmp_path / "r1" / "metrics.json").read_text())["models"]["exp_a"]
    assert set(m["per_phone"]) == {"sil", "b", "ih"} and m["utterances"] == 4
    res = runner.invoke(app, [*base, "-a", str(tmp_path / "tg"), "-o", str(tmp_path / "r2")])
    assert res.exit_code == 0, res.output
    tg = json.loads((tmp_path / "r2" / "metrics.json").read_text())["models"]["exp_a"]
    res = runner.invoke(app, [*base, "-o", str(tmp_path / "r3")])  # the data dir's CTM: the same phones
    ref = json.loads((tmp_path / "r3" / "metrics.json").read_text())["models"]["exp_a"]
    for key in ("frames", "in_sample", "held_out", "boundaries", "per_phone"):
        assert tg[key] == ref[key], key


def test_encode_utterances_with_and_without_utt2dur(data_dir):
    from vqspeech.analysis.phone_data import encode_utterances
    from vqspeech.data.kaldi import read_data_dir

    model = _tiny_model(3)
    data = read_data_dir(data_dir)
    utts = data.utterances()
    a = encode_utterances(model, data, utts, batch_size=3, progress=False)
    data.utt2dur = {u: n / SR for u, n in zip(utts, [LENGTHS[int(u[-1])] for u in utts], strict=True)}
    b = encode_utterances(model, data, utts, batch_size=2, progress=False)
    assert sorted(a.codes) == utts and a.hop == 64 and a.num_codes == 16
    for u in utts:
        assert (a.codes[u] == b.codes[u]).all() and a.durations[u] == b.durations[u] == LENGTHS[int(u[-1])] / SR


def test_codes_tree_and_entropy_coded_needs_prior(runner, data_dir, tmp_path):
    from vqspeech.analysis.phone_data import read_codes_dir
    from vqspeech.codec.bitstream import VqsHeader, write_vqs

    tree = tmp_path / "codes"
    write_vqs(tree / "spk1" / "spk1-u0.vqs", VqsHeader("x", SR, 64, 16, 640, 10), np.arange(10) % 16)
    write_vqs(tree / "spk2" / "spk2-u1.vqs", VqsHeader("x", SR, 64, 16, 100, 2), np.array([3, 4]))
    got = read_codes_dir(tree)
    assert sorted(got.codes) == ["spk1-u0", "spk2-u1"] and got.codes["spk2-u1"].tolist() == [3, 4]
    assert got.durations["spk2-u1"] == 100 / SR and (got.hop, got.sample_rate, got.num_codes) == (64, SR, 16)
    res = runner.invoke(app, ["analyze", "phones", "--codes", str(tree), "-d", str(data_dir), "-o",
                              str(tmp_path / "r"), "--no-plots"])
    assert res.exit_code == 0, res.output
    assert "codes: 2 of 4 aligned utterances have no codes" in res.stderr
    assert json.loads((tmp_path / "r" / "metrics.json").read_text())["models"]["codes"]["utterances"] == 2
    ent = tmp_path / "ent"
    write_vqs(ent / "spk1-u0.vqs", VqsHeader("x", SR, 64, 16, 640, 10, entropy={"prior_fingerprint": "p"}),
              words=np.zeros(3, np.uint32))
    res = runner.invoke(app, ["analyze", "phones", "--codes", str(ent), "-d", str(data_dir), "-o", str(tmp_path / "r2")])
    assert res.exit_code == 2 and "entropy-coded" in res.stderr and "--prior" in res.stderr
