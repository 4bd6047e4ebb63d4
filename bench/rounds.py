#!/usr/bin/env python3
"""Times whole commands in interleaved rounds: round r runs every command once, in an order
rotated by r, after one warm-up round. Interleaving matters here: the kernel's socket tables are
shared by all namespaces (a /proc/net/tcp read walks every socket of the machine), and TIME_WAIT
sockets expire while a benchmark runs, so timing one command's runs back to back and then the
next one's would compare them under different machine states.

  rounds.py OUT.json RUNS COMMAND...

Each command is split like a shell word list (no shell). OUT.json holds, per command, the wall
times and CPU times (user + system of the process and its children) of every run in seconds,
their medians ("median", "cpu_median") and the peak RSS in KiB. A command that fails stops the
benchmark."""
import json
import os
import resource
import shlex
import statistics
import subprocess
import sys
import time


def run_once(argv):
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit("rounds: %s exited %d" % (shlex.join(argv), proc.returncode))
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss


def main():
    out, runs, commands = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    argvs = [shlex.split(c) for c in commands]
    results = [dict(command=c, times=[], cpu_times=[], max_rss_kib=0) for c in commands]
    for r in range(runs + 1):
        order = list(range(len(argvs)))
        order = order[r % len(order):] + order[:r % len(order)]
        for i in order:
            wall, cpu, rss = run_once(argvs[i])
            if r == 0:
                continue  # warm-up
            results[i]["times"].append(wall)
            results[i]["cpu_times"].append(cpu)
            results[i]["max_rss_kib"] = max(results[i]["max_rss_kib"], rss)
    for res in results:
        res["median"] = statistics.median(res["times"])
        res["cpu_median"] = statistics.median(res["cpu_times"])
    json.dump({"results": results}, open(out, "w"), indent=1)


if __name__ == "__main__":
    main()
