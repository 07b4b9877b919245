"""Data safety: --force keeps the old run until the new one checkpoints, failures and kills leave EXP as it
was, temp files of killed writers are cleaned, the model-dir swap never leaves it missing, weights carry a
checksum, cut-short wavs warn, pipes are reported, a damaged cache index is rebuilt."""

from __future__ import annotations

import json
import logging
import os
import shutil

import numpy as np
import pytest
import soundfile as sf
import torch

from tests.test_dataset import write_corpus
from tests.test_hostile import TRAIN_FAST, _tiny_vqvae, snapshot
from vqspeech.cli import app
from vqspeech.errors import VQSpeechError


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A data dir and a finished two-step run: (root, data, exp)."""
    from typer.testing import CliRunner

    root = tmp_path_factory.mktemp("safety")
    data, _ = write_corpus(root / "data", lengths=(3000, 4000, 2500))
    r = CliRunner().invoke(app, ["train", "vqvae", "--data", str(data), "--config", "tiny", "--out",
                                 str(root / "exp"), *TRAIN_FAST])
    assert r.exit_code == 0, r.output
    return root, data, root / "exp"


def _train(runner, data, exp, *extra):
    return runner.invoke(app, ["train", "vqvae", "--data", str(data), "--out", str(exp), *extra])


def test_force_failing_mid_run_leaves_exp_as_it_was(run, tmp_path, runner):
    root, data, exp0 = run
    exp = tmp_path / "exp"
    shutil.copytree(exp0, exp)
    bad, _ = write_corpus(tmp_path / "bad", lengths=(3000, 4000))
    os.remove(next((tmp_path / "bad" / "wav").iterdir()))  # fails while caching, after --force set EXP aside
    before = snapshot(exp)
    r = _train(runner, bad, exp, "--force", "--config", "tiny", *TRAIN_FAST)
    assert r.exit_code == 2 and "no such file" in r.stderr
    assert snapshot(exp) == before


def test_force_replaces_the_run_once_it_checkpoints(run, tmp_path, runner):
    root, data, exp0 = run
    exp = tmp_path / "exp"
    shutil.copytree(exp0, exp)
    old = (exp / "model" / "model.safetensors").read_bytes()
    r = _train(runner, data, exp, "--force", "--config", "tiny", *TRAIN_FAST, "--set", "train.seed=7")
    assert r.exit_code == 0, r.output
    assert sorted(os.listdir(exp)) == ["checkpoints", "log", "model", "train_config.yaml"]
    assert (exp / "model" / "model.safetensors").read_bytes() != old
    assert "seed: 7" in (exp / "train_config.yaml").read_text()


def test_killed_force_run_is_undone_or_finished_at_next_start(run, tmp_path):
    from vqspeech.train.checkpoint import PREVIOUS_RUN
    from vqspeech.train.setup import RUN_FILES, ExpGuard

    root, data, exp0 = run
    exp = tmp_path / "exp"
    shutil.copytree(exp0, exp)
    before = snapshot(exp)
    guard = ExpGuard(exp, force=True).__enter__()  # a kill -9 after --force set the run aside...
    assert guard and (exp / PREVIOUS_RUN).is_dir() and not (exp / "checkpoints").exists()
    (exp / "log").mkdir()
    (exp / "log" / "train.jsonl").write_text('{"step": 1')  # ...and before its first checkpoint
    with ExpGuard(exp, force=False):  # the next start puts the old run back
        assert snapshot(exp) == before
    # killed after the new run's first checkpoint: the old run is dropped
    ExpGuard(exp, force=True).__enter__()
    shutil.copytree(exp / PREVIOUS_RUN / "checkpoints", exp / "checkpoints")
    with ExpGuard(exp, force=False):
        assert not (exp / PREVIOUS_RUN).exists() and all(n in os.listdir(exp) for n in RUN_FILES[:1])


def test_failed_resume_keeps_config_and_log(run, tmp_path, runner):
    root, data, exp0 = run
    exp = tmp_path / "exp"
    shutil.copytree(exp0, exp)
    before = snapshot(exp)
    r = _train(runner, data, exp, "--resume", "--set", "train.steps=4", "--set", "model.encoder.hidden_channels=8")
    assert r.exit_code == 2 and "does not match" in r.stderr
    assert snapshot(exp) == before


def test_resume_tolerates_a_garbled_log(run, tmp_path, runner):
    root, data, exp0 = run
    exp = tmp_path / "exp"
    shutil.copytree(exp0, exp)
    log = exp / "log" / "train.jsonl"
    log.write_bytes(log.read_bytes() + b"\xff\xfe[1, 2]\n{\"step\": \"x\"}\n{\"step\": 1")
    r = _train(runner, data, exp, "--resume", "--set", "train.steps=4", "--no-progress")
    assert r.exit_code == 0, r.output
    records = [json.loads(x) for x in log.read_text().splitlines()]
    assert [x["step"] for x in records if x["split"] == "train"] == [1, 2, 3, 4]


def test_stale_temp_files_are_removed_and_a_parked_dir_restored(tmp_path):
    from vqspeech import fileutil

    dead = 2**22 + 12345  # beyond pid_max on a default Linux: never running
    host = fileutil._HOST
    (tmp_path / f".x.decoded.wav.~{dead}@{host}~abcdefgh.wav.tmp").write_bytes(b"half")
    (tmp_path / f".step_00000008.~{dead}@{host}~abcdefgh.tmp").mkdir()
    live = tmp_path / f".y.wav.~{os.getppid()}@{host}~abcdefgh.wav.tmp"  # a live writer's: kept
    live.write_bytes(b"busy")
    parked = tmp_path / f".model.~{dead}@{host}~abcdefgh.old"
    (parked / "x").mkdir(parents=True)
    (parked / "x" / "config.json").write_text("{}")
    legacy = tmp_path / ".z.wav.abcdefgh.wav.tmp"
    legacy.write_bytes(b"old")
    os.utime(legacy, (0, 0))
    keep = tmp_path / ".hidden_user_file"
    keep.write_text("mine")
    removed = fileutil.clean_stale(tmp_path)
    assert len(removed) == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, "model", keep.name])
    assert (tmp_path / "model" / "config.json").read_text() == "{}"


def test_model_dir_swap_is_an_exchange(tmp_path, monkeypatch):
    from vqspeech import fileutil

    with fileutil.atomic_dir(tmp_path / "model") as d:
        (d / "a").write_text("1")
    seen = []
    real = fileutil._exchange

    def spy(a, b):
        ok = real(a, b)
        seen.append(ok)
        assert (tmp_path / "model").is_dir()  # never missing, not even between steps
        return ok

    monkeypatch.setattr(fileutil, "_exchange", spy)
    with fileutil.atomic_dir(tmp_path / "model") as d:
        (d / "b").write_text("2")
    assert os.listdir(tmp_path / "model") == ["b"] and os.listdir(tmp_path) == ["model"]
    assert seen in ([True], [False])


def test_weights_checksum_and_legacy_files(tmp_path):
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    from vqspeech import pretrained
    from vqspeech.models.io import CHECKSUM_KEY, load_model, save_model, weights_checksum

    save_model(_tiny_vqvae(), tmp_path / "m")
    w = tmp_path / "m" / "model.safetensors"
    with safe_open(str(w), "pt") as f:
        assert f.metadata()[CHECKSUM_KEY] == weights_checksum(load_file(str(w)))
    load_model(tmp_path / "m")
    save_file(load_file(str(w)), str(w), metadata={"format": "pt"})  # as written before checksums
    load_model(tmp_path / "m")
    load_model(pretrained.default_model_dir())
    tensors = load_file(str(w))
    tensors[sorted(tensors)[0]][0] = float("inf")
    save_file(tensors, str(w), metadata={"format": "pt"})
    with pytest.raises(VQSpeechError, match="NaN/inf"):
        load_model(tmp_path / "m")


def test_cut_short_wav_warns_with_the_missing_length(tmp_path, caplog):
    from vqspeech.audio import load_audio

    p = tmp_path / "cut.wav"
    sf.write(p, np.full(16000, 0.1, np.float32), 16000, subtype="PCM_16")
    b = p.read_bytes()
    p.write_bytes(b[: len(b) - 8000])  # 4000 samples = 0.25 s missing
    with caplog.at_level(logging.WARNING, logger="vqspeech"):
        wav = load_audio(p)
    assert wav.size == 12000
    assert "cut short: 0.250 s (8000 bytes) missing" in caplog.text


def test_validate_reports_pipes(run, tmp_path, runner):
    from tests.test_hostile import _pipe_data

    root, data, _ = run
    pipes = _pipe_data(root, tmp_path)
    r = runner.invoke(app, ["data", "validate", str(pipes), "--no-text"])
    assert r.exit_code == 0 and "wav.scp runs 1 shell command" in r.output
    r = runner.invoke(app, ["data", "validate", str(data), "--no-text"])
    assert r.exit_code == 0 and "shell" not in r.output


def test_allow_pipes_trains(run, tmp_path, runner):
    from tests.test_hostile import _pipe_data

    root, _, _ = run
    r = _train(runner, _pipe_data(root, tmp_path), tmp_path / "exp", "--config", "tiny", "--allow-pipes",
               *TRAIN_FAST)
    assert r.exit_code == 0, r.output
    assert "runs 1 shell commands" in r.stderr


def test_damaged_cache_index_is_rebuilt(tmp_path):
    from vqspeech.data.dataset import open_audio_cache

    d, wavs = write_corpus(tmp_path / "d", lengths=(2000, 3000))
    open_audio_cache(d, 16000, progress=False)
    index = next((d / ".cache").glob("index_*.json"))
    for bad in ("[1, 2]", '{"hash": null, "utts": 5}', "{\"version\": 1, \"utts\": [{}]}"):
        index.write_text(bad)
        cache = open_audio_cache(d, 16000, progress=False)
        assert cache.utts == sorted(wavs)


def test_state_checks(tmp_path):
    from vqspeech.train.checkpoint import read_state

    for bad in ({"step": 1}, [1, 2], {"step": 1, "best_loss": 0.0, "optimizer": {}, "rng": {}}):
        torch.save(bad, tmp_path / "state.pt")
        with pytest.raises(VQSpeechError, match="state.pt"):
            read_state(tmp_path)
    (tmp_path / "state.pt").write_bytes(b"garbage")
    with pytest.raises(VQSpeechError, match="unreadable training state"):
        read_state(tmp_path)
