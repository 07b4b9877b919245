#!/usr/bin/env bash
# Sourced by run.sh after its defaults: path.sh (unless --help), log.sh, the default conf, the command
# line (parse_options.sh), option checks, the experiment tag, cmd.sh and the stage functions.
[ "${1:-}" = --help ] || [ "${1:-}" = -h ] || . ./path.sh
. "$recipes_common/log.sh"
# shellcheck disable=SC1090
. "$conf"
. "$recipes_common/parse_options.sh"
[[ $stage =~ ^[0-9]+$ && $stop_stage =~ ^[0-9]+$ && $nj =~ ^[1-9][0-9]*$ && $ngpu =~ ^[0-9]+$ ]] ||
  die "--stage, --stop-stage, --nj and --ngpu take non-negative integers (--nj >= 1)"
[ -n "$tag" ] || tag=$(basename "$conf" .conf)
. ./cmd.sh
. "$recipes_common/stages.sh"
