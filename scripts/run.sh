#!/usr/bin/env bash
# Builds podnetstat if needed, then runs the agent on 127.0.0.1:9180, serving this machine's
# sockets of every network namespace. Extra arguments go to `podnetstat serve`.
#   curl -s 127.0.0.1:9180/api/v1/sockets?format=table
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh >/dev/null
exec build/agent/podnetstat serve --listen 127.0.0.1:9180 "$@"
