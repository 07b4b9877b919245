# Puts the vqspeech command on PATH (the repository's .venv, else an installed vqspeech) and sets
# vqspeech_python; see ../common/path.sh.
. "$(dirname "${BASH_SOURCE[0]}")/../common/path.sh"
