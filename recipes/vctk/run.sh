#!/usr/bin/env bash
# vqspeech recipe for VCTK (0.80 or 0.92): 109 speakers at 16 kHz, the paper-sized VQ-VAE (K=512,
# hop 64, 3x10-layer WaveNet decoder with 256 residual channels) and its prior. Needs a GPU.
#   0 data preparation (trimmed 16 kHz flac copies) + validation   1 training audio cache
#   2 train the VQ-VAE (1 GPU: conf/train_1gpu.yaml; --ngpu N > 1: torchrun, conf/train_4gpu.yaml)
#   3 extract codes + train the prior   4 reconstruction + conversion eval
#   5 phone analysis (only with --alignments: VCTK has no phone alignments)   6 samples from the prior
# Usage: ./run.sh --corpus-root /corpora/VCTK-Corpus-0.92 [--ngpu 4] [--stage N] [--stop-stage N] [--nj N]
# The recipe cannot download VCTK: get it from https://datashare.ed.ac.uk/handle/10283/3443 first.
set -euo pipefail
cd "$(dirname "$0")"
recipes_common=$(cd ../common && pwd)

. "$recipes_common/defaults.sh"
nj=4                     # processes reading/resampling audio in stage 0
ngpu=1
help_message="Options are the variables of ../common/defaults.sh and conf/*.conf; --corpus-root is required."
corpus_root=""           # your VCTK download (holds wav48/ or wav48_silence_trimmed/, and txt/)
corpus_name=vctk
vctk_opts="--flac16k"    # extra `vqspeech prepare vctk` options (--mic, --speakers, --split, --seed)
# vqvae_config "" = conf/train_1gpu.yaml for ngpu <= 1, else conf/train_4gpu.yaml

. "$recipes_common/setup.sh"
if [ -z "$vqvae_config" ]; then
  if [ "$ngpu" -gt 1 ]; then vqvae_config=conf/train_4gpu.yaml; else vqvae_config=conf/train_1gpu.yaml; fi
fi

corpus=$data/$corpus_name
train_dir=$corpus/train; dev_dir=$corpus/dev; test_dir=$corpus/test
convert_dir=$corpus/test      # VCTK speakers share some sentences: MCD where a target read the same text
phones_dir=$corpus/test       # needs --alignments (e.g. MFA TextGrids of the test utterances)
expdir=$exp/$tag
mkdir -p "$expdir/log"
log "recipe vctk: conf=$conf tag=$tag corpus=$corpus expdir=$expdir ngpu=$ngpu stages $stage..$stop_stage"

if stage_todo 0 data "$corpus"; then
  [ -n "$corpus_root" ] || die "stage 0 needs --corpus-root DIR (your VCTK download; the recipe cannot download it)"
  [ -d "$corpus_root" ] || die "--corpus-root $corpus_root: no such directory"
  log "stage 0: prepare VCTK from $corpus_root into $corpus (log: $expdir/log/prepare.log) and validate it"
  # shellcheck disable=SC2086
  run_logged "$expdir/log/prepare.log" vqspeech prepare vctk "$corpus_root" "$corpus" --jobs "$nj" $vctk_opts --force
  validate_dirs "$train_dir" "$dev_dir" "$test_dir"
  mark_done 0 data "$corpus"
fi

run_stages_1_to_6
