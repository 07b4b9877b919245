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

# Generic options (every recipe has them).
stage=0
stop_stage=100
nj=2                     # parallel jobs for data preparation
ngpu=0                   # >1: training runs under torchrun with that many processes (cmd.sh)
conf=conf/full.conf      # the recipe configuration, a bash file setting the variables below
quick=false              # true: use $quick_conf (all stages in ~15 min on 2 CPU cores)
quick_conf=conf/quick.conf
data=data                # where the corpus goes
exp=exp                  # where models, reports and logs go
tag=                     # experiment name (default: the conf file's name)
help_message="Options are the variables at the top of run.sh and in conf/*.conf, e.g. --stop-stage 2 --tag mine."

# Recipe variables: the defaults are conf/full.conf's (sourced below, before the command line).
corpus_name=full         # the corpus goes to $data/synth_$corpus_name
synth_opts=""            # extra `vqspeech prepare synth` options (--utts-per-speaker, --speakers, ...)
data_seed=0
vqvae_config=conf/vqvae_full.yaml
vqvae_opts=""            # extra `vqspeech train vqvae` options, e.g. "--set train.steps=100"
prior_config=conf/prior_full.yaml
prior_opts=""
eval_utts=20; eval_opts=""
convert_utts=10; convert_pairs=40; convert_opts=""
alignments=""; phones_opts=""
phone_experiment=false; phone_config=conf/vqvae_k128.yaml
sample_speakers=""; sample_num_speakers=2; sample_seconds=3; sample_opts=""
sample_eval=true; sample_eval_opts=""

[ "${1:-}" = --help ] || [ "${1:-}" = -h ] || . ./path.sh
. "$recipes_common/log.sh"
. "$conf"
. "$recipes_common/parse_options.sh"
[[ $stage =~ ^[0-9]+$ && $stop_stage =~ ^[0-9]+$ && $nj =~ ^[1-9][0-9]*$ && $ngpu =~ ^[0-9]+$ ]] ||
  die "--stage, --stop-stage, --nj and --ngpu take non-negative integers (--nj >= 1)"
[ -n "$tag" ] || tag=$(basename "$conf" .conf)
. ./cmd.sh
. "$recipes_common/stages.sh"

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
  : > "$expdir/log/validate.log"
  for part in train dev test parallel; do
    run_logged "$expdir/log/validate.log" vqspeech data validate "$corpus/$part"
  done
  grep -v '^#' "$expdir/log/validate.log" >&2
  mark_done 0 data "$corpus"
fi

stage_1_cache
stage_2_vqvae
stage_3_prior
stage_4_eval
stage_5_phones
stage_6_samples

log "done: results under $expdir"
