#!/usr/bin/env bash
# Every recipe's options and stage variables with neutral defaults, sourced by run.sh first; run.sh
# then sets its corpus's own defaults and sources its conf/*.conf. Each variable is a command-line
# option (--stop-stage 2, --vqvae-opts "--set train.steps=100"; see parse_options.sh).

# Generic options.
stage=0                  # first stage to run
stop_stage=100           # last stage to run
nj=2                     # parallel jobs for data preparation
ngpu=0                   # >1: training runs under torchrun with that many processes (cmd.sh)
conf=conf/full.conf      # the recipe configuration, a bash file setting the variables below
quick=false              # true: use $quick_conf instead
quick_conf=conf/full.conf
data=data                # where the corpus goes (relative paths: relative to the recipe dir)
exp=exp                  # where models, reports and logs go
tag=                     # experiment name (default: the conf file's name)

# Stage variables (stages.sh).
vqvae_config=""          # stage 2: the VQ-VAE training YAML
vqvae_opts=""            # extra `vqspeech train vqvae` options, e.g. "--set train.steps=100"
f0_config=""; f0_opts=""  # stage 2: when set, `vqspeech train f0` refits the F0 head on the frozen codes
prior_config=""          # stage 3: the prior training YAML
prior_opts=""
eval_utts=20; eval_opts=""                          # stage 4: reconstruction on the test dir
convert_utts=10; convert_pairs=40; convert_opts=""  # stage 4: voice conversion
alignments=""; phones_opts=""                       # stage 5: alignments (default: the data dir's ctm)
phone_experiment=false; phone_config=""             # stage 5: also train a K=128 model with phone_config
sample_speakers=""; sample_num_speakers=2; sample_seconds=3; sample_opts=""   # stage 6
sample_eval=true; sample_eval_opts=""
