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
# 15-30 minutes on two cores: here it runs when PODNETSTAT_IMAGE_TAR names a built one (.ci/run
# builds it once and passes it) or in CI; otherwise scripts/cluster-test.sh runs it.
leave_out=()
if [ -z "${PODNETSTAT_IMAGE_TAR:-}" ] && [ "${CI:-}" != true ]; then
  leave_out=(-LE cluster)
  echo "test.sh: the cluster suite is left out (no PODNETSTAT_IMAGE_TAR): scripts/cluster-test.sh runs it" >&2
fi
ctest --output-on-failure --timeout 600 -j"$(nproc)" "${leave_out[@]}" "$@"
