"""Hostile input across every verb: each case exits 2 with one line naming the problem (never "unexpected",
never a traceback), in well under a second of work, leaving no output behind and its inputs unchanged.

Every case runs in-process (typer's CliRunner) against shared tiny fixtures: a model, a .vqs file, a data
dir and a finished two-step training run (EXP), all snapshotted (every file's bytes) before and after.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from tests.test_dataset import write_corpus
from vqspeech.cli import app

SR = 16000
TRAIN_FAST = ["--set", "train.steps=2", "--set", "train.checkpoint_every=2", "--set", "train.log_every=1",
              "--set", "train.warmup_steps=1", "--no-progress"]


def snapshot(root: Path) -> dict[str, str]:
    """Every path under root -> sha256 of its bytes ('dir' for directories)."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        out[rel] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
    return out


def _tiny_vqvae():
    from vqspeech.models.config import EncoderConfig, QuantizerConfig, VQVAEConfig, named_decoder_config
    from vqspeech.models.vqvae import build_vqvae

    torch.manual_seed(0)
    cfg = VQVAEConfig(speakers=["alice", "bob"], encoder=EncoderConfig(strides=[2, 2, 2, 2], hidden_channels=16,
                      residual_blocks=1), quantizer=QuantizerConfig(num_codes=16, dim=8),
                      decoder=named_decoder_config("tiny"))
    return build_vqvae(cfg).eval()


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """root/{vq, in.wav, in.vqs, data/, exp/}: what the cases read, never change."""
    from typer.testing import CliRunner

    from vqspeech.models.io import save_model

    root = tmp_path_factory.mktemp("hostile")
    save_model(_tiny_vqvae(), root / "vq")
    t = np.arange(int(0.15 * SR)) / SR
    sf.write(root / "in.wav", (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), SR)
    runner = CliRunner()
    r = runner.invoke(app, ["encode", str(root / "in.wav"), "-m", str(root / "vq"), "--no-entropy"])
    assert r.exit_code == 0, r.output
    write_corpus(root / "data", lengths=(3000, 4000, 2500))
    r = runner.invoke(app, ["train", "vqvae", "--data", str(root / "data"), "--config", "tiny", "--out",
                            str(root / "exp"), *TRAIN_FAST])
    assert r.exit_code == 0, r.output
    return root


# ---- hostile files, made per case in its own dir ----------------------------------------------------------

def wav_with_rate(d: Path, rate: int) -> Path:
    """A 16-bit PCM wav whose header claims `rate` Hz (fmt chunk patched in place)."""
    p = d / f"rate{rate}.wav"
    sf.write(p, np.zeros(24000, np.float32), SR, subtype="PCM_16")
    b = bytearray(p.read_bytes())
    b[24:28], b[28:32] = struct.pack("<I", rate), struct.pack("<I", rate * 2)
    p.write_bytes(bytes(b))
    return p


def float_wav(d: Path, value: float) -> Path:
    p = d / "float.wav"
    x = np.full(1600, 0.1, np.float32)
    x[800] = value
    sf.write(p, x, SR, subtype="FLOAT")
    return p


def model_variant(shared: Path, d: Path, meta=None, weights=None, raw: bytes | None = None) -> Path:
    """A copy of the tiny model with config.json changed by meta(m), tensors by weights(w) (written without
    a checksum, as an older or a hostile writer would), or model.safetensors replaced by `raw` bytes."""
    from safetensors.torch import load_file, save_file

    m_dir = d / "model"
    shutil.copytree(shared / "vq", m_dir)
    if meta is not None:
        m = json.loads((m_dir / "config.json").read_text())
        meta(m)
        (m_dir / "config.json").write_text(json.dumps(m))
    if weights is not None:
        w = load_file(str(m_dir / "model.safetensors"))
        weights(w)
        save_file(w, str(m_dir / "model.safetensors"), metadata={"format": "pt"})
    if raw is not None:
        (m_dir / "model.safetensors").write_bytes(raw)
    return m_dir


