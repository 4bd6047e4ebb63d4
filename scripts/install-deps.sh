#!/usr/bin/env bash
# Installs the Debian 12 packages podnetstat needs to build and test. Idempotent, and fast when
# everything is there already (no apt-get at all then). Run as root.
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
