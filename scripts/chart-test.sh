#!/usr/bin/env bash
# Tests charts/podnetstat with real Helm:
#  1. finds helm (installed by `scripts/install-deps.sh --k8s-tools` into
#     $PODNETSTAT_TOOLS_DIR/bin, default /opt/podnetstat-tools/bin, or on PATH);
#  2. installs tests/chart's npm packages (kubernetes-models, ajv, yaml; pinned by
#     package-lock.json);
#  3. runs tests/chart/chart.test.mjs with node's test runner: `helm lint --strict`, `helm template`
#     with the defaults, with every mode of values.yaml and every option switched, the objects
#     validated against the Kubernetes OpenAPI schemas and checked for security settings, RBAC,
#     mounts, env and NOTES; good and bad values files checked against values.schema.json by Helm
#     and by ajv; copies of the chart broken on purpose to prove the checks fail.
# Needs helm, node and npm; without them it fails, or, with CHART_TEST_MISSING_OK=1 outside CI,
# exits 77 (ctest's SKIP_RETURN_CODE). Extra arguments go to `node --test` (e.g.
# --test-name-pattern=RBAC).
set -euo pipefail
cd "$(dirname "$0")/.."

missing() {
  echo "chart-test: $1 missing: install it (scripts/install-deps.sh --chart --k8s-tools)" >&2
  if [ "${CHART_TEST_MISSING_OK:-}" = 1 ] && [ "${CI:-}" != true ]; then
    exit 77
  fi
  exit 1
}
for tool in node npm; do
  command -v "$tool" >/dev/null || missing "'$tool'"
done
helm=${PODNETSTAT_TOOLS_DIR:-/opt/podnetstat-tools}/bin/helm
[ -x "$helm" ] || helm=$(command -v helm) || missing "'helm'"
echo "chart-test: $("$helm" version --template '{{.Version}}') ($helm)" >&2

# npm ci wipes node_modules: only when package-lock.json changed since the last install.
(
  cd tests/chart
  if ! cmp -s package-lock.json node_modules/.podnetstat-installed-lock 2>/dev/null; then
    echo "chart-test: npm ci in tests/chart" >&2
    npm ci --no-audit --no-fund --loglevel=error
    cp package-lock.json node_modules/.podnetstat-installed-lock
  fi
)

HELM="$helm" node --test --test-reporter=spec "$@" tests/chart/chart.test.mjs
