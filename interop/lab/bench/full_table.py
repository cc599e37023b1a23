"""Full-table flood (interop/bench-full-table.sh; flood-short is its CI form): a feeder in
rtr sends N4 IPv4 + N6 IPv6 prefixes to the receiver under test in nodea; receivers one after
another, same feed, same topology, one run: anycastd, BIRD 2, GoBGP, ExaBGP 4. The feeder is
BIRD 2 by default, or FRR / GoBGP (--feeder): each loads the same prefixes (bench-full-table.py
gen: /24…/20 and /48, /32) its own way and packs them into UPDATEs its own way. `--feeder fast`
is interop/tools/feeder instead (built here if missing): a replay tool that makes the decode
bench's table (benches/compare/src/corpus.rs: N4 + N6 distinct prefixes, 1–8 per UPDATE, AS
65000 first in every path, next hops 192.0.2.1 / 2001:db8:2::1) in memory, connects to the
receiver, does a real OPEN/KEEPALIVE exchange and writes the table and both End-of-RIBs as fast
as the socket takes them, so that the receiver is the bottleneck; one feeder process per
receiver, its own JSON report (Established, the last octet written) instead of a capture, and
the receiver polled every 50 ms instead of 100.

  rtr: the feeder, AS 65000, nothing in any FIB; its session to nodea (hold 9, keepalive 3 —
       BIRD: 1 —, connect retry 1, no MD5) starts administratively down and is enabled once
       a receiver is ready
       bird:  protocol static feed4/feed6 (one AS path per --group prefixes: ~4 per UPDATE),
              exported where proto = feed4/feed6; no kernel protocol; error wait 1, 2
       frr:   bgpd `network` statements (no import-check; bgpd gives its own network routes
              to no FIB), route-map FEED-OUT (only what it originates); no AS path of their
              own, so bgpd packs them into full UPDATEs
       gobgp: `gobgp mrt inject global` of an MRT TABLE_DUMP_V2 file (bench-full-table.py
              gen-mrt: the same prefixes and AS paths as BIRD's, next hops 192.0.2.1 and
              2001:db8:2::1); gobgpd has no FIB here
   │ br0 192.0.2.1 ── nodea0 (tcpdump: the feeder's UPDATEs and End-of-RIBs on the wire)
   └──── eth0 192.0.2.11  nodea: the receiver under test (AS 65124, hold 9)

Per receiver: Established = polled from the feeder (the end of the last poll that still saw
it down: never later than the real moment); done = the first poll (every 100 ms) at which the
receiver reports all prefixes (bounded by --timeout from Established); RSS sampled every
100 ms (peak = VmHWM), after = VmRSS 3 s after done; stable = the feeder's session stayed the
one Established (its established_since unchanged, still Established, no NOTIFICATION or error
line in its log since) and, for anycastd, established_count 1 and flaps 0; the feeder's last
End-of-RIB on the wire (BIRD only sends them without graceful restart), the lag, the UPDATEs
sent and the receiver's CPU seconds. Checks (anycastd: all prefixes counted, stable, RSS <
--rss-limit MiB, no WARN/ERROR; not slower than each other receiver, in time or lag).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import dataclass, field

from .. import plan
from ..checks import Checks
from ..clock import now_us, wait_until
from ..drivers import ROUTER_NAMES, Neighbor, Router, RouterConfig, kind_of, root_of
from ..drivers.anycastd import Anycastd, AnycastdConfig
from ..drivers.bird import Bird
from ..drivers.exabgp import ExaProcess, Exabgp, ExabgpConfig
from ..drivers.frr import Frr
from ..drivers.gobgp import GoBgp
from ..fixtures import HERE, PYTHON
from ..proc import run
from ..topology import Lab, log
from ..capture import Capture
from . import procstat

HPY = str(HERE / "bench-full-table.py")
RECEIVERS = ("anycastd", "bird", "gobgp", "exabgp")
FEEDERS = (*ROUTER_NAMES, "fast")
FAST_BIN = HERE / "tools" / "feeder" / "target" / "release" / "anycastd-feeder"


@dataclass
class Options:
    v4: int = 1_000_000
    v6: int = 200_000
    group: int = 4
    timeout: int = 120
    receivers: list[str] = field(default_factory=lambda: list(RECEIVERS))
    rss_limit_mib: int = 32
    feeder: str = "bird"


def parse(argv: list[str]) -> Options:
    ap = argparse.ArgumentParser(prog="bench-full-table.sh", description=__doc__.split("\n\n")[0])
    ap.add_argument("--v4", type=int, default=1_000_000)
    ap.add_argument("--v6", type=int, default=200_000)
    ap.add_argument("--group", type=int, default=4)
    ap.add_argument("--timeout", type=int, default=120)
    ap.add_argument("--receivers", default=" ".join(RECEIVERS))
    ap.add_argument("--rss-limit", type=int, default=32)
    ap.add_argument("--feeder", default="bird", choices=FEEDERS)
    a = ap.parse_args(argv)
    recv = a.receivers.split()
    if any(r not in RECEIVERS for r in recv) or min(a.v4, a.v6, a.group, a.timeout) < 1 or a.timeout > 300:
        ap.error("--receivers from anycastd bird gobgp exabgp; counts >= 1; --timeout 1..300")
    return Options(a.v4, a.v6, a.group, a.timeout, recv, a.rss_limit, a.feeder)


@dataclass
class Result:
    receiver: str
    done_s: float | None
    rate: str
    peak_kb: int
    after_kb: int
    stable: bool
    counted: tuple[int, int]
    wire_s: str = "-"
    lag_s: str = "-"
    updates: str = "?"
    cpu_s: float = 0.0
    final: str = ""
    warns: int = 0
    warn_lines: tuple = ()


class Receiver:
    """One receiver under test in nodea: start, count (v4, v6), pids, stop."""

    def __init__(self, lab: Lab, kind: str) -> None:
        self.lab, self.kind = lab, kind
        self.status_file = lab.path("exa-status")
        self.daemon = None

    def start(self) -> list[int]:
        lab, n = self.lab, plan.NODEA
        feed = Neighbor("feed", plan.RTR_LAN4, n.addr4, plan.RTR_AS, None, 9)
        cfg = RouterConfig([feed], asn=plan.NODE_AS, router_id=n.addr4, connect_retry=1)
        if self.kind == "anycastd":
            self.daemon = Anycastd(lab, AnycastdConfig(n, md5=None, hold=9, connect_retry=1, role="static"))
            return [self.daemon.start().pid]
        if self.kind == "bird":
            self.daemon = Bird(lab, cfg, role="nodea", name="rcv", kernel=False, error_wait=(1, 2))
        elif self.kind == "gobgp":
            self.daemon = GoBgp(lab, cfg, role="nodea", local_addresses=[n.addr4], export_all=True)
        else:
            self.status_file.write_text("")
            self.daemon = Exabgp(lab, ExabgpConfig(n, md5=None, families=("ipv4 unicast", "ipv6 unicast"),
                                                  processes=[ExaProcess("counter", f"{PYTHON} {HPY} exa-count {self.status_file}",
                                                                        "json")], receive_updates=True), quiet=True)
            return [self.daemon.start().pid]
        self.daemon.start()
        return [self.daemon.main_proc.pid]

    def count(self) -> tuple[int, int]:
        d = self.daemon
        if self.kind == "anycastd":
            nb = ((d.status() or {}).get("neighbors") or [{}])[0]
            return nb.get("prefixes_received_v4", 0), nb.get("prefixes_received_v6", 0)
        if self.kind == "bird":
            return tuple((d.peer_counts(plan.RTR_LAN4, f) or (0, 0))[0] for f in ("ipv4", "ipv6"))
        if self.kind == "gobgp":
            return d.rib_destinations("ipv4"), d.rib_destinations("ipv6")
        parts = (self.status_file.read_text().split() or ["0", "0"])
        return int(parts[0]), int(parts[1])

    def stop(self) -> None:
        self.daemon.stop()


def generate(*args: str) -> str:
    """bench-full-table.py's output for `args` (a generator subcommand)."""
    gen = run([PYTHON, HPY, *args], timeout=120)
    if gen.returncode != 0:
        raise RuntimeError(f"feeder generation ({args[0]}) failed: {gen.stderr}")
    return gen.stdout


