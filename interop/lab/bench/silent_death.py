"""Silent node death benchmark (interop/bench-silent-death.sh): how long the router keeps
sending the anycast traffic to a primary that died without a word, per speaker
configuration (BFD 50 ms × 3, BGP hold 9 or 3 s, ExaBGP) and per kind of death.

  client                       (not used: the measure is the router's FIB)
     │
   rtr: BIRD 2 (or FRR 8.4 + bfdd with --router frr), AS 65000, BFD 50 ms × 3 towards both
     │  nodes (a node without BFD: the router's session stays Down, BGP unaffected);
     │  ip -ts monitor route (T0 → the FIB route for 203.0.113.124 via nodeb)
   nodea0 ──── br0 ──── nodeb0
     │                    │
  nodea 192.0.2.11         nodeb 192.0.2.12: anycastd, role file "standby", standby
  the speaker under test   "prepend" (3), BFD 50 ms × 3 when anycastd has BFD; never touched
  (one configuration at a time): anycastd BFD 50×3 (hold 9) | anycastd hold 9 | hold 3 |
  ExaBGP 4 hold 9 | hold 3 (no BFD), announcing 203.0.113.124/32

Faults (each preceded by a random pause: the phase of the fault against the keepalive or
BFD schedule is uniform), T0 = just before the action (µs clock):
  link      nodea's bridge-side port (nodea0 in rtr) down: the router's br0 stays up, so
            only the hold timer or BFD can tell. Restore: port up.
  stop      the speaker SIGSTOPped (a hung daemon: its sockets stay open, the kernel keeps
            ACKing). Restore: SIGCONT.
  poweroff  nodea0 down, then every process in nodea's namespace SIGKILLed by PID (`ip netns
            pids`; port first, so the kernel's FIN/RST of the dead sockets never reaches the
            router, as with a real power loss). Restore: port up, the speaker started again.
Measured: T0 → the first FIB change of 203.0.113.124 via nodeb in rtr (`ip -ts monitor
route`); the router's own reason (BIRD: Last error; FRR: lastResetDueTo). After each trial the
fault is undone and the benchmark waits (bounded) until the session, BFD when configured and
the FIB via nodea are back. Every wait and loop is bounded; the whole run has a time budget.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from .. import kernel, plan
from ..clock import now_us, parse_iso_us, wait_until
from ..drivers import Bfd, make_router, router_config
from ..drivers.anycastd import Anycastd, AnycastdConfig
from ..drivers.exabgp import Exabgp, ExabgpConfig
from ..fixtures import PYTHON
from ..proc import run, signal_and_wait
from ..topology import Lab, log

A4 = plan.ANYCAST4
NODEA, NODEB = plan.NODEA, plan.NODEB
BFD = Bfd(50, 3)
FAULTS = ("link", "stop", "poweroff")


@dataclass(frozen=True)
class Speaker:
    """One configuration of nodea's speaker."""

    name: str
    kind: str            # anycastd | exabgp
    hold: int
    bfd: Bfd | None = None

    @property
    def label(self) -> str:
        what = "anycastd" if self.kind == "anycastd" else "ExaBGP"
        return f"{what} " + (f"BFD {self.bfd.interval_ms}×{self.bfd.multiplier} (hold {self.hold})"
                             if self.bfd else f"no BFD, hold {self.hold}")


SPEAKERS = {s.name: s for s in (
    Speaker("bfd", "anycastd", 9, BFD), Speaker("hold9", "anycastd", 9), Speaker("hold3", "anycastd", 3),
    Speaker("exabgp9", "exabgp", 9), Speaker("exabgp3", "exabgp", 3))}
DEFAULT = {"bird": ("bfd", "hold9", "hold3", "exabgp9", "exabgp3"), "frr": ("bfd", "hold3")}
DEFAULT_FAULTS = {"bird": FAULTS, "frr": ("link",)}