def flipped_weights(shared: Path, d: Path) -> Path:
    """The model with one byte of tensor data changed (its stored checksum no longer matches)."""
    m_dir = d / "model"
    shutil.copytree(shared / "vq", m_dir)
    b = bytearray((m_dir / "model.safetensors").read_bytes())
    b[-3] ^= 0x01
    (m_dir / "model.safetensors").write_bytes(bytes(b))
    return m_dir


def _deep_config(shared: Path, d: Path) -> Path:
    m_dir = model_variant(shared, d)
    text = (m_dir / "config.json").read_text()
    (m_dir / "config.json").write_text(text.replace("{", '{"x": ' + "[" * 100000 + "]" * 100000 + ",", 1))
    return m_dir


def pickle_weights() -> bytes:
    import io
    import pickle

    class Boom:
        def __reduce__(self):
            return (os.system, ("touch /tmp/vqspeech_pwned",))

    buf = io.BytesIO()
    pickle.dump(Boom(), buf)
    return buf.getvalue()


def exp_copy(shared: Path, d: Path, change=None) -> Path:
    exp = d / "exp"
    shutil.copytree(shared / "exp", exp)
    if change is not None:
        change(exp)
    return exp


def _drop_optimizer(exp: Path) -> None:
    ck = sorted((exp / "checkpoints").iterdir())[-1] / "state.pt"
    state = torch.load(ck, weights_only=True)
    del state["optimizer"]
    torch.save(state, ck)


def _pipe_data(shared: Path, d: Path) -> Path:
    data = d / "pipes"
    shutil.copytree(shared / "data", data, ignore=shutil.ignore_patterns(".cache"))
    lines = (data / "wav.scp").read_text().splitlines()
    reco, path = lines[0].split(maxsplit=1)
    lines[0] = f"{reco} cat {path} |"
    (data / "wav.scp").write_text("\n".join(lines) + "\n")
    return data


def _yaml(d: Path, text: str) -> Path:
    p = d / "c.yaml"
    p.write_text(text)
    return p


LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [{', '.join(['*' + p] * 10)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)) + \
    "train: {}\n"


