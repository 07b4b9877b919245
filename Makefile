# vqspeech: `make demo` and `make test` each set everything up on a fresh machine.
#   TORCH_SPEC  which torch to install first (default: the CPU build pinned here). Elsewhere, e.g.
#               make test TORCH_SPEC='torch==2.13.0' TORCH_PIP_ARGS='--index-url <your CPU or CUDA index>'
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
TORCH_PIP_ARGS ?=
PY := $(VENV)/bin/python
PIP := $(PY) -m pip

.PHONY: test demo lint clean-venv install-wheel

# torch goes in first, from TORCH_SPEC, so the package's torch range is already satisfied.
$(VENV)/.torch:
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --disable-pip-version-check $(TORCH_PIP_ARGS) "$(TORCH_SPEC)"
	touch $@

$(VENV)/.installed-demo: pyproject.toml $(VENV)/.torch
	$(PIP) install --disable-pip-version-check -e '.[eval]'
	touch $@

# A non-editable install from a wheel built from this tree: the Dockerfile's install, and what CI's
# .ci/wheel_check.sh checks in a clean venv. WHEEL_EXTRAS: '' (runtime only) or e.g. '[eval]'.
# build/ goes first: setuptools would put files deleted from the tree since the last build in the wheel.
WHEEL_EXTRAS ?=
install-wheel: $(VENV)/.torch
	rm -rf build $(VENV)/.wheel
	$(PIP) wheel --disable-pip-version-check --no-deps -w $(VENV)/.wheel .
	$(PIP) install --disable-pip-version-check "$$(ls $(VENV)/.wheel/vqspeech-*.whl)$(WHEEL_EXTRAS)"

$(VENV)/.installed-test: pyproject.toml $(VENV)/.torch
	$(PIP) install --disable-pip-version-check -e '.[eval,dev]'
	touch $@ $(VENV)/.installed-demo

test: $(VENV)/.installed-test
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-2} NUMBA_CACHE_DIR=$${NUMBA_CACHE_DIR:-$(CURDIR)/.cache/numba} \
		$(PY) -m pytest

demo: $(VENV)/.installed-demo
	NUMBA_CACHE_DIR=$${NUMBA_CACHE_DIR:-$(CURDIR)/.cache/numba} $(PY) -m vqspeech.demo --out demo --force

lint: $(VENV)/.installed-test
	$(PY) -m ruff check vqspeech tests benchmarks

clean-venv:
	rm -rf $(VENV)
