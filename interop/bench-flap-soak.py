#!/usr/bin/python3
"""bench-flap-soak.py: the report of interop/bench-flap-soak.sh (stdlib only).

Usage: bench-flap-soak.py FLAPS_TSV ANYCASTD_LOG STATUS_JSON RSS0 RSS1 RSSMAX FD0 FD1 FDMAX

FLAPS_TSV: one line per flap (i, kind, t0_us, td_us, tr_us, up_us, recovery_ms, total_ms, ok,
flaps_before, flaps_after, rss_kb, fds). ANYCASTD_LOG: anycastd's log without colour codes;
its "state change" lines give the IdleHold waits (entering Idle -> the next AutomaticStart).
Prints markdown tables on stdout: per kind of reset, and the IdleHold waits by position in a
run of consecutive failures. Exit status 0 (the shell script does the checks).
"""

import csv
import json
import re
import sys
from datetime import datetime


def pct(values, p):
    """Nearest-rank percentile of a non-empty list."""
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


def fmt(v):
    return "%.0f" % v if v >= 100 else "%.1f" % v


def log_time(line):
    """Epoch seconds of tracing's RFC 3339 UTC timestamp at the start of a line."""
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z", line)
    if not m:
        return None
    base = datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")
    frac = float(m.group(2) or 0)
    return (base - datetime(1970, 1, 1)).total_seconds() + frac


def idle_waits(path):
    """(seconds in Idle before the automatic restart, reason of going Idle) per Idle period."""
    waits, idle_at, why = [], None, ""
    try:
        lines = open(path, encoding="utf-8", errors="replace").read().splitlines()
    except OSError:
        return waits
    for line in lines:
        if "state change" not in line:
            continue
        t = log_time(line)
        to = re.search(r"\bto=(\w+)", line)
        if t is None or not to:
            continue
        if to.group(1) == "Idle":
            idle_at = t
            r = re.search(r'reason=("[^"]*"|\S+)', line)
            why = r.group(1).strip('"') if r else ""
        elif idle_at is not None:
            waits.append((t - idle_at, why))
            idle_at = None
    return waits


def main(argv):
    if len(argv) != 10:
        sys.stderr.write(__doc__)
        return 2
    rows = list(csv.DictReader(open(argv[1], encoding="utf-8"), delimiter="\t"))
    rss0, rss1, rssmax, fd0, fd1, fdmax = argv[4:10]
    kinds = []
    for r in rows:
        if r["kind"] not in kinds:
            kinds.append(r["kind"])
    print("| kind | flaps | survived | recovery p50 (ms) | p99 (ms) | max (ms) | flap total p50 (ms) | max (ms) |")
    print("|---|---|---|---|---|---|---|---|")
    for k in kinds + ["all"]:
        sel = [r for r in rows if k == "all" or r["kind"] == k]
        ok = [r for r in sel if r["ok"] == "1"]
        rec = [float(r["recovery_ms"]) for r in sel]
        tot = [float(r["total_ms"]) for r in sel]
        if not sel:
            continue
        print("| %s | %d | %d | %s | %s | %s | %s | %s |" % (
            k, len(sel), len(ok), fmt(pct(rec, 50)), fmt(pct(rec, 99)), fmt(max(rec)),
            fmt(pct(tot, 50)), fmt(max(tot))))
    print()
    print("anycastd RSS: start %s kB, end %s kB, max %s kB; open fds: start %s, end %s, max %s"
          % (rss0, rss1, rssmax, fd0, fd1, fdmax))
    try:
        st = json.load(open(argv[3], encoding="utf-8"))
        n = st["neighbors"][0]
        print("anycastd status at the end: state %s, established_count %s, flaps %s, msgs_in %s, "
              "msgs_out %s, last_error %s" % (n.get("state"), n.get("established_count"),
                                              n.get("flaps"), n.get("msgs_in"), n.get("msgs_out"),
                                              json.dumps(n.get("last_error"))))
    except (OSError, ValueError, KeyError, IndexError, TypeError) as e:
        print("anycastd status at the end: unreadable (%s)" % e)
    waits = idle_waits(argv[2])
    if waits:
        secs = [w for w, _ in waits]
        long_ = [w for w in secs if w > 3]
        print("anycastd IdleHold waits (Idle -> automatic restart, from its log): %d, p50 %.2f s, "
              "p99 %.2f s, max %.2f s; %d longer than 3 s (backoff beyond the 3rd consecutive failure)"
              % (len(secs), pct(secs, 50), pct(secs, 99), max(secs), len(long_)))
        first = ", ".join("%.1f" % w for w in secs[:12])
        print("first IdleHold waits in order (s): %s" % first)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
