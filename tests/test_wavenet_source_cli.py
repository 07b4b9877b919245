"""A source-excited WaveNet from the CLI: one-step training from the recipe's tiny config, then
encode / decode (--f0-shift) / convert --f0-shift / info."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from tests.test_sf_cli import _data_dir, _err, _ok
from vqspeech.cli import app  # noqa: F401 - imported by the helpers too

CONF = Path(__file__).resolve().parents[1] / "recipes" / "synth" / "conf" / "vqvae_wavenet_source_tiny.yaml"
FAST = ["--set", "train.steps=2", "--set", "train.checkpoint_every=2", "--set", "train.log_every=1",
        "--set", "train.warmup_steps=1", "--set", "train.validate_every=100", "--no-progress"]


def test_train_encode_decode_convert_with_f0_shift(runner, tmp_path, tone):
    data = _data_dir(tmp_path, tone)
    _ok(runner, ["train", "vqvae", "--data", data, "--config", CONF, "--out", tmp_path / "exp", *FAST])
    model = tmp_path / "exp" / "model"
    import json

    meta = json.loads((model / "config.json").read_text())
    assert meta["config"]["decoder"]["source_harmonics"] == 4 and meta["config"]["f0_head"]
    wav = tmp_path / "in.wav"
    sf.write(wav, tone(0.4), 16000)
    _ok(runner, ["encode", wav, "--model", model, "-o", tmp_path / "x.vqs"])
    _ok(runner, ["decode", tmp_path / "x.vqs", "--model", model, "-o", tmp_path / "a.wav", "--seed", 1])
    _ok(runner, ["decode", tmp_path / "x.vqs", "--model", model, "-o", tmp_path / "a2.wav", "--seed", 1])
    _ok(runner, ["decode", tmp_path / "x.vqs", "--model", model, "-o", tmp_path / "b.wav", "--seed", 1,
                 "--f0-shift", "2"])
    a, sr = sf.read(tmp_path / "a.wav")
    assert sr == 16000 and a.size == sf.info(wav).frames
    assert np.array_equal(a, sf.read(tmp_path / "a2.wav")[0])
    assert not np.array_equal(a, sf.read(tmp_path / "b.wav")[0])
    out = _ok(runner, ["convert", wav, "-s", "b", "--model", model, "--f0-shift", "2", "-o", tmp_path / "c.wav"])
    assert "as speaker b" in out and (tmp_path / "c.wav").is_file()
    _err(runner, ["decode", tmp_path / "x.vqs", "--model", model, "--f0-shift", "30", "-o", tmp_path / "d.wav"],
         "--f0-shift")
    assert not (tmp_path / "d.wav").exists()
    info = _ok(runner, ["info", model])
    assert "source" in info
