"""encode / decode / convert / sample / speakers from the command line, good and bad input."""

from __future__ import annotations

import os

import numpy as np
import pytest
import soundfile as sf
import torch

from vqspeech.cli import app
from vqspeech.codec.bitstream import read_vqs
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

SR = 16000


def _vqvae(seed: int):
    torch.manual_seed(seed)
    cfg = VQVAEConfig(speakers=["alice", "bob"], encoder=EncoderConfig(strides=[2, 2, 2, 2], hidden_channels=16,
                      residual_blocks=1), quantizer=QuantizerConfig(num_codes=16, dim=8),
                      decoder=named_decoder_config("tiny"))
    model = build_vqvae(cfg).eval()
    with torch.no_grad():
        z = model.encoder(torch.randn(1, 1, 1024) * 0.3)[0].t()
        model.quantizer.codebook.copy_(z[:16])
    return model


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    save_model(_vqvae(0), root / "vq")
    save_model(_vqvae(1), root / "vq_other")
    with torch.no_grad():  # the code of silence: a prior that expects it compresses silent files
        silent = int(torch.mode(_vqvae(0).encode(torch.zeros(1, 1, 1600))[0]).values)
    for name, favourite in [("prior", silent), ("prior_bad", (silent + 1) % 16)]:
        torch.manual_seed(2)
        prior = build_prior(PriorConfig(num_codes=16, hop=16, speakers=["alice", "bob"],
                                        wavenet=named_decoder_config("tiny")))
        with torch.no_grad():
            prior.wavenet.out2.bias[favourite] += 8.0
        save_model(prior, root / name)
    return root


@pytest.fixture
def wav(tmp_path, tone):
    path = tmp_path / "in.wav"
    sf.write(path, tone(0.15, SR), SR)
    return path


def _ok(runner, args):
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output + str(result.exception)
    return result


def _err(runner, args, msg):
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and msg in lines[-1], result.stderr
    return result


def test_encode_decode_round_trip(runner, models, wav):
    vq = str(models / "vq")
    r = _ok(runner, ["encode", str(wav), "--model", vq, "--speaker", "alice"])
    vqs = wav.with_suffix(".vqs")
    assert "150 codes" in r.stdout and "4.000 kbps" in r.stdout  # 0.15 s * 1000 codes/s * 4 bits
    header, codes = read_vqs(vqs)
    assert header.model_fingerprint == model_fingerprint(models / "vq") and header.speaker == "alice"
    assert header.num_samples == 2400 and codes.size == 150
    _ok(runner, ["decode", str(vqs), "--model", vq, "--seed", "0"])
    out, rate = sf.read(wav.with_name("in.decoded.wav"))
    assert rate == SR and out.shape == (2400,)
    _ok(runner, ["convert", str(wav), "--speaker", "bob", "--model", vq, "--seed", "0"])
    assert sf.info(str(wav.with_name("in.to_bob.wav"))).frames == 2400


def test_entropy_round_trip(runner, models, tmp_path):
    vq, prior = str(models / "vq"), str(models / "prior")
    wav = tmp_path / "in.wav"
    sf.write(wav, np.zeros(SR, np.float32), SR)
    _ok(runner, ["encode", str(wav), "--model", vq, "-o", str(tmp_path / "plain.vqs")])
    r = _ok(runner, ["encode", str(wav), "--model", vq, "--entropy", "--prior", prior, "-o", str(tmp_path / "e.vqs")])
    assert "entropy-coded" in r.stdout and "kbps" in r.stdout
    assert (tmp_path / "e.vqs").stat().st_size < (tmp_path / "plain.vqs").stat().st_size
    from vqspeech.codec.files import read_codes
    from vqspeech.models.io import load_model

    _, plain = read_vqs(tmp_path / "plain.vqs")
    _, codes = read_codes(tmp_path / "e.vqs", lambda: (load_model(prior), model_fingerprint(prior)))
    np.testing.assert_array_equal(codes, plain)
    _ok(runner, ["decode", str(tmp_path / "e.vqs"), "--model", vq, "--prior", prior, "--temperature", "0"])
    assert (tmp_path / "e.decoded.wav").exists()
    _err(runner, ["decode", str(tmp_path / "e.vqs"), "--model", vq, "--prior", vq, "-o", str(tmp_path / "x.wav")],
         "is a vqvae model, not a prior")
    _err(runner, ["decode", str(tmp_path / "e.vqs"), "--model", vq, "--prior", str(models / "prior_bad"), "-o",
                  str(tmp_path / "x.wav")], "entropy-coded with prior")
    assert not (tmp_path / "x.wav").exists()
    # a prior that does not fit the codes: range coding would be larger, so the file is bit-packed
    r = _ok(runner, ["encode", str(wav), "--model", vq, "--entropy", "--prior", str(models / "prior_bad"),
                     "-o", str(tmp_path / "b.vqs")])
    assert "not smaller: bit-packed" in r.stdout
    header, codes = read_vqs(tmp_path / "b.vqs")
    assert header.entropy is None
    np.testing.assert_array_equal(codes, plain)


