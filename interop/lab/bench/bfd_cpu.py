"""BFD CPU and memory cost (interop/bench-bfd-cpu.sh; issue 11's CPU requirement): anycastd in
nodea with N BGP neighbors, each with `bfd = { interval_ms = 50, multiplier = 3 }`, all towards
one BIRD 2 in rtr that has N addresses and N `protocol bgp … { bfd on; }` plus `protocol bfd {
interface "*" { interval 50 ms; multiplier 3; }; }`. Phases, one after another in one lab
(BIRD and anycastd started afresh for each):

  bgp:1    1 neighbor, no BFD (the baseline: N = 0 BFD sessions)
  bfd:1    1 neighbor with BFD
  bgp:50   50 neighbors, no BFD (the control: what 50 BGP sessions cost without BFD)
  bfd:50   50 neighbors with BFD

  rtr (BIRD, AS 65000)  br0 192.0.2.1, 192.0.2.101 … 192.0.2.149 (neighbor i > 0: .100+i)
   │ node LAN (bridge)
   └── eth0 192.0.2.11, 192.0.2.151 … 192.0.2.199 (local_ip of neighbor i > 0: .150+i)
       nodea: anycastd (AS 65124, hold 9, static role, 203.0.113.124/32 + 2001:db8:124::1/128)

Distinct addresses on both sides: BIRD keeps one BFD session per neighbor address (and
interface), so N sessions need N addresses of the node too, and anycastd one remote_ip per
neighbor. Per phase: wait (bounded, --wait s) until every BGP session is Established on both
sides and, with BFD, every session is Up on both sides with anycastd's negotiated tx interval
at 50 ms; settle 2 s; then a --window s (30) window: anycastd's and BIRD's utime+stime from
/proc/PID/stat (clock ticks → % of one core; also the scheduler's per-thread ns from
/proc/PID/task/*/schedstat, finer than the 10 ms ticks), anycastd's VmRSS and VmHWM at the
end, its BFD packets in/out during the window, and whether anything flapped during it
(anycastd down_count and established_count unchanged and the same on every session, BIRD's
BFD sessions Up with the same Since, its BGP sessions the same Established period). Then the
markdown table: the cost of BFD = phase − its no-BFD twin (bfd:1 − bgp:1, bfd:50 − bgp:50)
against the issue's goals (1 session ≤ 0.2 % of a core, 50 ≤ 2 %), and `uptime` (the machine
has 2 cores and is shared with builds: the load is part of the result).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field

from .. import plan
from ..checks import Checks
from ..clock import wait_until
from ..drivers import Neighbor, RouterConfig
from ..drivers.anycastd import Anycastd, ExtraNeighbor
from ..topology import Lab, log
from .bfd_lab import (BfdAnycastdConfig, BfdBird, ProcSample, acd_neighbors, bfd_table, cpu_pct,
                      load, per_thread_pct, proc_sample)

NODEA = plan.NODEA
GOAL_PCT = {1: 0.2, 50: 2.0}  # issue 11: % of one core per 1 and per 50 sessions


@dataclass
class Options:
    phases: list[tuple[str, int]] = field(default_factory=lambda: [("bgp", 1), ("bfd", 1), ("bgp", 50), ("bfd", 50)])
    window: float = 30
    wait: float = 90
    interval_ms: int = 50
    multiplier: int = 3
    out: str | None = None


def parse(argv: list[str]) -> Options:
    ap = argparse.ArgumentParser(prog="bench-bfd-cpu.sh", description=__doc__.split("\n\n")[0])
    ap.add_argument("--phases", default="bgp:1 bfd:1 bgp:50 bfd:50",
                    help="KIND:N ... (KIND bgp = no BFD, bfd = BFD on every neighbor; N 1..99)")
    ap.add_argument("--window", type=float, default=30, help="measurement window per phase, s (5..120)")
    ap.add_argument("--wait", type=float, default=90, help="bound on reaching Established + Up, s")
    ap.add_argument("--interval-ms", type=int, default=50)
    ap.add_argument("--multiplier", type=int, default=3)
    ap.add_argument("--out", help="also write the report (markdown) to this file")
    a = ap.parse_args(argv)
    phases = []
    for p in a.phases.split():
        kind, _, n = p.partition(":")
        if kind not in ("bgp", "bfd") or not n.isdigit() or not 1 <= int(n) <= 99:
            ap.error(f"phase {p!r}: KIND:N with KIND bgp|bfd, N 1..99")
        phases.append((kind, int(n)))
    if not 5 <= a.window <= 120 or not 10 <= a.wait <= 300:
        ap.error("--window 5..120, --wait 10..300")
    return Options(phases, a.window, a.wait, a.interval_ms, a.multiplier, a.out)


def pair(i: int) -> tuple[str, str]:
    """(router address, node address) of neighbor i: 0 is the lab's own pair."""
    return (plan.RTR_LAN4, NODEA.addr4) if i == 0 else (f"192.0.2.{100 + i}", f"192.0.2.{150 + i}")


