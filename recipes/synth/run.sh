#!/usr/bin/env bash
# vqspeech recipe for the synthetic multi-speaker corpus (eSpeak NG voices, exact phone alignments).
# Runs anywhere on a CPU. Stages:
#   0 data preparation + validation     1 training audio cache          2 train the VQ-VAE
#   3 extract codes + train the prior   4 reconstruction + conversion eval
#   5 phone analysis (+ the K=128 phone experiment when phone_experiment=true)
#   6 samples from the prior
# Usage: ./run.sh [--quick] [--conf conf/full.conf] [--stage N] [--stop-stage N] [--nj N] [--ngpu N]
#                 [--data DIR] [--exp DIR] [--tag NAME] [--<variable> VALUE]...
# Relative paths are relative to this directory. Outputs: $data/synth_<corpus_name>/{train,dev,test,parallel}
# and $exp/<tag>/ (vqvae/model, prior/model, eval/, phones/, samples/, log/, .done/).
set -euo pipefail
cd "$(dirname "$0")"
recipes_common=$(cd ../common && pwd)

. "$recipes_common/defaults.sh"
quick_conf=conf/quick.conf   # --quick: every stage in ~15 minutes on 2 CPU cores
help_message="Options are the variables of ../common/defaults.sh and conf/*.conf, e.g. --stop-stage 2 --tag mine."
# The synth corpus: $data/synth_$corpus_name, made by `vqspeech prepare synth --seed $data_seed $synth_opts`.
corpus_name=full
synth_opts=""
data_seed=0

. "$recipes_common/setup.sh"

corpus=$data/synth_$corpus_name
train_dir=$corpus/train; dev_dir=$corpus/dev; test_dir=$corpus/test
convert_dir=$corpus/parallel    # every speaker reads the same sentences: MCD against the target
phones_dir=$corpus/test         # the synthetic corpus comes with exact phone alignments (ctm)
expdir=$exp/$tag
mkdir -p "$expdir/log"
log "recipe synth: conf=$conf tag=$tag corpus=$corpus expdir=$expdir stages $stage..$stop_stage"

if stage_todo 0 data "$corpus"; then
  log "stage 0: synthesise the corpus into $corpus (log: $expdir/log/prepare.log) and validate it"
  # shellcheck disable=SC2086
  run_logged "$expdir/log/prepare.log" vqspeech prepare synth "$corpus" --jobs "$nj" --seed "$data_seed" \
    $synth_opts --force
  validate_dirs "$train_dir" "$dev_dir" "$test_dir" "$convert_dir"
  mark_done 0 data "$corpus"
fi

run_stages_1_to_6
