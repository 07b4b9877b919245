"""The source-filter decoder and the F0 head from the CLI: encode/decode/convert/info/eval, analyze
pitch, train f0, and the errors a user can cause."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from tests.test_source_filter import tiny_sf_config
from vqspeech.cli import app


@pytest.fixture(scope="module")
def sf_dir(tmp_path_factory):
    from vqspeech.models import build_vqvae, save_model

    torch.manual_seed(0)
    m = build_vqvae(tiny_sf_config(("a", "b")))
    with torch.no_grad():
        m.f0_head.out.bias.copy_(torch.tensor([3.0, 0.0]))
    return save_model(m, tmp_path_factory.mktemp("sf") / "model")


@pytest.fixture(scope="module")
def wavenet_dir(tmp_path_factory):
    """A tiny WaveNet model with the same codebook size as sf_dir."""
    from vqspeech.config import from_dict, to_dict
    from vqspeech.models import VQVAEConfig, build_vqvae, save_model

    d = to_dict(tiny_sf_config(("a", "b")))
    d["decoder"] = {"stacks": 1, "layers_per_stack": 2, "residual_channels": 4, "gate_channels": 4,
                    "skip_channels": 4, "speaker_dim": 2}
    d["f0_head"] = None
    torch.manual_seed(1)
    return save_model(build_vqvae(from_dict(VQVAEConfig, d)), tmp_path_factory.mktemp("wn") / "model")


@pytest.fixture
def wav(tmp_path, tone):
    p = tmp_path / "in.wav"
    sf.write(p, tone(0.6), 16000)
    return p


def _ok(runner, args):
    r = runner.invoke(app, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    return r.output


def _err(runner, args, msg):
    r = runner.invoke(app, [str(a) for a in args])
    assert r.exit_code == 2, r.output
    assert msg in r.output and "unexpected" not in r.output and "Traceback" not in r.output
    return r.output


def test_encode_decode_convert(runner, sf_dir, wav, tmp_path):
    _ok(runner, ["encode", wav, "--model", sf_dir])
    vqs = wav.with_suffix(".vqs")
    _ok(runner, ["decode", vqs, "--model", sf_dir, "-o", tmp_path / "a.wav", "--seed", 1])
    _ok(runner, ["decode", vqs, "--model", sf_dir, "-o", tmp_path / "b.wav", "--seed", 1, "--f0-shift", "-3"])
    _ok(runner, ["decode", vqs, "--model", sf_dir, "-o", tmp_path / "c.wav", "--seed", 1, "--precision", "float32"])
    _ok(runner, ["decode", vqs, "--model", sf_dir, "-o", tmp_path / "d.wav", "--seed", 1, "--precision", "bfloat16"])
    c, d = sf.read(tmp_path / "c.wav")[0], sf.read(tmp_path / "d.wav")[0]
    assert np.abs(c - d).max() < 0.03 * np.abs(c).max()
    a, sr = sf.read(tmp_path / "a.wav")
    assert sr == 16000 and a.size == sf.info(wav).frames and np.abs(a).max() > 0
    assert not np.array_equal(a, sf.read(tmp_path / "b.wav")[0])
    out = _ok(runner, ["convert", wav, "-s", "b", "--model", sf_dir, "--f0-shift", "2"])
    assert "as speaker b" in out and wav.with_name("in.to_b.wav").is_file()
    info = _ok(runner, ["info", sf_dir])
    assert "source_filter" in info and "f0_head" in info


def test_bad_input(runner, sf_dir, wavenet_dir, wav, tmp_path):
    _ok(runner, ["encode", wav, "--model", sf_dir, "-o", tmp_path / "x.vqs"])
    _err(runner, ["decode", tmp_path / "x.vqs", "--model", sf_dir, "--f0-shift", "nan"], "--f0-shift")
    _err(runner, ["decode", tmp_path / "x.vqs", "--model", sf_dir, "--f0-shift", "30"], "--f0-shift")
    _err(runner, ["decode", tmp_path / "x.vqs", "--model", sf_dir, "--precision", "fp8"], "precision 'fp8'")
    _err(runner, ["convert", wav, "-s", "b", "-o", tmp_path / "z.wav", "--precision", "bfloat16", "--model",
                  wavenet_dir], "only the source-filter decoder has a bfloat16 path")
    # a .vqs of the source-filter model decoded by a WaveNet model
    _err(runner, ["decode", tmp_path / "x.vqs", "--model", wavenet_dir, "-o", tmp_path / "y.wav"],
         "not by this model")
    _err(runner, ["convert", wav, "-s", "b", "-o", tmp_path / "z.wav", "--f0-shift", "1", "--model", wavenet_dir],
         "f0-shift needs a decoder driven by F0")
    bad = tmp_path / "bad"
    bad.mkdir()
    cfg = json.loads((sf_dir / "config.json").read_text())
    cfg["config"]["decoder"]["type"] = "diffusion"
    (bad / "config.json").write_text(json.dumps(cfg))
    (bad / "model.safetensors").write_bytes((sf_dir / "model.safetensors").read_bytes())
    _err(runner, ["encode", wav, "--model", bad, "-o", tmp_path / "q.vqs"], "unknown decoder type 'diffusion'")
    cfg = json.loads((sf_dir / "config.json").read_text())
    cfg["same_codes_as"] = ["../../etc/passwd"]
    (bad / "config.json").write_text(json.dumps(cfg))
    _err(runner, ["info", bad], "'same_codes_as' must be a list of model fingerprints")
    assert not (tmp_path / "q.vqs").exists() and not (tmp_path / "y.wav").exists()


def _data_dir(root, tone):
    d = root / "data"
    (d / "wav").mkdir(parents=True)
    lines, u2s = [], []
    for i, (spk, f) in enumerate([("a", 110.0), ("a", 130.0), ("b", 200.0), ("b", 220.0)]):
        sf.write(d / "wav" / f"{i}.wav", tone(0.5, freq=f), 16000)
        lines.append(f"{spk}-{i} wav/{i}.wav\n")
        u2s.append(f"{spk}-{i} {spk}\n")
    (d / "wav.scp").write_text("".join(lines))
    (d / "utt2spk").write_text("".join(u2s))
    (d / "spk2utt").write_text("a a-0 a-1\nb b-2 b-3\n")
    (d / "text").write_text("".join(f"{u.split()[0]} hello\n" for u in u2s))
    return d


def test_analyze_pitch_and_train_f0(runner, sf_dir, wavenet_dir, tmp_path, tone):
    data = _data_dir(tmp_path, tone)
    out = _ok(runner, ["analyze", "pitch", "--model", sf_dir, "--data", data, "--out", tmp_path / "p"])
    assert "VDE" in out and "GPE" in out
    m = json.loads((tmp_path / "p" / "metrics.json").read_text())
    assert {"vde", "gpe", "ffe", "f0_corr"} <= set(m) and len(m["per_speaker"]) == 2
    assert (tmp_path / "p" / "f0_contours.png").is_file() and (tmp_path / "p" / "summary.md").is_file()
    out = _ok(runner, ["analyze", "pitch", "--model", sf_dir, "--data", data, "--out", tmp_path / "p2", "-s", "b"])
    assert "for b: median F0" in out
    _err(runner, ["analyze", "pitch", "--model", wavenet_dir, "--data", data, "--out", tmp_path / "p3"],
         "vqspeech train f0")
    assert not (tmp_path / "p3").exists()
    # a WaveNet model gains a head; its codes do not change
    _ok(runner, ["train", "f0", "--vqvae", wavenet_dir, "--data", data, "--config", "tiny", "--out", tmp_path / "f0"])
    from vqspeech.models import load_model

    base, withhead = load_model(wavenet_dir), load_model(tmp_path / "f0" / "model")
    x = torch.from_numpy(tone(0.5))[None, None]
    assert torch.equal(base.encode(x), withhead.encode(x)) and withhead.f0_head is not None
    _ok(runner, ["analyze", "pitch", "--model", tmp_path / "f0" / "model", "--data", data, "--out", tmp_path / "p4"])
    # ... so the base model's .vqs files decode with it, and the base model's prior fits it
    from vqspeech.models.io import model_fingerprint
    from vqspeech.models.loading import check_prior, prior_fits
    from vqspeech.models.prior import build_prior

    assert withhead.same_codes_as == (model_fingerprint(wavenet_dir),)
    assert "same codes   as " + model_fingerprint(wavenet_dir) in _ok(runner, ["info", tmp_path / "f0" / "model"])
    wav = tmp_path / "w.wav"
    sf.write(wav, tone(0.3), 16000)
    _ok(runner, ["encode", wav, "--model", wavenet_dir, "--no-entropy"])
    _ok(runner, ["decode", wav.with_suffix(".vqs"), "--model", tmp_path / "f0" / "model", "-o", tmp_path / "d.wav"])
    _err(runner, ["decode", wav.with_suffix(".vqs"), "--model", sf_dir, "-o", tmp_path / "e.wav"], "not by this model")
    from vqspeech.config import from_dict
    from vqspeech.models.config import PriorConfig

    prior = build_prior(from_dict(PriorConfig, {"num_codes": 32, "vqvae_fingerprint": model_fingerprint(wavenet_dir),
                                                "wavenet": {"stacks": 1, "layers_per_stack": 2, "input": "embedding",
                                                            "residual_channels": 4, "gate_channels": 4,
                                                            "skip_channels": 4}}))
    assert prior_fits(prior, model_fingerprint(tmp_path / "f0" / "model"), withhead)
    assert not prior_fits(prior, model_fingerprint(sf_dir), load_model(sf_dir))
    check_prior(withhead, prior, model_fingerprint(tmp_path / "f0" / "model"))


def test_eval_reconstruct_reports_pitch(runner, sf_dir, tmp_path, tone):
    data = _data_dir(tmp_path, tone)
    _ok(runner, ["eval", "reconstruct", "--model", sf_dir, "--data", data, "--out", tmp_path / "r",
                 "--no-baselines", "--max-utts", "2"])
    m = json.loads((tmp_path / "r" / "metrics.json").read_text())
    for k in ("voiced_fraction", "vde", "gpe", "ffe", "f0_corr"):
        assert k in m and k in m["table"]["columns"]
    assert list((tmp_path / "r" / "audio").glob("*.png"))
    assert m["precision"] in ("float32", "bfloat16")
    _ok(runner, ["eval", "reconstruct", "--model", sf_dir, "--data", data, "--out", tmp_path / "r32",
                 "--no-baselines", "--max-utts", "2", "--precision", "float32", "--embedder", "none"])
    assert json.loads((tmp_path / "r32" / "metrics.json").read_text())["precision"] == "float32"
    _err(runner, ["eval", "convert", "--model", sf_dir, "--data", data, "--out", tmp_path / "c",
                  "--precision", "half"], "precision 'half'")
    assert not (tmp_path / "c").exists()