@dataclass
class Phase:
    kind: str
    n: int
    ready_s: float = 0.0
    ready: bool = False
    seconds: float = 0.0
    acd_cpu: tuple[float, float] = (0.0, 0.0)
    bird_cpu: tuple[float, float] = (0.0, 0.0)
    acd_end: ProcSample | None = None
    bird_end: ProcSample | None = None
    pkts_out: int = 0
    pkts_in: int = 0
    tx_us: set = field(default_factory=set)
    flaps: list[str] = field(default_factory=list)
    load: str = ""
    threads: str = ""

    @property
    def label(self) -> str:
        return f"{self.n} BGP, {'BFD 50 ms × 3' if self.kind == 'bfd' else 'no BFD'}"

    @property
    def bfd_sessions(self) -> int:
        return self.n if self.kind == "bfd" else 0


def acd_snapshot(acd: Anycastd) -> dict[str, tuple]:
    """{remote_ip: (state, established_count, flaps, bfd state, up, down, in, out, tx_us)}."""
    snap = {}
    for nb in acd_neighbors(acd.status()):
        b = nb.get("bfd") or {}
        snap[str(nb.get("remote_ip"))] = (nb.get("state"), nb.get("established_count"), nb.get("flaps"),
                                          b.get("state"), b.get("up_count"), b.get("down_count"),
                                          b.get("packets_in"), b.get("packets_out"), b.get("tx_interval_us"))
    return snap