# (id, args(shared root, case dir) -> argv, substring the error line must contain)
M = "-m"
CASES = [
    # encode
    ("encode-missing", lambda s, d: ["encode", str(d / "nope.wav"), M, str(s / "vq")], "no such file"),
    ("encode-parent-is-file", lambda s, d: ["encode", str(s / "in.wav"), M, str(s / "vq"), "--no-entropy",
                                            "-o", str(s / "in.wav" / "x.vqs")], "not a directory"),
    ("encode-chunk-nan", lambda s, d: ["encode", str(s / "in.wav"), M, str(s / "vq"), "-o", str(d / "o.vqs"),
                                       "--chunk-seconds", "nan"], "--chunk-seconds"),
    ("encode-chunk-inf", lambda s, d: ["encode", str(s / "in.wav"), M, str(s / "vq"), "-o", str(d / "o.vqs"),
                                       "--chunk-seconds", "inf"], "--chunk-seconds"),
    ("encode-chunk-neg", lambda s, d: ["encode", str(s / "in.wav"), M, str(s / "vq"), "-o", str(d / "o.vqs"),
                                       "--chunk-seconds", "-1"], "--chunk-seconds"),
    ("encode-rate-1hz", lambda s, d: ["encode", str(wav_with_rate(d, 1)), M, str(s / "vq"), "--no-entropy",
                                      "-o", str(d / "o.vqs")], "sample rate 1 Hz"),
    ("encode-rate-1mhz", lambda s, d: ["encode", str(wav_with_rate(d, 1_000_000)), M, str(s / "vq"),
                                       "--no-entropy", "-o", str(d / "o.vqs")], "outside"),
    ("encode-samples-1e30", lambda s, d: ["encode", str(float_wav(d, 1e30)), M, str(s / "vq"), "--no-entropy",
                                          "-o", str(d / "o.vqs")], "not audio"),
    ("encode-samples-nan", lambda s, d: ["encode", str(float_wav(d, float("nan"))), M, str(s / "vq"),
                                         "--no-entropy", "-o", str(d / "o.vqs")], "NaN"),
    ("encode-garbage", lambda s, d: ["encode", str(_write(d / "g.wav", b"RIFF" + os.urandom(200))), M,
                                     str(s / "vq"), "--no-entropy", "-o", str(d / "o.vqs")], "not a readable"),
    ("encode-too-long", lambda s, d: ["encode", str(s / "in.wav"), M, str(s / "vq"), "--no-entropy", "-o",
                                      str(d / "o.vqs"), "--max-duration", "0.05"], "--max-duration"),
    ("encode-max-duration-nan", lambda s, d: ["encode", str(s / "in.wav"), M, str(s / "vq"), "-o",
                                              str(d / "o.vqs"), "--max-duration", "nan"], "--max-duration"),
    ("encode-exists", lambda s, d: ["encode", str(s / "in.wav"), M, str(s / "vq"), "-o", str(s / "in.vqs")],
     "--force"),
    ("model-layers-1e6", lambda s, d: ["encode", str(s / "in.wav"), "--no-entropy", "-o", str(d / "o.vqs"), M,
                                       str(model_variant(s, d, meta=lambda m: m["config"]["decoder"].update(
                                           layers_per_stack=10**6)))], "layers_per_stack"),
    ("model-channels-huge", lambda s, d: ["encode", str(s / "in.wav"), "--no-entropy", "-o", str(d / "o.vqs"),
                                          M, str(model_variant(s, d, meta=lambda m: m["config"]["decoder"].update(
                                              residual_channels=30000, gate_channels=30000,
                                              skip_channels=30000)))], "parameters"),
    ("model-speakers-5", lambda s, d: ["encode", str(s / "in.wav"), "--no-entropy", "-o", str(d / "o.vqs"), M,
                                       str(model_variant(s, d, meta=lambda m: m.update(speakers=5)))], "speakers"),
    ("model-rate-neg", lambda s, d: ["encode", str(s / "in.wav"), "--no-entropy", "-o", str(d / "o.vqs"), M,
                                     str(model_variant(s, d, meta=lambda m: m["config"].update(sample_rate=-1)))],
     "sample_rate"),
    ("model-nan-weights", lambda s, d: ["encode", str(s / "in.wav"), "--no-entropy", "-o", str(d / "o.vqs"), M,
                                        str(model_variant(s, d, weights=lambda w: w["decoder.embed.weight"].fill_(
                                            float("nan"))))], "NaN"),
    ("model-checksum", lambda s, d: ["encode", str(s / "in.wav"), "--no-entropy", "-o", str(d / "o.vqs"), M,
                                     str(flipped_weights(s, d))], "checksum"),
    ("model-deep-json", lambda s, d: ["encode", str(s / "in.wav"), "--no-entropy", "-o", str(d / "o.vqs"), M,
                                      str(_deep_config(s, d))], "deeper"),
    ("model-pickle", lambda s, d: ["encode", str(s / "in.wav"), "--no-entropy", "-o", str(d / "o.vqs"), M,
                                   str(model_variant(s, d, raw=pickle_weights()))], "corrupt"),
    ("model-not-json", lambda s, d: ["encode", str(s / "in.wav"), "--no-entropy", "-o", str(d / "o.vqs"), M,
                                     str(_write(model_variant(s, d) / "config.json", b"{nope"))[:-12]], "JSON"),
    ("speakers-5", lambda s, d: ["speakers", M, str(model_variant(s, d, meta=lambda m: m.update(speakers=5)))],
     "speakers"),
    # decode
    *[(f"decode-{opt.strip('-')}-{v}", (lambda o, x: lambda s, d: ["decode", str(s / "in.vqs"), M, str(s / "vq"),
                                                                  "-o", str(d / "o.wav"), o, x])(opt, v), opt)
      for opt, v in [("--temperature", "nan"), ("--temperature", "inf"), ("--temperature", "-1"),
                     ("--seed", "-1"), ("--start", "nan"), ("--duration", "inf"), ("--f0-shift", "nan")]],
    ("decode-device-bogus", lambda s, d: ["decode", str(s / "in.vqs"), M, str(s / "vq"), "-o", str(d / "o.wav"),
                                          "--device", "bogus"], "unknown device"),
    ("decode-garbage", lambda s, d: ["decode", str(_write(d / "g.vqs", os.urandom(300))), M, str(s / "vq"),
                                     "-o", str(d / "o.wav")], ""),
    ("decode-parent-is-file", lambda s, d: ["decode", str(s / "in.vqs"), M, str(s / "vq"), "--seed", "0",
                                            "-o", str(s / "in.wav" / "o.wav")], "not a directory"),
    # convert / sample
    ("convert-device", lambda s, d: ["convert", str(s / "in.wav"), "-s", "bob", M, str(s / "vq"), "-o",
                                     str(d / "o.wav"), "--device", "bogus"], "unknown device"),
    ("convert-temperature", lambda s, d: ["convert", str(s / "in.wav"), "-s", "bob", M, str(s / "vq"), "-o",
                                          str(d / "o.wav"), "--temperature", "nan"], "--temperature"),
    ("convert-speaker", lambda s, d: ["convert", str(s / "in.wav"), "-s", "carol", M, str(s / "vq"), "-o",
                                      str(d / "o.wav")], "carol"),
    ("sample-seconds-nan", lambda s, d: ["sample", M, str(s / "vq"), "-o", str(d / "o.wav"), "--seconds", "nan"],
     "--seconds"),
    ("sample-seconds-huge", lambda s, d: ["sample", M, str(s / "vq"), "-o", str(d / "o.wav"), "--seconds",
                                          "1e9"], "--seconds"),
    ("sample-seed", lambda s, d: ["sample", M, str(s / "vq"), "-o", str(d / "o.wav"), "--seed", "-5"], "--seed"),
    # train: EXP must stay exactly as it was
    ("train-force-no-config", lambda s, d: ["train", "vqvae", "--data", str(s / "data"), "--out", str(s / "exp"),
                                            "--force", "--config", "no_such.yaml"], "no_such.yaml"),
    ("train-force-unknown-set", lambda s, d: ["train", "vqvae", "--data", str(s / "data"), "--out", str(s / "exp"),
                                              "--force", "--config", "tiny", "--set", "train.nope=1"], "nope"),
    ("train-force-lr-nan", lambda s, d: ["train", "vqvae", "--data", str(s / "data"), "--out", str(s / "exp"),
                                         "--force", "--config", "tiny", "--set", "train.lr=nan"], "train.lr"),
    ("train-force-ckpt-0", lambda s, d: ["train", "vqvae", "--data", str(s / "data"), "--out", str(s / "exp"),
                                         "--force", "--config", "tiny", "--set", "train.checkpoint_every=0"],
     "checkpoint_every"),
    ("train-force-device", lambda s, d: ["train", "vqvae", "--data", str(s / "data"), "--out", str(s / "exp"),
                                         "--force", "--config", "tiny", "--set", "train.device=bogus"], "device"),
    ("train-force-layers", lambda s, d: ["train", "vqvae", "--data", str(s / "data"), "--out", str(s / "exp"),
                                         "--force", "--config", "tiny", "--set",
                                         "model.decoder.layers_per_stack=1000000"], "layers_per_stack"),
    ("train-force-bad-data", lambda s, d: ["train", "vqvae", "--data", str(d / "none"), "--out", str(s / "exp"),
                                           "--force", "--config", "tiny"], "no such data dir"),
    ("train-force-pipes", lambda s, d: ["train", "vqvae", "--data", str(_pipe_data(s, d)), "--out",
                                        str(s / "exp"), "--force", "--config", "tiny"], "--allow-pipes"),
    ("train-force-laughs", lambda s, d: ["train", "vqvae", "--data", str(s / "data"), "--out", str(s / "exp"),
                                         "--force", "--config", str(_yaml(d, LAUGHS))], "aliases"),
    ("train-force-deep-yaml", lambda s, d: ["train", "vqvae", "--data", str(s / "data"), "--out", str(s / "exp"),
                                            "--force", "--config", str(_yaml(d, "a: " + "[" * 100000 + "]" * 100000
                                                                             ))], "nested"),
    ("train-force-python-tag", lambda s, d: ["train", "vqvae", "--data", str(s / "data"), "--out", str(s / "exp"),
                                             "--force", "--config", str(_yaml(d, "train: !!python/object/apply:"
                                                                             "os.system ['true']\n"))], "YAML"),
    ("train-resume-and-force", lambda s, d: ["train", "vqvae", "--data", str(s / "data"), "--out", str(s / "exp"),
                                             "--force", "--resume"], "exclude"),
    ("train-out-is-file", lambda s, d: ["train", "vqvae", "--data", str(s / "data"), "--out", str(s / "in.wav"),
                                        "--config", "tiny"], "not a directory"),
    ("train-exists", lambda s, d: ["train", "vqvae", "--data", str(s / "data"), "--out", str(s / "exp"),
                                   "--config", "tiny"], "--resume"),
    ("train-resume-no-optimizer", lambda s, d: ["train", "vqvae", "--data", str(s / "data"), "--resume",
                                                "--out", str(exp_copy(s, d, _drop_optimizer)), "--set",
                                                "train.steps=4"], "optimizer"),
    ("train-resume-other-model", lambda s, d: ["train", "vqvae", "--data", str(s / "data"), "--resume", "--out",
                                               str(exp_copy(s, d)), "--set", "train.steps=4", "--set",
                                               "model.quantizer.num_codes=64"], "does not match"),
    ("train-prior-not-vqvae", lambda s, d: ["train", "prior", "--vqvae", str(s / "data"), "--data", str(s / "data"),
                                            "--out", str(d / "p"), "--config", "tiny"], "model"),
    # data / eval / prepare
    ("data-validate-missing", lambda s, d: ["data", "validate", str(d / "none")], "no such data dir"),
    ("eval-temperature", lambda s, d: ["eval", "reconstruct", "--data", str(s / "data"), M, str(s / "vq"),
                                       "--temperature", "inf", "-o", str(d / "r")], "--temperature"),
    ("prepare-seed", lambda s, d: ["prepare", "synth", str(d / "synth"), "--seed", "-1"], "--seed"),
]


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_enough_cases():
    assert len(CASES) >= 40 and len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("make_args,needle", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_hostile_case(shared, tmp_path, runner, make_args, needle):
    case = tmp_path / "case"
    case.mkdir()
    args = make_args(shared, case)
    before, before_case = snapshot(shared), snapshot(case)
    t0 = time.process_time()
    result = runner.invoke(app, args)
    cpu = time.process_time() - t0
    err = result.stderr
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert result.exit_code == 2, (args, result.output)
    assert "unexpected" not in result.output and "Traceback" not in result.output, result.output
    assert len(errors) == 1 and needle in errors[0], err
    assert snapshot(shared) == before, "a shared input changed"
    assert snapshot(case) == before_case, "output left behind (or a case input changed)"
    assert cpu < 3.0, f"{cpu:.2f} s of CPU"  # model loading included; the refusal itself is quick
    assert not Path("/tmp/vqspeech_pwned").exists()
