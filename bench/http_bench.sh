#!/usr/bin/env bash
# HTTP benchmark of `podnetstat serve` with wrk, on loopback only.
#
# Builds private network namespaces full of sockets (1,000, then 10,000; plus one of ~50 for the
# filtered query), starts the agent on 127.0.0.1 (ephemeral port), and runs bounded wrk runs
# against /healthz, /api/v1/sockets, a filtered query and ?format=table. Prints requests/s,
# p50/p99 latency and the agent's RSS (now and peak) after each run. Everything it creates
# (namespaces, socket holders, the agent) is removed on exit, also on Ctrl-C or failure.
#
# Needs root, iproute2, python3, curl and wrk (Debian package `wrk`).
#
# Usage: bench/http_bench.sh [PODNETSTAT_BINARY]
#   DURATION=10s   wrk run length      THREADS=1        wrk threads
#   CONNECTIONS=32 wrk connections     AGENT_THREADS=0  the agent's --threads (0: one per CPU)
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
binary=${1:-${PODNETSTAT:-$repo/build/agent/podnetstat}}
duration=${DURATION:-10s}
threads=${THREADS:-1}
connections=${CONNECTIONS:-32}
agent_threads=${AGENT_THREADS:-0}

for tool in wrk ip python3 curl; do
  command -v "$tool" >/dev/null || { echo "http_bench: needs $tool" >&2; exit 2; }
done
[[ $(id -u) == 0 ]] || { echo "http_bench: needs root (network namespaces)" >&2; exit 2; }
[[ -x $binary ]] || { echo "http_bench: no podnetstat binary at $binary" >&2; exit 2; }

work=$(mktemp -d /tmp/podnetstat-bench.XXXXXX)
tag="pnsbench$$"
namespaces=()
holders=()
agent_pid=""