def run_phase(lab: Lab, o: Options, kind: str, n: int) -> Phase:
    ph = Phase(kind, n)
    bfd = kind == "bfd"
    log(f"---- phase {kind}:{n}")
    nbs = [Neighbor(f"n{i}", pair(i)[1], pair(i)[0], md5=None, hold=9) for i in range(n)]
    bird = BfdBird(lab, RouterConfig(nbs, connect_retry=1), name=f"cpu-{kind}{n}", kernel=False,
                   error_wait=(1, 2), bfd=bfd, interval_ms=o.interval_ms, multiplier=o.multiplier)
    extras = tuple(ExtraNeighbor(pair(i)[0], plan.RTR_AS, pair(i)[1]) for i in range(1, n))
    cfg = BfdAnycastdConfig(NODEA, md5=None, hold=9, connect_retry=1, role="static", extra_neighbors=extras,
                            bfd_table=bfd_table(o.interval_ms, o.multiplier) if bfd else None)
    acd = Anycastd(lab, cfg, conf_name=f"anycastd-cpu-{kind}{n}.toml")
    t0 = time.monotonic()
    bird.start()
    acd.start()
    rtr_addrs = {pair(i)[0] for i in range(n)}
    node_addrs = {pair(i)[1] for i in range(n)}

    def all_up() -> bool:
        snap = acd_snapshot(acd)
        if set(snap) != rtr_addrs or any(s[0] != "Established" for s in snap.values()):
            return False
        if any(v[0] != "Established" for v in bird.bgp_states().values()) or len(bird.bgp_states()) != n:
            return False
        if not bfd:
            return True
        if any(s[3] != "Up" or s[8] != o.interval_ms * 1000 for s in snap.values()):
            return False
        b = bird.bfd_sessions()
        return set(b) == node_addrs and all(v[0] == "Up" for v in b.values())

    ph.ready = bool(wait_until(all_up, o.wait, 0.5))
    ph.ready_s = time.monotonic() - t0
    if not ph.ready:
        snap = acd_snapshot(acd)
        log(f"phase {kind}:{n}: not all up after {o.wait} s: anycastd "
            f"{sorted(set(s[0] for s in snap.values()))} bfd {sorted(set(str(s[3]) for s in snap.values()))}; "
            f"BIRD bgp {sorted(set(v[0] for v in bird.bgp_states().values()))} bfd "
            f"{sorted(set(v[0] for v in bird.bfd_sessions().values()))} ({len(bird.bfd_sessions())} sessions)")
    else:
        log(f"phase {kind}:{n}: all {n} sessions Established{' and BFD Up' if bfd else ''} in {ph.ready_s:.1f} s")
    time.sleep(2)  # settle: the Poll sequence after Up, BIRD's first keepalives
    a0, b0 = acd_snapshot(acd), bird.bfd_sessions()
    g0 = bird.bgp_states()
    bird_log0 = len(bird.bfd_log_lines())
    pa0, pb0, w0 = proc_sample(acd.proc.pid), proc_sample(bird.main_proc.pid), time.monotonic()
    time.sleep(o.window)
    pa1, pb1, w1 = proc_sample(acd.proc.pid), proc_sample(bird.main_proc.pid), time.monotonic()
    ph.load = load()
    a1, b1 = acd_snapshot(acd), bird.bfd_sessions()
    g1 = bird.bgp_states()
    ph.seconds = w1 - w0
    ph.acd_cpu, ph.bird_cpu = cpu_pct(pa0, pa1, ph.seconds), cpu_pct(pb0, pb1, ph.seconds)
    ph.acd_end, ph.bird_end = pa1, pb1
    ph.threads = per_thread_pct(pa0, pa1, ph.seconds)
    for ip, s in a1.items():
        s0 = a0.get(ip)
        if not s0 or s[0] != "Established" or s[1:3] != s0[1:3]:
            ph.flaps.append(f"anycastd BGP {ip}: {s0 and s0[:3]} -> {s[:3]}")
        if bfd and (not s0 or s[3] != "Up" or s[4:6] != s0[4:6] or s[5] != 0):
            ph.flaps.append(f"anycastd BFD {ip}: up/down {s0 and s0[4:6]} -> {s[4:6]}, {s[3]}")
        if bfd and s0 and s[6] is not None and s0[6] is not None:
            ph.pkts_in += s[6] - s0[6]
            ph.pkts_out += s[7] - s0[7]
            ph.tx_us.add(s[8])
    for name, v in g1.items():
        if v[0] != "Established" or not bird.same_session(g0.get(name, ("", ""))[1], v[1]):
            ph.flaps.append(f"BIRD BGP {name}: {g0.get(name)} -> {v}")
    if bfd:
        for ip in node_addrs:
            if ip not in b1 or b1[ip][0] != "Up" or not bird.same_session(b0.get(ip, ("", ""))[1], b1[ip][1]):
                ph.flaps.append(f"BIRD BFD {ip}: {b0.get(ip)} -> {b1.get(ip)}")
        extra_log = bird.bfd_log_lines()[bird_log0:]
        if extra_log:
            ph.flaps.append(f"BIRD log: {len(extra_log)} BFD state lines, first {extra_log[0][-120:]!r}")
    log(f"phase {kind}:{n}: anycastd {ph.acd_cpu[0]:.3f} % (ticks) / {ph.acd_cpu[1]:.3f} % (schedstat) "
        f"of a core, RSS {pa1.rss_kb} kB, HWM {pa1.hwm_kb} kB, {pa1.threads} threads; BIRD "
        f"{ph.bird_cpu[0]:.3f} / {ph.bird_cpu[1]:.3f} %; BFD pkts out {ph.pkts_out} in {ph.pkts_in}; "
        f"flaps {len(ph.flaps)}; {ph.load}")
    acd.stop()
    bird.stop()
    return ph


