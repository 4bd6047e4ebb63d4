#!/usr/bin/env bash
# Tests charts/podnetstat without a Helm binary (none can be installed here):
#  1. builds tests/chart/render, a `helm template` work-alike (Go text/template + sprig +
#     sigs.k8s.io/yaml + gojsonschema, all Debian packages, built in GOPATH mode);
#  2. installs tests/chart's npm packages (kubernetes-models, ajv; pinned by package-lock.json);
#  3. runs, with node's test runner, tests/chart/renderer.test.mjs (the Helm behaviours the
#     renderer reproduces, on a fixture chart) and tests/chart/chart.test.mjs: renders with the
#     defaults and with every option switched, validates the objects against the Kubernetes
#     OpenAPI schemas, checks security settings, RBAC, mounts, env and NOTES, checks good and
#     bad values files against values.schema.json, and breaks copies of the chart to prove the
#     checks fail.
# Needs the chart-test packages of scripts/install-deps.sh, node and npm; without them it fails,
# or, with CHART_TEST_MISSING_OK=1 outside CI, exits 77 (ctest's SKIP_RETURN_CODE). Extra
# arguments go to `node --test` (e.g. --test-name-pattern=RBAC).
set -euo pipefail
cd "$(dirname "$0")/.."

missing() {
  echo "chart-test: $1 missing: install the chart-test packages (scripts/install-deps.sh)" >&2
  if [ "${CHART_TEST_MISSING_OK:-}" = 1 ] && [ "${CI:-}" != true ]; then
    exit 77
  fi
  exit 1
}
for tool in go node npm; do
  command -v "$tool" >/dev/null || missing "'$tool'"
done
gocode=/usr/share/gocode/src
for pkg in github.com/Masterminds/sprig github.com/Masterminds/semver sigs.k8s.io/yaml \
           github.com/xeipuuv/gojsonschema; do
  [ -d "$gocode/$pkg" ] || missing "Go package $pkg ($gocode)"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/podnetstat-chart-test.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Debian ships sprig v3 and semver v3 under their pre-module paths; in GOPATH mode the /v3
# import paths resolve through these links, everything else through Debian's own tree.
mkdir -p "$work/gopath/src/github.com/Masterminds/sprig" "$work/gopath/src/github.com/Masterminds/semver"
ln -s "$gocode/github.com/Masterminds/sprig" "$work/gopath/src/github.com/Masterminds/sprig/v3"
ln -s "$gocode/github.com/Masterminds/semver" "$work/gopath/src/github.com/Masterminds/semver/v3"
gocache=${GOCACHE:-${XDG_CACHE_HOME:-${HOME:-$work}/.cache}/go-build}
echo "chart-test: building tests/chart/render" >&2
GO111MODULE=off GOFLAGS='' GOPATH="$work/gopath:/usr/share/gocode" GOCACHE="$gocache" \
  go build -o "$work/chart-render" ./tests/chart/render

# npm ci wipes node_modules: only when package-lock.json changed since the last install.
(
  cd tests/chart
  if ! cmp -s package-lock.json node_modules/.podnetstat-installed-lock 2>/dev/null; then
    echo "chart-test: npm ci in tests/chart" >&2
    npm ci --no-audit --no-fund --loglevel=error
    cp package-lock.json node_modules/.podnetstat-installed-lock
  fi
)

CHART_RENDER="$work/chart-render" node --test --test-reporter=spec "$@" tests/chart/renderer.test.mjs tests/chart/chart.test.mjs
