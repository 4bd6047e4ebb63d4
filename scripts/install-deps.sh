#!/usr/bin/env bash
# Installs the Debian 12 packages podnetstat needs to build and test (plus, with --chart, --image
# and --fuzz, what the chart test, the image check and the fuzz smoke need). Idempotent, and fast
# when everything is there already (no apt-get at all then). Run as root.
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

# Optional groups: --chart (scripts/chart-test.sh), --image (scripts/image-check.sh).
chart_packages=(
  # tests/chart/render: Go's text/template + sprig + Helm's YAML and JSON-schema libraries
  golang-go golang-github-masterminds-sprig-dev golang-k8s-sigs-yaml-dev
  golang-github-xeipuuv-gojsonschema-dev
)
fuzz_packages=(
  # scripts/fuzz-smoke.sh: clang and its libFuzzer runtime
  clang-14 libclang-rt-14-dev
)
image_packages=(
  # podman with runc (crun 1.8 refuses hybrid cgroup layouts), CNI plugins, mmdebstrap
  podman runc containernetworking-plugins iptables mmdebstrap
)
for arg in "$@"; do
  case "$arg" in
    --chart)
      packages+=("${chart_packages[@]}")
      command -v npm >/dev/null || packages+=(nodejs npm)
      ;;
    --image) packages+=("${image_packages[@]}") ;;
    --fuzz) packages+=("${fuzz_packages[@]}") ;;
    *)
      echo "install-deps: unknown option '$arg' (--chart, --image, --fuzz)" >&2
      exit 2
      ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=300 update -qq
apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
