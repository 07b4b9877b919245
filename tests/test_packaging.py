"""The set-up files agree with each other: Makefile, Dockerfile, CI, pyproject, README."""

import ast
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]


def _makefile_var(name):
    m = re.search(rf"^{name} \?= (.*)$", (ROOT / "Makefile").read_text(), re.M)
    return m.group(1).strip()


def _script_lines(path):
    return [ln.strip() for ln in (ROOT / path).read_text().splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


def test_ci_runs_demo_then_wheel_check_then_make_test():
    lines = _script_lines(".ci/run")
    steps = [ln for ln in lines if ln.startswith(("make ", ".ci/"))]
    assert steps == ["make demo VENV=.venv-demo", ".ci/wheel_check.sh", "make test"]
    assert not any("pytest" in ln for ln in lines)
    assert os.access(ROOT / ".ci/wheel_check.sh", os.X_OK) and os.access(ROOT / ".ci/run", os.X_OK)
    assert ".venv-*/" in (ROOT / ".gitignore").read_text().splitlines()


def test_wheel_check_trains_the_bundled_config_and_codes_a_file():
    text = (ROOT / ".ci/wheel_check.sh").read_text()
    assert 'make -C "$work/src" install-wheel VENV="$work/venv"' in text  # the Dockerfile's install, no extras
    assert "^COPY" in text and "Dockerfile" in text  # of the files the Dockerfile copies
    assert "train vqvae --data data/train --config tiny --set train.steps=2" in text
    assert '"$bin/vqspeech" encode short.wav' in text and '"$bin/vqspeech" decode short.vqs' in text
    assert text.index('cd "$work"') < text.index("train vqvae")  # run outside the source tree


def test_torch_pin_is_overridable_and_consistent():
    spec = _makefile_var("TORCH_SPEC")
    assert spec == "torch==2.13.0"
    docker = (ROOT / "Dockerfile").read_text()
    assert f'ARG TORCH_SPEC="{spec}"' in docker
    make = (ROOT / "Makefile").read_text()
    # torch is installed before the package, in every install target
    for target in ("$(VENV)/.installed-demo", "$(VENV)/.installed-test", "install-wheel"):
        rule = re.search(rf"^{re.escape(target)}:.*$", make, re.M).group(0)
        assert "$(VENV)/.torch" in rule, rule


def test_dockerfile_installs_with_the_makefile():
    """The Dockerfile runs the Makefile's install-wheel target (which CI checks in a clean venv), with the
    torch build arguments passed on and the eval extra, and copies every file that target needs."""
    docker = (ROOT / "Dockerfile").read_text()
    run = re.search(r"^RUN make install-wheel (.*?)(?<!\\)$", docker, re.M | re.S).group(0)
    for arg in ('TORCH_SPEC="$TORCH_SPEC"', 'TORCH_PIP_ARGS="$TORCH_PIP_ARGS"', "WHEEL_EXTRAS='[eval]'"):
        assert arg in run, arg
    copied = " ".join(re.findall(r"^COPY (.*) \S+$", docker, re.M)).split()
    assert {"Makefile", "pyproject.toml", "README.md", "vqspeech"} <= set(copied)
    assert "/opt/venv/bin" in docker and 'ENTRYPOINT ["vqspeech"]' in docker
    make = (ROOT / "Makefile").read_text()
    assert re.search(r"^WHEEL_EXTRAS \?=\s*$", make, re.M)
    assert "wheel --disable-pip-version-check --no-deps" in make


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


# import name -> distribution, for packages whose names differ, when the distribution is not installed here
_DISTRIBUTION_OF = {"yaml": "pyyaml", "parselmouth": "praat-parselmouth", "sklearn": "scikit-learn"}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _req_names(reqs) -> set[str]:
    return {_norm(re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", r).group(0)) for r in reqs}


def _third_party_imports():
    """(module file, imported top-level name, imported at module level?) for every absolute import under
    vqspeech/ of something that is neither the standard library nor vqspeech."""
    out = []
    for path in sorted((ROOT / "vqspeech").rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        top_level = {id(n) for n in tree.body}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top != "vqspeech":
                    out.append((path.relative_to(ROOT), top, id(node) in top_level))
    return out


def test_every_import_is_a_declared_dependency():
    """An import that pyproject.toml does not declare works only where something else pulled the package
    in (click came with lhotse, a dev extra, and was missing from fresh installs). Imports of an optional
    extra sit inside functions of a module that names the extra (`vqspeech[eval]`) in its error."""
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = _req_names(meta["dependencies"])
    extras = {extra: _req_names(reqs) for extra, reqs in meta["optional-dependencies"].items() if extra != "dev"}
    dists = importlib.metadata.packages_distributions()
    imports = _third_party_imports()
    assert {"torch", "numpy", "typer"} <= {top for _, top, _ in imports}
    for path, top, at_module_level in imports:
        names = {_norm(d) for d in dists.get(top, [_DISTRIBUTION_OF.get(top, top)])}
        if names & runtime:
            continue
        extra = next((e for e, reqs in extras.items() if names & reqs), None)
        assert extra, f"{path} imports {top} ({', '.join(sorted(names))}), which pyproject.toml does not declare"
        assert not at_module_level, f"{path} imports {top} (extra '{extra}') at module level"
        assert f"vqspeech[{extra}]" in (ROOT / path).read_text(), \
            f"{path} imports {top} of the '{extra}' extra but no error there names 'vqspeech[{extra}]'"


def _package_data_files() -> set[str]:
    """Every file in the source package other than Python sources and caches, as wheel paths."""
    files = set()
    for path in (ROOT / "vqspeech").rglob("*"):
        rel = path.relative_to(ROOT)
        if path.is_file() and path.suffix not in (".py", ".pyc") and "__pycache__" not in rel.parts:
            files.add(rel.as_posix())
    return files


@pytest.mark.slow
def test_wheel_holds_everything_the_package_reads(tmp_path):
    """`pip wheel --no-deps .` (from a copy of the tree, so no stale build/ can leak in): the train
    configs, each bundled model's config.json and model.safetensors, the model card, and every other data
    file of the package are in the wheel; so is every module."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "vqspeech", src / "vqspeech", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                          "--disable-pip-version-check", "-q", "-w", str(tmp_path / "dist"), str(src)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("vqspeech-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    configs = {f"vqspeech/train/configs/{p.name}" for p in (ROOT / "vqspeech/train/configs").glob("*.yaml")}
    assert {"vqspeech/train/configs/tiny.yaml", "vqspeech/train/configs/small.yaml"} <= configs <= names
    models = [d for d in (ROOT / "vqspeech/pretrained").iterdir() if (d / "config.json").is_file()]
    assert {"default", "default_prior"} <= {d.name for d in models}
    for d in models:
        assert {f"vqspeech/pretrained/{d.name}/config.json", f"vqspeech/pretrained/{d.name}/model.safetensors"} <= names
    assert "vqspeech/pretrained/MODEL_CARD.md" in names
    assert _package_data_files() <= names, sorted(_package_data_files() - names)
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "vqspeech").rglob("*.py")}
    assert modules <= names, sorted(modules - names)
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    meta = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    with zipfile.ZipFile(wheel) as zf:
        assert "vqspeech = vqspeech.cli:main" in zf.read(meta).decode()
