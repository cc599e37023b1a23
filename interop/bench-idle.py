#!/usr/bin/python3
"""interop/bench-idle.py — what an idle anycastd holds in memory and spends in CPU (issue 15 item 5).

Runs one measured daemon per binary given, all side by side in the same window (stdlib only, no
namespaces, no traffic beyond loopback): each has one neighbor, a second anycastd of the same
binary on 127.0.0.2 (its own port per pair), one prefix, a static role, no checks, and does not
touch the loopback's addresses (manage_loopback = false). Once every measured daemon's session is
Established it waits --settle seconds, then reads per daemon:
  VmRSS / RssAnon / RssFile / Threads from /proc/PID/status, and the resident kB of each mapping
  from /proc/PID/smaps summed by what is mapped (the binary, each shared library, [heap], other
  anonymous memory, [stack]);
and then the CPU (utime + stime) over --window seconds. --bfd gives each pair a BFD session too.

Usage: interop/bench-idle.py NAME=PATH [NAME=PATH ...] [--settle S] [--window S] [--bfd]
       (default: new=target/x86_64-unknown-linux-musl/release/anycastd, settle 12 s, window 60 s)
Goals (issue 15): VmRSS <= 4 MiB, CPU <= 10 ms per minute idle; each binary's row says whether it
meets them. Exits 1 if one misses a goal, but for binaries named base… (the anchor of an A/B run).
Every process it starts is ended by PID; the temp dir is removed.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lab.bench import procstat  # noqa: E402  (stop_all: the processes it started, by PID)

GOAL_RSS_KB = 4 * 1024
GOAL_CPU_MS_PER_MIN = 10


def config(d, port, me, peer, active, bfd):
    lines = [
        "[bgp]", f"local_as = {65001 if active else 65002}", f'router_id = "{me}"', f'local_ip = "{me}"',
        f"port = {port}",
        "[[bgp.neighbor]]", f'remote_ip = "{peer}"', f"remote_as = {65002 if active else 65001}",
        f"port = {port}", "hold_time = 9",
    ]
    if not active:
        lines.append("passive = true")
    if bfd:
        lines += ["[bgp.neighbor.bfd]", "interval_ms = 300", "multiplier = 3"]
    lines += [
        "[anycast]", 'prefixes = ["203.0.113.124/32"]', "manage_loopback = false",
        "[control]", f'socket = "{d}/anycastd.sock"', f'state_dir = "{d}/state"',
    ]
    return "\n".join(lines) + "\n"


def status(binary, d):
    r = subprocess.run([binary, "status", "--json", "--socket", f"{d}/anycastd.sock"],
                       capture_output=True, text=True, timeout=5)
    try:
        return json.loads(r.stdout or "{}")
    except json.JSONDecodeError:
        return {}


def established(st):
    ns = st.get("neighbors", [])
    return bool(ns) and all(n.get("state") == "Established" for n in ns)


def proc_status(pid):
    out = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "RssAnon", "RssFile", "Threads"):
                out[k] = int(v.split()[0])
    return out


def by_mapping(pid, binary):
    """Resident kB by what is mapped: the binary (by permission), each library, heap, anon."""
    real = os.path.realpath(binary)
    res = defaultdict(int)
    name = "?"
    with open(f"/proc/{pid}/smaps", encoding="utf-8", errors="replace") as f:
        for line in f:
            head = line.split()
            if not head:
                continue
            if not line[0].isupper():  # a mapping line (hex range), not a field
                perms = head[1]
                path = head[5] if len(head) > 5 else ""
                if path == real:
                    name = f"binary {perms}"
                elif path.startswith("/"):
                    name = os.path.basename(path)
                elif path:
                    name = path
                else:
                    name = "anonymous"
            elif head[0] == "Rss:":
                res[name] += int(head[1])
    return dict(res)


def cpu_ms(pid):
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("bins", nargs="*", metavar="NAME=PATH")
    ap.add_argument("--settle", type=float, default=12.0, help="wait after Established, s (1..120)")
    ap.add_argument("--window", type=float, default=60.0, help="CPU window, s (5..600)")
    ap.add_argument("--bfd", action="store_true", help="a BFD session beside each BGP session")
    a = ap.parse_args(argv)
    if not 1 <= a.settle <= 120 or not 5 <= a.window <= 600:
        ap.error("--settle needs 1..120 s and --window 5..600 s")
    bins = a.bins or ["new=target/x86_64-unknown-linux-musl/release/anycastd"]
    pairs = []
    for i, spec in enumerate(bins):
        name, sep, path = spec.partition("=")
        if not sep or not os.access(path, os.X_OK):
            ap.error(f"{spec!r}: want NAME=PATH to an executable")
        pairs.append((name, path, 17990 + i))
    tmp = tempfile.mkdtemp(prefix="acd-idle-")
    procs = []
    try:
        measured = {}
        for name, path, port in pairs:
            for role, me, peer, active in (("a", "127.0.0.1", "127.0.0.2", True), ("b", "127.0.0.2", "127.0.0.1", False)):
                d = f"{tmp}/{name}-{role}"
                os.makedirs(f"{d}/state")
                with open(f"{d}/anycastd.toml", "w") as f:
                    f.write(config(d, port, me, peer, active, a.bfd))
                log = open(f"{d}/log", "w")
                p = subprocess.Popen([path, "run", "--config", f"{d}/anycastd.toml"], stdout=log, stderr=log)
                procs.append(p)
                if role == "a":
                    measured[name] = (p, path, d)
        deadline = time.monotonic() + 30
        waiting = set(measured)
        while waiting and time.monotonic() < deadline:
            for name in list(waiting):
                p, path, d = measured[name]
                if p.poll() is not None:
                    print(open(f"{d}/log").read(), file=sys.stderr)
                    raise SystemExit(f"{name}: the daemon exited")
                if established(status(path, d)):
                    waiting.discard(name)
            time.sleep(0.2)
        if waiting:
            raise SystemExit(f"no session Established within 30 s: {sorted(waiting)}")
        time.sleep(a.settle)
        mem = {n: (proc_status(p.pid), by_mapping(p.pid, path)) for n, (p, path, _) in measured.items()}
        t0 = {n: cpu_ms(p.pid) for n, (p, _, _) in measured.items()}
        start = time.monotonic()
        time.sleep(a.window)
        el = time.monotonic() - start
        cpu = {n: (cpu_ms(p.pid) - t0[n]) * 60 / el for n, (p, _, _) in measured.items()}
        tick = 1000 / os.sysconf("SC_CLK_TCK")
        print(f"settle {a.settle:.0f} s after Established, CPU window {el:.1f} s (one tick = {tick:.0f} ms)"
              f"{', BFD 300 ms x 3 on each session' if a.bfd else ''}")
        print("| binary | VmRSS | RssAnon | RssFile | threads | CPU ms / min idle | goals |")
        print("|---|---:|---:|---:|---:|---:|---|")
        ok = True
        for n in measured:
            s = mem[n][0]
            # One clock tick of slack: CPU is counted in ticks (10 ms), so one tick in the window
            # reads as 10 ms / min or a hair over.
            met = s["VmRSS"] <= GOAL_RSS_KB and cpu[n] <= GOAL_CPU_MS_PER_MIN + 0.5
            print(f"| {n} | {s['VmRSS'] / 1024:.2f} MiB ({s['VmRSS']} kB) | {s['RssAnon']} kB | {s['RssFile']} kB "
                  f"| {s['Threads']} | {cpu[n]:.0f} | {'met' if met else 'NOT met'} |")
            ok &= met or n.startswith("base")
        keys = sorted({k for _, m in mem.values() for k in m}, key=lambda k: -max(m.get(k, 0) for _, m in mem.values()))
        print()
        print("| resident kB by mapping | " + " | ".join(measured) + " |")
        print("|---|" + "---:|" * len(measured))
        for k in keys:
            print(f"| {k} | " + " | ".join(str(mem[n][1].get(k, 0)) for n in measured) + " |")
        print(f"goals (VmRSS <= {GOAL_RSS_KB} kB, CPU <= {GOAL_CPU_MS_PER_MIN} ms/min) of every binary but base…:",
              "met" if ok else "NOT met")
        return 0 if ok else 1
    finally:
        procstat.stop_all(procs)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
