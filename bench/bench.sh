#!/usr/bin/env bash
# Whole-process benchmark: podnetstat against ss and net-tools netstat, and against the
# kernel's own single-threaded floor, measured side by side in one run.
#
#   bench/bench.sh            (as root; RUNS=7 by default; QUICK=1 for a short smoke run)
#   BASELINE_BIN=/path/to/an/older/podnetstat bench/bench.sh
#                             the same, with that build measured beside this one in every
#                             scenario (interleaved in the same rounds), and compared in a table
#   AGENT_ROUNDS=3            10 s agent runs per build and scenario (alternating builds)
#
# Builds the scenarios in network namespaces of its own (prefix pnb<PID>), removes them and
# every process it started at exit, also on failure. Traffic stays on 127.0.0.1 inside them.
# Writes docs/bench/results.md, docs/bench/results.json and docs/bench/scaling.png.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-7}
QUICK=${QUICK:-0}
AGENT_ROUNDS=${AGENT_ROUNDS:-3}
BASELINE_BIN=${BASELINE_BIN:-}
BUILD_DIR=${BUILD_DIR:-build}
OUT=${OUT:-docs/bench}
PFX=pnb$$
BIN=$PWD/$BUILD_DIR/agent/podnetstat
FILL=$PWD/$BUILD_DIR/bench/sockfill
FLOOR=$PWD/$BUILD_DIR/bench/kernelfloor

for tool in python3 curl gnuplot netstat ss nsenter; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is missing (scripts/install-deps.sh --bench)" >&2; exit 1; }
done
[ -x "$BIN" ] && [ -x "$FILL" ] && [ -x "$FLOOR" ] || BUILD_TYPE=Release bash scripts/build.sh
if [ -n "$BASELINE_BIN" ] && [ ! -x "$BASELINE_BIN" ]; then
  echo "bench: BASELINE_BIN $BASELINE_BIN is not an executable" >&2
  exit 1
fi

