"""Training: overfitting, exact resume, torchrun DDP, crash-safe checkpoints, configs, the CLI."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.test_dataset import write_corpus
from vqspeech.errors import VQSpeechError

FAST = ["train.checkpoint_every=4", "train.validate_every=4", "train.log_every=2", "train.warmup_steps=2"]


def tiny(overrides=(), kind="vqvae"):
    from vqspeech.train.config import load_train_config

    return load_train_config("tiny", [*FAST, *overrides], kind=kind)


def weights(path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(Path(path) / "model.safetensors"))


@pytest.fixture
def corpus(tmp_path):
    train, _ = write_corpus(tmp_path / "train", lengths=(3000, 4000, 5000, 2500, 6000, 3500))
    dev, _ = write_corpus(tmp_path / "dev", lengths=(2000, 3000), seed=1)
    return train, dev


def test_lr_schedule():
    from vqspeech.train.schedule import lr_factor

    assert lr_factor(0, 100, 10) == pytest.approx(0.1) and lr_factor(9, 100, 10) == 1.0
    assert lr_factor(10, 100, 10) == 1.0 and lr_factor(100, 100, 10, min_ratio=0.05) == pytest.approx(0.05)
    assert lr_factor(55, 100, 10, min_ratio=0.0) == pytest.approx(0.5)
    assert lr_factor(80, 100, 10, decay="none") == 1.0


def test_tiny_model_overfits_one_batch(tmp_path):
    from vqspeech.models import build_vqvae
    from vqspeech.train.config import model_config
    from vqspeech.train.distributed import DistInfo
    from vqspeech.train.trainer import Task, run_training
    from vqspeech.train.vqvae import vqvae_loss

    cfg = tiny(["train.steps=80", "train.lr=0.01", "train.checkpoint_every=1000", "train.decay=none"])
    mcfg = model_config(cfg)
    mcfg.speakers = ["a"]
    torch.manual_seed(0)
    t = torch.arange(1024) / 16000
    wav = (0.5 * torch.sin(2 * math.pi * 250 * t) * torch.sin(2 * math.pi * 3 * t)).view(1, 1, -1)
    batch = (wav.repeat(2, 1, 1), torch.zeros(2, dtype=torch.long))
    model = build_vqvae(mcfg)
    task = Task("vqvae", model, [batch] * cfg.train.steps, vqvae_loss, lambda m, d: None,
                samples_per_batch=2)
    first = float(vqvae_loss(model, batch)[0].detach())
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the tiny model is slower with more threads on a busy machine
    try:
        out = run_training(task, cfg.train, tmp_path / "exp", DistInfo(), torch.device("cpu"), progress=False)
    finally:
        torch.set_num_threads(threads)
    assert first > 5.0 and out["train"]["recon_loss"] < 1.0, (first, out["train"])


def test_resume_is_exact(corpus, tmp_path):
    from vqspeech.train.checkpoint import list_checkpoints
    from vqspeech.train.vqvae import train_vqvae

    train, dev = corpus
    straight = train_vqvae(train, dev, tiny(["train.steps=8"]), tmp_path / "a", progress=False)
    cut = tmp_path / "b"
    train_vqvae(train, dev, tiny(["train.steps=4"]), cut, progress=False)  # same config until step 4...
    import shutil

    # ...except the lr schedule, which depends on train.steps: redo with steps=8, stopped at 4 by a kill
    shutil.rmtree(cut)
    train_vqvae(train, dev, tiny(["train.steps=8"]), cut, progress=False)
    for step, path in list_checkpoints(cut):
        if step > 4:
            shutil.rmtree(path)
    assert [s for s, _ in list_checkpoints(cut)] == [4]
    resumed = train_vqvae(train, dev, tiny(["train.steps=8"]), cut, resume=True, progress=False)
    a, b = weights(tmp_path / "a" / "model"), weights(cut / "model")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert resumed["dev"]["loss"] == straight["dev"]["loss"]
    records = [json.loads(x) for x in (cut / "log" / "train.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in records if r["split"] == "train"]
    assert steps == sorted(set(steps)) and steps[-1] == 8  # records past step 4 were not duplicated
    state = torch.load(list_checkpoints(cut)[-1][1] / "state.pt", weights_only=True)
    assert state["step"] == 8 and "optimizer" in state and "rng" in state


def test_non_finite_loss_stops_with_one_line(tmp_path, corpus):
    from vqspeech.train.checkpoint import latest_checkpoint
    from vqspeech.train.vqvae import train_vqvae

    train, _ = corpus
    exp = tmp_path / "exp"
    train_vqvae(train, None, tiny(["train.steps=4"]), exp, progress=False)
    good = latest_checkpoint(exp)
    with pytest.raises(VQSpeechError, match=r"step [56]: loss is (nan|inf).*step_00000004"):
        train_vqvae(train, None, tiny(["train.steps=8", "train.lr=1e30", "train.grad_clip=0"]), exp,
                    resume=True, progress=False)
    assert latest_checkpoint(exp) == good


def test_crash_during_save_keeps_the_previous_checkpoint(tmp_path, corpus, monkeypatch):
    from vqspeech.models import build_vqvae
    from vqspeech.train import checkpoint as ckpt
    from vqspeech.train.config import model_config
    from vqspeech.train.vqvae import train_vqvae

    train, _ = corpus
    exp = tmp_path / "exp"
    real_save, calls = torch.save, []

    def flaky_save(obj, f, *a, **k):
        calls.append(f)
        if len(calls) == 2:
            real_save(obj, f, *a, **k)  # the file is written, then the process "dies"
            raise KeyboardInterrupt("killed mid-save")
        return real_save(obj, f, *a, **k)

    monkeypatch.setattr(ckpt.torch, "save", flaky_save)
    with pytest.raises(KeyboardInterrupt):
        train_vqvae(train, None, tiny(["train.steps=8"]), exp, progress=False)
    monkeypatch.setattr(ckpt.torch, "save", real_save)
    assert [s for s, _ in ckpt.list_checkpoints(exp)] == [4]
    assert not list((exp / "checkpoints").glob(".*"))  # no temp dir left behind
    cfg = tiny(["train.steps=8"])
    mcfg = model_config(cfg)
    mcfg.speakers = ["spkA", "spkB"]
    state = ckpt.load_checkpoint(ckpt.latest_checkpoint(exp), build_vqvae(mcfg))
    assert state["step"] == 4


def test_checkpoint_dir_loads_as_a_model(tmp_path, corpus):
    from vqspeech.models.io import load_model, model_fingerprint, read_model_config
    from vqspeech.models.vqvae import VQVAE
    from vqspeech.train.checkpoint import list_checkpoints
    from vqspeech.train.vqvae import train_vqvae

    train, _ = corpus
    exp = tmp_path / "exp"
    train_vqvae(train, None, tiny(["train.steps=4"]), exp, progress=False)
    [(step, path)] = list_checkpoints(exp)
    assert step == 4 and read_model_config(path)["kind"] == "vqvae"
    model = load_model(path)
    assert isinstance(model, VQVAE) and model.speakers == ["spkA", "spkB"]
    # the model exported at the same step is the same model, byte for byte
    assert model_fingerprint(path) == model_fingerprint(exp / "model")


def test_python_entry_points_follow_the_exp_rules(tmp_path, corpus):
    from vqspeech.train.prior import train_prior
    from vqspeech.train.vqvae import train_vqvae

    train, _ = corpus
    exp = tmp_path / "exp"
    (exp / "model").mkdir(parents=True)
    before = sorted(p.name for p in exp.rglob("*"))
    with pytest.raises(VQSpeechError, match="holds a training run .*--force to start over"):
        train_vqvae(train, None, tiny(), exp, progress=False)
    with pytest.raises(VQSpeechError, match="--resume and --force exclude each other"):
        train_vqvae(train, None, tiny(), exp, resume=True, force=True, progress=False)
    with pytest.raises(VQSpeechError, match="no such model directory"):
        train_prior(tmp_path / "none", train, None, tiny(kind="prior"), tmp_path / "p", progress=False)
    assert sorted(p.name for p in exp.rglob("*")) == before and not (tmp_path / "p").exists()


DDP_SCRIPT = """
import hashlib, sys, torch
import torch.distributed as dist
from vqspeech.train.config import load_train_config
from vqspeech.train import trainer, vqvae as tv
captured = {}
real = trainer.run_training
def spy(task, *a, **k):
    out = real(task, *a, **k)
    captured["model"] = task.model
    return out
