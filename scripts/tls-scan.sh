#!/usr/bin/env bash
# Scans the agent's TLS listener the way a security review does: starts build/agent/podnetstat
# (scripts/build.sh builds it) on 127.0.0.1 with a fresh self-signed RSA 2048 certificate, runs
# sslscan (default) or testssl.sh against it (`scripts/tls-scan.sh testssl`; it takes about six
# minutes), prints the report and stops the agent. Both tools are Debian packages
# (scripts/install-deps.sh --conformance). The suite runs sslscan itself (TlsPolicy.* in
# tests/agent/serve_tls_policy_test.cpp); this script is for reading the whole report.
set -euo pipefail
cd "$(dirname "$0")/.."
tool=${1:-sslscan}
binary=${BUILD_DIR:-build}/agent/podnetstat
[ -x "$binary" ] || { echo "tls-scan: $binary missing: run scripts/build.sh" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/podnetstat-tls-scan.XXXXXX")
agent=
cleanup() {
  [ -n "$agent" ] && kill "$agent" 2>/dev/null && wait "$agent" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1 -keyout "$work/tls.key" -out "$work/tls.crt" 2>/dev/null
"$binary" serve --listen 127.0.0.1:0 --port-file "$work/port" --cri-endpoint none \
  --kubelet-url none --log-level warn --tls-cert "$work/tls.crt" --tls-key "$work/tls.key" &
agent=$!
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.1; done
port=$(head -1 "$work/port")
case "$tool" in
  sslscan) sslscan --no-colour "127.0.0.1:$port" ;;
  testssl) testssl --quiet --color 0 --warnings off "127.0.0.1:$port" ;;
  *) echo "tls-scan: sslscan or testssl, not '$tool'" >&2; exit 2 ;;
esac