class Feeder:
    """The feeder in rtr: a router driver whose session to nodea starts shut down, the feed
    loaded before it is enabled; `loaded()` counts what it holds, per family."""

    def __init__(self, lab: Lab, o: Options) -> None:
        self.lab, self.o = lab, o
        nb = Neighbor("nodea", plan.NODEA.addr4, plan.RTR_LAN4, md5=None, hold=9, shutdown=True)
        self.router = self.driver(RouterConfig([nb], connect_retry=1))

    def driver(self, cfg: RouterConfig) -> Router:
        raise NotImplementedError

    def load(self) -> None:
        """After start: what the config did not load already."""

    def loaded(self) -> tuple[int, int]:
        return self.router.rib_count("ipv4"), self.router.rib_count("ipv6")

    def start(self) -> None:
        t0 = time.monotonic()
        self.router.start()
        self.load()
        want = (self.o.v4, self.o.v6)
        if not wait_until(lambda: self.loaded() == want, 90, 0.2):
            raise RuntimeError(f"{self.router.kind} feeder did not load {want} routes in 90 s: {self.loaded()}")
        log(f"{self.router.kind} feeder loaded {sum(want)} routes in {(time.monotonic() - t0) * 1000:.0f} ms; "
            f"RSS {sum(procstat.rss_kb(p.pid) for p in self.router.procs)} kB")


