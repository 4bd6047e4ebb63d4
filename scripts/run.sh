#!/usr/bin/env bash
# Builds podnetstat if needed, then prints every socket of every network namespace of this
# machine, netstat style, one block per namespace. Extra arguments go to `podnetstat list`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh >/dev/null
exec build/agent/podnetstat list -tuwxanpe --all-netns "$@"
