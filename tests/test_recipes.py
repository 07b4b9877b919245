"""The Kaldi-style recipes: the synth recipe end to end on its tiny configuration (every stage, outputs,
a second run is a no-op), option errors, stage 0 of VCTK and LibriSpeech on fake corpus trees, and
path.sh finding vqspeech outside a checkout."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.conftest import write_fake_librispeech
from vqspeech.data.alignments import write_textgrid
from vqspeech.data.kaldi import PhoneInterval, read_ctm, read_data_dir
from vqspeech.data.validate import validate_data_dir

ROOT = Path(__file__).resolve().parents[1]
RECIPES = ROOT / "recipes"
VENV_BIN = Path(sys.executable).parent


def run(script: Path, *args: str, env: dict | None = None, timeout: int = 400) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(script), *args], capture_output=True, text=True, timeout=timeout,
                          env=env if env is not None else _env())


def _env(path: str | None = None) -> dict:
    env = dict(os.environ)
    env["PATH"] = path if path is not None else f"{VENV_BIN}:{env.get('PATH', '/usr/bin:/bin')}"
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def _files(d: Path) -> dict[str, int]:
    """Relative path -> mtime_ns of every file under d, logs excluded."""
    return {str(p.relative_to(d)): p.stat().st_mtime_ns for p in d.rglob("*")
            if p.is_file() and "log" not in p.relative_to(d).parts}


def test_scripts_parse():
    scripts = sorted(RECIPES.glob("*/*.sh"))
    assert len(scripts) >= 13  # run/path/cmd x 3 + common helpers
    for s in scripts:
        r = subprocess.run(["bash", "-n", str(s)], capture_output=True, text=True)
        assert r.returncode == 0, (s, r.stderr)


@pytest.mark.slow
def test_synth_tiny_end_to_end(tmp_path):
    data, exp = tmp_path / "data", tmp_path / "exp"
    args = ["--conf", "conf/tiny.conf", "--data", str(data), "--exp", str(exp)]
    r = run(RECIPES / "synth" / "run.sh", *args)
    assert r.returncode == 0, r.stderr[-3000:]
    x = exp / "tiny"
    for stage in ("1.cache", "2.vqvae", "2.f0", "3.prior", "4.eval", "5.vqvae_k128", "5.phones", "6.samples"):
        assert (x / ".done" / stage).is_file(), stage
    assert (data / "synth_tiny" / ".done" / "0.data").is_file()
    for part in ("train", "dev", "test", "parallel"):
        assert validate_data_dir(data / "synth_tiny" / part).ok
    assert (data / "synth_tiny" / "train" / ".cache").is_dir()  # stage 1 built the trainer's cache

    from vqspeech.models.io import model_fingerprint, read_model_config

    vq = read_model_config(x / "vqvae" / "model")
    assert vq["kind"] == "vqvae" and vq["hop"] == 64 and vq["speakers"] == ["gb_f4", "us_m1"]
    k128 = read_model_config(x / "vqvae_k128" / "model")
    assert k128["hop"] == 128 and k128["num_codes"] == 128
    prior = read_model_config(x / "prior" / "model")
    assert prior["kind"] == "prior" and prior["config"]["speakers"] == vq["speakers"]
    # tiny.conf refits the F0 head on the frozen codes: the later stages use that model, same codes
    refit = read_model_config(x / "vqvae_f0" / "model")
    assert refit["same_codes_as"] == [model_fingerprint(x / "vqvae" / "model")]
    assert prior["config"]["vqvae_fingerprint"] == model_fingerprint(x / "vqvae_f0" / "model")

    rec = json.loads((x / "eval" / "reconstruct" / "metrics.json").read_text())
    conv = json.loads((x / "eval" / "convert" / "metrics.json").read_text())
    assert rec and conv
    phones = json.loads((x / "phones" / "metrics.json").read_text())
    assert sorted(phones["models"]) == ["vqvae_f0", "vqvae_k128"]
    samples = sorted((x / "samples").glob("*.wav"))
    assert [p.name for p in samples] == ["gb_f4.wav"]  # sample_num_speakers=1: the model's first speaker
    wav, sr = sf.read(samples[0])
    assert sr == 16000 and wav.size == 4000 and np.isfinite(wav).all()
    assert (x / "log" / "train_vqvae.log").read_text().startswith("# vqspeech train vqvae")

    before = _files(tmp_path)
    again = run(RECIPES / "synth" / "run.sh", *args)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stderr.count("already done") == 8  # stages 0-6 and the F0 head refit
    assert _files(tmp_path) == before  # nothing rewritten

    # a stage whose marker is removed runs again, alone
    (x / ".done" / "6.samples").unlink()
    redo = run(RECIPES / "synth" / "run.sh", *args, "--stage", "6")
    assert redo.returncode == 0, redo.stderr[-3000:]
    assert (x / ".done" / "6.samples").is_file() and "stage 6:" in redo.stderr

    # local/bundle_default.py: the experiment becomes a package default with a card built from its reports
    from vqspeech.analysis.html_report import markdown_table

    dest, notes = tmp_path / "pretrained", tmp_path / "notes.md"
    notes.write_text("It sounds like nothing: a tiny model.\n")
    bundle = subprocess.run([sys.executable, str(RECIPES / "synth" / "local" / "bundle_default.py"), "--exp", str(x),
                             "--corpus", str(data / "synth_tiny"), "--dest", str(dest), "--decode-rtf", "9.9x",
                             "--notes", str(notes)], capture_output=True, text=True, timeout=120)
    assert bundle.returncode == 0, bundle.stderr
    for name, src in (("default", "vqvae_f0"), ("default_prior", "prior")):
        assert model_fingerprint(dest / name) == model_fingerprint(x / src / "model")
    card = (dest / "MODEL_CARD.md").read_text()
    assert markdown_table(rec["table"]) in card and markdown_table(conv["table"]) in card
    assert "9.9x" in card and "seed 0" in card and "F0 head refit on the frozen codes" in card
    assert "## Listening notes\n\nIt sounds like nothing: a tiny model.\n" in card
    assert "### Samples from the prior\n\nnot measured" in card  # tiny.conf skips `eval sample`


@pytest.mark.parametrize("args, message", [
    (["--no-such-option", "1"], "unknown option --no-such-option"),
    (["--stage"], "option --stage needs a value"),
    (["--stage", "two"], "take non-negative integers"),
    (["--conf", "conf/nope.conf"], "no such config file: conf/nope.conf"),
    (["extra"], "unexpected argument 'extra'"),
    (["--stage=2"], "write options as '--name value'"),
])
def test_bad_options_are_one_line_errors(tmp_path, args, message):
    r = run(RECIPES / "synth" / "run.sh", *args, "--data", str(tmp_path / "d"), "--exp", str(tmp_path / "e"))
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], r.stderr
    assert not (tmp_path / "d").exists()


def test_help_lists_usage():
    r = run(RECIPES / "synth" / "run.sh", "--help")
    assert r.returncode == 0 and "usage:" in r.stderr and "--stop-stage" in r.stderr


def _tone(seconds: float, rate: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    quiet = np.zeros(int(0.15 * rate))
    wav = np.concatenate([quiet, 0.4 * np.sin(2 * np.pi * (200 + 20 * seed % 7) * t), quiet])
    return (wav + 1e-4 * rng.standard_normal(wav.size)).astype(np.float32)


def make_vctk(root: Path, speakers=("p225", "p226"), n=6) -> Path:
    """A fake VCTK 0.80 tree: 48 kHz tones with near-silence around them."""
    for si, spk in enumerate(speakers):
        (root / "txt" / spk).mkdir(parents=True)
        (root / "wav48" / spk).mkdir(parents=True)
        for i in range(1, n + 1):
            (root / "txt" / spk / f"{spk}_{i:03d}.txt").write_text(f"Please call Stella {i}.\n")
            sf.write(root / "wav48" / spk / f"{spk}_{i:03d}.wav", _tone(0.3, 48000, si * 10 + i), 48000)
    return root


def test_vctk_stage0(tmp_path):
    src = make_vctk(tmp_path / "VCTK-Corpus")
    data, exp = tmp_path / "data", tmp_path / "exp"
    script = RECIPES / "vctk" / "run.sh"
    r = run(script, "--data", str(data), "--exp", str(exp), "--stop-stage", "0")
    assert r.returncode == 1 and r.stderr.strip().splitlines()[-1].endswith(
        "stage 0 needs --corpus-root DIR (your VCTK download; the recipe cannot download it)")
    r = run(script, "--corpus-root", str(src), "--data", str(data), "--exp", str(exp), "--stop-stage", "0",
            "--nj", "1")
    assert r.returncode == 0, r.stderr[-3000:]
    utts = set()
    for part in ("train", "dev", "test"):
        d = data / "vctk" / part
        assert validate_data_dir(d).ok
        dd = read_data_dir(d)
        assert dd.speakers() == ["p225", "p226"]
        assert not utts & set(dd.utterances())
        utts |= set(dd.utterances())
        assert all("flac16k" in p for p in dd.wav_scp.values())  # --flac16k by default
    assert len(utts) == 12
    assert sf.info(next((data / "vctk" / "flac16k").rglob("*.flac"))).samplerate == 16000
    again = run(script, "--corpus-root", str(src), "--data", str(data), "--exp", str(exp), "--stop-stage", "0")
    assert again.returncode == 0 and "stage 0 (data): already done" in again.stderr


def make_librispeech(root: Path) -> tuple[Path, Path]:
    """A fake LibriSpeech tree (train-clean-100: 2 speakers x 6, test-clean: 1 x 2) + MFA TextGrids of test-clean."""
    tree = {"train-clean-100": {"19": {"198": 6}, "26": {"495": 6}}, "test-clean": {"1089": {"134686": 2}}}
    mfa = root / "mfa"
    for part, spk, utt, dur in write_fake_librispeech(root, tree, lambda utt, i: 0.3 + 0.05 * i):
        if part == "test-clean":
            (mfa / spk).mkdir(parents=True, exist_ok=True)
            write_textgrid(mfa / spk / f"{utt}.TextGrid", [PhoneInterval(0.05, dur / 2, "HH"),
                           PhoneInterval(dur / 2, dur - 0.05, "AH0")], max_time=dur)
    return root, mfa


def test_librispeech_stage0(tmp_path):
    src, mfa = make_librispeech(tmp_path / "corpus")
    data, exp = tmp_path / "data", tmp_path / "exp"
    r = run(RECIPES / "librispeech" / "run.sh", "--corpus-root", str(src), "--mfa-alignments", str(mfa),
            "--data", str(data), "--exp", str(exp), "--stop-stage", "0")
    assert r.returncode == 0, r.stderr[-3000:]
    corpus = data / "librispeech"
    split = {p: read_data_dir(corpus / p) for p in ("train", "dev", "test")}
    for p, dd in split.items():
        assert validate_data_dir(corpus / p).ok
        assert dd.speakers() == ["19", "26"]  # held-out utterances of the training speakers
        assert [len(u) for u in dd.spk2utt().values()] == [2, 2]  # 6 per speaker: 2 each for dev/test
    all_utts = [u for dd in split.values() for u in dd.utterances()]
    assert sorted(all_utts) == sorted(f"{s}-{c}-{i:04d}" for s, c in (("19", "198"), ("26", "495")) for i in range(6))
    for dd in split.values():  # absolute paths into the corpus: the data dirs can move
        assert all(Path(p).is_absolute() and Path(p).is_file() for p in dd.wav_scp.values())
    phones = corpus / "parts" / "test_clean"
    assert validate_data_dir(phones).ok
    ctm = read_ctm(phones / "ctm")
    assert sorted(ctm) == ["1089-134686-0000", "1089-134686-0001"]
    assert [p.phone for p in ctm["1089-134686-0000"]] == ["sil", "HH", "AH0", "sil"]


def test_librispeech_needs_existing_corpus(tmp_path):
    r = run(RECIPES / "librispeech" / "run.sh", "--corpus-root", str(tmp_path / "missing"),
            "--data", str(tmp_path / "d"), "--exp", str(tmp_path / "e"), "--stop-stage", "0")
    assert r.returncode == 1
    assert r.stderr.strip().splitlines()[-1].endswith(f"--corpus-root {tmp_path / 'missing'}: no such directory")


def test_path_sh_outside_a_checkout(tmp_path):
    """A recipe copied out of the repository finds an installed vqspeech on PATH, or says it has none."""
    copy = tmp_path / "recipes"
    shutil.copytree(RECIPES / "common", copy / "common")
    shutil.copytree(RECIPES / "synth", copy / "synth", ignore=shutil.ignore_patterns("data", "exp"))
    probe = 'set -e; cd "$1"; . ./path.sh; command -v vqspeech; echo "$vqspeech_python"'
    r = subprocess.run(["bash", "-c", probe, "bash", str(copy / "synth")], capture_output=True, text=True,
                       env=_env(f"{VENV_BIN}:/usr/bin:/bin"))
    assert r.returncode == 0, r.stderr
    found, python = r.stdout.split()
    assert Path(found) == VENV_BIN / "vqspeech"
    assert subprocess.run([python, "-c", "import vqspeech"]).returncode == 0
    if shutil.which("vqspeech", path="/usr/bin:/bin") is None:
        r = subprocess.run(["bash", "-c", probe, "bash", str(copy / "synth")], capture_output=True, text=True,
                           env=_env("/usr/bin:/bin"))
        assert r.returncode != 0 and "path.sh: no vqspeech command" in r.stderr
    # inside the checkout, the repository's .venv wins even when PATH has none
    r = subprocess.run(["bash", "-c", probe, "bash", str(RECIPES / "synth")], capture_output=True, text=True,
                       env=_env("/usr/bin:/bin"))
    if (ROOT / ".venv" / "bin" / "vqspeech").exists():
        assert r.returncode == 0 and r.stdout.split()[0] == str(ROOT / ".venv" / "bin" / "vqspeech")


@pytest.mark.parametrize("recipe", ["synth", "vctk", "librispeech"])
def test_cmd_sh_launches_torchrun_for_several_gpus(recipe):
    probe = 'cd "$1"; ngpu=$2; . ./cmd.sh; echo "$train_cmd"'
    cmds = [subprocess.run(["bash", "-c", probe, "bash", str(RECIPES / recipe), n], capture_output=True,
                           text=True).stdout.strip() for n in ("1", "4")]
    assert cmds == ["vqspeech train", "torchrun --standalone --nproc_per_node=4 -m vqspeech train"]
    assert (VENV_BIN / "torchrun").exists()


def test_every_recipe_config_loads():
    """Each conf/*.yaml is a valid training config; each conf/*.conf names configs that exist."""
    from vqspeech.train.config import load_train_config, model_config

    yamls = sorted(RECIPES.glob("*/conf/*.yaml"))
    assert len(yamls) >= 14
    for path in yamls:
        kind = "prior" if path.name.startswith("prior") else "f0" if path.name.startswith("f0") else "vqvae"
        cfg = load_train_config(str(path), kind=kind)
        model_config(cfg, kind)
        if kind == "prior":
            assert cfg.data.prior_speakers  # samples are drawn per speaker in stage 6
    for conf in sorted(RECIPES.glob("*/conf/*.conf")):
        text = conf.read_text()
        for word in text.split():
            if word.endswith('.yaml"') or word.endswith(".yaml"):
                name = word.split("=", 1)[-1].strip('"')
                assert (conf.parent.parent / name).is_file(), (conf, name)


def test_recipe_confs_set_every_variable_of_the_default_conf():
    """run.sh sources conf/full.conf before --conf/--quick: a conf that does not source it must set every
    variable full.conf sets, or it silently inherits the full configuration's value (an F0 head refit of
    6000 steps in the quick run, say)."""
    import re

    def assigned(path):
        return set(re.findall(r"^([a-z_][a-z0-9_]*)=", path.read_text(), re.M))

    for full in sorted(RECIPES.glob("*/conf/full.conf")):
        need = assigned(full)
        for conf in sorted(full.parent.glob("*.conf")):
            if conf == full or ". conf/full.conf" in conf.read_text():
                continue
            missing = sorted(need - assigned(conf))
            assert not missing, (conf, missing)
