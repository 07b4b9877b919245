#!/usr/bin/env bash
# CI: the Dockerfile's install without docker: the files its COPY lines name, copied to a temp dir, and its
# `make install-wheel` run there into a clean venv with the runtime dependencies only (no extras). Then, from
# outside the source tree (so only the installed package can be imported), what reads the package's own
# files: a 2-step training run of the bundled `tiny` config on a tiny synth corpus, and an encode/decode of
# a 1 s file with the bundled model.
#   WHEEL_CHECK_DIR  where to work (default: a new temp dir, removed at the end)
set -euo pipefail
cd "$(dirname "$0")/.."

work=${WHEEL_CHECK_DIR:-}
if [ -z "$work" ]; then
    work=$(mktemp -d "${TMPDIR:-/tmp}/vqspeech-wheel.XXXXXX")
    trap 'rm -rf "$work"' EXIT
fi
log() { echo "wheel_check: $*" >&2; }

copied=$(sed -n 's/^COPY \(.*\) [^ ]*$/\1/p' Dockerfile | tr '\n' ' ')
log "copying the Dockerfile's files ($copied) to $work/src"
mkdir -p "$work/src"
# shellcheck disable=SC2086  # the list splits on purpose
tar -c --exclude=__pycache__ --exclude='*.pyc' $copied | tar -x -C "$work/src"
log "make install-wheel into $work/venv"
make -C "$work/src" install-wheel VENV="$work/venv"
bin="$work/venv/bin"
cd "$work"
export NUMBA_CACHE_DIR="$work/numba-cache" OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

"$bin/python" - <<'EOF'
import importlib.metadata as md
import pathlib

import vqspeech

where = pathlib.Path(vqspeech.__file__).resolve()
assert "site-packages" in where.parts, f"vqspeech imported from {where}, not from the wheel"
dev = [d for d in ("pytest", "hypothesis", "ruff", "lhotse", "click") if any(True for _ in md.distributions(name=d))]
assert not dev, f"not a runtime-only venv: {dev}"
print(f"wheel_check: vqspeech {vqspeech.__version__} from {where.parent}")
EOF

log "train vqvae --config tiny, 2 steps"
"$bin/vqspeech" prepare synth data --utts-per-speaker 4 --speakers us_m1,gb_f4 --parallel-sentences 1
"$bin/vqspeech" train vqvae --data data/train --config tiny --set train.steps=2 --out exp
"$bin/vqspeech" info exp/model >/dev/null
test -f exp/model/model.safetensors

log "encode/decode 1 s with the bundled default model"
"$bin/python" -c "import soundfile as sf; x, sr = sf.read('data/wav/us_m1/us_m1-000000.wav'); sf.write('short.wav', x[:sr], sr)"
"$bin/vqspeech" encode short.wav
"$bin/vqspeech" decode short.vqs --speaker us_m1
test -s short.decoded.wav
"$bin/vqspeech" info >/dev/null
log "ok"