class BirdFeeder(Feeder):
    def driver(self, cfg: RouterConfig) -> Router:
        # keepalive 1, not 3: BIRD 2.0.12 sometimes leaves its last UPDATEs queued until its
        # next KEEPALIVE goes out when the reader keeps up; this bounds that feeder artefact to ~1 s.
        return Bird(self.lab, cfg, name="feeder", kernel=False, error_wait=(1, 2), keepalive=1,
                    root=root_of(self.o.feeder), extra=generate("gen", str(self.o.v4), str(self.o.v6), str(self.o.group)),
                    neighbor_export=('where proto = "feed4"', 'where proto = "feed6"'))


class FrrFeeder(Feeder):
    def driver(self, cfg: RouterConfig) -> Router:
        return Frr(self.lab, cfg, feed=generate("gen-frr", str(self.o.v4), str(self.o.v6)),
                   root=root_of(self.o.feeder))

    def loaded(self) -> tuple[int, int]:
        return tuple(self.router.table_prefixes(f) for f in ("ipv4", "ipv6"))


class GoBgpFeeder(Feeder):
    def driver(self, cfg: RouterConfig) -> Router:
        return GoBgp(self.lab, cfg, export_all=True, root=root_of(self.o.feeder))

    def load(self) -> None:
        mrt = self.lab.path("feed.mrt")
        generate("gen-mrt", str(self.o.v4), str(self.o.v6), str(self.o.group), str(mrt),
                 plan.RTR_LAN4, plan.RTR_LAN6)
        self.router.inject_mrt(str(mrt))
        if not self.lab.keep:
            mrt.unlink(missing_ok=True)

    def loaded(self) -> tuple[int, int]:
        return self.router.rib_destinations("ipv4"), self.router.rib_destinations("ipv6")


