#!/usr/bin/python3
"""interop/bench-idle-services.py — the idle cost of services with event-driven checks (issue 13).

Runs two anycastd daemons side by side on loopback for the same window (stdlib only, no
namespaces, no traffic beyond 127.0.0.1: each has one passive neighbor that never connects):
  base:      the legacy config, one prefix, no checks;
  services:  10 [[service]]s, each with 2 event-driven checks — a `file` check (inotify) and a
             `process` check on the pidfile of its own `sleep` process (pidfd) — at the default
             1 s backstop interval.
Reports each daemon's CPU (utime+stime over the window, % of one core) and RSS (VmRSS at the
end), and the differences. Goals (issue 13), on the differences (what the services and their
checks add to an idle daemon): CPU ≤ 0.1 % of a core, RSS growth ≤ 1 MiB.

Usage: interop/bench-idle-services.py [--window S] [--bin PATH]   (default 60 s,
target/release/anycastd). Every process it starts is ended by PID; the temp dir is removed.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lab.bench import procstat  # noqa: E402  (CPU ticks and RSS from /proc, as the other benchmarks)

SERVICES = 10


def config(d, port, services):
    lines = [
        "[bgp]", "local_as = 65124", 'router_id = "127.0.0.1"', 'local_ip = "127.0.0.1"', f"port = {port}",
        "[[bgp.neighbor]]", 'remote_ip = "127.0.0.2"', "remote_as = 65000", "passive = true", f"port = {port}",
    ]
    if not services:
        lines += ["[anycast]", 'prefixes = ["203.0.113.124/32"]']
    lines += ["[control]", f'socket = "{d}/anycastd.sock"', f'state_dir = "{d}/state"']
    for i, (flag, pidfile) in enumerate(services):
        lines += [
            "[[service]]", f'name = "svc{i}"', f'prefixes = ["203.0.113.{10 + i}/32"]',
            "[[service.check]]", 'name = "flag"', 'type = "file"', f'path = "{flag}"',
            "[[service.check]]", 'name = "proc"', 'type = "process"', f'pidfile = "{pidfile}"',
        ]
    return "\n".join(lines) + "\n"


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--window", type=float, default=60.0, help="measurement window, s (5..600)")
    ap.add_argument("--bin", default=os.environ.get("ANYCASTD_BIN", "target/release/anycastd"))
    a = ap.parse_args(argv)
    if not 5 <= a.window <= 600:
        ap.error("--window needs 5..600 s")
    tmp = tempfile.mkdtemp(prefix="acd-idle-")
    procs = []
    try:
        sleepers = []
        for i in range(SERVICES):
            p = subprocess.Popen(["sleep", str(int(a.window) + 120)])
            procs.append(p)
            pidfile = f"{tmp}/svc{i}.pid"
            with open(pidfile, "w") as f:
                f.write(f"{p.pid}\n")
            flag = f"{tmp}/svc{i}.ok"
            open(flag, "w").close()
            sleepers.append((flag, pidfile))
        daemons = {}
        for name, port, svcs in (("base", 17981, []), ("services", 17982, sleepers)):
            d = f"{tmp}/{name}"
            os.makedirs(f"{d}/state")
            with open(f"{d}/anycastd.toml", "w") as f:
                f.write(config(d, port, svcs))
            log = open(f"{d}/log", "w")
            p = subprocess.Popen([a.bin, "run", "--config", f"{d}/anycastd.toml"], stdout=log, stderr=log)
            procs.append(p)
            daemons[name] = p
        time.sleep(3)  # start-up, first probes
        for name, p in daemons.items():
            if p.poll() is not None:
                print(open(f"{tmp}/{name}/log").read(), file=sys.stderr)
                raise SystemExit(f"{name} exited")
        status = subprocess.run([a.bin, "status", "--json", "--socket", f"{tmp}/services/anycastd.sock"],
                                capture_output=True, text=True, timeout=5).stdout
        svcs = json.loads(status or "{}").get("services", [])
        healthy = sum(1 for v in svcs if v.get("healthy") and v.get("advertising") is not None)
        t0 = {n: procstat.cpu_ticks(p.pid)[0] for n, p in daemons.items()}
        start = time.monotonic()
        time.sleep(a.window)
        el = time.monotonic() - start
        hz = os.sysconf("SC_CLK_TCK")
        res = {n: ((procstat.cpu_ticks(p.pid)[0] - t0[n]) / hz / el * 100, procstat.rss_kb(p.pid))
               for n, p in daemons.items()}
        print(f"window {el:.1f} s, clock {hz} Hz (CPU resolution {100 / hz / el:.3f} %)")
        print("| daemon | checks | CPU (% of a core) | RSS |")
        print("|---|---|---|---|")
        print(f"| base | none, 1 prefix | {res['base'][0]:.3f} % | {res['base'][1] / 1024:.2f} MiB |")
        print(f"| services | {SERVICES} services × (file + process), 1 s backstop | {res['services'][0]:.3f} % "
              f"| {res['services'][1] / 1024:.2f} MiB |")
        cpu = res["services"][0] - res["base"][0]
        rss = (res["services"][1] - res["base"][1]) / 1024
        print(f"| difference | | {cpu:+.3f} % | {rss:+.2f} MiB |")
        print(f"(services healthy in the services daemon's status at the start: {healthy}/{SERVICES})")
        ok = cpu <= 0.1 and rss <= 1.0 and healthy == SERVICES
        print("goals (the services' cost over the base: CPU <= 0.1 % of a core, RSS <= 1 MiB):",
              "met" if ok else "NOT met")
        return 0 if ok else 1
    finally:
        procstat.stop_all(procs)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
