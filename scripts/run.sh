#!/usr/bin/env bash
# Builds what it runs (the podnetstat executable and its CRI module, not the tests) if needed, then
# runs the agent on 127.0.0.1:9180, serving this machine's sockets of every network namespace.
# Extra arguments go to `podnetstat serve`.
#   curl -s 127.0.0.1:9180/api/v1/sockets?format=table
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
bash scripts/install-deps.sh
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" >/dev/null
fi
cmake --build "$BUILD_DIR" --target podnetstat -j"$(nproc)" >/dev/null
exec "$BUILD_DIR/agent/podnetstat" serve --listen 127.0.0.1:9180 "$@"