class FastRouter:
    """The fast feeder as the part of a router driver this bench uses: admin_up starts one
    feeder process that connects to the receiver; its JSON lines are the session's state."""

    kind = "fast"

    def __init__(self, lab: Lab, o: Options, binary: str) -> None:
        self.lab, self.o, self.binary = lab, o, binary
        self.proc = None
        self.runs = 0

    def admin_up(self, peer: str) -> None:
        self.runs += 1
        o = self.o
        argv = [self.binary, "--connect", f"{peer}:179", "--as", str(plan.RTR_AS), "--peer-as", str(plan.NODE_AS),
                "--id", plan.RTR_ID, "--hold", "9", "--v4", str(o.v4), "--v6", str(o.v6),
                "--next-hop4", plan.RTR_LAN4, "--next-hop6", plan.RTR_LAN6, "--wait", "30",
                "--linger", str(o.timeout + 30), "--timeout", str(o.timeout + 60)]
        self.proc = self.lab.spawn("rtr", f"feeder-{self.runs}", argv)

    def events(self) -> list[dict]:
        if self.proc is None or not self.proc.log.exists():
            return []
        out = []
        for line in self.proc.log.read_text(errors="replace").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out

    def event(self, name: str) -> dict | None:
        return next((e for e in self.events() if e.get("event") == name), None)

    def established(self, peer: str) -> bool:
        names = [e.get("event") for e in self.events()]
        return "established" in names and "closed" not in names and "failed" not in names

    def established_since(self, peer: str) -> str:
        return str((self.event("established") or {}).get("epoch_us", ""))

    def established_epoch_us(self) -> int | None:
        return (self.event("established") or {}).get("epoch_us")

    def same_session(self, since0: str, since1: str) -> bool:
        return bool(since0) and since0 == since1

    def notification_lines(self) -> list[str]:
        return [json.dumps(e) for e in self.events() if e.get("event") == "failed" or e.get("notification")]

    def admin_down(self, peer: str) -> None:
        if self.proc is not None:
            wait_until(lambda: not self.proc.alive(), 5)
            self.lab.stop(self.proc)


class FastFeeder(Feeder):
    def __init__(self, lab: Lab, o: Options) -> None:
        self.lab, self.o = lab, o
        binary = os.environ.get("FEEDER_BIN") or str(FAST_BIN)
        self.router = FastRouter(lab, o, binary)

    def start(self) -> None:
        if os.environ.get("FEEDER_BIN"):
            return
        t0 = time.monotonic()
        built = run(["cargo", "build", "--release", "--quiet", "--manifest-path", str(HERE / "tools" / "feeder" / "Cargo.toml")],
                    timeout=600)
        if built.returncode != 0 or not FAST_BIN.exists():
            raise RuntimeError(f"building interop/tools/feeder failed: {built.stderr[-2000:]}")
        log(f"fast feeder built (or up to date) in {(time.monotonic() - t0) * 1000:.0f} ms: {FAST_BIN}")


FEEDER = {"bird": BirdFeeder, "frr": FrrFeeder, "gobgp": GoBgpFeeder, "fast": FastFeeder}


def established_us(feeder: Router, timeout: float) -> int | None:
    """When the feeder's session to nodea came up: the end of the last poll that still saw it
    down (never later than the real moment); None if it did not within `timeout` s."""
    last_down, deadline = now_us(), time.monotonic() + timeout
    while time.monotonic() < deadline:
        if feeder.established(plan.NODEA.addr4):
            return last_down
        last_down = now_us()
        time.sleep(0.02)
    return None