def report(o: Options, phases: list[Phase], started: str) -> str:
    lines = [f"bench-bfd-cpu: anycastd in nodea ↔ BIRD {'2.0.12'} in rtr, BFD {o.interval_ms} ms × {o.multiplier}, "
             f"{o.window:.0f} s window per phase; {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}; "
             f"{len(__import__('os').sched_getaffinity(0))} cores", f"load at start: {started}", "",
             "| phase | BFD sessions | ready | anycastd CPU % (ticks) | anycastd CPU % (schedstat) | "
             "anycastd VmRSS MiB | VmHWM MiB | threads | BFD pkts out/in in window | out/s per session | "
             "BIRD CPU % (ticks) | BIRD CPU % (schedstat) | BIRD VmRSS MiB | flaps in window |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for p in phases:
        per = f"{p.pkts_out / p.seconds / p.n:.1f}" if p.kind == "bfd" and p.seconds else "-"
        lines.append(
            f"| {p.kind}:{p.n} ({p.label}) | {p.bfd_sessions} | {'yes' if p.ready else 'NO'} {p.ready_s:.1f} s | "
            f"{p.acd_cpu[0]:.3f} | {p.acd_cpu[1]:.3f} | {p.acd_end.rss_kb / 1024:.1f} | {p.acd_end.hwm_kb / 1024:.1f} | "
            f"{p.acd_end.threads} | {f'{p.pkts_out}/{p.pkts_in}' if p.kind == 'bfd' else '-'} | {per} | "
            f"{p.bird_cpu[0]:.3f} | {p.bird_cpu[1]:.3f} | {p.bird_end.rss_kb / 1024:.1f} | {len(p.flaps)} |")
    lines += ["", "BFD's cost = phase − its no-BFD twin (same number of BGP sessions):", "",
              "| BFD sessions | anycastd Δ CPU % (ticks) | Δ CPU % (schedstat) | goal | met | Δ VmRSS MiB | BIRD Δ CPU % (schedstat) |",
              "|---|---|---|---|---|---|---|"]
    by = {(p.kind, p.n): p for p in phases}
    for (kind, n), p in by.items():
        base = by.get(("bgp", n))
        if kind != "bfd" or not base:
            continue
        d_t, d_s = p.acd_cpu[0] - base.acd_cpu[0], p.acd_cpu[1] - base.acd_cpu[1]
        goal = GOAL_PCT.get(n)
        met = "-" if goal is None else ("yes" if max(d_s, 0) <= goal else f"NO (by {d_s - goal:.3f} points)")
        lines.append(f"| {n} | {d_t:+.3f} | {d_s:+.3f} | {f'≤ {goal} %' if goal else '-'} | {met} | "
                     f"{(p.acd_end.rss_kb - base.acd_end.rss_kb) / 1024:+.1f} | {p.bird_cpu[1] - base.bird_cpu[1]:+.3f} |")
    lines += ["", "CPU % = (utime+stime) of all the process's threads over the window / window length, "
              "% of one core; ticks are 1/100 s (a 30 s window resolves 0.033 %), schedstat is ns per thread.",
              "anycastd's threads (schedstat, % of one core):"] + [f"  {p.kind}:{p.n}: {p.threads}" for p in phases] + [
              "load at the windows:"] + [f"  {p.kind}:{p.n}: {p.load}" for p in phases]
    flaps = [f"  {p.kind}:{p.n}: {f}" for p in phases for f in p.flaps]
    if flaps:
        lines += ["flaps/changes during the windows:"] + flaps
    return "\n".join(lines) + "\n"


def bench(lab: Lab, o: Options, checks: Checks) -> int:
    started = load()
    n_max = max(n for _, n in o.phases)
    lab.ip("rtr", *(f"addr add {pair(i)[0]}/24 dev br0" for i in range(1, n_max)))
    lab.ip("nodea", *(f"addr add {pair(i)[1]}/24 dev eth0" for i in range(1, n_max)))
    phases = [run_phase(lab, o, kind, n) for kind, n in o.phases]
    text = report(o, phases, started)
    print("\n" + text)
    if o.out:
        with open(o.out, "w", encoding="utf-8") as f:
            f.write(text)
    for p in phases:
        checks.check(f"{p.kind}:{p.n}: all sessions Established{' and BFD Up' if p.kind == 'bfd' else ''} "
                     f"within {o.wait:.0f} s", p.ready, f"{p.ready_s:.1f} s")
        checks.check(f"{p.kind}:{p.n}: no flap during the window", not p.flaps, "; ".join(p.flaps[:3]))
        if p.kind == "bfd":
            checks.check(f"{p.kind}:{p.n}: negotiated tx interval {o.interval_ms} ms on every session",
                         p.tx_us == {o.interval_ms * 1000}, f"{sorted(p.tx_us)} µs")
    by = {(p.kind, p.n): p for p in phases}
    for n, goal in GOAL_PCT.items():
        if ("bfd", n) in by and ("bgp", n) in by:
            d = by[("bfd", n)].acd_cpu[1] - by[("bgp", n)].acd_cpu[1]
            checks.check(f"{n} BFD session(s) at {o.interval_ms} ms cost ≤ {goal} % of a core (schedstat Δ)",
                         d <= goal, f"{d:+.3f} %")
    return 0


def main(args: list[str], with_lab) -> int:
    """`python3 -m lab bench-bfd-cpu ARGS` (with_lab: __main__'s root check + lab + checks)."""
    o = parse(args)
    return with_lab(lambda lab, checks: bench(lab, o, checks))
