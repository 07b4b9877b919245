#!/usr/bin/env bash
# Stage helpers and stages 1-6, shared by the recipes (sourced by run.sh after log.sh and cmd.sh). Each function runs
# one stage when it is selected and its .done marker is missing, with its output in $expdir/log/.
# They read the recipe variables:
#   train_dir dev_dir test_dir convert_dir phones_dir   data dirs (set by run.sh from its corpus)
#   expdir train_cmd nj vqspeech_python                 experiment dir, launcher (cmd.sh), path.sh
#   vqvae_config vqvae_opts prior_config prior_opts     training YAML + extra `vqspeech train` options
#   f0_config f0_opts                                   optional: an F0 head refit on the frozen codes
#   eval_utts eval_opts convert_utts convert_pairs convert_opts
#   alignments phones_opts phone_experiment phone_config
#   sample_speakers sample_num_speakers sample_seconds sample_opts sample_eval sample_eval_opts

# validate_dirs DIR...: `vqspeech data validate` each data dir (stage 0), log in $expdir/log/validate.log,
# the verdicts on stderr; a dir with problems stops the recipe with the log's tail.
validate_dirs() {
  : > "$expdir/log/validate.log"
  local d
  for d in "$@"; do
    run_logged "$expdir/log/validate.log" vqspeech data validate "$d"
  done
  grep -v '^#' "$expdir/log/validate.log" >&2
}

# vqvae_model: the model the stages after 2 use: $expdir/vqvae/model, or with f0_config the same model
# with its F0 head refit on the frozen codes ($expdir/vqvae_f0/model: same codes, so the same prior fits both).
vqvae_model() {
  if [ -n "${f0_config:-}" ]; then echo "$expdir/vqvae_f0/model"; else echo "$expdir/vqvae/model"; fi
}

# run_stages_1_to_6: the stages every recipe shares, then the closing log line.
run_stages_1_to_6() {
  stage_1_cache
  stage_2_vqvae
  stage_3_prior
  stage_4_eval
  stage_5_phones
  stage_6_samples
  log "done: results under $expdir"
}

# train_model KIND NAME CONFIG OPTS ARGS...: `vqspeech train KIND` into $expdir/NAME, resuming from its
# newest checkpoint when a previous run was interrupted (a run without a checkpoint starts over).
train_model() {
  local kind=$1 name=$2 config=$3 opts=$4; shift 4
  local out=$expdir/$name start=--force
  if compgen -G "$out/checkpoints/step_*" >/dev/null; then
    start=--resume
    log "  resuming $out from its newest checkpoint"
  fi
  log "  training log: $expdir/log/train_$name.log (metrics: $out/log/train.jsonl)"
  # shellcheck disable=SC2086
  run_logged "$expdir/log/train_$name.log" $train_cmd "$kind" "$@" --config "$config" --out "$out" $start $opts
}

stage_1_cache() {
  if stage_todo 1 cache "$expdir"; then
    log "stage 1: training audio cache of $train_dir and $dev_dir"
    run_logged "$expdir/log/cache.log" "$vqspeech_python" "$recipes_common/build_cache.py" "$train_dir" "$dev_dir"
    mark_done 1 cache "$expdir"
  fi
}

stage_2_vqvae() {
  if stage_todo 2 vqvae "$expdir"; then
    log "stage 2: train the VQ-VAE ($vqvae_config) -> $expdir/vqvae/model"
    train_model vqvae vqvae "$vqvae_config" "$vqvae_opts" --data "$train_dir" --dev "$dev_dir"
    grep -v "^#" "$expdir/log/train_vqvae.log" | tail -n 1 >&2 || true
    vqspeech info "$expdir/vqvae/model" > "$expdir/vqvae/info.txt"
    mark_done 2 vqvae "$expdir"
  fi
  if [ -n "${f0_config:-}" ] && stage_todo 2 f0 "$expdir"; then
    log "stage 2: refit the F0 head on the frozen codes ($f0_config) -> $expdir/vqvae_f0/model"
    train_model f0 vqvae_f0 "$f0_config" "${f0_opts:-}" --vqvae "$expdir/vqvae/model" --data "$train_dir" --dev "$dev_dir"
    grep -v "^#" "$expdir/log/train_vqvae_f0.log" | tail -n 1 >&2 || true
    mark_done 2 f0 "$expdir"
  fi
}

stage_3_prior() {
  if stage_todo 3 prior "$expdir"; then
    log "stage 3: extract codes with the frozen VQ-VAE, train the prior ($prior_config) -> $expdir/prior/model"
    train_model prior prior "$prior_config" "$prior_opts" --vqvae "$(vqvae_model)" \
      --data "$train_dir" --dev "$dev_dir"
    mark_done 3 prior "$expdir"
  fi
}