cleanup() {
  set +e
  [[ -n $agent_pid ]] && kill -TERM "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null
  for pid in "${holders[@]}"; do kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
  for ns in "${namespaces[@]}"; do ip netns del "$ns" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

# Holds COUNT sockets until killed (at most an hour): half TCP listeners, a tenth bound UDP, the
# rest established TCP pairs on loopback.
cat >"$work/holder.py" <<'PY'
import resource, signal, socket, sys, time
count, base = int(sys.argv[1]), 20000
resource.setrlimit(resource.RLIMIT_NOFILE, (count + 512, count + 512))
keep = []
listeners, udp = count // 2, count // 10
pairs = (count - listeners - udp) // 2  # + the acceptor: count or count + 1 sockets
for i in range(listeners):
    s = socket.socket()
    s.bind(("127.0.0.1", base + i))
    s.listen(8)
    keep.append(s)
for i in range(udp):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.1", base + i))
    keep.append(u)
acceptor = socket.socket()
acceptor.bind(("127.0.0.1", base - 1))
acceptor.listen(4096)
keep.append(acceptor)
for _ in range(pairs):
    keep.append(socket.create_connection(("127.0.0.1", base - 1)))
    keep.append(acceptor.accept()[0])
print("READY", len(keep), flush=True)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
time.sleep(3600)
PY

# make_netns NAME COUNT: a namespace with COUNT sockets held by a python process.
make_netns() {
  local name=$1 count=$2
  ip netns add "$name"
  namespaces+=("$name")
  ip -n "$name" link set lo up
  ip netns exec "$name" python3 "$work/holder.py" "$count" >"$work/$name.out" &
  holders+=($!)
  for _ in $(seq 1 300); do
    grep -q READY "$work/$name.out" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "http_bench: the socket holder in $name did not get ready" >&2
  exit 1
}

drop_netns() {
  local name=$1 i
  for i in "${!namespaces[@]}"; do
    if [[ ${namespaces[$i]} == "$name" ]]; then
      kill -TERM "${holders[$i]}" 2>/dev/null; wait "${holders[$i]}" 2>/dev/null || true
      ip netns del "$name"
      unset 'namespaces[i]' 'holders[i]'
      namespaces=("${namespaces[@]}"); holders=("${holders[@]}")
      return
    fi
  done
}

# The agent's resident set now and at its peak, in MiB.
rss_mib() { awk '/^VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$agent_pid/status"; }
hwm_mib() { awk '/^VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$agent_pid/status"; }

# How many sockets the agent's current snapshot answers for a query.
count_items() {
  curl -sf "http://127.0.0.1:$port$1" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["items"]))'
}

# Waits until a fresh snapshot shows at least N sockets for a query.
wait_for_sockets() {
  local query=$1 want=$2
  for _ in $(seq 1 100); do
    (( $(count_items "$query") >= want )) && return 0
    sleep 0.2
  done
  echo "http_bench: the agent never showed $want sockets for $query" >&2
  exit 1
}

printf '%-44s %8s %12s %10s %10s %10s %10s\n' "run" "sockets" "req/s" "p50" "p99" "RSS MiB" "peak MiB"

# run LABEL PATH SOCKETS [CONNECTIONS]: one wrk run and its line of the table.
run() {
  local label=$1 path=$2 sockets=$3 conns=${4:-$connections} out
  out=$(wrk -t"$threads" -c"$conns" -d"$duration" --latency "http://127.0.0.1:$port$path")
  if grep -q "Non-2xx" <<<"$out"; then
    echo "http_bench: $path answered non-2xx:" >&2
    echo "$out" >&2
    exit 1
  fi
  local rps p50 p99
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  printf '%-44s %8s %12s %10s %10s %10s %10s\n' "$label" "$sockets" "$rps" "$p50" "$p99" \
    "$(rss_mib)" "$(hwm_mib)"
}

# The agent at rest: a couple of refreshes (5 s each) with no requests.
idle() {
  sleep 11
  printf '%-44s %8s %12s %10s %10s %10s %10s\n' "(idle, after 2 refreshes)" "$1" - - - \
    "$(rss_mib)" "$(hwm_mib)"
}

big="${tag}big"
small="${tag}small"
make_netns "$small" 50
make_netns "$big" 1000

"$binary" serve --listen 127.0.0.1:0 --port-file "$work/port" --log-level warn \
  --threads "$agent_threads" &
agent_pid=$!
for _ in $(seq 1 100); do [[ -s $work/port ]] && break; sleep 0.1; done
port=$(head -1 "$work/port")
wait_for_sockets "/api/v1/sockets?netns=$big" 1000

total=$(count_items /api/v1/sockets)
idle "$total"
run "/healthz" /healthz -
run "/api/v1/sockets (whole node)" /api/v1/sockets "$total"
run "/api/v1/sockets?netns=<1,000>" "/api/v1/sockets?netns=$big" 1000
run "/api/v1/sockets?netns=<50> (filtered)" "/api/v1/sockets?netns=$small" "$(count_items "/api/v1/sockets?netns=$small")"
run "/api/v1/sockets?netns=<1,000>&format=table" "/api/v1/sockets?netns=$big&format=table" 1000

drop_netns "$big"
make_netns "$big" 10000
wait_for_sockets "/api/v1/sockets?netns=$big" 10000
total=$(count_items /api/v1/sockets)
idle "$total"
run "/healthz" /healthz -
run "/api/v1/sockets (whole node)" /api/v1/sockets "$total"
# Memory must not grow with the number of clients: the same answer to 8x the connections.
run "/api/v1/sockets (whole node), 256 conns" /api/v1/sockets "$total" 256
run "/api/v1/sockets?netns=<50> (filtered)" "/api/v1/sockets?netns=$small" "$(count_items "/api/v1/sockets?netns=$small")"
run "/api/v1/sockets?state=LISTEN&port=20000" "/api/v1/sockets?state=LISTEN&port=20000" "$(count_items "/api/v1/sockets?state=LISTEN&port=20000")"
run "/api/v1/sockets?format=table (whole node)" "/api/v1/sockets?format=table" "$total"
