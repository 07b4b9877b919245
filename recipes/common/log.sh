#!/usr/bin/env bash
# Helpers sourced by every run.sh (after its options are parsed):
#   log MESSAGE...          a timestamped line on stderr, ESPnet-style
#   die MESSAGE...          one line on stderr, exit 1
#   stage_selected N        stage N lies in --stage..--stop-stage
#   stage_todo N NAME DIR   selected and DIR/.done/N.NAME missing (log "skipped" when it is done)
#   mark_done N NAME DIR    write DIR/.done/N.NAME
#   run_logged LOG CMD...   run CMD with stdout+stderr appended to LOG (Kaldi run.pl style: the command
#                           line and the time taken go in LOG); on failure: the log's tail and exit 1

log() {
  local i=1  # name the first caller outside this file (stage_todo logs on behalf of run.sh/stages.sh)
  while [ "${BASH_SOURCE[i]##*/}" = log.sh ] && [ $((i + 1)) -lt ${#BASH_SOURCE[@]} ]; do i=$((i + 1)); done
  echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${BASH_SOURCE[i]##*/}:${BASH_LINENO[i - 1]}) $*" >&2
}

die() {
  echo "$0: error: $*" >&2
  exit 1
}

stage_selected() {
  [ "$stage" -le "$1" ] && [ "$stop_stage" -ge "$1" ]
}

stage_todo() {
  stage_selected "$1" || return 1
  if [ -f "$3/.done/$1.$2" ]; then
    log "stage $1 ($2): already done ($3/.done/$1.$2; delete it to run again)"
    return 1
  fi
  return 0
}

mark_done() {
  mkdir -p "$3/.done"
  date '+%Y-%m-%dT%H:%M:%S' > "$3/.done/$1.$2"
}

run_logged() {
  local logfile=$1; shift
  mkdir -p "$(dirname "$logfile")"
  local start=$SECONDS rc=0
  { echo "# $*"; echo "# started at $(date '+%Y-%m-%dT%H:%M:%S')"; } >> "$logfile"
  "$@" >> "$logfile" 2>&1 || rc=$?
  echo "# accounting: time=$((SECONDS - start)) s, exit status $rc" >> "$logfile"
  if [ "$rc" -ne 0 ]; then
    tail -n 15 "$logfile" | sed 's/\r.*\r/\r/' >&2
    die "command failed (exit $rc): $*; see $logfile"
  fi
}