def test_directory_and_many_files(runner, models, tmp_path, tone):
    src = tmp_path / "corpus"
    (src / "spk1").mkdir(parents=True)
    sf.write(src / "spk1" / "a.wav", tone(0.05, SR), SR)
    sf.write(src / "b.flac", tone(0.05, 22050), 22050)
    (src / "notes.txt").write_text("not audio")
    _ok(runner, ["encode", str(src), "-o", str(tmp_path / "codes"), "--model", str(models / "vq")])
    assert sorted(p.relative_to(tmp_path / "codes").as_posix() for p in (tmp_path / "codes").rglob("*.vqs")) == \
        ["b.vqs", "spk1/a.vqs"]
    _ok(runner, ["decode", str(tmp_path / "codes"), "--model", str(models / "vq"), "--speaker", "bob"])
    assert (tmp_path / "codes_decoded" / "spk1" / "a.wav").exists()
    # one bad file among good ones: reported, others written, exit 2, nothing partial
    (tmp_path / "bad.wav").write_bytes(b"RIFF garbage")
    r = _err(runner, ["encode", str(src / "spk1" / "a.wav"), str(tmp_path / "bad.wav"), "-o", str(tmp_path / "m"),
                      "--model", str(models / "vq")], "1 of 2 files failed")
    assert "bad.wav: not a readable audio file" in r.stderr
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["a.vqs"]


def test_speakers(runner, models):
    assert _ok(runner, ["speakers", "--model", str(models / "vq")]).stdout.split() == ["alice", "bob"]


def test_missing_bundled_default_is_a_clear_error(runner, wav, tmp_path, monkeypatch):
    from vqspeech import pretrained

    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", tmp_path / "empty")
    _err(runner, ["encode", str(wav)], "no bundled default model yet")
    _err(runner, ["speakers"], "pass --model DIR")
    _err(runner, ["sample", "--speaker", "x", "--seconds", "0.1", "-o", str(tmp_path / "s.wav")], "no bundled default")


def test_bundled_default_is_used_without_model(runner, wav, tmp_path):
    """encode/decode/convert/speakers/sample without --model/--prior use vqspeech/pretrained."""
    from vqspeech.pretrained import default_model_dir

    speakers = _ok(runner, ["speakers"]).stdout.split()
    assert speakers == ["car_f1", "gb_f4", "gb_m3", "sc_m2", "us_f2", "us_klatt3", "us_m1", "us_m5"]
    out = tmp_path / "a.vqs"
    _ok(runner, ["encode", str(wav), "-o", str(out)])
    assert read_vqs(out)[0].model_fingerprint == model_fingerprint(default_model_dir())
    _ok(runner, ["decode", str(out), "--speaker", "gb_f4", "-o", str(tmp_path / "a.wav")])
    _ok(runner, ["convert", str(wav), "--speaker", "us_m1", "-o", str(tmp_path / "c.wav")])
    _ok(runner, ["sample", "--speaker", "sc_m2", "--seconds", "0.1", "-o", str(tmp_path / "s.wav")])
    for name in ("a.wav", "c.wav", "s.wav"):
        x, sr = sf.read(tmp_path / name)
        assert sr == 16000 and x.size > 0 and np.isfinite(x).all()