def run_receiver(lab: Lab, feeder: Router | FastRouter, o: Options, kind: str) -> Result:
    log(f"---- receiver {kind}")
    fast = isinstance(feeder, FastRouter)
    # The fast feeder reports its own times; a capture of its line-rate stream would only
    # take CPU from the receiver.
    cap = None if fast else Capture.start(lab, plan.NODEA.port, f"feed-{kind}.pcap", extra=("-B", "65536"))
    recv = Receiver(lab, kind)
    pids = recv.start()
    rss_log = lab.path(f"rss-{kind}.log")
    sampler = lab.spawn(None, f"sampler-{kind}", [PYTHON, HPY, "sample", str(rss_log), "0.1", str(o.timeout + 60),
                                                  *map(str, pids)])
    feeder.admin_up(plan.NODEA.addr4)
    t_est = established_us(feeder, 30) or now_us()
    if fast:
        t_est = feeder.established_epoch_us() or t_est
    poll = 0.05 if fast else 0.1
    since0 = feeder.established_since(plan.NODEA.addr4)
    notes0 = len(feeder.notification_lines())  # from Established on (gobgpd warns of refusals before)
    v4 = v6 = 0
    while True:
        try:
            v4, v6 = recv.count()
        except (OSError, ValueError, IndexError):
            pass
        t_done = now_us()
        if v4 >= o.v4 and v6 >= o.v6:
            break
        if t_done - t_est >= o.timeout * 1_000_000:
            break
        time.sleep(poll)
    complete = v4 >= o.v4 and v6 >= o.v6
    secs = (t_done - t_est) / 1e6
    rate = f"{(o.v4 + o.v6) / secs:.0f}" if complete else f"{(v4 + v6) / max(secs, 1e-6):.0f} (partial)"
    log(f"{kind}: {v4} + {v6} prefixes {secs:.2f} s after Established (complete: {complete})")
    time.sleep(3)
    cpu = procstat.cpu_seconds(*pids)
    lab.stop(sampler, timeout=2)
    samples = [line.split() for line in rss_log.read_text().splitlines() if line.strip()] if rss_log.exists() else []
    peak = max((int(s[2]) for s in samples), default=0)
    after = int(samples[-1][1]) if samples else 0
    why = []
    if not feeder.same_session(since0, feeder.established_since(plan.NODEA.addr4)):
        why.append("feeder: the session was established anew")
    if not feeder.established(plan.NODEA.addr4):
        why.append("feeder session not Established at the end")
    notes = feeder.notification_lines()[notes0:]
    if notes:
        why.append(f"feeder log: {len(notes)} NOTIFICATION/error lines, first {notes[0][-160:]!r}")
    res = Result(kind, secs if complete else None, rate, peak, after, not why, (v4, v6), cpu_s=cpu)
    if kind == "anycastd":
        nb = ((recv.daemon.status() or {}).get("neighbors") or [{}])[0]
        res.final = f"{nb.get('established_count')} {nb.get('flaps')} {nb.get('state')}"
        if res.final != "1 0 Established":
            res.stable, _ = False, why.append(f"anycastd: established_count/flaps/state {res.final}")
        # Since Established: before it, a feeder whose session is still shut down refuses
        # anycastd's connections (BIRD: RST; bgpd, gobgpd: accept and close).
        res.warn_lines = [line for _, line in recv.daemon.lines(r" (WARN|ERROR) ", t_est)
                          if "Connection refused" not in line]
        res.warns = len(res.warn_lines) + recv.daemon.count("panicked")
    if why:
        log(f"{kind}: unstable: {'; '.join(why)}")
    recv.stop()
    feeder.admin_down(plan.NODEA.addr4)
    if fast:
        sent = feeder.event("sent") or {}
        if sent:
            res.wire_s, res.updates = f"{(sent['epoch_us'] - t_est) / 1e6:.2f}", str(sent["updates"])
            if complete:
                res.lag_s = f"{secs - float(res.wire_s):.2f}"
            log(f"{kind}: fast feeder wrote {sent['bytes']} octets ({sent['updates']} UPDATEs) in {sent['secs']:.3f} s "
                f"after Established: {sent['bytes_per_s'] / 2**20:.0f} MiB/s, {sent['prefixes_per_s']:.0f} prefixes/s")
        log(f"{kind}: fast feeder: {json.dumps(feeder.event('closed') or feeder.event('failed'))}")
        return res
    pcap = cap.stop()
    eor = run([PYTHON, HPY, "pcap-eor", str(pcap), plan.RTR_LAN4, plan.NODEA.addr4], timeout=120).stdout.split("\n")
    rows = sorted((line.split() for line in eor if line.strip()), key=lambda r: float(r[3]))
    if rows:
        _, e4, e6, res.updates, gaps = rows[-1][:5]
        if float(e4) and float(e6):
            res.wire_s = f"{max(float(e4), float(e6)) - t_est / 1e6:.2f}"
            if complete:
                res.lag_s = f"{secs - float(res.wire_s):.2f}"
        log(f"{kind}: feeder sent {res.updates} UPDATEs; its last End-of-RIB {res.wire_s} s after Established (gaps {gaps})")
    if not lab.keep:
        pcap.unlink(missing_ok=True)
    wait_until(lambda: not feeder.established(plan.NODEA.addr4), 5)
    return res


