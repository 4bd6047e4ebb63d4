#!/usr/bin/env bash
# Builds podnetstat and runs the whole test suite through ctest. Run as root: the live tests
# create network namespaces, veth pairs and sockets (all removed again at their end).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
werror=OFF
[ "${CI:-}" = true ] && werror=ON
# The suite includes the Helm chart test (real helm) and the conformance tests (redocly,
# swagger-cli, prism, promtool, sslscan).
bash scripts/install-deps.sh --chart --k8s-tools --conformance
bash scripts/build.sh -DPODNETSTAT_WERROR="$werror"
cd "$BUILD_DIR"
ctest --output-on-failure --timeout 600 -j"$(nproc)" "$@"
