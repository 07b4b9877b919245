"""`vqspeech eval reconstruct|convert|sample` on a tiny random model and a tiny parallel data dir."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

from vqspeech.cli import app

SPEAKERS = ["spka", "spkb"]
TEXTS = ["HELLO THERE", "GOOD MORNING"]


def _tone(f0: float, seconds: float = 0.3, seed: int = 0) -> np.ndarray:
    t = np.arange(int(seconds * 16000)) / 16000
    wav = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 8))
    wav = wav * np.hanning(t.size) + 0.005 * np.random.default_rng(seed).standard_normal(t.size)
    return (0.3 * wav / np.abs(wav).max()).astype(np.float32)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    import torch

    from vqspeech.audio import save_audio
    from vqspeech.data.kaldi import DataDir, write_data_dir
    from vqspeech.models import EncoderConfig, QuantizerConfig, VQVAEConfig, build_vqvae, named_decoder_config
    from vqspeech.models.config import PriorConfig
    from vqspeech.models.io import save_model
    from vqspeech.models.prior import build_prior

    root = tmp_path_factory.mktemp("eval")
    wav_scp, utt2spk, text = {}, {}, {}
    for s, (spk, f0) in enumerate(zip(SPEAKERS, (120.0, 240.0), strict=True)):
        for i, sentence in enumerate(TEXTS):
            utt = f"{spk}-{i:03d}"
            save_audio(root / "wav" / f"{utt}.wav", _tone(f0 * (1 + 0.05 * i), seed=10 * s + i), 16000)
            wav_scp[utt], utt2spk[utt], text[utt] = f"wav/{utt}.wav", spk, sentence
    write_data_dir(root / "data", DataDir(wav_scp={u: str(root / p) for u, p in wav_scp.items()},
                                          utt2spk=utt2spk, text=text))
    write_data_dir(root / "notext", DataDir(wav_scp={u: str(root / p) for u, p in wav_scp.items()}, utt2spk=utt2spk))
    torch.manual_seed(0)
    cfg = VQVAEConfig(speakers=SPEAKERS, encoder=EncoderConfig(strides=[2, 2, 2, 2], hidden_channels=16,
                      residual_blocks=1), quantizer=QuantizerConfig(num_codes=16, dim=4),
                      decoder=named_decoder_config("tiny"))
    save_model(build_vqvae(cfg).eval(), root / "vq" / "model")
    prior = build_prior(PriorConfig(num_codes=16, hop=16, speakers=SPEAKERS, wavenet=named_decoder_config("tiny")))
    save_model(prior.eval(), root / "prior" / "model")
    return root


def _lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.startswith("error:")]


def test_reconstruct_report(setup, runner, tmp_path, monkeypatch):
    from vqspeech.analysis import baselines

    monkeypatch.setattr(baselines.shutil, "which", lambda name: None)  # no codecs: the skip path
    out = tmp_path / "rec"
    args = ["eval", "reconstruct", "-m", str(setup / "vq" / "model"), "-d", str(setup / "data"),
            "--prior", str(setup / "prior" / "model"), "--max-utts", "3", "--out", str(out), "--examples", "2",
            "--embedder", "mcep"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "range-coded" in res.output and "report:" in res.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["utterances"] == 3
    b = metrics["bitrate"]
    assert b["raw_kbps"] == pytest.approx(16000 / 16 * math.ceil(math.log2(16)) / 1000)
    # range coding costs at least the ideal (NLL) bits, plus at most one 32-bit word per utterance and a bit
    assert b["ideal_kbps"] <= b["entropy_coded_kbps"] + 1e-9
    assert b["entropy_coded_kbps"] <= b["ideal_kbps"] + (3 * 64 / metrics["seconds"]) / 1000
    assert any("codec2" in n for n in metrics["notes"]) and any("opus" in n for n in metrics["notes"])
    rows = metrics["table"]["rows"]
    assert [r["system"] for r in rows] == ["vq"]
    per = metrics["systems"]["vq"]["per_utt"]
    assert len(per) == 3 and all(r["mcd"] > 0 for r in per)
    assert rows[0]["mcd"] == pytest.approx(np.mean([r["mcd"] for r in per]))
    assert -1 <= rows[0]["speaker_sim"] <= 1 and rows[0]["speaker_id"] in (0, 1 / 3, 2 / 3, 1)
    assert metrics["embedder"] == "mcep" and 0 <= metrics["reference_id_accuracy"] <= 1
    summary = (out / "summary.md").read_text()
    assert "| vq | 4.00 |" in summary and "MCD 0-4k" in summary
    page = (out / "index.html").read_text()
    srcs = re.findall(r'<audio controls preload="none" src="([^"]+)"', page)
    assert len(srcs) == 4 and all((out / s).is_file() for s in srcs)
    assert (out / "dist_mcd.png").is_file()
    # no overwrite without --force; with --force the dir is replaced
    res = runner.invoke(app, args)
    assert res.exit_code == 2 and _lines(res.stderr) == [f"error: {out}: exists (use --force to overwrite)"]
    res = runner.invoke(app, [*args, "--force", "--examples", "0", "--max-utts", "1"])
    assert res.exit_code == 0, res.output
    assert json.loads((out / "metrics.json").read_text())["utterances"] == 1
    assert not list((out / "audio").iterdir())


def test_reconstruct_with_a_baseline_when_installed(setup, tmp_path):
    import shutil

    if shutil.which("c2enc") is None or shutil.which("c2dec") is None:
        pytest.skip("codec2 not installed")
    from vqspeech.analysis.evaluate import evaluate_reconstruction

    r = evaluate_reconstruction(setup / "vq" / "model", setup / "data", max_utts=1, baselines=["codec2-3200"])
    systems = [row["system"] for row in r["table"]["rows"]]
    assert systems == ["vq", "codec2-3200"]
    assert r["table"]["rows"][1]["kbps"] == 3.2
    assert "report_dir" not in r  # no out: nothing written


def test_reconstruction_speaker_id_of_a_perfect_decoder(setup, monkeypatch):
    """A decoder that returns its input is identified as the input's speaker and is most similar to it."""
    from vqspeech.analysis import eval_common
    from vqspeech.analysis.evaluate import evaluate_reconstruction
    from vqspeech.data.kaldi import load_utterance, read_data_dir

    dd = read_data_dir(setup / "data")
    originals = [load_utterance(dd, u, 16000) for u in sorted(dd.utt2spk)]
    monkeypatch.setattr(eval_common, "decode_many", lambda *a, **k: [w.copy() for w in originals[:len(a[1])]])
    r = evaluate_reconstruction(setup / "vq" / "model", setup / "data", baselines=False, embedder="mcep")
    per = r["systems"]["vq"]["per_utt"]
    assert r["speaker_id"] == 1.0 and all(row["speaker_id"] == 1.0 for row in per)
    assert r["speaker_sim"] > 0.9


