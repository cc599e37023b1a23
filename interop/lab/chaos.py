"""The chaos suite (issue 12, item 6): two nodes, each anycastd + keepalived (real VRRPv3 on
the node LAN), a router with BFD, a client pinging the anycast address every 10 ms, and a
seeded, bounded random sequence of faults, each followed by its recovery and a bounded wait
until the system has converged. A checker evaluates the HA invariant per fault: the route is
at the router iff some node is the healthy primary, it goes within a bound derived from the
configured timers when that stops, and two equally preferred paths are never there at once.

  client 198.51.100.10: ping -D -i 0.01 203.0.113.124 (bounded count, restarted per segment)
       │ client0
     rtr: BIRD 2 or FRR 8.4 (--router), AS 65000, BFD 50 ms × 3 with both nodes;
       │  `ip -ts monitor route` (exact FIB change times); path sampler (router's paths for
       │  203.0.113.124: peer, MED, AS path length, best; every ~25 ms, FRR: as fast as vtysh)
   nodea0 ──── br0 (node LAN; VRRP multicast) ──── nodeb0
     │                                               │
  nodea 192.0.2.11                               nodeb 192.0.2.12
  keepalived VRRPv3 vrid 124 prio 150, advert    keepalived prio 100; both nopreempt
  0.1 s; track_file (anycastd's track file);     anycastd: role keepalived, standby withdraw,
  vrrp_script `anycastd check --quiet` (1 s);    file check `flag` (100 ms, fall 1, rise 2),
  vrrp_notify_fifo → `anycastd notify-fifo`      BFD 50×3, preference 200 (nodea) / 100
  (when this anycastd has them; else notify)     (nodeb) → MED 55 / 155, vrid 124, boot id file

Faults (FAULT_KINDS; target = the MASTER or the BACKUP at the time, chosen by the seed):
  check       the node's flag file removed; recovery: restored
  kill        SIGKILL anycastd; recovery: started again (as systemd would)
  stop        SIGSTOP anycastd for ~1 s, then SIGCONT
  kakill      SIGKILL every keepalived process (by PID from its pid files); recovery: started
  vrrp-sym    VRRP (IP protocol 112) dropped arriving in both nodes (split brain); healed
  vrrp-asym   VRRP dropped arriving in the target only; healed
  link        the node's bridge port (nodeX0 in rtr) down; recovery: up
  router      the router restarted (SIGTERM, start)
  reload      `anycastd reload` with a changed check interval (100 ↔ 150 ms)
  drain       `anycastd drain 0`; recovery: `undrain`
  poweroff    the node's port down first (no FIN/RST reaches the router), every process of the
              node SIGKILLed by PID; boot: /run cleared (pid files, track file), a new boot id,
              port up, anycastd then keepalived started (the persisted role file stays)

Bounds (Timers.bounds; the derivation is in BOUNDS_DOC and the results file): per fault the
failing node's path gone (FIB monitor), the outage (longest client reply gap − 10 ms), and
zero overlap of two preferred paths (two paths with equal AS path length and MED, or two FIB
next hops). A fault that does not converge within its timeout is a violation too.

Every loop and wait is bounded (fault count, per-fault timeouts, a total budget); results
(table + raw event log) are written every 100 faults and at the end.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import signal
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import ha, kernel, plan
from .bench.procstat import fd_count, rss_kb
from .clock import now_us, parse_iso_us, wait_until
from .drivers import Bfd, make_router, router_config
from .drivers.anycastd import Anycastd, AnycastdConfig
from .drivers.keepalived import Keepalived, vrrp_block, vrrp_unblock
from .drivers.router import Router
from .proc import Proc, run, signal_and_wait
from .sampler import run_periodic
from .topology import Lab, log

A4 = plan.ANYCAST4
NODES = plan.NODES
FAULT_KINDS = ("check", "kill", "stop", "kakill", "vrrp-sym", "vrrp-asym", "link", "router", "reload",
               "drain", "poweroff")
TARGETED = {"check", "kill", "stop", "kakill", "vrrp-asym", "link", "drain", "poweroff", "reload"}
PRIORITY = ha.PRIORITY
#: the router's UPDATE / BFD Down → FIB latency beyond BIRD's, added to every bound: FRR's
#: bgpd → zebra → kernel (results/silent-death.md: link cut p99 220 ms against BIRD's 154 ms
#: with the same 150 ms detection)
ROUTER_LAG_MS = {"bird": 0, "frr": 80}
REPO = Path(__file__).resolve().parents[2]


# ---- timers and bounds ------------------------------------------------------------------
@dataclass(frozen=True)
class Timers:
    advert_int_ms: int = 100      # keepalived advert_int
    script_interval_ms: int = 1000  # vrrp_script interval (keepalived: whole seconds)
    script_timeout_ms: int = 1000
    check_interval_ms: int = 100  # anycastd's file check
    check_fall: int = 1
    bfd: Bfd = Bfd(50, 3)
    connect_retry_ms: int = 2000  # anycastd's connect_retry
    slack_ms: int = 120           # processing (notify fork/exec, CLI, UPDATE, FIB) 100 + ping 2 × 10
    router_lag_ms: int = 0        # the router's own UPDATE/BFD → FIB latency beyond BIRD's (FRR: 80)

    @property
    def skew_ms(self) -> float:
        """RFC 5798 §6.1 Skew_Time of the BACKUP with the lowest priority (100)."""
        return (256 - min(PRIORITY.values())) * self.advert_int_ms / 256

    @property
    def master_down_ms(self) -> float:
        """RFC 5798 §6.1 Master_Down_Interval: 3 × advert + skew."""
        return 3 * self.advert_int_ms + self.skew_ms

    def bounds(self, kind: str, target: str) -> tuple[float | None, float]:
        """(the failing node's path gone after the fault, ms or None; the outage, ms)."""
        s, md, lag = self.slack_ms + self.router_lag_ms, self.master_down_ms, self.router_lag_ms
        bfd = self.bfd.detection_us / 1000
        if target == "backup" or kind in ("vrrp-sym", "vrrp-asym", "reload"):
            return None, s  # nothing has to move: the client must not notice
        gone, outage = {
            "check": (self.check_interval_ms * self.check_fall + 10, self.check_interval_ms * self.check_fall + md),
            "kill": (50, self.script_interval_ms + md),
            "stop": (bfd + 50, self.script_interval_ms + self.script_timeout_ms + md),
            "kakill": (self.advert_int_ms + 10, md),
            "link": (bfd + 50, max(bfd, md)),
            "drain": (50, md),
            "poweroff": (bfd + 50, max(bfd, md)),
            "router": (None, self.connect_retry_ms + 2000 + 250 + md),
        }[kind]
        return (None if gone is None else gone + lag), outage + s


BOUNDS_DOC = """\
Bounds, from the configured timers (advert_int A = 100 ms, the lowest BACKUP priority 100 →
Skew_Time (256 − 100) × A / 256 = 61 ms, Master_Down_Interval MD = 3 A + skew = 361 ms (RFC 5798
§6.1); vrrp_script interval 1 s (keepalived takes whole seconds), timeout 1 s, fall 1; anycastd
file check 100 ms × fall 1; BFD 50 ms × 3 = 150 ms detection; connect_retry 2 s; slack S = 120 ms
= 100 ms processing (notify fork/exec, CLI, UPDATE, FIB) + 2 ping intervals):
| fault (on the MASTER) | path gone ≤ | outage ≤ | why |
|---|---|---|---|
| check | 100 + 10 = 110 ms | 100 + MD + S = 581 ms | the check sees it; track file → FAULT; the peer after at most MD |
| kill | 50 ms (TCP reset) | 1000 + MD + S = 1481 ms | vrrp_script `check --quiet` fails at its next run; the peer after MD |
| stop | 150 + 50 = 200 ms (BFD) | 1000 + 1000 + MD + S = 2481 ms | the script's next run times out (1 s) |
| kakill | A + 10 = 110 ms | MD + S = 481 ms | liveness watch; the peer's Master_Down timer |
| link | 200 ms (BFD) | max(BFD, MD) + S = 481 ms | the peer stops hearing adverts at the same moment |
| drain | 50 ms | MD + S = 481 ms | drain 0 withdraws at once; track file → FAULT |
| poweroff | 200 ms (BFD) | max(BFD, MD) + S = 481 ms | as link |
| router | — | 2000 + 2000 + 250 + MD + S = 4731 ms | reconnect (connect_retry), BFD Up (slow start 1 s packets), BGP 250 ms after BFD Up, track → FAULT → MD |
| any fault on the BACKUP, vrrp-sym, vrrp-asym, reload | — | S = 120 ms | nothing has to move |
With FRR as the router every bound above gets + 80 ms (bgpd → zebra → kernel after the same
detection: results/silent-death.md, link cut p99 220 ms against BIRD's 154 ms); S then is 200 ms.
Overlap (two preferred paths: equal AS path length and MED, or two FIB next hops): 0 ms for every
fault; the router's best path not the most preferred one for longer than its own RIB lag (BIRD
0 ms, FRR 150 ms; at least two samples) is a violation too. A path from a node whose keepalived had not been MASTER at any time in the last S ms is a
violation ("announcer not MASTER"). Convergence (exactly one MASTER and one BACKUP, both sessions
Established and the router's BFD Up with both, only the MASTER advertising, best path and FIB via
it, pings answered) within 15 s
(router, poweroff: 25 s) after the recovery, else a violation."""


# ---- observers ---------------------------------------------------------------------------
class TailReader:
    """The new lines of a growing log file since the last call (bounded read per call)."""

    def __init__(self, path: Path) -> None:
        self.path, self.pos, self.rest = path, 0, ""

    def new_lines(self) -> list[str]:
        try:
            with open(self.path, "r", errors="replace") as f:
                f.seek(self.pos)
                data = f.read(64 << 20)
                self.pos = f.tell()
        except OSError:
            return []
        data = self.rest + data
        lines = data.split("\n")
        self.rest = lines.pop()
        return lines


class Pinger:
    """The client's ping (-D -i 0.01), restarted whenever its bounded count ran out; keeps
    the reply times (epoch µs)."""

    def __init__(self, lab: Lab, count: int) -> None:
        self.lab, self.count = lab, count
        self.replies: list[int] = []
        self.proc: Proc | None = None
        self.readers: list[TailReader] = []
        self.n = 0
        self.until = 0.0

    def ensure(self) -> None:
        """A new ping a minute before the current one's count runs out (they overlap, so the
        replies have no seam)."""
        if self.proc is None or not self.proc.alive() or time.monotonic() > self.until - 60:
            self.n += 1
            self.proc = self.lab.spawn("client", f"ping{self.n}", ["ping", "-D", "-n", "-i", "0.01", "-c",
                                                                  str(self.count), "-W", "1", A4],
                                       log_name=f"ping{self.n}.log")
            self.until = time.monotonic() + self.count * 0.01
            self.readers.append(TailReader(self.proc.log))

    def poll(self) -> None:
        new = []
        for r in self.readers:
            for line in r.new_lines():
                m = re.match(r"^\[(\d+)\.(\d+)\].*bytes from", line)
                if m:
                    new.append(int(m.group(1)) * 1_000_000 + int(m.group(2).ljust(6, "0")[:6]))
        self.replies += sorted(new)
        if len(self.readers) > 2:
            self.readers = self.readers[-2:]

    def last_reply_us(self) -> int:
        self.poll()
        return self.replies[-1] if self.replies else 0

    def stop(self) -> None:
        if self.proc:
            self.lab.stop(self.proc, signal.SIGINT, 2)


class Fib:
    """rtr's FIB for 203.0.113.124 over time, from `ip -ts monitor route` (exact times)."""

    def __init__(self, lab: Lab) -> None:
        self.monitor = kernel.RouteMonitor.start(lab)
        self.reader = TailReader(self.monitor.proc.log)
        time.sleep(0.2)  # the monitor listens before the initial state is read: no change falls between
        self.timeline: list[tuple[int, tuple[str, ...]]] = [(now_us(), tuple(kernel.fib_nexthops(lab, A4)))]
        self._event: tuple[int, bool, list[str]] | None = None

    def poll(self) -> None:
        for line in self.reader.new_lines():
            m = re.match(r"^\[([^\]]+)\] ?(.*)$", line)
            if m:
                self._flush()
                us, text = parse_iso_us(m.group(1), local=True), m.group(2)
                deleted = text.startswith("Deleted ")
                text = text.removeprefix("Deleted ")
                if us is not None and (text.startswith(A4 + " ") or text == A4):
                    self._event = (us, deleted, re.findall(r"via ([0-9.]+)", text))
            elif self._event and "nexthop" in line:
                self._event[2].extend(re.findall(r"via ([0-9.]+)", line))
        self._flush()

    def _flush(self) -> None:
        if not self._event:
            return
        us, deleted, hops = self._event
        self._event = None
        cur = self.timeline[-1][1]
        new = tuple(h for h in cur if h not in hops) if deleted else tuple(hops)
        self.timeline.append((us, new))

    def at(self, us: int) -> tuple[str, ...]:
        cur = self.timeline[0][1]
        for t, hops in self.timeline:
            if t > us:
                break
            cur = hops
        return cur

    def window(self, t0: int, t1: int) -> list[tuple[int, int, tuple[str, ...]]]:
        """(from, to, next hops) pieces covering [t0, t1]."""
        out, cur = [], self.at(t0)
        start = t0
        for t, hops in self.timeline:
            if t0 < t <= t1:
                out.append((start, t, cur))
                start, cur = t, hops
        out.append((start, t1, cur))
        return out


@dataclass(frozen=True)
class PathSample:
    t_us: int       # when the query began
    t_end_us: int   # when it answered (the paths were there at some time in between)
    paths: tuple[tuple[str, int, int, bool], ...]  # (peer, MED (-1 none), AS path length, best)


class PathSampler:
    """The router's paths for 203.0.113.124 every `interval` s (bounded by `count`)."""

    def __init__(self, router: Router, interval: float, count: int) -> None:
        self.router, self.interval, self.count = router, interval, count
        self.samples: list[PathSample] = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        run_periodic(self._stop, self.count, self.interval, self._sample)

    def _sample(self) -> None:
        t = now_us()
        try:
            ps = self.router.paths(plan.PREFIX4)
        except Exception:  # the router is restarting
            ps = []
        self.samples.append(PathSample(t, now_us(), tuple((p.peer, -1 if p.med is None else p.med, len(p.as_path),
                                                           p.best) for p in ps)))

    def between(self, t0: int, t1: int) -> list[PathSample]:
        return [s for s in self.samples if t0 <= s.t_us <= t1]

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(10)


def tied(sample: PathSample) -> bool:
    """Two paths at the router that are equally good (AS path length and MED): which one wins
    would be the router's tie-break (age, router id), not the nodes' preference."""
    keys = sorted((aslen, med) for _peer, med, aslen, _best in sample.paths)
    return len(keys) >= 2 and keys[0] == keys[1]


def wrong_best(sample: PathSample) -> bool:
    """The best path is not the most preferred one (shortest AS path, then lowest MED)."""
    if len(sample.paths) < 2:
        return False
    top = min((aslen, med) for _p, med, aslen, _b in sample.paths)
    return any(best and (aslen, med) != top for _p, med, aslen, best in sample.paths)


# ---- a fault and its evaluation ----------------------------------------------------------
@dataclass
class Fault:
    n: int
    kind: str
    target: str          # master | backup | both
    node: str            # the node it hit ('' for router / vrrp-sym)
    master_before: str
    t0_us: int = 0
    t_rec_us: int = 0
    t_conv_us: int = 0
    converged: bool = False
    path_gone_ms: float | None = None
    path_gone_bound_ms: float | None = None
    outage_ms: float = 0.0
    outage_bound_ms: float = 0.0
    fib_absent_ms: float = 0.0
    overlap_ms: float = 0.0
    two_paths_ms: float = 0.0
    wrong_best_ms: float = 0.0
    not_master_announcing: int = 0
    split_brain_warned: bool = False
    master_after: str = ""
    violations: list[str] = field(default_factory=list)


class Chaos:
    def __init__(self, lab: Lab, a: argparse.Namespace) -> None:
        self.lab, self.a = lab, a
        self.t = Timers(router_lag_ms=ROUTER_LAG_MS[a.router])
        self.rng = random.Random(a.seed)
        self.features = ha.client_features(Anycastd(lab, AnycastdConfig(plan.NODEA), "anycastd-probe.toml"))
        if a.legacy:
            self.features = {k: False for k in self.features}
        self.bfd = None if a.legacy else self.t.bfd  # 9943d7c has no BFD (its bounds then do not hold)
        self.router = make_router(a.router, lab, router_config(nodes=NODES, bfd=self.bfd))
        self.flags = {n.name: lab.path(f"{n.name}-flag") for n in NODES}
        self.acd, self.ka = ha.guarded_pair(lab, self.flags, self.t.advert_int_ms / 1000, self.bfd,
                                            features=self.features, legacy=a.legacy,
                                            connect_retry=self.t.connect_retry_ms // 1000)
        self.faults: list[Fault] = []
        self.events: list[tuple[int, str]] = []
        self.procstats: list[dict] = []
        self.status_log: list[tuple[int, str, str, int, bool]] = []
        self.t_start = time.monotonic()

    def event(self, text: str) -> None:
        self.events.append((now_us(), text))

    # ---- setup -----------------------------------------------------------------------
    def setup(self) -> None:
        self.router.start()
        for acd in self.acd.values():
            acd.start()
        for ka in self.ka.values():
            ka.start()
        self.pinger = Pinger(self.lab, 30_000)
        self.pinger.ensure()
        self.fib = Fib(self.lab)
        count = int((self.a.budget + 120) / self.a.sample_ms * 1000)
        self.sampler = PathSampler(self.router, self.a.sample_ms / 1000, count)
        self.sampler.thread.start()
        self._status_stop = threading.Event()
        self.status_thread = threading.Thread(target=self._status_run, daemon=True)
        self.status_thread.start()
        ok = self.wait_converged(30)
        self.event(f"setup: converged={bool(ok)} features={self.features}")
        if not ok:
            raise RuntimeError(f"the chaos lab did not converge at start: {self.describe()}")
        self.record_procstat("start")

    def _status_run(self) -> None:
        """Both nodes' `status --json` every 250 ms (bounded by the budget)."""
        deadline = time.monotonic() + self.a.budget + 120
        while not self._status_stop.is_set() and time.monotonic() < deadline:
            for name, acd in self.acd.items():
                r = acd.socket_cli("status", "--json", timeout=2)
                try:
                    st = json.loads(r.stdout)
                except ValueError:
                    self.status_log.append((now_us(), name, "down", 0, False))
                    continue
                warn = bool(st.get("split_brain"))  # present only while suspected
                self.status_log.append((now_us(), name, str(st.get("role")), len(st.get("advertising") or []), warn))
            self._status_stop.wait(0.25)

    # ---- state -----------------------------------------------------------------------
    def ka_state(self, name: str) -> str:
        return self.ka[name].state()

    def master(self) -> str:
        ms = [n for n in self.ka if self.ka_state(n) == "MASTER"]
        return ms[0] if len(ms) == 1 else ""

    def describe(self) -> str:
        st = {n: (self.ka_state(n), self.acd[n].alive(), (self.acd[n].status() or {}).get("role")) for n in self.acd}
        return f"ka/acd {st}; paths {self.router.paths(plan.PREFIX4) if self.router.running() else 'router down'}; " \
               f"fib {kernel.fib_nexthops(self.lab, A4)}"

    def converged(self) -> str:
        """The MASTER's name when the system is converged, else ''."""
        m = self.master()
        if not m:
            return ""
        other = next(n for n in self.ka if n != m)
        if self.ka_state(other) != "BACKUP" or not all(self.acd[n].alive() for n in self.acd):
            return ""
        node = {n.name: n for n in NODES}
        if not all(self.router.established(n.addr4) and (not self.bfd or self.router.bfd_up(n.addr4))
                   for n in NODES):
            return ""
        best = self.router.best(plan.PREFIX4)
        if not best or best.peer != node[m].addr4 or kernel.fib_nexthops(self.lab, A4) != [node[m].addr4]:
            return ""
        adv = {n: bool((json.loads(self.acd[n].socket_cli("status", "--json").stdout or "{}")).get("advertising"))
               for n in self.acd}
        if adv != {m: True, other: False}:
            return ""
        return m if now_us() - self.pinger.last_reply_us() < 100_000 else ""

    def wait_converged(self, timeout: float) -> str | None:
        return wait_until(self.converged, timeout, 0.05)

    # ---- faults ----------------------------------------------------------------------
    def schedule(self) -> list[str]:
        """Rounds of every kind in a seeded order: each kind once per round."""
        kinds = [k for k in FAULT_KINDS if k in self.a.kinds]
        out: list[str] = []
        while len(out) < self.a.faults:
            r = kinds[:]
            self.rng.shuffle(r)
            out += r
        return out[:self.a.faults]

    def run(self) -> int:
        log(f"chaos: seed {self.a.seed}, {self.a.faults} faults, router {self.a.router}, features {self.features}")
        self.setup()
        try:
            self.loop()
        finally:
            self.record_procstat("end")
            self.sampler.stop()
            self._status_stop.set()
            self.status_thread.join(5)
            self.pinger.stop()
            text = self.write(partial=False)
        print(text)
        return 1 if self.total_violations() else 0

    def loop(self) -> None:
        for i, kind in enumerate(self.schedule()):
            if time.monotonic() - self.t_start > self.a.budget:
                self.event(f"budget of {self.a.budget} s used up after {i} faults")
                log(f"chaos: budget used up after {i} faults")
                break
            self.pinger.ensure()
            self.one(i + 1, kind)
            if (i + 1) % 100 == 0:
                self.record_procstat(f"after {i + 1}")
                self.write(partial=True)

    def one(self, n: int, kind: str) -> None:
        master = self.master()
        backup = next((x for x in self.ka if x != master), "")
        target = "both" if kind in ("vrrp-sym", "router") else self.rng.choice(("master", "backup"))
        node = {"master": master, "backup": backup}.get(target, "")
        f = Fault(n, kind, target, node, master)
        if node and kind in ("stop", "link", "poweroff") and self.bfd:
            addr = {n.name: n.addr4 for n in NODES}[node]
            self.event(f"fault {n}: the router's BFD with {node}: {self.router.bfd_session(addr)}")
        time.sleep(self.rng.uniform(0, 0.2))  # the fault's phase against the timers
        f.t0_us = now_us()
        self.event(f"fault {n} {kind} {target} {node}")
        try:
            getattr(self, "do_" + kind.replace("-", "_"))(f)
        except Exception as e:  # the lab's own failure: recorded as a violation, then repaired
            f.violations.append(f"the fault's action failed: {e!s:.300}")
            self.event(f"fault {n} action failed: {e!r:.500}")
        f.t_rec_us = now_us()
        self.event(f"recovered {n}")
        conv = self.wait_converged(25 if kind in ("router", "poweroff") else 15)
        f.t_conv_us = now_us()
        f.converged = bool(conv)
        f.master_after = conv or ""
        if not conv or f.violations:
            self.event(f"not converged {n}: {self.describe()}")
            # bring it back to a known state so that one failure does not cascade
            self.repair()
        time.sleep(0.1)  # the monitor's and sampler's view of the converged state
        self.evaluate(f)
        self.faults.append(f)
        log(f"fault {n:4} {kind:9} {target:6} {node:5} outage {f.outage_ms:7.1f}/{f.outage_bound_ms:.0f} ms "
            f"gone {f.path_gone_ms if f.path_gone_ms is None else round(f.path_gone_ms, 1)} "
            f"overlap {f.overlap_ms:.0f} {'VIOLATION ' + '; '.join(f.violations) if f.violations else 'ok'}")

    def hold(self, lo: float, hi: float) -> None:
        time.sleep(self.rng.uniform(lo, hi))

    def do_check(self, f: Fault) -> None:
        self.flags[f.node].unlink(missing_ok=True)
        self.hold(0.5, 0.8)
        self.flags[f.node].touch()

    def do_kill(self, f: Fault) -> None:
        self.acd[f.node].kill()
        self.hold(0.3, 0.6)  # systemd's RestartSec
        self.acd[f.node].start()

    def do_stop(self, f: Fault) -> None:
        proc = self.acd[f.node].proc
        proc.signal(signal.SIGSTOP)
        self.hold(0.8, 1.2)
        proc.signal(signal.SIGCONT)

    def do_kakill(self, f: Fault) -> None:
        self.event(f"kakill {f.node}: pids {self.ka[f.node].kill_all()}")
        self.hold(0.4, 0.7)
        self.ka[f.node].start()

    def do_vrrp_sym(self, f: Fault) -> None:
        for n in self.ka:
            vrrp_block(self.lab, n)
        self.hold(0.8, 1.2)
        for n in self.ka:
            vrrp_unblock(self.lab, n)

    def do_vrrp_asym(self, f: Fault) -> None:
        vrrp_block(self.lab, f.node)
        self.hold(0.8, 1.2)
        vrrp_unblock(self.lab, f.node)

    def do_link(self, f: Fault) -> None:
        port = f"{f.node}0"
        self.lab.ip("rtr", f"link set {port} down")
        self.hold(0.5, 0.8)
        self.lab.ip("rtr", f"link set {port} up")

    def do_router(self, f: Fault) -> None:
        self.router.restart()

    def do_reload(self, f: Fault) -> None:
        acd = self.acd[f.node]
        check = acd.config.checks[0]
        check.interval_ms = 150 if check.interval_ms == 100 else 100
        acd.write_config()
        r = acd.socket_cli("reload")
        self.event(f"reload {f.node} check interval {check.interval_ms} ms: rc {r.returncode} {r.stdout.strip()[:120]}")

    def do_drain(self, f: Fault) -> None:
        r = self.acd[f.node].socket_cli("drain", "--seconds", "0")
        self.event(f"drain {f.node}: rc {r.returncode} {(r.stdout + r.stderr).strip()[:120]}")
        self.hold(0.5, 0.8)
        r = self.acd[f.node].socket_cli("undrain")
        self.event(f"undrain {f.node}: rc {r.returncode}")

    def do_poweroff(self, f: Fault) -> None:
        name, acd, ka = f.node, self.acd[f.node], self.ka[f.node]
        self.lab.ip("rtr", f"link set {name}0 down")
        pids = [int(p) for p in run(["ip", "netns", "pids", self.lab.ns(name)], timeout=5).stdout.split()]
        for pid in pids:
            signal_and_wait(pid, signal.SIGKILL, 2)
        acd.kill()  # reap
        ka.kill_all()
        self.event(f"poweroff {name}: SIGKILLed {pids}")
        self.hold(0.4, 0.7)
        ka.clear_run_files()
        acd.track_file.unlink(missing_ok=True)
        self.event(f"boot {name}: boot id {acd.new_boot()}")
        self.lab.ip("rtr", f"link set {name}0 up")
        acd.start()
        ka.start()

    def repair(self) -> None:
        """After a fault that did not converge: every cut healed, flags back, daemons running."""
        for n in self.ka:
            vrrp_unblock(self.lab, n)
            self.lab.ip("rtr", f"link set {n}0 up")
            self.flags[n].touch()
            self.acd[n].socket_cli("undrain")
            if not self.acd[n].alive():
                self.acd[n].start()
            if not (self.ka[n].proc and self.ka[n].proc.alive()):
                self.ka[n].start()
        if not self.router.running():
            self.router.start()
        conv = self.wait_converged(30)
        self.event(f"repair: converged={bool(conv)}")

    # ---- evaluation ------------------------------------------------------------------
    def ka_timeline(self, name: str) -> list[tuple[int, str]]:
        """keepalived's states by their time (hooks run concurrently: the log may be out of order)."""
        return sorted(self.ka[name].states())

    @staticmethod
    def was_master_within(tl: list[tuple[int, str]], t0: int, t1: int) -> bool:
        """Whether keepalived's state was MASTER at some time in [t0, t1] (the state at t0 is
        the last one reported before it)."""
        at_t0 = ""
        for us, st in tl:
            if us > t1:
                break
            if us <= t0:
                at_t0 = st
            elif st == "MASTER":
                return True
        return at_t0 == "MASTER"

    def evaluate(self, f: Fault) -> None:
        self.fib.poll()
        self.pinger.poll()
        t0, t1 = f.t0_us, f.t_conv_us
        nodes = {n.name: n for n in NODES}
        bound_gone, f.outage_bound_ms = self.t.bounds(f.kind, f.target)
        # path gone: the target was the FIB's next hop at t0 → the first FIB state without it
        if bound_gone is not None and f.node and f.target == "master" and self.fib.at(t0) != (nodes[f.node].addr4,):
            f.violations.append(f"the FIB at the fault was {self.fib.at(t0)}, not the MASTER's")
        elif bound_gone is not None and f.node:
            f.path_gone_bound_ms = bound_gone
            gone = next((t for t, hops in self.fib.timeline if t > t0 and nodes[f.node].addr4 not in hops), None)
            f.path_gone_ms = None if gone is None else (gone - t0) / 1000
            if f.path_gone_ms is None or f.path_gone_ms > bound_gone:
                f.violations.append(f"path gone {f.path_gone_ms} ms > {bound_gone:.0f} ms")
        # outage: the longest reply gap around the fault (a gap that began before t0 counts)
        rep = [t for t in self.pinger.replies if t0 - 1_000_000 <= t <= t1]
        gaps = [(b - a) for a, b in zip(rep, rep[1:]) if b >= t0]
        if rep and rep[-1] < t1:
            gaps.append(t1 - rep[-1])
        f.outage_ms = max(0.0, max(gaps, default=0) / 1000 - 10)
        if f.outage_ms > f.outage_bound_ms:
            f.violations.append(f"outage {f.outage_ms:.0f} ms > {f.outage_bound_ms:.0f} ms")
        pieces = self.fib.window(t0, t1)
        f.fib_absent_ms = max((b - a for a, b, h in pieces if not h), default=0) / 1000
        fib_multi = sum(b - a for a, b, h in pieces if len(h) > 1) / 1000
        # the sampler: tied paths, wrong best, two paths, announcers that were not MASTER
        samples = self.sampler.between(t0, t1)
        tls = {n: self.ka_timeline(n) for n in self.ka}
        by_addr = {n.addr4: n.name for n in NODES}
        overlap = two = 0
        wb_start, wb_max = None, 0.0
        for s, nxt in zip(samples, samples[1:]):
            dt = nxt.t_us - s.t_us
            if tied(s):
                overlap += dt
            if len(s.paths) >= 2:
                two += dt
            if wrong_best(s):
                wb_start = s.t_us if wb_start is None else wb_start
                wb_max = max(wb_max, (nxt.t_us - wb_start) / 1000)
            else:
                wb_start = None
            for peer, *_ in s.paths:
                name = by_addr.get(peer)
                if name == f.node and f.path_gone_bound_ms is not None and s.t_us <= t0 + f.path_gone_bound_ms * 1000:
                    continue  # the failing node's own path: judged by "path gone" (it may be cut off)
                # keepalived's state comes from the notify hook's log, which trails the FIFO
                # anycastd reads by the hook's fork/exec: a MASTER within S after counts too
                slack = (self.t.slack_ms + self.t.router_lag_ms) * 1000
                if name and not self.was_master_within(tls[name], s.t_us - slack, s.t_end_us + slack):
                    f.not_master_announcing += 1
                    if f.not_master_announcing == 1:
                        self.event(f"fault {f.n}: path from {name} at {s.t_us}, keepalived "
                                   f"{[x for x in tls[name] if x[0] <= s.t_us][-2:]}")
        f.overlap_ms = overlap / 1000 + fib_multi
        f.two_paths_ms = two / 1000
        f.wrong_best_ms = wb_max
        if f.overlap_ms > 0:
            f.violations.append(f"two preferred paths for {f.overlap_ms:.0f} ms")
        if wb_max > max(self.router.withdraw_lag_ms, self.a.sample_ms * 2):
            f.violations.append(f"best path not the preferred one for {wb_max:.0f} ms")
        if f.not_master_announcing:
            f.violations.append(f"a path from a node not MASTER in {f.not_master_announcing} samples")
        f.split_brain_warned = any(w for t, _n, _r, _a, w in self.status_log if t0 <= t <= t1)
        if not f.converged:
            f.violations.append("not converged")

    def total_violations(self) -> int:
        return sum(1 for f in self.faults if f.violations)

    def record_procstat(self, label: str) -> None:
        row = {"at": label, "t_us": now_us()}
        for n in self.acd:
            p = self.acd[n].proc
            row[f"anycastd-{n}"] = (p.pid, rss_kb(p.pid), fd_count(p.pid)) if p and p.alive() else None
            kps = self.ka[n].pids()
            row[f"keepalived-{n}"] = (kps, rss_kb(*kps), sum(fd_count(k) for k in kps)) if kps else None
        self.procstats.append(row)

    # ---- the report ------------------------------------------------------------------
    def table(self) -> str:
        rows = ["| fault | target | count | max outage ms (bound) | max path gone ms (bound) | max overlap ms "
                "| max two paths ms | violations |", "|---|---|---|---|---|---|---|---|"]
        keys = sorted({(f.kind, f.target) for f in self.faults}, key=lambda k: (FAULT_KINDS.index(k[0]), k[1]))
        for kind, target in keys:
            fs = [f for f in self.faults if (f.kind, f.target) == (kind, target)]
            gone = [f.path_gone_ms for f in fs if f.path_gone_bound_ms is not None and f.path_gone_ms is not None]
            gb = next((f.path_gone_bound_ms for f in fs if f.path_gone_bound_ms is not None), None)
            rows.append(f"| {kind} | {target} | {len(fs)} | {max(f.outage_ms for f in fs):.1f} ({fs[0].outage_bound_ms:.0f}) "
                        f"| {f'{max(gone):.1f}' if gone else '—'} ({'—' if gb is None else f'{gb:.0f}'}) "
                        f"| {max(f.overlap_ms for f in fs):.0f} | {max(f.two_paths_ms for f in fs):.0f} "
                        f"| {sum(1 for f in fs if f.violations)} |")
        fs = self.faults
        if fs:
            rows.append(f"| **all** | | {len(fs)} | {max(f.outage_ms for f in fs):.1f} | | "
                        f"{max(f.overlap_ms for f in fs):.0f} | {max(f.two_paths_ms for f in fs):.0f} "
                        f"| {self.total_violations()} |")
        return "\n".join(rows)

    def write(self, partial: bool) -> str:
        wall = time.monotonic() - self.t_start
        fs = self.faults
        per = wall / len(fs) if fs else 0
        head = [f"# chaos: {self.a.router}, seed {self.a.seed}" + (" (partial)" if partial else ""), "",
                f"Command: `sudo ANYCASTD_BIN=… interop/bench-chaos.sh --router {self.a.router} --seed {self.a.seed} "
                f"--faults {self.a.faults}`" + (" --legacy" if self.a.legacy else ""), "",
                f"anycastd: {self.acd['nodea'].version()}; features used: {self.features}; "
                f"{len(fs)} of {self.a.faults} faults in {wall:.0f} s ({per:.2f} s per fault); "
                f"path sampler every {self.a.sample_ms} ms (mean step "
                f"{self._mean_step():.1f} ms); violations: {self.total_violations()}; "
                f"faults with two preferred paths: {sum(1 for f in fs if f.overlap_ms > 0)}; "
                f"split brain suspected seen in status during {sum(f.split_brain_warned for f in fs)} faults", "",
                self.table(), "", BOUNDS_DOC, "", "## RSS (kB) and fds", "",
                "| at | " + " | ".join(k for k in self.procstats[0] if k not in ("at", "t_us")) + " |" if self.procstats else "",
                ]
        if self.procstats:
            keys = [k for k in self.procstats[0] if k not in ("at", "t_us")]
            head.append("|---" * (len(keys) + 1) + "|")
            for row in self.procstats:
                head.append(f"| {row['at']} | " + " | ".join(
                    "—" if row.get(k) is None else f"pid {row[k][0]}: {row[k][1]} kB, {row[k][2]} fds" for k in keys) + " |")
        head += ["", self.flatness(), ""]
        bad = [f for f in fs if f.violations]
        head += ["", "## Violations", ""] + ([f"- fault {f.n} {f.kind} {f.target} {f.node} (master before "
                                             f"{f.master_before}, after {f.master_after}): {'; '.join(f.violations)}"
                                             for f in bad] or ["none"])
        text = "\n".join(head) + "\n"
        out = Path(self.a.out or REPO / "interop" / "results")
        out.mkdir(parents=True, exist_ok=True)
        stem = out / f"chaos-{self.a.router}-{self.a.seed}"
        stem.with_suffix(".md").write_text(text)
        with open(stem.with_suffix(".log"), "w") as fh:
            for us, ev in self.events:
                fh.write(f"{us} {ev}\n")
            for f in fs:
                fh.write("fault " + json.dumps(asdict(f)) + "\n")
            for n in self.ka:
                for us, st in self.ka_timeline(n):
                    fh.write(f"{us} keepalived {n} {st}\n")
            for us, hops in self.fib.timeline:
                fh.write(f"{us} fib {','.join(hops) or '-'}\n")
        return text

    def flatness(self) -> str:
        """Per daemon: RSS and fd ranges over the samples, and the change over the longest-lived
        PID's samples (a restarted daemon starts afresh: only one PID's own samples compare)."""
        out = []
        for key in (k for k in (self.procstats[0] if self.procstats else {}) if k not in ("at", "t_us")):
            vals = [row[key] for row in self.procstats if row.get(key)]
            if not vals:
                continue
            by_pid: dict[str, list] = {}
            for v in vals:
                by_pid.setdefault(str(v[0]), []).append(v)
            longest = max(by_pid.values(), key=len)
            out.append(f"- {key}: RSS {min(v[1] for v in vals)}–{max(v[1] for v in vals)} kB, fds "
                       f"{min(v[2] for v in vals)}–{max(v[2] for v in vals)} over {len(vals)} samples; "
                       f"longest-lived pid {longest[0][0]} ({len(longest)} samples): RSS {longest[0][1]} → "
                       f"{longest[-1][1]} kB, fds {longest[0][2]} → {longest[-1][2]}")
        return "\n".join(out)

    def _mean_step(self) -> float:
        s = self.sampler.samples
        return (s[-1].t_us - s[0].t_us) / (len(s) - 1) / 1000 if len(s) > 1 else 0.0


def parse(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="bench-chaos.sh", description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=None, help="the fault sequence's seed (default: random, printed)")
    ap.add_argument("--faults", type=int, default=30, help="number of faults (1..5000)")
    ap.add_argument("--router", choices=("bird", "frr"), default="bird")
    ap.add_argument("--kinds", default=",".join(FAULT_KINDS), help="comma-separated fault kinds")
    ap.add_argument("--budget", type=int, default=100 * 60, help="time budget, s (default 6000)")
    ap.add_argument("--sample-ms", type=int, default=25, help="path sampler interval (default 25)")
    ap.add_argument("--legacy", action="store_true", help="no issue-12 keys and no BFD (a build as old as 9943d7c)")
    ap.add_argument("--out", help="results directory (default interop/results)")
    a = ap.parse_args(argv)
    if a.seed is None:
        a.seed = random.SystemRandom().randrange(1, 1 << 31)
    if not 1 <= a.faults <= 5000:
        ap.error("--faults needs 1..5000")
    a.kinds = a.kinds.split(",")
    for k in a.kinds:
        if k not in FAULT_KINDS:
            ap.error(f"unknown fault kind {k!r} (of {', '.join(FAULT_KINDS)})")
    return a


def main(argv: list[str], with_lab) -> int:
    a = parse(argv)
    print(f"chaos seed {a.seed}", flush=True)
    return with_lab(lambda lab, _checks: Chaos(lab, a).run())
