#!/usr/bin/python3
"""Tests for bench-events.sh's halves that need no root and no network: bench-failover.py's
`events` analysis on synthetic phase directories (numbers, goals met and NOT met, a phase
short of failovers), and the anycastd driver's event-check tables, which `anycastd
check-config` must accept (ANYCASTD_BIN, default target/release/anycastd; the test fails when
the binary is missing or refuses a kind).
Usage: test-bench-events.py; prints "N passed, M failed", exit status 1 on a failure.
"""

import datetime
import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.dont_write_bytecode = True  # no __pycache__ in interop/
sys.path.insert(0, str(HERE))
spec = importlib.util.spec_from_file_location("bf", HERE / "bench-failover.py")
bf = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bf)

from lab import plan  # noqa: E402
from lab.drivers.anycastd import AddressCheck, AnycastdConfig, FileCheck, ProcessCheck, SystemdCheck  # noqa: E402

RESULTS = [0, 0]
T0 = 1_800_000_000.0


def check(cond, what):
    RESULTS[0 if cond else 1] += 1
    print(("PASS: " if cond else "FAIL: ") + what)


def phase(root, name, speaker, kind, runs, event_to_wire, outage, need=None, t0=T0):
    """A phase directory as events.py writes it: `runs` failovers 1 s apart, the withdraw
    `event_to_wire` s after each event (decision 50 µs before it), the FIB switch 200 µs
    later, ping replies every 2 ms except an `outage` s gap starting at the event."""
    d = root / name
    d.mkdir()
    (d / "meta").write_text(f"speaker={speaker}\nmode={kind}\nneed={need or runs}\ndecision=log\nkind={kind}\n")
    ev, dec, wire, pings, sw = [], [], [], [], []
    for i in range(runs):
        t = t0 + i
        ev.append(f"{i + 1} {t:.6f} {t:.6f} {t + 0.7:.6f}")
        wire.append(t + event_to_wire)
        dec.append(t + event_to_wire - 50e-6)
        sw.append(t + event_to_wire + 200e-6)
        x = t - 0.5
        while x < t + 0.7:
            pings.append(x)
            x += outage if t <= x < t + outage else 0.002
    (d / "events.tsv").write_text("\n".join(ev) + "\n")
    (d / "decisions").write_text("".join(f"{x:.6f}\n" for x in dec))
    (d / "wire.tsv").write_text("".join(f"{x:.6f}\n" for x in wire))
    (d / "ping.log").write_text("".join(f"[{x:.6f}] 64 bytes from 203.0.113.124: icmp_seq=1 ttl=63\n" for x in pings))
    return d, sw


def analyze(phases):
    """bench-failover.py events over `phases` [(dir, switches)] → (exit status, stdout)."""
    root = phases[0][0].parent
    sw = sorted(s for _, ss in phases for s in ss)
    (root / "monitor-rtr.log").write_text("".join(
        f"[{datetime.datetime.fromtimestamp(s).isoformat(timespec='microseconds')}] "
        f"203.0.113.124 via 192.0.2.12 dev br0 proto bird metric 32\n" for s in sw))
    r = subprocess.run([sys.executable, str(HERE / "bench-failover.py"), "events", str(root),
                        *(str(d) for d, _ in phases)], capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout + r.stderr


def test_analysis():
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ps = [phase(root, "k1-file-anycastd", "anycastd", "file", 20, 0.0008, 0.004),
              phase(root, "k1-file-exabgp", "exabgp", "file", 20, 0.050, 0.060, t0=T0 + 100),
              phase(root, "k2-process-anycastd", "anycastd", "process", 20, 0.003, 0.030, t0=T0 + 200),
              phase(root, "k2-process-exabgp", "exabgp", "process", 20, 0.050, 0.060, t0=T0 + 300)]
        rc, out = analyze(ps)
        print(out)
        check(rc == 0, "every phase measured: exit status 0 (%d)" % rc)
        check("| file | **anycastd** | 20/20 | 800 µs / 800 µs | 750 µs / 750 µs | 50 µs / 50 µs |" in out, "file: anycastd event → wire 800 µs")
        check("| file | ExaBGP | 20/20 | 50.0 ms / 50.0 ms |" in out, "file: ExaBGP event → wire 50 ms")
        check("file: anycastd event → wire p99 800 µs (goal ≤ 2 ms met)" in out, "file: wire goal met")
        check("p50 62.5×, p99 62.5×, goal ≥ 25× met" in out, "file: ratio 62.5×, goal met")
        check("anycastd client outage max 4.00 ms (goal ≤ 20 ms met)" in out, "file: outage goal met")
        check("process: anycastd event → wire p99 3.00 ms (goal ≤ 2 ms NOT met)" in out, "process: wire goal NOT met")
        check("p50 16.7×, p99 16.7×, goal ≥ 25× NOT met" in out, "process: ratio 16.7×, NOT met")
        check("client outage max 30.0 ms (goal ≤ 20 ms NOT met)" in out, "process: outage goal NOT met")
        runs = (root / "runs.tsv").read_text().splitlines()
        check(len(runs) == 81 and runs[1].startswith("anycastd\tfile\t1\t0.000050\t0.000800"),
              "runs.tsv: a header and 80 failovers, decision → wire 50 µs, event → wire 800 µs")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ps = [phase(root, "k1-systemd-anycastd", "anycastd", "systemd", 4, 0.004, 0.010, need=5),
              phase(root, "k1-systemd-exabgp", "exabgp", "systemd", 5, 0.050, 0.060, t0=T0 + 100)]
        rc, out = analyze(ps)
        check(rc == 1 and "NOT MEASURED: anycastd/systemd: 4 of 5 needed failovers measured" in out,
              "a phase short of failovers: exit status 1, NOT MEASURED (%d)" % rc)
        check("systemd: anycastd event → wire p99 4.00 ms (no goal)" in out, "systemd: no wire goal")


def test_driver():
    bin_ = Path(os.environ.get("ANYCASTD_BIN") or HERE.parent / "target/release/anycastd")
    every = {"interval_ms": 100, "rise": 1, "fall": 1, "timeout_ms": 50}
    kinds = {"file": FileCheck("flag", Path("/run/x.ok"), **every),
             "process (pidfile)": ProcessCheck("svc", path=Path("/run/x.pid"), **every),
             "process (pattern)": ProcessCheck("svc", pattern='^sleep 3600[.]1 "x"', full=True, **every),
             "systemd": SystemdCheck("unit", unit="bench-svc.service", **every),
             "address": AddressCheck("addr", address=plan.ANYCAST4, **every)}
    with tempfile.TemporaryDirectory() as tmp:
        for kind, c in kinds.items():
            text = AnycastdConfig(plan.NODEA, prefixes=(plan.PREFIX4,), checks=[c]).render(Path(tmp))
            conf = Path(tmp) / "anycastd.toml"
            conf.write_text(text)
            if not os.access(bin_, os.X_OK):
                check(False, f"{kind}: {bin_} missing (cargo build --release or ANYCASTD_BIN)")
                continue
            r = subprocess.run([str(bin_), "check-config", "--config", str(conf)], capture_output=True,
                               text=True, timeout=30)
            check(r.returncode == 0, f"{kind}: check-config accepts the driver's table"
                  + ("" if r.returncode == 0 else ": " + (r.stdout + r.stderr).strip()[:300]))


def main():
    test_analysis()
    test_driver()
    print("%d passed, %d failed" % tuple(RESULTS))
    return 1 if RESULTS[1] else 0


if __name__ == "__main__":
    sys.exit(main())
