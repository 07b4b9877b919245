# Shared by every recipe's path.sh: puts the vqspeech command on PATH and picks the Python that runs it.
#   1. the repository's .venv (`make test` / `make demo` create it), when the recipe lives in a checkout;
#   2. otherwise whatever `vqspeech` is already on PATH (pip install vqspeech, conda, a module system).
# Sets `vqspeech_python` (an interpreter that can `import vqspeech`, for local/*.py helpers).
# Override with VQSPEECH_PYTHON=/path/to/python.
_vqs_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
if [ -n "${VQSPEECH_PYTHON:-}" ]; then
  export PATH="$(dirname "$VQSPEECH_PYTHON"):$PATH"
elif [ -x "$_vqs_root/.venv/bin/vqspeech" ]; then
  export PATH="$_vqs_root/.venv/bin:$PATH"
fi
if ! command -v vqspeech >/dev/null; then
  echo "path.sh: no vqspeech command: run 'make test' in the repository, or 'pip install' vqspeech, or set VQSPEECH_PYTHON" >&2
  return 1
fi
if [ -n "${VQSPEECH_PYTHON:-}" ]; then
  vqspeech_python=$VQSPEECH_PYTHON
else
  # The interpreter of the vqspeech console script (its #! line), else python3.
  vqspeech_python=$(head -n 1 "$(command -v vqspeech)" | sed -n 's/^#! *\([^ ]*\).*/\1/p')
  [ -x "$vqspeech_python" ] || vqspeech_python=$(command -v python3)
fi
"$vqspeech_python" -c "import vqspeech" 2>/dev/null || {
  echo "path.sh: $vqspeech_python cannot import vqspeech (set VQSPEECH_PYTHON)" >&2; return 1; }
export PYTHONUNBUFFERED=1
if [ -w "$_vqs_root" ]; then  # a checkout: the same numba cache as `make test` / `make demo`
  export NUMBA_CACHE_DIR=${NUMBA_CACHE_DIR:-$_vqs_root/.cache/numba}
else
  export NUMBA_CACHE_DIR=${NUMBA_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vqspeech/numba}
fi
unset _vqs_root
