#!/usr/bin/env bash
# vqspeech recipe for LibriSpeech: the paper's prior experiment (K=512 codes at 128x downsampling,
# seven stride-2 convs) and, with MFA alignments, its phone experiment (K=128 codes). Needs a GPU.
#   0 data preparation: the training parts (train-clean-100, optionally + train-clean-360) combined,
#     2 utterances of every speaker held out for dev and 2 for test (the decoder needs known speakers);
#     the phone part (test-clean) with its MFA alignments as ctm; validation
#   1 training audio cache   2 train the VQ-VAE   3 extract codes + train the prior
#   4 reconstruction + conversion eval   5 phone analysis (+ the K=128 model)   6 samples from the prior
# Usage: ./run.sh --corpus-root /corpora/LibriSpeech [--train-parts train-clean-100,train-clean-360]
#                 [--mfa-alignments /corpora/librispeech_alignments] [--ngpu N] [--stage N] [--stop-stage N]
# The recipe cannot download LibriSpeech: get it from https://www.openslr.org/12 first. Alignments:
# run the Montreal Forced Aligner on the phone part (one <spk>/<utt>.TextGrid per utterance).
set -euo pipefail
cd "$(dirname "$0")"
recipes_common=$(cd ../common && pwd)

. "$recipes_common/defaults.sh"
nj=4
ngpu=1
help_message="Options are the variables of ../common/defaults.sh and conf/*.conf; --corpus-root is required."
corpus_root=""                   # your LibriSpeech download (holds train-clean-100/ ... or LibriSpeech/)
corpus_name=librispeech
train_parts=train-clean-100      # comma list: train-clean-100, train-clean-360, train-other-500
phone_part=test-clean            # the part analysed in stage 5 (unseen speakers: the encoder needs none)
mfa_alignments=""                # MFA output tree (<spk>/<utt>.TextGrid) of $phone_part: its ctm
heldout_dev=2; heldout_test=2; heldout_seed=0

. "$recipes_common/setup.sh"

corpus=$data/$corpus_name
train_dir=$corpus/train; dev_dir=$corpus/dev; test_dir=$corpus/test
convert_dir=$corpus/test      # LibriSpeech is not parallel: speaker similarity only, no MCD
phones_dir=$corpus/parts/${phone_part//-/_}
expdir=$exp/$tag
mkdir -p "$expdir/log"
log "recipe librispeech: conf=$conf tag=$tag corpus=$corpus expdir=$expdir ngpu=$ngpu stages $stage..$stop_stage"

if stage_todo 0 data "$corpus"; then
  [ -n "$corpus_root" ] || die "stage 0 needs --corpus-root DIR (your LibriSpeech download; the recipe cannot download it)"
  [ -d "$corpus_root" ] || die "--corpus-root $corpus_root: no such directory"
  [ -z "$mfa_alignments" ] || [ -d "$mfa_alignments" ] || die "--mfa-alignments $mfa_alignments: no such directory"
  log "stage 0: prepare $train_parts and $phone_part from $corpus_root into $corpus (log: $expdir/log/prepare.log)"
  ali_opt=(); [ -z "$mfa_alignments" ] || ali_opt=(--alignments "$mfa_alignments")
  run_logged "$expdir/log/prepare.log" vqspeech prepare librispeech "$corpus_root" "$corpus/parts" \
    --parts "$train_parts,$phone_part" "${ali_opt[@]}" --force
  IFS=, read -r -a parts <<< "$train_parts"
  part_dirs=(); for p in "${parts[@]}"; do part_dirs+=("$corpus/parts/${p//-/_}"); done
  run_logged "$expdir/log/prepare.log" "$vqspeech_python" "$recipes_common/split_heldout.py" "$corpus" \
    "${part_dirs[@]}" --dev "$heldout_dev" --test "$heldout_test" --seed "$heldout_seed"
  validate_dirs "$train_dir" "$dev_dir" "$test_dir" "$phones_dir"
  [ -f "$phones_dir/ctm" ] || log "stage 0: $phones_dir has no ctm (no --mfa-alignments): stage 5 will be skipped"
  mark_done 0 data "$corpus"
fi

run_stages_1_to_6
