#!/usr/bin/env bash
# Kaldi-style option parsing, sourced by run.sh after its defaults (and its default conf) are set:
#   --stage 3 -> stage=3, --stop-stage 4 -> stop_stage=4, --corpus-root /x -> corpus_root=/x,
#   --quick (a variable that is false/true) -> quick=true, --vqvae-opts "--set train.steps=10" -> vqvae_opts=...
# An option must name a variable defaults.sh, run.sh or its conf defined: a typo is a one-line error, exit 1.
# `--conf FILE` is sourced at once, so options after it override the file's values; so is
# `--quick`, which sources $quick_conf.
while [ $# -gt 0 ]; do
  case "$1" in
    --help|-h)
      echo "usage: $0 [--stage N] [--stop-stage N] [--nj N] [--ngpu N] [--conf FILE] [--<variable> VALUE]..." >&2
      [ -n "${help_message:-}" ] && echo -e "$help_message" >&2
      exit 0 ;;
    --*=*)
      echo "$0: write options as '--name value', not '$1'" >&2; exit 1 ;;
    --?*)
      name=${1#--}; name=${name//-/_}
      if ! [[ $name =~ ^[a-zA-Z_][a-zA-Z0-9_]*$ ]] || [ -z "${!name+set}" ]; then
        echo "$0: unknown option $1 (options are the variables of recipes/common/defaults.sh and conf/*.conf; try --help)" >&2; exit 1
      fi
      if [ "${!name}" = "false" ] || [ "${!name}" = "true" ]; then
        if [ $# -ge 2 ] && { [ "$2" = true ] || [ "$2" = false ]; }; then value=$2; shift 2
        else value=true; shift 1; fi
      elif [ $# -ge 2 ] && { [ "${2#--}" = "$2" ] || [[ $name == *_opts ]]; }; then
        value=$2; shift 2   # a value may start with -- only for *_opts variables (--vqvae-opts "--set a=1")
      else
        echo "$0: option $1 needs a value" >&2; exit 1
      fi
      printf -v "$name" '%s' "$value"
      if [ "$name" = conf ] || { [ "$name" = quick ] && [ "$value" = true ]; }; then
        [ "$name" = quick ] && conf=$quick_conf
        [ -f "$conf" ] || { echo "$0: no such config file: $conf" >&2; exit 1; }
        # shellcheck disable=SC1090
        . "$conf"
      fi ;;
    *)
      echo "$0: unexpected argument '$1' (options are --name value)" >&2; exit 1 ;;
  esac
done
