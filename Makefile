# vqspeech: `make demo` and `make test` each set everything up on a fresh machine.
#   TORCH_SPEC  which torch to install first (default: the CPU build pinned here). Elsewhere, e.g.
#               make test TORCH_SPEC='torch==2.13.0' TORCH_PIP_ARGS='--index-url <your CPU or CUDA index>'
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
TORCH_PIP_ARGS ?=
PY := $(VENV)/bin/python
PIP := $(PY) -m pip

.PHONY: test demo lint bench clean-venv

# torch goes in first, from TORCH_SPEC, so the package's torch range is already satisfied.
$(VENV)/.torch:
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --disable-pip-version-check $(TORCH_PIP_ARGS) "$(TORCH_SPEC)"
	touch $@

$(VENV)/.installed-demo: pyproject.toml $(VENV)/.torch
	$(PIP) install --disable-pip-version-check -e '.[eval]'
	touch $@

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
