#!/usr/bin/env bash
# Builds the project's Dockerfile into a real OCI image with podman and runs it: no Docker
# engine and no registry needed, only Debian's archive (recipe: shared/reference/image-build).
#   1. debian:bookworm and debian:bookworm-slim made locally (mmdebstrap minbase, podman import);
#   2. `podman build --pull=never` of the Dockerfile (its build stage compiles podnetstat);
#   3. checks: `podnetstat version` prints the CMake project version, the labels and the
#      entrypoint are right, the image holds no toolchain and every library the binaries link;
#      the kubectl plugin /usr/bin/kubectl-podnetstat runs and links no gRPC;
#      `serve` under the chart's restrictions (read-only root, all capabilities dropped but
#      SYS_PTRACE and DAC_READ_SEARCH, no-new-privileges, host PID namespace) answers /healthz,
#      /readyz and a data endpoint on 127.0.0.1 (host network, random free ports);
#   4. with IMAGE_CHECK_SAVE=FILE, the checked image saved there (podman save, docker-archive,
#      named localhost/podnetstat:check), for the cluster suite to load instead of building again;
#   5. everything removed again, also on failure: podman's state lives in a private temp dir
#      (CONTAINERS_* variables; /etc/containers untouched), runc's state too (--runtime-flag
#      root), plus the few host paths podman writes, when this run created them; then checked:
#      anything this run made that is still there fails the run.
# Run as root. Env: BUILD_JOBS (compile jobs, default 2), KEEP=1 (keep the work dir for
# debugging), MIRROR/SECURITY (Debian archive URLs; default: this machine's apt sources),
# IMAGE_CHECK_CACHE=DIR (opt-in: keep the base rootfs tarball there, ~170 MB, remade after a
# week; saves the mmdebstrap run, 20-100 s), IMAGE_CHECK_SAVE=FILE (above).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

SUITE=bookworm
IMAGE=localhost/podnetstat:check
BUILD_JOBS=${BUILD_JOBS:-2}
KEEP=${KEEP:-0}
passed=0
failed=0
t0=$(date +%s)
say() { echo "[image-check +$(( $(date +%s) - t0 ))s] $*"; }
pass() { passed=$((passed + 1)); say "ok: $*"; }
fail() { failed=$((failed + 1)); say "FAIL: $*"; }

if [ "$(id -u)" != 0 ]; then
  echo "image-check: run as root" >&2
  exit 1
fi

# 1. Tools, Debian packages only. runc, not crun: crun 1.8 refuses hybrid cgroup layouts.
#    No recommends (they would pull systemd, netavark, ...).
need=()
for p in podman runc containernetworking-plugins iptables mmdebstrap; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=300 update -qq
  apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

sources=/etc/apt/sources.list.d/debian.sources
if [ -z "${MIRROR:-}" ] && [ -f "$sources" ]; then
  MIRROR=$(awk '/^URIs:/ {print $2}' "$sources" | sed -n 1p)
  SECURITY=$(awk '/^URIs:/ {print $2}' "$sources" | sed -n 2p)
fi
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SECURITY=${SECURITY:-http://deb.debian.org/debian-security}

version=$(sed -n 's/^project(podnetstat VERSION \([0-9][0-9.]*\).*/\1/p' CMakeLists.txt)
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
if [ -z "$version" ]; then
  echo "image-check: no 'project(podnetstat VERSION x.y.z' line in CMakeLists.txt" >&2
  exit 1
fi

# 2. Private podman configuration.
WORK=$(mktemp -d /tmp/podnetstat-image-check.XXXXXX)
mkdir -p "$WORK/conf/net" "$WORK/tmp"
cat > "$WORK/conf/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$WORK/storage"
runroot = "$WORK/run"
EOF
# Without CAP_SYS_RESOURCE a container's rlimits may not exceed ours; podman's defaults
# (1048576) would fail with "setrlimit RLIMIT_NOFILE: Operation not permitted", and podman
# lowers its own RLIMIT_NPROC to 32768.
nofile=$(ulimit -Hn)
[ "$nofile" = unlimited ] && nofile=1048576
cat > "$WORK/conf/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=32768:32768"]
[network]
network_config_dir = "$WORK/conf/net"
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "$WORK/run/libpod"
EOF
cat > "$WORK/conf/registries.conf" <<EOF
unqualified-search-registries = []
short-name-mode = "permissive"
EOF
export CONTAINERS_STORAGE_CONF=$WORK/conf/storage.conf
export CONTAINERS_CONF=$WORK/conf/containers.conf
export CONTAINERS_REGISTRIES_CONF=$WORK/conf/registries.conf
export TMPDIR=$WORK/tmp
# runc keeps the state of the containers `podman run` starts under its --root, /run/runc unless
# told: every podman call here passes a root inside $WORK instead.
podman() { command podman --runtime-flag "root=$WORK/runc" "$@"; }