WORK=$(mktemp -d /tmp/podnetstat-bench.XXXXXX)
HOLDERS=()
cleanup() {
  for p in "${HOLDERS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  sleep 0.2
  for p in "${HOLDERS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  # The holders of the namespaces (make_ns runs in a command substitution, so its PIDs never
  # reach HOLDERS), then the namespaces.
  for n in $(ip netns list | awk '{print $1}' | grep "^$PFX" || true); do
    ip netns pids "$n" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
    ip netns del "$n" || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

# make_ns NAME SOCKFILL-ARGS...: a namespace with lo up and a sockfill holding its sockets;
# prints the holder's PID.
make_ns() {
  local name=$1; shift
  ip netns add "$name"
  ip -n "$name" link set lo up
  ip netns exec "$name" "$FILL" --lifetime 1800 "$@" >"$WORK/$name.ready" &
  HOLDERS+=($!)
  for _ in $(seq 300); do grep -q READY "$WORK/$name.ready" 2>/dev/null && break; sleep 0.05; done
  grep -q READY "$WORK/$name.ready" || { echo "bench: sockfill in $name did not start" >&2; exit 1; }
  awk '{print $2}' "$WORK/$name.ready"
}

# hf NAME COMMAND...: every command RUNS times in interleaved rounds (bench/rounds.py says why),
# wall and CPU times and peak RSS into $WORK/NAME.json
hf() {
  local name=$1; shift
  python3 bench/rounds.py "$WORK/$name.json" "$RUNS" "$@"
}

# with_baseline COMMAND...: sets EXTRA to the same commands run by the baseline build (empty
# without BASELINE_BIN): the extra entries of an hf round.
with_baseline() {
  EXTRA=()
  if [ -n "$BASELINE_BIN" ]; then
    for c in "$@"; do EXTRA+=("$BASELINE_BIN${c#"$BIN"}"); done
  fi
}

# agent_once BINARY OUT SERVE-ARGS...: `BINARY serve` (every namespace of the machine, the host's
# included) at a 500 ms refresh for 10 s. Appends to OUT one line: the mean scan time from the
# podnetstat_scan_duration_seconds histogram (sum / count), the number of scans, and the mean
# whole refresh from its debug log (the scan, the pod index, the network counters and the
# snapshot: "scan: ... X ms (+Y ms indexing)"), all of which one scan costs the agent.
agent_once() {
  local binary=$1 out=$2; shift 2
  "$binary" serve --listen 127.0.0.1:0 --port-file "$WORK/agent.port" --refresh 500ms \
    --cri-endpoint none --kubelet-url none --log-level debug "$@" 2>"$WORK/agent.log" &
  local agent=$!
  HOLDERS+=($agent)
  for _ in $(seq 100); do [ -s "$WORK/agent.port" ] && break; sleep 0.05; done
  sleep 10
  local scan
  scan=$(curl -sf "http://127.0.0.1:$(cat "$WORK/agent.port")/metrics" |
    awk '/^podnetstat_scan_duration_seconds_sum/ {s=$2} /^podnetstat_scan_duration_seconds_count/ {c=$2}
         END {printf "%.3f %d", s / c * 1e3, c}')
  kill -TERM "$agent"; wait "$agent" 2>/dev/null || true
  local refresh
  refresh=$(sed -n 's/.*scan: [0-9]* sockets in [0-9]* namespaces, \([0-9.]*\) ms (+\([0-9.]*\) ms indexing).*/\1 \2/p' \
    "$WORK/agent.log" | awk '{t += $1 + $2; n++} END {printf "%.3f", n ? t / n : 0}')
  echo "$scan $refresh" >>"$out"
  rm -f "$WORK/agent.port"
}

# agent_scan NAME SERVE-ARGS...: AGENT_ROUNDS agent runs of this build (and of the baseline,
# alternating) into $WORK/agent-NAME.txt (and agent-NAME.baseline.txt), one line per run.
agent_scan() {
  local name=$1; shift
  for _ in $(seq "$AGENT_ROUNDS"); do
    agent_once "$BIN" "$WORK/agent-$name.txt" "$@"
    if [ -n "$BASELINE_BIN" ]; then
      agent_once "$BASELINE_BIN" "$WORK/agent-$name.baseline.txt" "$@"
    fi
  done
}

# Scenario 1: one namespace, 10,000 TCP sockets (2,000 listeners, 4,000 established pairs) plus
# 100 UDP, held by 4 processes.
big_pid=$(make_ns "${PFX}big" --listeners 2000 --pairs 4000 --udp 100 --procs 4)
echo "bench: scenario 1 ready ($(ip netns exec "${PFX}big" sh -c 'tail -n +2 /proc/net/tcp | wc -l') tcp rows)" >&2
nse="nsenter --net=/run/netns/${PFX}big"
with_baseline "$BIN list -tuwanp --netns ${PFX}big" "$BIN list -tuwan --netns ${PFX}big"
hf one \
  "$BIN list -tuwanp --netns ${PFX}big" \
  "$nse ss -tuwanp" \
  "$nse netstat -tuwanp" \
  "$BIN list -tuwan --netns ${PFX}big" \
  "$nse ss -tuwan" \
  "$nse netstat -tuwan" \
  "$FLOOR procfs $big_pid" \
  "$FLOOR fds" \
  "${EXTRA[@]}"
kill -TERM "$big_pid"; ip netns del "${PFX}big"

# Scenarios 2-4: K namespaces with 100 sockets each (20 listeners, 35 pairs, 5 time-wait,
# 5 UDP), and 300 namespaces with no socket (a process in each, so procfs can reach it).
scaling() {
  local k=$1 kind=$2
  local names=() pids=()
  for i in $(seq "$k"); do
    local n="${PFX}${kind}$i"
    if [ "$kind" = s ]; then
      pids+=("$(make_ns "$n" --listeners 20 --pairs 35 --timewait 5 --udp 5)")
    else
      pids+=("$(make_ns "$n")")
    fi
    names+=("$n")
  done
  local sel="" loop_ss="" loop_ns=""
  for n in "${names[@]}"; do
    sel+=" --netns $n"
    loop_ss+="nsenter --net=/run/netns/$n ss -tuwanp; "
    loop_ns+="nsenter --net=/run/netns/$n netstat -tuwanp; "
  done
  echo "$loop_ss" >"$WORK/loop-ss-$k$kind.sh"
  echo "$loop_ns" >"$WORK/loop-netstat-$k$kind.sh"
  with_baseline "$BIN list -tuwanp --backend procfs$sel" "$BIN list -tuwanp --backend netlink$sel"
  hf "scale-$k$kind" \
    "$BIN list -tuwanp --backend procfs$sel" \
    "$BIN list -tuwanp --backend netlink$sel" \
    "bash $WORK/loop-ss-$k$kind.sh" \
    "bash $WORK/loop-netstat-$k$kind.sh" \
    "$FLOOR procfs ${pids[*]}" \
    "$FLOOR diag ${pids[*]}" \
    "$FLOOR fds" \
    "${EXTRA[@]}"
  if [ "$kind" = s ] && [ "$k" = 100 ]; then
    agent_scan "$k$kind-procfs" --backend procfs
    agent_scan "$k$kind-netlink" --backend netlink
  fi
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for n in "${names[@]}"; do ip netns del "$n"; done
}
# Scenario 5: a node of about 500 processes: 40 pod-like namespaces, each with 10 processes
# holding 35 sockets (5 listeners, 10 established pairs, 5 UDP), beside this machine's own. The
# agent's scan of it, whole: with no CRI or kubelet, its pod index places every process outside
# the host namespace by its cgroup.
node_scan() {
  local names=() pids=()
  for i in $(seq 40); do
    local n="${PFX}n$i"
    pids+=("$(make_ns "$n" --listeners 5 --pairs 10 --udp 5 --procs 10)")
    names+=("$n")
  done
  ls /proc | grep -c '^[0-9]' >"$WORK/node-processes.txt"
  echo "bench: node scenario ready ($(cat "$WORK/node-processes.txt") processes)" >&2
  agent_scan node-procfs --backend procfs
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for n in "${names[@]}"; do ip netns del "$n"; done
}

node_scan
if [ "$QUICK" = 1 ]; then
  scaling 1 s
  scaling 10 s
else
  scaling 1 s
  scaling 10 s
  scaling 100 s
  scaling 300 e
fi

mkdir -p "$OUT"
python3 - "$WORK" "$OUT" "$RUNS" "$BASELINE_BIN" <<'PY'
import glob, json, os, statistics, sys
work, out, runs, baseline_bin = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
compare = []  # (what, this build ms, baseline ms)

def results(name):
    return json.load(open(os.path.join(work, name + ".json")))["results"]

def medians(name):
    return [r["median"] * 1e3 for r in results(name)]

def cpu_ratio(name, i):
    r = results(name)[i]
    return r["cpu_median"] / r["median"]

rows, data = [], {}
one = medians("one")
pn, ss, ns, pn_np, ss_np, ns_np, floor_proc, floor_fds = one[:8]
if baseline_bin:
    compare += [("1 namespace, 10,000 TCP: `list -tuwanp`", pn, one[8]),
                ("1 namespace, 10,000 TCP: `list -tuwan`", pn_np, one[9])]
rss = results("one")[0]["max_rss_kib"] // 1024
floor = floor_proc + floor_fds
data["one"] = dict(podnetstat=pn, ss=ss, netstat=ns, podnetstat_no_p=pn_np, ss_no_p=ss_np,
                   netstat_no_p=ns_np, floor_procfs=floor_proc, floor_fds=floor_fds, rss_mib=rss,
                   podnetstat_cpu_per_wall=cpu_ratio("one", 0))
lines = ["# Benchmark results", "",
         "Produced by `bench/bench.sh`: whole processes, %s interleaved rounds after a warm-up "
         "round (`bench/rounds.py`), medians. Kernel floor = single-threaded reads of the same "
         "tables (`kernelfloor procfs`) plus the readlink of every /proc/*/fd entry "
         "(`kernelfloor fds`), measured in the same rounds. CPU/wall = the process's user + "
         "system time over its wall time (2 cores)." % runs, "",
         "## One namespace, 10,000 TCP sockets, with owners (`-tuwanp`)", "",
         "| command | median ms | podnetstat / it |", "|---|---|---|"]
for label, v in [("podnetstat list -tuwanp", pn), ("ss -tuwanp", ss), ("netstat -tuwanp", ns),
                 ("kernel floor (procfs + fd readlinks)", floor)]:
    lines.append("| %s | %.1f | %.2f |" % (label, v, pn / v))
lines += ["", "Without owners (`-tuwan`): podnetstat %.1f ms, ss %.1f ms, netstat %.1f ms "
          "(podnetstat/ss %.2f, podnetstat/netstat %.2f). Peak RSS of `podnetstat list -tuwanp`: "
          "%d MiB; its CPU/wall: %.2f."
          % (pn_np, ss_np, ns_np, pn_np / ss_np, pn_np / ns_np, rss, cpu_ratio("one", 0)), ""]
lines += ["## Many namespaces, with owners", "",
          "Floors are single-threaded: procfs = reading the tables of every namespace + every fd "
          "readlink; netlink = a sock_diag dump from inside every namespace + every fd readlink.", "",
          "| scenario | podnetstat procfs ms | podnetstat netlink ms | ss loop ms | netstat loop ms "
          "| procfs floor ms | netlink floor ms | procfs / its floor | netlink / its floor "
          "| netlink / procfs | CPU/wall procfs, netlink |",
          "|---|---|---|---|---|---|---|---|---|---|---|"]
scale_points = []
for path in sorted(glob.glob(os.path.join(work, "scale-*.json")),
                   key=lambda p: (p[-6], int(os.path.basename(p)[6:-6]))):
    name = os.path.basename(path)[len("scale-"):-len(".json")]
    k, kind = int(name[:-1]), name[-1]
    scale = medians("scale-" + name)
    p, pn, s, n, fp, fd, ff = scale[:7]
    label = "%d namespaces x 100 sockets" % k if kind == "s" else "%d empty namespaces" % k
    if baseline_bin:
        compare += [(label + ": `list` procfs", p, scale[7]),
                    (label + ": `list` netlink", pn, scale[8])]
    cp, cn = cpu_ratio("scale-" + name, 0), cpu_ratio("scale-" + name, 1)
    lines.append("| %s | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.2f | %.2f | %.2f | %.2f, %.2f |"
                 % (label, p, pn, s, n, fp + ff, fd + ff, p / (fp + ff), pn / (fd + ff), pn / p,
                    cp, cn))
    data["scale-" + name] = dict(podnetstat_procfs=p, podnetstat_netlink=pn, ss_loop=s,
                                 netstat_loop=n, floor_procfs=fp, floor_diag=fd, floor_fds=ff,
                                 podnetstat_procfs_cpu_per_wall=cp,
                                 podnetstat_netlink_cpu_per_wall=cn)
    if kind == "s":
        scale_points.append((k, p, pn, s, n, fp + ff, fd + ff))
lines += ["", "Per-namespace `ss`/`netstat` loops (`nsenter` per namespace) mostly measure fork/exec; "
          "they are shown for users' sake.", ""]
def agent_runs(path):
    """Per run: mean scan ms (histogram), scans, mean whole refresh ms; their medians."""
    runs_ = [l.split() for l in open(path).read().splitlines() if l.strip()]
    scan = statistics.median(float(r[0]) for r in runs_)
    scans = sum(int(r[1]) for r in runs_)
    refresh = statistics.median(float(r[2]) for r in runs_)
    return scan, scans, refresh

agents = sorted(p for p in glob.glob(os.path.join(work, "agent-*.txt"))
                if not p.endswith(".baseline.txt"))
if agents:
    processes = ""
    if os.path.exists(os.path.join(work, "node-processes.txt")):
        processes = open(os.path.join(work, "node-processes.txt")).read().strip()
    lines += ["## The agent's own scan", "",
              "`podnetstat serve` at a 500 ms refresh, 10 s per run, medians of the runs' means: "
              "the scan as `podnetstat_scan_duration_seconds` counts it, and the whole refresh "
              "(the scan, the pod index, the network counters and the snapshot with its pages) "
              "from the agent's debug log. 100s: the 100 x 100 node (every namespace, the host's "
              "included); node: %s processes, 40 pod-like namespaces of 10 processes each, pods "
              "from cgroups (no CRI or kubelet)." % (processes or "about 500"), "",
              "| scenario | mean scan ms | mean whole refresh ms | scans |", "|---|---|---|---|"]
    for path in agents:
        scenario = os.path.basename(path)[len("agent-"):-len(".txt")]
        scan, count, refresh = agent_runs(path)
        lines.append("| %s | %.1f | %.1f | %d |" % (scenario, scan, refresh, count))
        data["agent-" + scenario] = dict(scan_ms=scan, refresh_ms=refresh, scans=count)
        base = path[:-len(".txt")] + ".baseline.txt"
        if os.path.exists(base):
            bscan, bcount, brefresh = agent_runs(base)
            data["agent-" + scenario]["baseline"] = dict(scan_ms=bscan, refresh_ms=brefresh,
                                                         scans=bcount)
            compare += [("agent %s: whole refresh" % scenario, refresh, brefresh),
                        ("agent %s: scan (histogram)" % scenario, scan, bscan)]
    lines.append("")
if compare:
    lines += ["## Against the baseline build, same run", "",
              "This build and `%s`, interleaved in the same rounds (agents: alternating runs). "
              "The agent's scan histogram now includes the cgroup reads that the pod index used to "
              "make after it; the whole refresh counts both." % baseline_bin, "",
              "| what | this build ms | baseline ms | this / baseline |", "|---|---|---|---|"]
    for what, this, base in compare:
        lines.append("| %s | %.1f | %.1f | %.2f |" % (what, this, base, this / base))
    data["baseline"] = [dict(what=w, this_ms=t, baseline_ms=b) for w, t, b in compare]
    lines.append("")
lines += ["![time vs namespaces](scaling.png)", ""]
open(os.path.join(out, "results.md"), "w").write("\n".join(lines))
json.dump(data, open(os.path.join(out, "results.json"), "w"), indent=1)
with open(os.path.join(work, "scaling.dat"), "w") as f:
    for row in sorted(scale_points):
        f.write("%d %.3f %.3f %.3f %.3f %.3f %.3f\n" % row)
PY
gnuplot <<EOF
set terminal pngcairo size 800,500
set output "$OUT/scaling.png"
set title "Scan time vs. number of network namespaces (with owners)"
set xlabel "network namespaces"
set ylabel "wall time (ms)"
set logscale xy
set key top left
set grid
plot "$WORK/scaling.dat" using 1:2 with linespoints title "podnetstat (procfs)", \
     "" using 1:3 with linespoints title "podnetstat (netlink)", \
     "" using 1:4 with linespoints title "ss (per-namespace loop)", \
     "" using 1:5 with linespoints title "netstat (per-namespace loop)", \
     "" using 1:6 with linespoints dashtype 2 title "procfs floor (single-threaded)", \
     "" using 1:7 with linespoints dashtype 2 title "netlink floor (single-threaded)"
EOF
cat "$OUT/results.md"