def parse(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="bench-silent-death.sh", description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=20, help="trials per (configuration, fault) (1..100)")
    ap.add_argument("--quick", action="store_true", help="3 trials each")
    ap.add_argument("--router", choices=("bird", "frr"), default="bird")
    ap.add_argument("--configs", help=f"comma-separated, of {','.join(SPEAKERS)} (default: bird "
                    f"{','.join(DEFAULT['bird'])}; frr {','.join(DEFAULT['frr'])})")
    ap.add_argument("--faults", help=f"comma-separated, of {','.join(FAULTS)} (default: bird all; frr link)")
    ap.add_argument("--budget", type=int, default=75 * 60, help="time budget of the whole run, s (default 4500)")
    ap.add_argument("--out", help="directory for trials.tsv and table.md (default: printed only)")
    a = ap.parse_args(argv)
    if a.quick:
        a.runs = 3
    if not 1 <= a.runs <= 100:
        ap.error("--runs needs a number 1..100")
    a.configs = a.configs.split(",") if a.configs else list(DEFAULT[a.router])
    a.faults = a.faults.split(",") if a.faults else list(DEFAULT_FAULTS[a.router])
    for c in a.configs:
        if c not in SPEAKERS:
            ap.error(f"unknown configuration {c!r}")
    for f in a.faults:
        if f not in FAULTS:
            ap.error(f"unknown fault {f!r}")
    return a


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    s = sorted(values)
    k = max(1, min(len(s), -(-len(s) * p // 100)))
    return s[int(k) - 1]


@dataclass
class Trial:
    config: str
    fault: str
    n: int
    t0_us: int
    fib_us: int | None
    reason: str
    detect_us: int | None = None  # the router's log: the session with nodea ended

    @property
    def ms(self) -> float | None:
        return None if self.fib_us is None else (self.fib_us - self.t0_us) / 1000

    @property
    def detect_ms(self) -> float | None:
        return None if self.detect_us is None else (self.detect_us - self.t0_us) / 1000


class Bench:
    def __init__(self, lab: Lab, a: argparse.Namespace) -> None:
        self.lab, self.a = lab, a
        self.t_start = time.monotonic()
        self.router = make_router(a.router, lab, router_config(nodes=plan.NODES, bfd=BFD))
        self.monitor: kernel.RouteMonitor | None = None
        self.trials: list[Trial] = []
        self.speaker = None       # the running nodea speaker (Anycastd | Exabgp)
        self.cfg: Speaker | None = None
        self.skipped: list[str] = []
        self.has_bfd = False

    # ---- state ---------------------------------------------------------------------
    def fib_via(self, node: plan.Node) -> bool:
        return kernel.fib_nexthops(self.lab, A4) == [node.addr4]

    def nodea_ready(self) -> bool:
        ok = self.router.established(NODEA.addr4) and self.fib_via(NODEA)
        if ok and self.cfg and self.cfg.bfd:
            ok = self.router.bfd_up(NODEA.addr4)
        return ok

    def reason(self) -> str:
        """The router's own account of why the session with nodea ended."""
        if self.router.kind == "bird":
            m = re.search(r"Last error:\s+(.*)$", self.router.protocol(NODEA.addr4), re.M)
            return m.group(1).strip() if m else ""
        n = self.router._neighbor(NODEA.addr4)
        return ": ".join(x for x in (n.get("lastResetDueTo"), n.get("lastNotificationReason")) if x)

    def detected_us(self, t0: int) -> int | None:
        """The router's log: when it ended the session with nodea after t0 (ms resolution).
        BIRD: `nodea: State changed to stop`; bgpd: `%ADJCHANGE: neighbor 192.0.2.11… Down`."""
        bird = self.router.kind == "bird"
        for line in self.router.log_text().splitlines():
            if (" nodea: State changed to stop" in line) if bird else \
                    ("%ADJCHANGE" in line and f"neighbor {NODEA.addr4}(" in line and " Down " in line):
                us = parse_iso_us(line[:23].replace("/", "-"), local=True)
                if us is not None and us >= t0 - 1000:
                    return us
        return None

    def over_budget(self) -> bool:
        return time.monotonic() - self.t_start > self.a.budget

    # ---- speakers ------------------------------------------------------------------
    def anycastd_supports_bfd(self) -> bool:
        probe = Anycastd(self.lab, AnycastdConfig(NODEA, bfd=BFD), conf_name="anycastd-bfd-probe.toml")
        rc, out = probe.check_config()
        if rc != 0:
            log(f"this anycastd refuses `bfd` ({out.strip()[:200]}): BFD configurations skipped, nodeb without BFD")
        return rc == 0

    def start_nodeb(self) -> Anycastd:
        b = Anycastd(self.lab, AnycastdConfig(NODEB, prefixes=(plan.PREFIX4,), standby="prepend", prepend=3,
                                              role="file", bfd=BFD if self.has_bfd else None))
        b.role_file.write_text("standby\n")
        b.start()
        if not wait_until(lambda: self.router.established(NODEB.addr4) and
                          self.router.peer_counts(NODEB.addr4, "ipv4") == (1, 0), 20):
            raise RuntimeError(f"nodeb: no session or no route at the router: {b.log()[-400:]}")
        return b

    def start_speaker(self) -> None:
        c = self.cfg
        if c.kind == "anycastd":
            self.speaker = Anycastd(self.lab, AnycastdConfig(NODEA, prefixes=(plan.PREFIX4,), hold=c.hold, bfd=c.bfd),
                                    conf_name=f"anycastd-nodea-{c.name}.toml")
        else:
            self.speaker = Exabgp(self.lab, ExabgpConfig(NODEA, hold=c.hold, routes=(plan.PREFIX4,)),
                                  name=f"exabgp-{c.name}")
        self.speaker.start()

    def stop_speaker(self) -> None:
        if self.speaker and self.speaker.proc:
            self.speaker.proc.signal(signal.SIGCONT)
            self.speaker.stop()
        self.speaker = None

    # ---- faults --------------------------------------------------------------------
    def port(self, up: bool) -> None:
        self.lab.ip("rtr", f"link set {NODEA.port} {'up' if up else 'down'}")

    def fault(self, kind: str) -> None:
        if kind == "link":
            self.port(False)
        elif kind == "stop":
            os.kill(self.speaker.proc.pid, signal.SIGSTOP)
        else:
            self.port(False)
            pids = [int(p) for p in run(["ip", "netns", "pids", self.lab.ns(NODEA.name)], timeout=5).stdout.split()]
            for pid in pids:
                if pid != os.getpid():
                    signal_and_wait(pid, signal.SIGKILL, 2)

    def restore(self, kind: str) -> None:
        if kind == "link":
            self.port(True)
        elif kind == "stop":
            os.kill(self.speaker.proc.pid, signal.SIGCONT)
        else:
            self.lab.stop(self.speaker.proc, signal.SIGKILL, 1)  # dead already: reaped
            self.port(True)
            self.start_speaker()

    # ---- the trials ----------------------------------------------------------------
    def trial(self, fault: str, n: int) -> Trial | None:
        c = self.cfg
        keepalive = max(1, c.hold // 3)
        # the fault's phase: uniform over a BFD interval, or over a keepalive interval
        time.sleep(0.2 + random.random() * ((c.bfd.interval_ms / 1000) if c.bfd else keepalive))
        t0 = now_us()
        self.fault(fault)
        moved = wait_until(lambda: self.fib_via(NODEB), c.hold + 5, 0.02)
        fib_us = self.monitor.route_us(A4, via=NODEB.addr4, since_us=t0)
        if moved and fib_us is None:  # the monitor's line may lag the FIB a little
            wait_until(lambda: self.monitor.route_us(A4, via=NODEB.addr4, since_us=t0), 1, 0.02)
            fib_us = self.monitor.route_us(A4, via=NODEB.addr4, since_us=t0)
        reason = self.reason()
        self.restore(fault)
        t = Trial(c.name, fault, n, t0, fib_us if moved else None, reason, self.detected_us(t0))
        log(f"{c.name} {fault} #{n}: " + (f"FIB via nodeb {t.ms:.1f} ms after T0" if t.ms is not None
                                         else f"FIB not via nodeb within {c.hold + 5} s")
            + (f" (router ended the session at {t.detect_ms:.0f} ms)" if t.detect_ms is not None else "")
            + f"; router: {reason!r}")
        back = wait_until(self.nodea_ready, 45, 0.1)
        if not back:
            log(f"{c.name} {fault} #{n}: nodea not back within 45 s (state {self.router.state(NODEA.addr4)}, "
                f"BFD {self.router.bfd_state(NODEA.addr4)!r}); restarting its speaker")
            self.stop_speaker()
            self.start_speaker()
            if not wait_until(self.nodea_ready, 45, 0.1):
                raise RuntimeError(f"{c.name}: nodea does not come back after {fault}")
        return t

    def run_config(self, c: Speaker) -> None:
        if c.bfd and not self.has_bfd:
            self.skipped.append(f"{c.name} ({c.label}): this anycastd has no BFD")
            return
        self.cfg = c
        log(f"=== {c.label}")
        self.start_speaker()
        if not wait_until(self.nodea_ready, 40, 0.1):
            raise RuntimeError(f"{c.name}: nodea's session/FIB not up within 40 s: {self.router.state(NODEA.addr4)}")
        for fault in self.a.faults:
            ok = attempts = 0
            while ok < self.a.runs and attempts < self.a.runs + 3:
                attempts += 1
                if self.over_budget():
                    self.skipped.append(f"{c.name} {fault}: time budget of {self.a.budget} s used up after {ok}")
                    break
                t = self.trial(fault, attempts)
                self.trials.append(t)
                ok += t.ms is not None
        self.stop_speaker()
        wait_until(lambda: self.fib_via(NODEB), 15)

    # ---- the report ----------------------------------------------------------------
    def table(self) -> str:
        lines = ["| nodea's speaker | fault | n | p50 ms | p99 ms | max ms | min ms | session ended p50 / max ms "
                 "| router's reason |", "|---|---|---|---|---|---|---|---|---|"]
        for name in self.a.configs:
            for fault in self.a.faults:
                ts = [t for t in self.trials if t.config == name and t.fault == fault]
                if not ts:
                    continue
                v = [t.ms for t in ts if t.ms is not None]
                missed = len(ts) - len(v)
                reasons = sorted({t.reason for t in ts if t.reason})
                cells = (f"{percentile(v, 50):.1f} | {percentile(v, 99):.1f} | {max(v):.1f} | {min(v):.1f}"
                         if v else "— | — | — | —")
                d = [t.detect_ms for t in ts if t.detect_ms is not None]
                cells += f" | {percentile(d, 50):.0f} / {max(d):.0f}" if d else " | —"
                lines.append(f"| {SPEAKERS[name].label} | {fault} | {len(v)}" + (f" (+{missed} missed)" if missed else "")
                             + f" | {cells} | {'; '.join(reasons)} |")
        return "\n".join(lines)

    def run(self) -> int:
        if any(SPEAKERS[c].kind == "exabgp" for c in self.a.configs) and \
                run([PYTHON, "-c", "import exabgp"]).returncode != 0:
            raise RuntimeError(f"{PYTHON} cannot import exabgp: apt-get install exabgp python3-exabgp")
        self.has_bfd = self.anycastd_supports_bfd()
        self.router.start()
        self.monitor = kernel.RouteMonitor.start(self.lab)
        b = self.start_nodeb()
        for name in self.a.configs:
            if self.over_budget():
                self.skipped.append(f"{name}: time budget used up")
                continue
            self.run_config(SPEAKERS[name])
        head = (f"bench-silent-death: router {self.router.kind} ({self.router.version()}), BFD "
                f"{BFD.interval_ms} ms × {BFD.multiplier} on the router towards both nodes; nodeb "
                f"{'with' if self.has_bfd else 'without'} BFD; {self.a.runs} trials per cell; T0 → rtr FIB "
                f"{A4} via nodeb; {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}; {os.cpu_count()} cores, "
                f"load {os.getloadavg()[0]:.2f}; took {time.monotonic() - self.t_start:.0f} s")
        text = head + "\n\n" + self.table() + "\n"
        if self.skipped:
            text += "\n" + "\n".join(f"- skipped: {s}" for s in self.skipped) + "\n"
        text += f"\nnodeb sessions established: {b.count('session established')} (1 = never flapped)\n"
        print("\n" + text, flush=True)
        tsv = "config\tfault\ttrial\tt0_us\tfib_us\tms\tsession_ended_ms\treason\n" + "".join(
            f"{t.config}\t{t.fault}\t{t.n}\t{t.t0_us}\t{t.fib_us or ''}\t{'' if t.ms is None else f'{t.ms:.3f}'}\t"
            f"{'' if t.detect_ms is None else f'{t.detect_ms:.0f}'}\t{t.reason}\n" for t in self.trials)
        self.lab.path("trials.tsv").write_text(tsv)
        if self.a.out:
            out = Path(self.a.out)
            out.mkdir(parents=True, exist_ok=True)
            (out / "trials.tsv").write_text(tsv)
            (out / "table.md").write_text(text)
            log(f"wrote {out}/trials.tsv and table.md")
        missed = [t for t in self.trials if t.ms is None]
        return 1 if missed or not self.trials else 0