stage_4_eval() {
  if stage_todo 4 eval "$expdir"; then
    log "stage 4: reconstruction ($test_dir), voice-conversion ($convert_dir) and pitch evaluation -> $expdir/eval"
    # shellcheck disable=SC2086
    run_logged "$expdir/log/eval_reconstruct.log" vqspeech eval reconstruct --model "$(vqvae_model)" \
      --prior "$expdir/prior/model" --data "$test_dir" --max-utts "$eval_utts" \
      --out "$expdir/eval/reconstruct" --force $eval_opts
    # shellcheck disable=SC2086
    run_logged "$expdir/log/eval_convert.log" vqspeech eval convert --model "$(vqvae_model)" \
      --data "$convert_dir" --max-utts "$convert_utts" --max-pairs "$convert_pairs" \
      --out "$expdir/eval/convert" --force $convert_opts
    if vqspeech info "$(vqvae_model)" --json | grep -q '"f0_head": true'; then
      # the F0 head's pitch from the codes against the tracker on the test audio
      run_logged "$expdir/log/eval_pitch.log" vqspeech analyze pitch --model "$(vqvae_model)" \
        --data "$test_dir" --out "$expdir/eval/pitch" --force
    fi
    grep -v '^#' "$expdir/log/eval_reconstruct.log" | tail -n 3 >&2 || true
    mark_done 4 eval "$expdir"
  fi
}

stage_5_phones() {
  if stage_todo 5 phones "$expdir"; then
    local ali_opt=() models=(--model "$(vqvae_model)")
    if [ -n "$alignments" ]; then
      ali_opt=(--alignments "$alignments")
    elif [ ! -f "$phones_dir/ctm" ]; then
      log "stage 5: skipped: $phones_dir has no ctm and no --alignments was given (nothing to compare codes with)"
      return 0  # no marker: the stage runs once alignments exist
    fi
    if [ "$phone_experiment" = true ]; then
      log "stage 5: the phone experiment: train a K=128 VQ-VAE at a coarser code rate ($phone_config)"
      if [ ! -f "$expdir/.done/5.vqvae_k128" ]; then
        train_model vqvae vqvae_k128 "$phone_config" "$vqvae_opts" --data "$train_dir" --dev "$dev_dir"
        mark_done 5 vqvae_k128 "$expdir"
      fi
      models+=(--model "$expdir/vqvae_k128/model")
    fi
    log "stage 5: phone analysis of the codes of $phones_dir -> $expdir/phones"
    # shellcheck disable=SC2086
    run_logged "$expdir/log/phones.log" vqspeech analyze phones "${models[@]}" --data "$phones_dir" \
      "${ali_opt[@]}" --out "$expdir/phones" --force $phones_opts
    grep -v '^#' "$expdir/log/phones.log" | tail -n 2 >&2 || true
    mark_done 5 phones "$expdir"
  fi
}

stage_6_samples() {
  if stage_todo 6 samples "$expdir"; then
    local spks=$sample_speakers
    if [ -z "$spks" ]; then
      local all
      all=$(vqspeech speakers --model "$(vqvae_model)")  # (no `| head`: a closed pipe is an error)
      read -r -a all <<< "$(echo $all)"
      spks="${all[*]:0:$sample_num_speakers}"
    fi
    log "stage 6: ${sample_seconds}s samples from the prior for: $spks -> $expdir/samples"
    mkdir -p "$expdir/samples"
    for spk in $spks; do
      # shellcheck disable=SC2086
      run_logged "$expdir/log/samples.log" vqspeech sample --model "$(vqvae_model)" \
        --prior "$expdir/prior/model" --speaker "$spk" --seconds "$sample_seconds" --seed 0 \
        --out "$expdir/samples/$spk.wav" --force $sample_opts
    done
    if [ "$sample_eval" = true ]; then
      local spk_opts=()
      for spk in $spks; do spk_opts+=(--speaker "$spk"); done
      # shellcheck disable=SC2086
      run_logged "$expdir/log/eval_sample.log" vqspeech eval sample --model "$(vqvae_model)" \
        --prior "$expdir/prior/model" --data "$test_dir" "${spk_opts[@]}" --seconds "$sample_seconds" \
        --max-utts "$eval_utts" --out "$expdir/eval/sample" --force $sample_eval_opts
    fi
    mark_done 6 samples "$expdir"
  fi
}