def test_unknown_speaker_decoded_as_the_first_with_a_note(setup, tmp_path):
    from vqspeech.analysis.evaluate import evaluate_reconstruction
    from vqspeech.data.kaldi import read_data_dir, write_data_dir

    dd = read_data_dir(setup / "data")
    dd.utt2spk = {u: "stranger" for u in dd.utt2spk}
    write_data_dir(tmp_path / "d", dd)
    r = evaluate_reconstruction(setup / "vq" / "model", tmp_path / "d", max_utts=1, baselines=False)
    assert any("'stranger' unknown to the decoder" in n and "'spka'" in n for n in r["notes"])
    assert r["utterances"] == 1 and r["table"]["rows"][0]["mcd"] > 0


def test_convert_report(setup, runner, tmp_path):
    out = tmp_path / "conv"
    res = runner.invoke(app, ["eval", "convert", "-m", str(setup / "vq" / "model"), "-d", str(setup / "data"),
                              "--embedder", "mcep", "--out", str(out)])
    assert res.exit_code == 0, res.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["pairs"] == 4  # 4 utterances x 1 other speaker
    for p in metrics["per_pair"]:
        assert p["target"] != p["source"]
        assert p["target_utt"].startswith(p["target"]) and p["mcd"] > 0 and p["mcd_unconverted"] > 0
        assert -1 <= p["sim_target"] <= 1 and p["correct"] == (p["identified"] == p["target"])
    assert metrics["id_accuracy"] == pytest.approx(np.mean([p["correct"] for p in metrics["per_pair"]]))
    assert "speaker identification accuracy" in res.output
    assert metrics["reference_id_accuracy"] == 1.0  # the two real voices (120 vs 240 Hz) are told apart


def test_sample_report(setup, runner, tmp_path):
    out = tmp_path / "samp"
    res = runner.invoke(app, ["eval", "sample", "-p", str(setup / "prior" / "model"), "-m", str(setup / "vq" / "model"),
                              "-d", str(setup / "data"), "--seconds", "0.05", "--per-speaker", "2",
                              "--embedder", "mcep", "--out", str(out)])
    assert res.exit_code == 0, res.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["samples"] == 4 and metrics["speakers"] == SPEAKERS
    # an untrained prior is close to uniform: NLL near log2 K, never far below the unigram entropy
    assert 0 < metrics["nll_bits_per_code"] < 3 * math.log2(16)
    assert metrics["unigram_entropy_bits"] <= math.log2(16) + 1e-9
    assert metrics["id_accuracy"] is not None and 0 <= metrics["id_accuracy"] <= 1
    assert "NLL:" in res.output


@pytest.mark.parametrize("case", ["no_data_dir", "prior_as_model", "unknown_target", "no_text", "model_as_prior",
                                  "no_cuda"])
def test_bad_input_is_one_line(setup, runner, tmp_path, case):
    import torch

    if case == "no_cuda" and torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    vq, pr, data = str(setup / "vq" / "model"), str(setup / "prior" / "model"), str(setup / "data")
    args, msg = {
        "no_data_dir": (["eval", "reconstruct", "-m", vq, "-d", str(tmp_path / "nope")], "not a directory"),
        "prior_as_model": (["eval", "reconstruct", "-m", pr, "-d", data], "is a prior"),
        "unknown_target": (["eval", "convert", "-m", vq, "-d", data, "-t", "zed"], "unknown speaker 'zed'"),
        "no_text": (["eval", "convert", "-m", vq, "-d", str(setup / "notext")], "no 'text' file"),
        "model_as_prior": (["eval", "sample", "-p", vq, "-m", vq], "not a prior"),
        "no_cuda": (["eval", "reconstruct", "-m", vq, "-d", data, "--device", "cuda"], "CUDA is not available"),
    }[case]
    res = runner.invoke(app, [*args, "--out", str(tmp_path / "r")])
    assert res.exit_code == 2, res.output
    lines = _lines(res.stderr)
    assert len(lines) == 1 and msg in lines[0]
    assert not (tmp_path / "r").exists()


def test_help_has_examples(runner):
    for verb in ("reconstruct", "convert", "sample"):
        res = runner.invoke(app, ["eval", verb, "--help"])
        assert res.exit_code == 0, res.output
        assert "Examples" in res.output and f"vqspeech eval {verb}" in res.output