def test_bad_inputs(runner, models, wav, tmp_path):
    vq = ["--model", str(models / "vq")]
    _err(runner, ["encode", str(tmp_path / "missing.wav"), *vq], "no such file")
    (tmp_path / "empty.wav").write_bytes(b"")
    _err(runner, ["encode", str(tmp_path / "empty.wav"), *vq], "empty.wav: not a readable audio file")
    (tmp_path / "junk.wav").write_bytes(os.urandom(3000))
    _err(runner, ["encode", str(tmp_path / "junk.wav"), *vq], "junk.wav: not a readable audio file")
    if os.geteuid() != 0:
        locked = tmp_path / "locked.wav"
        sf.write(locked, np.zeros(100, np.float32), SR)
        locked.chmod(0)
        _err(runner, ["encode", str(locked), *vq], "permission denied")
    _ok(runner, ["encode", str(wav), *vq])
    vqs = wav.with_suffix(".vqs")
    _err(runner, ["encode", str(wav), *vq], "exists (use --force to overwrite)")
    _ok(runner, ["encode", str(wav), *vq, "--force"])
    data = vqs.read_bytes()
    (tmp_path / "trunc.vqs").write_bytes(data[:-7])
    _err(runner, ["decode", str(tmp_path / "trunc.vqs"), *vq], "trunc.vqs: corrupted or truncated")
    flipped = bytearray(data)
    flipped[-10] ^= 4
    (tmp_path / "flip.vqs").write_bytes(bytes(flipped))
    _err(runner, ["decode", str(tmp_path / "flip.vqs"), *vq], "frame 0 of 1 (0.00-0.15 s) is damaged (CRC mismatch)")
    (tmp_path / "wav.vqs").write_bytes(wav.read_bytes())
    _err(runner, ["decode", str(tmp_path / "wav.vqs"), *vq], "not a .vqs file")
    _err(runner, ["decode", str(vqs), "--model", str(models / "vq_other")], "--ignore-model-mismatch")
    _ok(runner, ["decode", str(vqs), "--model", str(models / "vq_other"), "--ignore-model-mismatch"])
    _err(runner, ["decode", str(vqs), *vq, "--speaker", "carol", "-o", str(tmp_path / "c.wav")],
         "unknown speaker 'carol' (known: alice, bob)")
    _err(runner, ["convert", str(wav), "--speaker", "carol", *vq], "unknown speaker 'carol' (known: alice, bob)")
    _err(runner, ["decode", str(vqs), *vq], "exists (use --force")
    _err(runner, ["encode", str(wav), "--force", "--model", str(tmp_path)], "not a vqspeech model directory")
    # nothing partial or temporary was left behind by any failure
    names = sorted(p.name for p in tmp_path.iterdir())
    assert not [n for n in names if n.endswith(".tmp")]
    assert "c.wav" not in names and "trunc.decoded.wav" not in names and "flip.decoded.wav" not in names
    assert "junk.vqs" not in names and "empty.vqs" not in names


def test_sample(runner, models, tmp_path):
    out = tmp_path / "s.wav"
    r = _ok(runner, ["sample", "--prior", str(models / "prior"), "--model", str(models / "vq"), "--speaker", "bob",
                     "--seconds", "0.1", "-o", str(out), "--seed", "1"])
    assert "sampled from the prior" in r.stdout
    assert sf.info(str(out)).frames == 1600
    _err(runner, ["sample", "--prior", str(models / "prior"), "--model", str(models / "vq"), "--speaker", "eve",
                  "-o", str(tmp_path / "e.wav")], "unknown speaker 'eve'")