trainer.run_training = spy
cfg = load_train_config("tiny", ["train.steps=3", "train.checkpoint_every=3", "train.batch_size=2",
                                 "model.quantizer.mode=ema"])
tv.train_vqvae(sys.argv[1], None, cfg, sys.argv[2], progress=False)
h = hashlib.sha256()
for k, v in sorted(captured["model"].state_dict().items()):
    h.update(k.encode()); h.update(v.detach().cpu().numpy().tobytes())
import os
open(f"{sys.argv[2]}/rank{os.environ['RANK']}.hash", "w").write(h.hexdigest())
"""


def test_two_process_ddp_keeps_ranks_identical(tmp_path, corpus):
    train, _ = corpus
    script = tmp_path / "ddp.py"
    script.write_text(DDP_SCRIPT)
    exp = tmp_path / "exp"
    exp.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[1])}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(script), str(train), str(exp)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    hashes = [(exp / f"rank{r}.hash").read_text() for r in range(2)]
    assert hashes[0] == hashes[1]
    assert (exp / "model" / "model.safetensors").is_file()
    records = [json.loads(x) for x in (exp / "log" / "train.jsonl").read_text().splitlines()]
    assert records and all(r["samples_per_s"] > 0 for r in records if r["split"] == "train")


def test_unknown_config_keys_are_named(runner, tmp_path, corpus):
    from vqspeech.cli import app

    train, _ = corpus
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  steps: 3\n  learning_rate: 0.1\n")
    res = runner.invoke(app, ["train", "vqvae", "--data", str(train), "--config", str(bad), "--out",
                              str(tmp_path / "e")])
    assert res.exit_code == 2 and "learning_rate" in res.stderr
    bad.write_text("model:\n  decoder: {stacks: 1, layerz: 3}\n")
    res = runner.invoke(app, ["train", "vqvae", "--data", str(train), "--config", str(bad), "--out",
                              str(tmp_path / "e")])
    assert res.exit_code == 2 and "model.decoder.layerz" in res.stderr
    res = runner.invoke(app, ["train", "vqvae", "--data", str(train), "--config", "tiny", "--set",
                              "train.stepz=3", "--out", str(tmp_path / "e")])
    assert res.exit_code == 2 and "stepz" in res.stderr
    res = runner.invoke(app, ["train", "vqvae", "--data", str(train), "--config", "tiny", "--set",
                              "train.crop_samples=1000", "--out", str(tmp_path / "e")])
    assert res.exit_code == 2 and "multiple of the hop" in res.stderr


def test_cli_trains_resumes_and_trains_a_prior(runner, tmp_path, corpus):
    from vqspeech.cli import app
    from vqspeech.models import load_model

    train, dev = corpus
    exp = tmp_path / "vq"
    args = ["train", "vqvae", "--data", str(train), "--dev", str(dev), "--config", "tiny", "--out", str(exp),
            "--no-progress", *sum((["--set", s] for s in [*FAST, "train.steps=4"]), [])]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "step 4" in res.stdout and "dev loss=" in res.stdout
    model = load_model(exp / "model")
    assert model.speakers == ["spkA", "spkB"] and model.config.decoder.layers_per_stack == 4
    res = runner.invoke(app, args)
    assert res.exit_code == 2 and "--resume" in res.stderr
    res = runner.invoke(app, ["train", "vqvae", "--data", str(train), "--out", str(exp), "--resume",
                              "--no-progress", "--set", "train.steps=6"])
    assert res.exit_code == 0 and "step 6" in res.stdout, res.output
    assert (exp / "log" / "tb").is_dir() and (exp / "train_config.yaml").is_file()

    pexp = tmp_path / "prior"
    res = runner.invoke(app, ["train", "prior", "--vqvae", str(exp / "model"), "--data", str(train), "--dev",
                              str(dev), "--config", "tiny", "--out", str(pexp), "--no-progress",
                              "--set", "train.steps=4", "--set", "train.window_codes=32"])
    assert res.exit_code == 0, res.output
    assert "bits_per_code=" in res.stdout and "bitrate_bps=" in res.stdout
    prior = load_model(pexp / "model")
    assert prior.config.num_codes == model.config.quantizer.num_codes
    assert (pexp / "codes" / "train.int16").is_file()
    rec = [json.loads(x) for x in (pexp / "log" / "train.jsonl").read_text().splitlines()]
    dev_rec = [r for r in rec if r["split"] == "dev"][-1]
    assert dev_rec["bitrate_bps"] == pytest.approx(dev_rec["bits_per_code"] * 16000 / 64)
    assert 0 < dev_rec["bits_per_code"] < 2 * math.log2(32)
