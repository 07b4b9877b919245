"""Model directories: save -> load -> identical outputs; clear errors; no pickle; fingerprints."""

from __future__ import annotations

import json
import pickle

import pytest
import torch
from torch import nn

from vqspeech.errors import VQSpeechError
from vqspeech.models.config import (
    EncoderConfig,
    PriorConfig,
    QuantizerConfig,
    VQVAEConfig,
    named_decoder_config,
)
from vqspeech.models.io import FORMAT_VERSION, load_model, model_fingerprint, save_model
from vqspeech.models.prior import CodePrior, build_prior
from vqspeech.models.vqvae import VQVAE, build_vqvae


def _vqvae(mode="loss", upsample="repeat", decoder_input="embedding") -> VQVAE:
    torch.manual_seed(0)
    decoder = named_decoder_config("tiny")
    decoder.input = decoder_input
    cfg = VQVAEConfig(speakers=["a", "b"], encoder=EncoderConfig(hidden_channels=16, residual_blocks=1),
                      quantizer=QuantizerConfig(num_codes=16, dim=8, mode=mode),
                      decoder=decoder, upsample=upsample)
    m = build_vqvae(cfg).train()
    m(torch.rand(2, 1, 64 * 20) * 2 - 1, torch.tensor([0, 1]))  # k-means init + EMA update: non-default state
    return m.eval()


def _prior() -> CodePrior:
    torch.manual_seed(0)
    return build_prior(PriorConfig(num_codes=16, speakers=["a"], wavenet=named_decoder_config("tiny"))).eval()


@pytest.mark.parametrize("mode,upsample,decoder_input", [("loss", "repeat", "embedding"),
                                                         ("ema", "transposed", "embedding"),
                                                         ("ema", "repeat", "mulaw_scalar")])
def test_vqvae_round_trip_identical_outputs(tmp_path, mode, upsample, decoder_input):
    m = _vqvae(mode, upsample, decoder_input)
    save_model(m, tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "config.json").read_text())
    assert meta["format_version"] == FORMAT_VERSION and meta["kind"] == "vqvae"
    assert (meta["speakers"], meta["sample_rate"], meta["hop"], meta["num_codes"], meta["latent_dim"]) == (
        ["a", "b"], 16000, 64, 16, 8)
    m2 = load_model(tmp_path / "m")
    assert isinstance(m2, VQVAE) and not m2.training and m2.speakers == ["a", "b"]
    assert m2.config == m.config
    wav = torch.rand(1, 1, 700) * 2 - 1
    with torch.no_grad():
        assert torch.equal(m.encode(wav), m2.encode(wav))
        assert torch.equal(m(wav, torch.tensor([1])).logits, m2(wav, torch.tensor([1])).logits)
    for k, v in m.state_dict().items():
        assert torch.equal(v, m2.state_dict()[k]), k


def test_prior_round_trip(tmp_path):
    p = _prior()
    save_model(p, tmp_path / "p")
    p2 = load_model(tmp_path / "p")
    assert isinstance(p2, CodePrior)
    codes = torch.randint(0, 16, (1, 30))
    with torch.no_grad():
        assert torch.equal(p(codes, torch.tensor([0])), p2(codes, torch.tensor([0])))


class _DDPLike(nn.Module):
    def __init__(self, module):
        super().__init__()
        self.module = module


class _CompiledLike(nn.Module):
    def __init__(self, module):
        super().__init__()
        self._orig_mod = module


def test_saves_unwrapped_module(tmp_path):
    from safetensors.torch import load_file

    m = _vqvae()
    save_model(_DDPLike(_CompiledLike(m)), tmp_path / "m")
    keys = load_file(str(tmp_path / "m" / "model.safetensors")).keys()
    assert keys == m.state_dict().keys()
    assert not any(k.startswith(("module.", "_orig_mod.")) for k in keys)
    load_model(tmp_path / "m")


def test_overwrite_is_atomic_replace(tmp_path):
    save_model(_vqvae(), tmp_path / "m")
    save_model(_prior(), tmp_path / "m")
    assert isinstance(load_model(tmp_path / "m"), CodePrior)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # no temp dirs left behind


def test_loading_errors_are_clear(tmp_path):
    with pytest.raises(VQSpeechError, match="no such model directory"):
        load_model(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(VQSpeechError, match="not a vqspeech model directory"):
        load_model(tmp_path / "empty")
    (tmp_path / "file").write_text("x")
    with pytest.raises(VQSpeechError, match="not a model directory"):
        load_model(tmp_path / "file")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "config.json").write_text('{"architectures": ["Bert"]}')
    with pytest.raises(VQSpeechError, match="not a vqspeech model config"):
        load_model(tmp_path / "other")
    (tmp_path / "other" / "config.json").write_text("{not json")
    with pytest.raises(VQSpeechError, match="not valid JSON"):
        load_model(tmp_path / "other")

    good = tmp_path / "good"
    save_model(_vqvae(), good)
    meta = json.loads((good / "config.json").read_text())

    def variant(name, meta_change=None, weights=None):
        d = tmp_path / name
        save_model(_vqvae(), d)
        if meta_change:
            m = json.loads(json.dumps(meta))
            meta_change(m)
            (d / "config.json").write_text(json.dumps(m))
        if weights is not None:
            (d / "model.safetensors").write_bytes(weights)
        return d

    raw = (good / "model.safetensors").read_bytes()
    with pytest.raises(VQSpeechError, match="truncated or corrupt"):
        load_model(variant("trunc", weights=raw[: len(raw) // 2]))
    with pytest.raises(VQSpeechError, match="truncated or corrupt"):
        load_model(variant("tiny", weights=raw[:5]))
    with pytest.raises(VQSpeechError, match=r"shape mismatches .*quantizer.codebook"):
        load_model(variant("shape", lambda m: m["config"]["quantizer"].update(num_codes=32)))
    with pytest.raises(VQSpeechError, match="missing .* tensors"):
        load_model(variant("layers", lambda m: m["config"]["decoder"].update(layers_per_stack=5)))
    with pytest.raises(VQSpeechError, match="format_version 99 is newer"):
        load_model(variant("version", lambda m: m.update(format_version=99)))
    with pytest.raises(VQSpeechError, match="unknown model kind"):
        load_model(variant("kind", lambda m: m.update(kind="gan")))
    with pytest.raises(VQSpeechError, match="unknown key 'decoder.layers'"):
        load_model(variant("key", lambda m: m["config"]["decoder"].update(layers=3)))
    (good / "model.safetensors").unlink()
    with pytest.raises(VQSpeechError, match="no model.safetensors"):
        load_model(good)


def test_no_pickle_on_load_path(tmp_path, monkeypatch):
    save_model(_vqvae(), tmp_path / "m")

    def refuse(*a, **k):
        raise AssertionError("pickle used on the load path")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    load_model(tmp_path / "m")
    model_fingerprint(tmp_path / "m")


def test_fingerprint(tmp_path):
    m = _vqvae()
    save_model(m, tmp_path / "a")
    save_model(m, tmp_path / "b")
    fa = model_fingerprint(tmp_path / "a")
    assert len(fa) == 16 and int(fa, 16) >= 0
    assert fa == model_fingerprint(tmp_path / "b")
    for i in range(8):  # safetensors writes its metadata map in hash order: saves must not depend on it
        save_model(m, tmp_path / f"again{i}")
        assert model_fingerprint(tmp_path / f"again{i}") == fa
    with torch.no_grad():
        m.decoder.out2.bias[0] += 1.0
    save_model(m, tmp_path / "c")
    assert model_fingerprint(tmp_path / "c") != fa
