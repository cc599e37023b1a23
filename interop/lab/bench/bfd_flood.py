"""BFD under a full-table flood (interop/bench-bfd-flood.sh; issue 11's flood requirement):
bench-full-table's BIRD feeder (its prefixes from bench-full-table.py gen) sends --v4 IPv4
prefixes (1,000,000; --quick 100,000) to anycastd in nodea over a session with BFD 50 ms × 3
on both sides; do anycastd's BFD packets keep leaving on time while it takes the table in?

  rtr: BIRD feeder, AS 65000, `protocol bfd` (interface "*", interval 50 ms, multiplier 3),
       `bfd on` on its session to nodea (hold 9, keepalive 1, connect retry 1, no MD5); the
       feed (protocol static feed4) starts *disabled*: the session and BFD come up idle, and
       `birdc enable feed4` starts the flood
   │ br0 192.0.2.1 ── nodea0
   └──── eth0 192.0.2.11  nodea: anycastd (static role, hold 9, bfd = { interval_ms = 50,
                          multiplier = 3 } — strict by default: it gates only what anycastd
                          advertises, the flood comes in either way); tcpdump on this eth0:
                          `udp port 3784` (both directions, -B 64 MiB, kernel timestamps)

Sequence: BGP Established and BFD Up on both sides (anycastd status: Up, tx 50 ms; birdc show
bfd sessions: Up), capture started, an idle window of --idle s (30), then the flood from
`enable feed4` until anycastd's status counts all prefixes (polled every 100 ms, bounded by
--timeout), 1 s more, capture stopped. From the capture, for our packets (src 192.0.2.11) and
the router's (src 192.0.2.1): count, the largest gap between consecutive packets, p99 and p50,
how many gaps exceed the negotiated interval (RFC 5880 §6.8.7: with jitter an interval is
75–100 % of it, so > 50 ms is outside) and how many reach the detection time (150 ms: the peer
would declare the session down), during the flood and during the last part of the idle window
as long as the flood (the baseline; the whole idle window if the flood took longer). BFD
stayed Up = anycastd's up_count/down_count unchanged and state Up, BIRD's session Up with the
same Since and no BFD state line in its log, and the BGP session the same Established
period on both sides. `uptime` before and after (a 2-core machine shared with builds).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from dataclasses import dataclass

from .. import plan
from ..capture import Capture, tshark
from ..checks import Checks
from ..clock import now_us, wait_until
from ..drivers import Neighbor, RouterConfig
from ..drivers.anycastd import Anycastd
from ..topology import Lab, log
from .bfd_lab import CLK_TCK, BfdAnycastdConfig, BfdBird, Gaps, bfd_table, gaps, load, per_thread_pct, proc_sample
from .full_table import generate

NODEA = plan.NODEA
# A busy loop that ends by itself after argv[1] seconds (--hog).
HOG = "import sys, time\nend = time.monotonic() + float(sys.argv[1])\nwhile time.monotonic() < end:\n    pass\n"


@dataclass
class Options:
    v4: int = 1_000_000
    group: int = 4
    idle: float = 30
    timeout: float = 180
    interval_ms: int = 50
    multiplier: int = 3
    out: str | None = None
    dry_run: bool = False
    hog: int = 0


def parse(argv: list[str]) -> Options:
    ap = argparse.ArgumentParser(prog="bench-bfd-flood.sh", description=__doc__.split("\n\n")[0])
    ap.add_argument("--v4", type=int, default=1_000_000)
    ap.add_argument("--quick", action="store_true", help="100,000 prefixes")
    ap.add_argument("--group", type=int, default=4, help="prefixes per AS path (≈ per UPDATE)")
    ap.add_argument("--idle", type=float, default=30, help="idle window before the flood, s (5..120)")
    ap.add_argument("--timeout", type=float, default=180, help="bound on the flood, s (10..300)")
    ap.add_argument("--interval-ms", type=int, default=50)
    ap.add_argument("--multiplier", type=int, default=3)
    ap.add_argument("--out", help="also write the report (markdown) to this file")
    ap.add_argument("--dry-run", action="store_true",
                    help="anycastd without BFD, no BFD wait (tries the script on an anycastd without BFD)")
    ap.add_argument("--hog", type=int, default=0,
                    help="N busy-loop processes (0..4) in nodea through the idle window and the flood: "
                         "CPU contention like a build on this machine (bounded by the windows' time)")
    a = ap.parse_args(argv)
    v4 = 100_000 if a.quick else a.v4
    if not 0 <= a.hog <= 4:
        ap.error("--hog 0..4")
    if not 1 <= v4 <= 2_000_000 or not 5 <= a.idle <= 120 or not 10 <= a.timeout <= 300 or a.group < 1:
        ap.error("--v4 1..2000000, --idle 5..120, --timeout 10..300, --group >= 1")
    return Options(v4, a.group, a.idle, a.timeout, a.interval_ms, a.multiplier, a.out, a.dry_run, a.hog)


def feeder(lab: Lab, o: Options) -> BfdBird:
    """bench-full-table's BIRD feeder (same prefixes, keepalive 1, export only the feed) with
    BFD, its session enabled from the start and the feed's static protocol disabled."""
    feed = generate("gen", str(o.v4), "0", str(o.group))
    feed = feed.replace("protocol static feed4 {\n", "protocol static feed4 {\n    disabled;\n", 1)
    nb = Neighbor("nodea", NODEA.addr4, plan.RTR_LAN4, md5=None, hold=9)
    return BfdBird(lab, RouterConfig([nb], connect_retry=1), name="feeder", kernel=False, error_wait=(1, 2),
                   keepalive=1, extra=feed, neighbor_export=('where proto = "feed4"', 'where proto = "feed6"'),
                   interval_ms=o.interval_ms, multiplier=o.multiplier)


