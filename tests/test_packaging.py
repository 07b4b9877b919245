"""The set-up files agree with each other: Makefile, Dockerfile, CI, pyproject, README."""

import re
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]


def _makefile_var(name):
    m = re.search(rf"^{name} \?= (.*)$", (ROOT / "Makefile").read_text(), re.M)
    return m.group(1).strip()


def test_ci_runs_make_test_only():
    lines = [ln.strip() for ln in (ROOT / ".ci/run").read_text().splitlines()
             if ln.strip() and not ln.startswith("#")]
    assert lines[-1] == "make test"
    assert not any("pytest" in ln for ln in lines)


def test_torch_pin_is_overridable_and_consistent():
    spec = _makefile_var("TORCH_SPEC")
    assert spec == "torch==2.13.0"
    docker = (ROOT / "Dockerfile").read_text()
    assert f'ARG TORCH_SPEC="{spec}"' in docker
    # torch is installed before the package, in both
    assert docker.index("$TORCH_SPEC") < docker.index("'.[eval]'")
    make = (ROOT / "Makefile").read_text()
    assert "$(VENV)/.torch" in re.search(r"^\$\(VENV\)/\.installed-demo:.*$", make, re.M).group(0)


def test_pyproject_dependencies():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = " ".join(meta["dependencies"])
    assert "torchaudio" not in deps
    for name in ["torch", "numpy", "soundfile", "soxr", "librosa", "numba", "typer", "safetensors", "pyyaml",
                 "matplotlib"]:
        assert name in deps
    torch_req = next(d for d in meta["dependencies"] if d.startswith("torch"))
    assert "<" not in torch_req  # admits 2.13.0
    assert any(d.startswith("setuptools<81") for d in meta["optional-dependencies"]["eval"])
    assert meta["scripts"]["vqspeech"] == "vqspeech.cli:main"


def test_readme_starts_with_setup_commands():
    text = (ROOT / "README.md").read_text()
    assert text.index("make demo") < text.index("make test") < text.index("## Usage")
    assert "torchaudio" in text
    docker_extras = re.search(r"pip install --no-cache-dir '\.\[(\w+)\]'", (ROOT / "Dockerfile").read_text())
    assert docker_extras.group(1) == "eval"