def test_frames_conceal_and_seek(runner, models, tmp_path, tone):
    """A bit error loses one frame: named by index and time, or with --conceal silenced while the rest
    decodes; --start/--duration decode a part; entropy coding is on with --prior, off with --no-entropy."""
    vq, prior = str(models / "vq"), str(models / "prior")
    wav = tmp_path / "in.wav"
    x = np.zeros(3 * SR, np.float32)
    x[SR // 2: SR // 2 + 1600] = tone(0.1, SR)
    sf.write(wav, x, SR)
    _ok(runner, ["encode", str(wav), "--model", vq, "--no-entropy", "-o", str(tmp_path / "p.vqs")])
    r = _ok(runner, ["encode", str(wav), "--model", vq, "--prior", prior, "-o", str(tmp_path / "e.vqs")])
    assert "entropy-coded" in r.stdout
    _err(runner, ["encode", str(wav), "--model", vq, "--prior", prior, "--no-entropy", "-o", str(tmp_path / "n.vqs")],
         "--no-entropy")
    from vqspeech.codec.bitstream import read_vqs as rv

    h, frames = rv(tmp_path / "e.vqs")
    assert h.version == 2 and h.frame_codes == 1000 and [f.n_codes for f in frames.frames] == [1000] * 3
    for name in ("p.vqs", "e.vqs"):
        h, got = rv(tmp_path / name, raw_frames=True)
        data = bytearray((tmp_path / name).read_bytes())
        f1 = got.frames[1]
        data[f1.offset + f1.length // 2] ^= 0x10
        bad = tmp_path / f"bad_{name}"
        bad.write_bytes(bytes(data))
        args = ["decode", str(bad), "--model", vq, "--prior", prior, "--temperature", "0"]
        _err(runner, [*args, "-o", str(tmp_path / "x.wav")], "frame 1 of 3 (1.00-2.00 s) is damaged")
        r = _ok(runner, [*args, "--conceal", "-o", str(tmp_path / f"c_{name}.wav")])
        assert "1 damaged frames concealed" in r.stdout
        y, _ = sf.read(tmp_path / f"c_{name}.wav")
        assert y.shape == (3 * SR,) and not y[SR: 2 * SR].any() and y[: SR].any()
        r = _ok(runner, [*args, "--conceal", "--start", "0.25", "--duration", "1.0", "-o", str(tmp_path / f"s_{name}.wav")])
        y, _ = sf.read(tmp_path / f"s_{name}.wav")
        assert y.shape == (SR,) and not y[int(0.75 * SR):].any() and y[: int(0.75 * SR)].any()
    _err(runner, ["decode", str(tmp_path / "p.vqs"), "--model", vq, "--start", "5", "-o", str(tmp_path / "y.wav")],
         "beyond the end")


def test_info_on_vqs_files(runner, models, tmp_path, tone):
    import json
    from pathlib import Path

    vq, prior = str(models / "vq"), str(models / "prior")
    wav = tmp_path / "in.wav"
    sf.write(wav, np.zeros(2 * SR, np.float32), SR)
    _ok(runner, ["encode", str(wav), "--model", vq, "--prior", prior, "--speaker", "bob", "-o", str(tmp_path / "e.vqs")])
    r = _ok(runner, ["info", str(tmp_path / "e.vqs")])
    assert ".vqs version 2" in r.stdout and "frames       2 of 1000 codes; all CRCs ok" in r.stdout
    assert "entropy-coded (int-prior-v1" in r.stdout and "speaker      bob" in r.stdout and "kbps all included" in r.stdout
    s = json.loads(_ok(runner, ["info", str(tmp_path / "e.vqs"), "--json"]).stdout)  # 30 bytes at K=16 + "bob"
    assert s["header_bytes"] == 30 + 4 and s["file_bytes"] == (tmp_path / "e.vqs").stat().st_size
    assert sum(f["bytes"] for f in s["frames"]) + s["header_bytes"] == s["file_bytes"]
    data = bytearray((tmp_path / "e.vqs").read_bytes())
    data[s["header_bytes"] + 1] ^= 1  # frame 0's payload
    (tmp_path / "bad.vqs").write_bytes(bytes(data))
    assert "damaged: 0" in _ok(runner, ["info", str(tmp_path / "bad.vqs")]).stdout
    v1 = Path(__file__).parent / "data" / "v1_plain.vqs"
    assert ".vqs version 1: 674 bytes" in _ok(runner, ["info", str(v1)]).stdout
    _err(runner, ["info", str(tmp_path / "missing.vqs")], "no such file")