# Host paths podman writes outside $WORK: containers/image's blob-info cache (fixed path for
# root), the cgroupfs parents libpod_parent, and runc's default root should anything still use
# it. Removed at the end only if this run made them.
[ -e /var/lib/containers ] && made_varlib=0 || made_varlib=1
[ -e /run/runc ] && made_runc=0 || made_runc=1
had_cgroups=$(ls -d /sys/fs/cgroup/*/libpod_parent 2>/dev/null || true)
container=podnetstat-check-$$

# Long steps run in the background so that a TERM/INT reaches the trap at once (bash defers
# traps until a foreground child ends); the cleanup then stops them.
child=
background() {
  "$@" &
  child=$!
  local rc=0
  wait "$child" || rc=$?
  child=
  return "$rc"
}

cleanup() {
  local rc=$?
  set +e
  if [ -n "$child" ]; then
    kill "$child" 2>/dev/null
    wait "$child" 2>/dev/null
  fi
  if [ "$KEEP" = 1 ]; then
    say "KEEP=1: left $WORK (export CONTAINERS_*_CONF=$WORK/conf/... to use it)"
  else
    podman rm -f -t 0 "$container" >/dev/null 2>&1
    podman system reset --force >/dev/null 2>&1
    rm -rf "$WORK"
    [ -n "${IMAGE_CHECK_CACHE:-}" ] && rm -rf "$IMAGE_CHECK_CACHE"/*."$$".tmp
    [ -n "${IMAGE_CHECK_SAVE:-}" ] && rm -f "$IMAGE_CHECK_SAVE.$$.tmp"
    [ "$made_varlib" = 1 ] && rm -rf /var/lib/containers
    # only empty directories: a container another podman runs meanwhile keeps its state
    [ "$made_runc" = 1 ] && [ -d /run/runc ] && find /run/runc -depth -type d -empty -delete
    for d in /sys/fs/cgroup/*/libpod_parent; do
      [ -d "$d" ] || continue
      grep -qxF "$d" <<<"$had_cgroups" && continue
      # rmdir succeeds on empty cgroups only
      find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
    done
    # What this run made must be gone.
    left=()
    [ -e "$WORK" ] && left+=("$WORK")
    [ "$made_varlib" = 1 ] && [ -e /var/lib/containers ] && left+=(/var/lib/containers)
    [ "$made_runc" = 1 ] && [ -e /run/runc ] && left+=(/run/runc)
    for d in /sys/fs/cgroup/*/libpod_parent; do
      [ -d "$d" ] && ! grep -qxF "$d" <<<"$had_cgroups" && left+=("$d")
    done
    if [ ${#left[@]} -gt 0 ]; then
      echo "image-check: FAIL: left behind: ${left[*]}" >&2
      [ "$rc" = 0 ] && rc=1
    fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 3. Base images from Debian's archive.
rootfs=$WORK/rootfs.tar
if [ -n "${IMAGE_CHECK_CACHE:-}" ]; then
  mkdir -p "$IMAGE_CHECK_CACHE"
  rootfs=$IMAGE_CHECK_CACHE/debian-$SUITE-minbase.tar
  # Remade weekly, for the security updates.
  [ -f "$rootfs" ] && [ -n "$(find "$rootfs" -mtime +7)" ] && rm -f "$rootfs"
fi
if [ -s "$rootfs" ]; then
  say "base rootfs from $rootfs"
else
  say "mmdebstrap $SUITE (minbase) from $MIRROR"
  background mmdebstrap --quiet --variant=minbase --format=tar "$SUITE" "$rootfs.$$.tmp" \
    "deb $MIRROR $SUITE main" "deb $MIRROR $SUITE-updates main" \
    "deb $SECURITY $SUITE-security main"
  mv "$rootfs.$$.tmp" "$rootfs"
fi
podman import --quiet --change 'CMD ["bash"]' "$rootfs" "localhost/debian:$SUITE" >/dev/null
rm -f "$WORK/rootfs.tar"
# The slim image is the same minbase under a second name; docker.io names too, so that no
# FROM line ever reaches for a registry.
podman tag "localhost/debian:$SUITE" "localhost/debian:$SUITE-slim" \
  "docker.io/library/debian:$SUITE" "docker.io/library/debian:$SUITE-slim"

# 4. Build (never pull).
say "podman build (version $version, $BUILD_JOBS compile jobs)"
build_start=$(date +%s)
background podman build --pull=never --network host --layers \
  --build-arg "VERSION=$version" --build-arg "REVISION=$revision" --build-arg "BUILD_JOBS=$BUILD_JOBS" \
  -t "$IMAGE" "$root"
say "built in $(( $(date +%s) - build_start ))s: $(podman image inspect --format '{{.Size}}' "$IMAGE" | awk '{printf "%.1f MB", $1/1e6}')"

# 5. Checks.
out=$(podman run --rm --network none "$IMAGE" version 2>&1) || true
if [ "$out" = "podnetstat $version" ]; then
  pass "'podnetstat version' prints '$out'"
else
  fail "'podnetstat version' printed '$out', expected 'podnetstat $version'"
fi

label() { podman image inspect --format "{{ index .Labels \"$1\" }}" "$IMAGE"; }
if [ "$(label org.opencontainers.image.version)" = "$version" ] &&
   [ "$(label org.opencontainers.image.revision)" = "$revision" ] &&
   [ "$(label org.opencontainers.image.title)" = podnetstat ] &&
   [ "$(label org.opencontainers.image.licenses)" = MIT ]; then
  pass "OCI labels: title, version $version, revision, licenses"
else
  fail "OCI labels: $(podman image inspect --format '{{json .Labels}}' "$IMAGE")"
fi

entry=$(podman image inspect --format '{{json .Config.Entrypoint}} {{json .Config.Cmd}}' "$IMAGE")
if [ "$entry" = '["/usr/bin/podnetstat"] ["serve"]' ]; then
  pass "entrypoint podnetstat, command serve"
else
  fail "entrypoint/command: $entry"
fi

probe=$(podman run --rm --network none --entrypoint /bin/sh "$IMAGE" -c \
  'ldd /usr/bin/podnetstat /usr/bin/kubectl-podnetstat /usr/lib/podnetstat/libpodnetstat-cri.so | grep -c "not found"; for t in g++ cc cmake ninja; do command -v $t; done; ls /usr/include 2>/dev/null | wc -l' 2>&1) || true
if [ "$probe" = $'0\n0' ]; then
  pass "runtime image: every library of the binaries and the CRI module present, no toolchain, no headers"
else
  fail "runtime image contents (missing libraries / tools / headers): $probe"
fi

# The kubectl plugin: there to be copied out; it runs, links no gRPC (only the agent's CRI module
# does), and without a kubectl it says so.
out=$(podman run --rm --network none --entrypoint /usr/bin/kubectl-podnetstat "$IMAGE" version 2>&1) || true
grpc=$(podman run --rm --network none --entrypoint /bin/sh "$IMAGE" -c \
  'ldd /usr/bin/kubectl-podnetstat | grep -cE "grpc|protobuf|absl"' 2>&1) || true
nokubectl=$(podman run --rm --network none --entrypoint /usr/bin/kubectl-podnetstat "$IMAGE" \
  listeners --all-nodes 2>&1; echo "exit $?") || true
if [ "$out" = "kubectl-podnetstat $version" ] && [ "$grpc" = 0 ] &&
   grep -q "kubectl not found in \$PATH" <<<"$nokubectl" && grep -q "^exit 1$" <<<"$nokubectl"; then
  pass "/usr/bin/kubectl-podnetstat: version $version, no gRPC linked, no kubectl -> exit 1 saying so"
else
  fail "/usr/bin/kubectl-podnetstat: version '$out', gRPC/protobuf libraries linked: $grpc, without kubectl: $nokubectl"
fi

free_port() {
  local p
  while :; do
    p=$(( 20000 + RANDOM % 30000 ))
    ss -Htln "sport = :$p" | grep -q . || { echo "$p"; return; }
  done
}
api_port=$(free_port)
health_port=$(free_port)
while [ "$health_port" = "$api_port" ]; do health_port=$(free_port); done
say "podman run serve (api 127.0.0.1:$api_port, health 127.0.0.1:$health_port)"
podman run -d --name "$container" --network host --pid host --read-only \
  --cap-drop ALL --cap-add SYS_PTRACE --cap-add DAC_READ_SEARCH \
  --security-opt no-new-privileges \
  "$IMAGE" serve --listen "127.0.0.1:$api_port" --health-listen "127.0.0.1:$health_port" \
  --refresh 1s --log-format json >/dev/null

http() { curl -s -o "$WORK/body" -w '%{http_code}' --max-time 5 "$1" 2>/dev/null || true; }
code=000
for _ in $(seq 1 60); do
  code=$(http "http://127.0.0.1:$health_port/healthz")
  [ "$code" = 200 ] && break
  [ "$(podman inspect --format '{{.State.Running}}' "$container" 2>/dev/null)" = true ] || break
  sleep 0.5
done
if [ "$code" = 200 ] && [ "$(cat "$WORK/body")" = '{"status":"ok"}' ]; then
  pass "serve: GET /healthz on the health port -> 200 {\"status\":\"ok\"}"
else
  fail "serve: GET /healthz -> $code $(cat "$WORK/body" 2>/dev/null)"
fi
for _ in $(seq 1 30); do
  code=$(http "http://127.0.0.1:$health_port/readyz")
  [ "$code" = 200 ] && break
  sleep 0.5
done
if [ "$code" = 200 ]; then
  pass "serve: GET /readyz -> 200 once the first scan is done"
else
  fail "serve: GET /readyz -> $code $(cat "$WORK/body" 2>/dev/null)"
fi
code=$(http "http://127.0.0.1:$api_port/api/v1/netns")
if [ "$code" = 200 ] && grep -q '"items"' "$WORK/body" && grep -q '"readable":true' "$WORK/body"; then
  pass "serve: GET /api/v1/netns on the API port lists readable network namespaces"
else
  fail "serve: GET /api/v1/netns -> $code $(head -c 300 "$WORK/body" 2>/dev/null)"
fi
podman stop -t 5 "$container" >/dev/null 2>&1 || true
if [ "$failed" -gt 0 ]; then
  say "container log:"
  podman logs "$container" 2>&1 | tail -n 30
fi
podman rm -f -t 0 "$container" >/dev/null 2>&1 || true

if [ -n "${IMAGE_CHECK_SAVE:-}" ] && [ "$failed" -eq 0 ]; then
  rm -f "$IMAGE_CHECK_SAVE"
  podman save --quiet --format docker-archive -o "$IMAGE_CHECK_SAVE.$$.tmp" "$IMAGE"
  mv "$IMAGE_CHECK_SAVE.$$.tmp" "$IMAGE_CHECK_SAVE"
  say "saved $IMAGE to $IMAGE_CHECK_SAVE ($(du -m "$IMAGE_CHECK_SAVE" | cut -f1) MB)"
fi

say "done in $(( $(date +%s) - t0 ))s"
echo "image-check: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