def acd_bfd(acd: Anycastd) -> tuple[dict, dict]:
    nb = ((acd.status() or {}).get("neighbors") or [{}])[0]
    return nb, nb.get("bfd") or {}


def times_by_src(pcap) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for row in tshark(pcap, "udp.port == 3784", "frame.time_epoch", "ip.src"):
        if len(row) < 2:
            continue
        sec, _, frac = row[0].partition(".")
        out.setdefault(row[1], []).append(int(sec) * 1_000_000 + int(frac.ljust(6, "0")[:6]))
    return out


def fmt_gaps(g: Gaps) -> str:
    return f"{g.packets} | {g.max_ms:.1f} | {g.p99_ms:.1f} | {g.p50_ms:.1f} | {g.min_ms:.1f} | {g.over} | {g.over_detect}"


def bench(lab: Lab, o: Options, checks: Checks) -> int:
    load0 = load()
    detect_ms = o.interval_ms * o.multiplier
    bird = feeder(lab, o)
    t0 = time.monotonic()
    bird.start()
    log(f"BIRD feeder up with {o.v4} routes configured (feed4 disabled) in {time.monotonic() - t0:.1f} s")
    cfg = BfdAnycastdConfig(NODEA, md5=None, hold=9, connect_retry=1, role="static",
                            bfd_table=None if o.dry_run else bfd_table(o.interval_ms, o.multiplier))
    acd = Anycastd(lab, cfg, conf_name="anycastd-bfd-flood.toml")
    acd.start()

    def up() -> bool:
        nb, b = acd_bfd(acd)
        s = bird.bfd_sessions().get(NODEA.addr4)
        if o.dry_run:
            return nb.get("state") == "Established" and bird.established(NODEA.addr4)
        return (nb.get("state") == "Established" and bird.established(NODEA.addr4) and b.get("state") == "Up"
                and b.get("tx_interval_us") == o.interval_ms * 1000 and bool(s) and s[0] == "Up")
    ready = wait_until(up, 60, 0.5)
    nb0, b0 = acd_bfd(acd)
    checks.check("BGP Established" + ("" if o.dry_run else " and BFD Up on both sides") + " before the flood (≤ 60 s)", ready,
                 f"anycastd {nb0.get('state')} bfd {b0.get('state')} tx {b0.get('tx_interval_us')} µs; "
                 f"BIRD {bird.state(NODEA.addr4)} bfd {bird.bfd_sessions().get(NODEA.addr4)}")
    if not ready:
        return 1
    time.sleep(2)  # past the Poll sequence that follows Up
    cap = Capture.start(lab, "eth0", "bfd-flood.pcap", bpf="udp port 3784", role="nodea", extra=("-B", "65536"))
    nb0, b0 = acd_bfd(acd)
    bsess0 = bird.bfd_sessions().get(NODEA.addr4)
    since0 = bird.established_since(NODEA.addr4)
    blog0, notes0 = len(bird.bfd_log_lines()), len(bird.notification_lines())
    hogs = [lab.spawn("nodea", f"hog-{i}", [sys.executable, "-c", HOG, str(o.idle + o.timeout + 10)])
            for i in range(o.hog)]
    t_idle = now_us()
    time.sleep(o.idle)
    cpu0 = proc_sample(acd.proc.pid)
    t_flood = now_us()
    bird.birdc("enable", "feed4")
    v4 = 0
    while True:
        try:
            v4 = acd_bfd(acd)[0].get("prefixes_received_v4", 0)
        except (OSError, ValueError, AttributeError):
            pass
        t_done = now_us()
        if v4 >= o.v4 or t_done - t_flood >= o.timeout * 1e6:
            break
        time.sleep(0.1)
    complete = v4 >= o.v4
    cpu1 = proc_sample(acd.proc.pid)
    flood_s = (t_done - t_flood) / 1e6
    log(f"anycastd counted {v4} of {o.v4} prefixes {flood_s:.2f} s after enable feed4 (complete: {complete})")
    time.sleep(1)
    for h in hogs:
        lab.stop(h)
    load1 = load()
    nb1, b1 = acd_bfd(acd)
    bsess1 = bird.bfd_sessions().get(NODEA.addr4)
    since1 = bird.established_since(NODEA.addr4)
    blog = bird.bfd_log_lines()[blog0:]
    notes = bird.notification_lines()[notes0:]
    pcap = cap.stop()
    m = re.search(r"(\d+) packets? dropped by kernel", cap.proc.log_text())
    cap_drops = int(m.group(1)) if m else None
    by_src = times_by_src(pcap)
    ours, theirs = by_src.get(NODEA.addr4, []), by_src.get(plan.RTR_LAN4, [])
    base_start = max(t_idle, t_flood - (t_done - t_flood))
    rows = {("ours", "idle"): gaps(ours, base_start, t_flood, o.interval_ms, detect_ms),
            ("ours", "flood"): gaps(ours, t_flood, t_done, o.interval_ms, detect_ms),
            ("ours", "idle, whole"): gaps(ours, t_idle, t_flood, o.interval_ms, detect_ms),
            ("router", "idle"): gaps(theirs, base_start, t_flood, o.interval_ms, detect_ms),
            ("router", "flood"): gaps(theirs, t_flood, t_done, o.interval_ms, detect_ms),
            ("router", "idle, whole"): gaps(theirs, t_idle, t_flood, o.interval_ms, detect_ms)}
    acd_up = (b1.get("state") == "Up" and b1.get("down_count") == b0.get("down_count") == 0
              and b1.get("up_count") == b0.get("up_count"))
    # Since: BIRD prints its monotonic clock as wall-clock time, 1 ms apart between two reads (same_session)
    bird_up = bool(bsess1) and bsess1[0] == "Up" and bsess0 is not None and bird.same_session(bsess0[1], bsess1[1]) and not blog
    bgp_same = (nb1.get("state") == "Established" and nb1.get("established_count") == nb0.get("established_count")
                and bird.same_session(since0, since1) and not notes)
    cpu_pct = (cpu1.ticks - cpu0.ticks) / CLK_TCK / max(flood_s, 1e-6) * 100
    idle_s = (t_flood - base_start) / 1e6
    text = "\n".join([
        f"bench-bfd-flood: BIRD feeder → anycastd, {o.v4} IPv4 prefixes (~{o.group} per UPDATE), BFD "
        f"{o.interval_ms} ms × {o.multiplier} on the session; {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}; "
        f"{len(__import__('os').sched_getaffinity(0))} cores",
        f"load before: {load0}", f"load after:  {load1}",
        *([f"CPU contention: {o.hog} busy-loop process(es) in nodea through the idle window and the flood"] if o.hog else []),
        f"flood: {'all' if complete else 'NOT all'} {v4} prefixes counted by anycastd {flood_s:.2f} s after "
        f"`enable feed4` (anycastd CPU {cpu_pct:.0f} % of a core meanwhile, VmHWM {cpu1.hwm_kb / 1024:.1f} MiB); "
        f"baseline: the idle {idle_s:.2f} s just before it",
        f"anycastd's threads during the flood (schedstat, % of one core): {per_thread_pct(cpu0, cpu1, flood_s)}",
        "",
        f"| sender | window | length s | BFD packets | max gap ms | p99 gap ms | p50 gap ms | min gap ms | "
        f"gaps > {o.interval_ms} ms (RFC 5880 §6.8.7 bound) | gaps ≥ {detect_ms} ms (detection time) |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *(f"| {'anycastd (192.0.2.11)' if who == 'ours' else 'BIRD (192.0.2.1)'} | {win} | "
          f"{ {'idle': idle_s, 'flood': flood_s}.get(win, (t_flood - t_idle) / 1e6):.2f} | {fmt_gaps(g)} |"
          for (who, win), g in rows.items()),
        f"(idle = the last part of the idle window as long as the flood; idle, whole = all {o.idle:.0f} s of it; "
        f"a gap belongs to the window of the packet that ends it; tcpdump: "
        f"{'?' if cap_drops is None else cap_drops} packets dropped by kernel)",
        "",
        f"| BFD stayed Up | |", "|---|---|",
        f"| anycastd | {'yes' if acd_up else 'NO'}: state {b1.get('state')}, up_count {b0.get('up_count')} → "
        f"{b1.get('up_count')}, down_count {b0.get('down_count')} → {b1.get('down_count')}, packets out "
        f"{b0.get('packets_out')} → {b1.get('packets_out')}, drops {b1.get('drops')}, tx_suppressed {b1.get('tx_suppressed')} |",
        f"| BIRD | {'yes' if bird_up else 'NO'}: {bsess0} → {bsess1}, {len(blog)} BFD state lines in its log |",
        f"| BGP session | {'same session' if bgp_same else 'NOT the same'}: anycastd established_count "
        f"{nb0.get('established_count')} → {nb1.get('established_count')}, BIRD since {since0} → {since1}, "
        f"{len(notes)} NOTIFICATION/error lines |", ""])
    print("\n" + text)
    if o.out:
        with open(o.out, "w", encoding="utf-8") as f:
            f.write(text)
    g = rows[("ours", "flood")]
    checks.check(f"anycastd counted all {o.v4} prefixes within {o.timeout:.0f} s", complete, f"{v4} in {flood_s:.2f} s")
    checks.check("anycastd sent BFD packets during the flood", g.packets > 0, g.packets)
    checks.equal("packets the capture dropped (tcpdump: dropped by kernel)", cap_drops, 0)
    checks.check(f"no gap between anycastd's BFD packets above {o.interval_ms} ms during the flood",
                 g.over == 0, f"max {g.max_ms:.1f} ms, p99 {g.p99_ms:.1f} ms, {g.over} over")
    checks.check("BFD stayed Up at anycastd", acd_up, f"down_count {b1.get('down_count')}")
    checks.check("BFD stayed Up at BIRD", bird_up, f"{bsess0} → {bsess1}")
    checks.check("BGP session unchanged", bgp_same, f"{since0} → {since1}")
    if blog:
        log("BIRD BFD log lines: " + " | ".join(blog[:5]))
    acd.stop()
    bird.stop()
    return 0


def main(args: list[str], with_lab) -> int:
    """`python3 -m lab bench-bfd-flood ARGS` (with_lab: __main__'s root check + lab + checks)."""
    o = parse(args)
    return with_lab(lambda lab, checks: bench(lab, o, checks))
