"""`vqspeech info MODEL` on a VQ-VAE, a prior, and directories that are not models."""

from __future__ import annotations

import json
import math

import pytest
import torch

from vqspeech.cli import app
from vqspeech.models.config import (
    EncoderConfig,
    PriorConfig,
    QuantizerConfig,
    VQVAEConfig,
    named_decoder_config,
)
from vqspeech.models.io import model_fingerprint, save_model
from vqspeech.models.prior import build_prior
from vqspeech.models.vqvae import build_vqvae


def _cfg() -> VQVAEConfig:
    return VQVAEConfig(speakers=["p225", "p226"], encoder=EncoderConfig(strides=[2] * 7, hidden_channels=16),
                       quantizer=QuantizerConfig(num_codes=300, dim=8), decoder=named_decoder_config("tiny"))


@pytest.fixture
def vqvae_dir(tmp_path):
    torch.manual_seed(0)
    return save_model(build_vqvae(_cfg()), tmp_path / "vq")


def test_info_vqvae_text_and_json(runner, vqvae_dir):
    res = runner.invoke(app, ["info", str(vqvae_dir)])
    assert res.exit_code == 0, res.output
    out = res.stdout
    assert "VQ-VAE (format_version 1" in out and model_fingerprint(vqvae_dir) in out
    assert "hop 128 samples -> 125 codes/s" in out
    assert "K=300 x D=8, 9 bits/code -> raw bitrate 1125 bit/s" in out  # 125 Hz x ceil(log2 300)
    assert "speakers     2: p225, p226" in out
    assert '"tiny": 1 stacks x 4 layers' in out
    assert "decoder: 16 samples (1 ms)" in out
    for part in ("encoder", "quantizer", "decoder", "total"):
        assert f"\n{part} " in out
    res = runner.invoke(app, ["info", str(vqvae_dir), "--json"])
    assert res.exit_code == 0
    s = json.loads(res.stdout)
    assert s["kind"] == "vqvae" and s["code_rate_hz"] == 125.0 and s["bits_per_code"] == math.ceil(math.log2(300))
    assert s["raw_bitrate_bps"] == 1125.0
    parts = {p["name"]: p["parameters"] for p in s["parts"]}
    assert parts["quantizer"] == 300 * 8 and s["total_parameters"] == sum(parts.values())
    model = build_vqvae(_cfg())
    assert parts["decoder"] == sum(p.numel() for p in model.decoder.parameters())
    assert s["receptive_field"]["encoder"]["samples"] == model.encoder.receptive_field
    assert s["receptive_field"]["decoder"] == {"samples": 16, "ms": 1.0}


def test_info_prior(runner, tmp_path):
    p = build_prior(PriorConfig(num_codes=512, hop=64, wavenet=named_decoder_config("tiny"),
                                vqvae_fingerprint="0123456789abcdef"))
    save_model(p, tmp_path / "prior")
    res = runner.invoke(app, ["info", str(tmp_path / "prior")])
    assert res.exit_code == 0, res.output
    assert "code prior" in res.stdout and "prior: 16 codes (64 ms)" in res.stdout
    assert "0123456789abcdef" in res.stdout and "not speaker-conditioned" in res.stdout
    assert "raw bitrate 2250 bit/s" in res.stdout


def test_info_errors(runner, tmp_path, vqvae_dir):
    res = runner.invoke(app, ["info", str(tmp_path / "nope")])
    assert res.exit_code == 2 and "no such model directory" in res.stderr
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "wav.scp").write_text("a a.wav\n")
    res = runner.invoke(app, ["info", str(tmp_path / "data")])
    assert res.exit_code == 2 and "not a vqspeech model directory" in res.stderr
    exp = tmp_path / "exp"
    exp.mkdir()
    vqvae_dir.rename(exp / "model")
    res = runner.invoke(app, ["info", str(exp)])
    assert res.exit_code == 2 and "did you mean" in res.stderr
    (exp / "model" / "model.safetensors").write_bytes(b"\x00" * 10)
    res = runner.invoke(app, ["info", str(exp / "model")])
    assert res.exit_code == 2 and "truncated or corrupt" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_info_help_has_examples(runner):
    res = runner.invoke(app, ["info", "--help"])
    assert res.exit_code == 0 and "vqspeech info exp/vqvae_train/model" in res.stdout


def test_info_without_argument_describes_the_bundled_default(runner):
    from vqspeech.pretrained import default_model_dir

    res = runner.invoke(app, ["info"])
    assert res.exit_code == 0, res.output
    assert res.stdout.startswith(f"model        {default_model_dir()}\n")
    assert "kind         VQ-VAE" in res.stdout and "\ntotal " in res.stdout
    res = runner.invoke(app, ["info", "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["kind"] == "vqvae"
