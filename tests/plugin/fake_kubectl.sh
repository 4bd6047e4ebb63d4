#!/usr/bin/env bash
# A stand-in for kubectl in the plugin's multi-node tests (plugin_fan_out_test.cpp): nodes a
# one-node cluster cannot have, each with an agent started on loopback. It speaks what the plugin
# reads of kubectl: `get pods|pod ... -o json` prints canned JSON, and `port-forward pod/NAME`
# prints kubectl's "Forwarding from 127.0.0.1:PORT -> ..." line for that pod's loopback agent
# and then waits to be ended, as kubectl does.
#
# $FAKE_KUBECTL_DIR holds:
#   pods-<namespace>.json   the answer to `get pods -n <namespace> ...` (no file: NotFound)
#   forward-<pod>           what port-forward to <pod> does: "port N" (forward to 127.0.0.1:N),
#                           "hang" (never says Forwarding), "forbidden" (RBAC refuses)
#   calls                   every command line, one per line (appended)
#   live/<pid>              a port-forward that is running (removed when it ends)
#   concurrency             how many port-forwards ran, each time one started
set -u
dir=${FAKE_KUBECTL_DIR:?}
echo "$*" >> "$dir/calls"
args=()
for a in "$@"; do
  case $a in --context=*|--kubeconfig=*|--as=*) ;; *) args+=("$a") ;; esac
done
set -- "${args[@]}"

case $1 in
get)
  ns=default
  while [ $# -gt 0 ]; do
    [ "$1" = -n ] && ns=$2
    shift
  done
  if [ -f "$dir/pods-$ns.json" ]; then
    cat "$dir/pods-$ns.json"
    exit 0
  fi
  echo "Error from server (NotFound): namespaces \"$ns\" not found" >&2
  exit 1
  ;;
port-forward)
  shift
  while [ $# -gt 0 ]; do
    case $1 in
    -n) ns=$2; shift ;;
    pod/*) pod=${1#pod/} ;;
    :*) remote=${1#:} ;;
    esac
    shift
  done
  mode=$(cat "$dir/forward-$pod" 2>/dev/null || echo missing)
  if [ "$mode" = forbidden ]; then
    echo "error: error upgrading connection: pods \"$pod\" is forbidden: User" \
         "\"system:serviceaccount:test:viewer\" cannot create resource \"pods/portforward\" in" \
         "API group \"\" in the namespace \"$ns\"" >&2
    exit 1
  fi
  mkdir -p "$dir/live"
  trap 'rm -f "$dir/live/$$"; exit 0' TERM INT
  touch "$dir/live/$$"
  ls "$dir/live" | wc -l >> "$dir/concurrency"
  sleep 0.3  # long enough for the other forwards of a bounded fan-out to be running too
  case $mode in
  port\ *) echo "Forwarding from 127.0.0.1:${mode#port } -> $remote" ;;
  esac
  while :; do
    sleep 1 &
    wait $!
  done
  ;;
*)
  echo "error: the fake kubectl does not know '$1'" >&2
  exit 1
  ;;
esac
