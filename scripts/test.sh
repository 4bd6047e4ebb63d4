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
# The cluster suite (label cluster) runs on an image built from the Dockerfile, which alone takes
# 15-30 minutes on two cores: ctest runs it in CI, or when PODNETSTAT_IMAGE_TAR names a built one
# (.ci/run builds it once and passes it), or with PODNETSTAT_CLUSTER_TEST=1, and otherwise
# reports it skipped (scripts/cluster-test.sh runs it alone).
ctest --output-on-failure --timeout 600 -j"$(nproc)" "$@"