def report(lab: Lab, o: Options, results: list[Result]) -> str:
    res = lab.path("results.tsv")
    head = "receiver\teor_s\trate\tpeak_mib\tafter_mib\tstable\tcounted\twire_s\tlag_s\tupdates\tcpu_s\n"
    res.write_text(head + "".join(
        f"{r.receiver}\t{f'{r.done_s:.2f}' if r.done_s is not None else f'> {o.timeout} (timeout)'}\t{r.rate}\t"
        f"{r.peak_kb / 1024:.1f}\t{r.after_kb / 1024:.1f}\t{'yes' if r.stable else 'no'}\t{r.counted[0]}/{r.counted[1]}\t"
        f"{r.wire_s}\t{r.lag_s}\t{r.updates}\t{r.cpu_s:.2f}\n" for r in results))
    return run([PYTHON, HPY, "report", str(res)]).stdout


def bench(lab: Lab, o: Options, checks: Checks) -> list[Result]:
    """The whole benchmark in an up lab; checks recorded in `checks`."""
    feeder = FEEDER[o.feeder if o.feeder == "fast" else kind_of(o.feeder)](lab, o)
    feeder.start()
    results = [run_receiver(lab, feeder.router, o, r) for r in o.receivers]
    packing = {"bird": f"about {o.group} per UPDATE", "fast": "1-8 per UPDATE, the decode corpus, at socket speed"}.get(
        o.feeder, f"{o.feeder}'s own UPDATE packing")
    print(f"\nbench-full-table: {o.feeder} feeder -> {o.v4} IPv4 + {o.v6} IPv6 prefixes ({packing}), "
          f"hold 9 s, no MD5; {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}; {len(__import__('os').sched_getaffinity(0))} cores")
    print(report(lab, o, results))
    acd = next((r for r in results if r.receiver == "anycastd"), None)
    if acd:
        checks.check(f"anycastd counted all {o.v4} + {o.v6} prefixes within {o.timeout} s", acd.done_s is not None,
                     f"{acd.done_s:.2f} s" if acd.done_s is not None else f"timeout at {acd.counted}")
        checks.check("anycastd session stable (established_count/flaps/state; feeder: same session, no NOTIFICATION)",
                     acd.stable, acd.final)
        checks.check(f"anycastd peak RSS < {o.rss_limit_mib} MiB", acd.peak_kb < o.rss_limit_mib * 1024,
                     f"{acd.peak_kb / 1024:.1f} MiB")
        checks.check("WARN/ERROR lines in anycastd's log during the flood: none", acd.warns == 0,
                     f"{acd.warns}: {acd.warn_lines[:2]}" if acd.warns else "0")
        for r in results:
            if r is acd or r.done_s is None:
                continue
            # Not slower in absolute time, or (the feeder's rate differs from phase to phase)
            # in what it adds after the feeder's last End-of-RIB (lag); 0.2 s = poll resolution.
            faster = acd.done_s is not None and (acd.done_s <= r.done_s + 0.2 or (
                acd.lag_s != "-" and r.lag_s != "-" and float(acd.lag_s) <= float(r.lag_s) + 0.2))
            checks.check(f"anycastd not slower than {r.receiver}", faster,
                         f"{acd.done_s} vs {r.done_s:.2f} s to End-of-RIB, lag {acd.lag_s} vs {r.lag_s} s")
    return results
