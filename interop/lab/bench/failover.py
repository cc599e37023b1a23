"""Failover benchmark (interop/bench-failover.sh): anycastd vs ExaBGP 4 (+ exabgp-healthcheck)
as the primary's speaker, side by side in one run and one topology.

  client ── client0 ┐  ping -D -i 0.01 203.0.113.124 (outage = longest gap between replies)
                  rtr: BIRD 2, AS 65000, MD5          ip -ts monitor route (FIB switch)
                    │ br0 192.0.2.1
    tcpdump nodea0 ─┴──── nodeb0
         │                  │
  nodea 192.0.2.11           nodeb 192.0.2.12
  speaker under test:        anycastd, role file "standby", standby = "prepend" (3):
  anycastd | ExaBGP          203.0.113.124/32 always advertised with a longer AS path,
  file/flag check 100 ms,    so BIRD fails over to it when nodea withdraws
  rise 1, fall 1

One failover: the service on nodea "dies" (203.0.113.124 removed from nodea's lo), then the
flag file is removed (the health check's input); the speaker withdraws, BIRD switches to
nodeb; then the address and the flag come back and it waits until the FIB points at nodea
again (each wait bounded). bench-failover.py computes, per failover, decision→wire,
flag→wire, client outage and router switch; plus idle RSS and CPU over an idle window.
"""

from __future__ import annotations

import argparse
import os
import random
import shlex
import shutil
import signal
import time
from pathlib import Path

from .. import kernel, plan
from ..capture import Capture, tshark
from ..clock import wait_until
from ..drivers import make_router, router_config
from ..drivers.anycastd import Anycastd, AnycastdConfig, FileCheck
from ..drivers.exabgp import ExaProcess, Exabgp, ExabgpConfig
from ..fixtures import HERE, PYTHON
from ..proc import Proc, run
from ..topology import Lab, log
from . import procstat

A4 = plan.ANYCAST4
NODEA, NODEB = plan.NODEA, plan.NODEB
WIRE_WITHDRAW = "bgp.update.withdrawn_routes.length > 0 || bgp.update.path_attribute.mp_unreach_nlri"
BUDGET_S = 9 * 60  # the whole benchmark stays < 10 min


def parse(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="bench-failover.sh", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="5 failovers per speaker, 5 s idle windows (< 2 min)")
    ap.add_argument("--runs", type=int, default=20, help="failovers per speaker (1..200; at most N+5 attempts)")
    ap.add_argument("--med", action="store_true", help="also ExaBGP's MED mode (nodeb: MED 500, no prepend)")
    a = ap.parse_args(argv)
    if not 1 <= a.runs <= 200:
        ap.error("--runs needs a number 1..200")
    a.idle_s = 10
    if a.quick:
        a.runs, a.idle_s = 5, 5
    return a


def descendants(pid: int) -> list[int]:
    """Child processes, recursively, from /proc/PID/task/*/children (by PID, never by name)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for task in Path(f"/proc/{p}/task").glob("*") if Path(f"/proc/{p}/task").exists() else []:
            try:
                kids = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                kids = []
            out += kids
            todo += kids
    return out


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
    except OSError:
        return ""


class Bench:
    def __init__(self, lab: Lab, a: argparse.Namespace) -> None:
        self.lab, self.a = lab, a
        self.t0 = time.monotonic()
        self.flag = lab.path("nodea-service.ok")
        self.router = make_router("bird", lab, router_config(nodes=plan.NODES))
        self.ping: Proc | None = None
        self.cap: Capture | None = None
        self.phase = lab.dir

    def fib_via(self, addr: str) -> bool:
        return kernel.fib_nexthops(self.lab, A4) == [addr]

    def idle_measure(self, *pids: int) -> None:
        if self.a.idle_s <= 0:
            return
        hz = os.sysconf("SC_CLK_TCK")
        s0, a0 = procstat.cpu_ticks(*pids)
        t0 = time.time()
        time.sleep(self.a.idle_s)
        s1, a1 = procstat.cpu_ticks(*pids)
        w = time.time() - t0
        line = f"{procstat.rss_kb(*pids)} {100 * (a1 - a0) / hz / w:.3f} {100 * (s1 - s0) / hz / w:.3f} {w:.3f}"
        (self.phase / "idle.tsv").write_text(line + "\n")
        log(f"idle: pids {pids}: {line} (rss_kb cpu%_with_children cpu%_self window_s)")

    def fail_service(self) -> tuple[float, float]:
        """This benchmark's failure: the address leaves nodea's lo, then the flag file goes;
        returns (service died, check input changed)."""
        t_svc = time.time()
        self.lab.ip("nodea", f"addr del {A4}/32 dev lo")
        t_rm = time.time()
        self.flag.unlink()
        return t_svc, t_rm

    def restore_service(self) -> None:
        self.lab.ip("nodea", f"addr add {A4}/32 dev lo")
        self.flag.touch()

    def failovers(self, fail=None, restore=None) -> None:
        """`runs` failovers (at most runs + 5 attempts): `fail()` -> (t_svc, t_event) does the
        failure, `restore()` undoes it (default: the address and the flag file)."""
        fail, restore = fail or self.fail_service, restore or self.restore_service
        ok = i = 0
        events = []
        while ok < self.a.runs and i < self.a.runs + 5:
            i += 1
            if time.monotonic() - self.t0 > BUDGET_S:
                log(f"time budget of {BUDGET_S} s used up; stopping after {ok} failovers")
                break
            if not wait_until(lambda: self.fib_via(NODEA.addr4), 10):
                log(f"attempt {i}: FIB not via nodea within 10 s; skipped")
                continue
            # 300-399 ms: replies before the failure, and a uniformly random phase of the
            # failure relative to the speaker's 100 ms check schedule.
            time.sleep(0.3 + random.randrange(100) / 1000)
            t_svc, t_rm = fail()
            if wait_until(lambda: self.fib_via(NODEB.addr4), 5):
                ok += 1
            else:
                log(f"attempt {i}: FIB did not move to nodeb within 5 s")
            time.sleep(0.3)  # replies from nodeb, and a late UPDATE, are captured
            events.append(f"{i} {t_svc:.6f} {t_rm:.6f} {time.time():.6f}")
            restore()
        (self.phase / "events.tsv").write_text("\n".join(events) + "\n")
        wait_until(lambda: self.fib_via(NODEA.addr4), 10) or log("FIB not back via nodea after the last failover")
        log(f"{self.phase.name}: {ok} failovers in {i} attempts")

    def phase_start(self, name: str, speaker: str, mode: str, decision: str, restore=None) -> None:
        self.phase = self.lab.path(name)
        self.phase.mkdir(exist_ok=True)
        (self.phase / "meta").write_text(f"speaker={speaker}\nmode={mode}\nneed={self.a.runs}\ndecision={decision}\n")
        (restore or self.flag.touch)()
        self.cap = Capture.start(self.lab, NODEA.port, f"{name}/bgp.pcap")

    def ping_start(self) -> None:
        # bounded by its count (15 min); phase_end stops it long before
        interval = getattr(self.a, "ping_interval", 0.01)
        self.ping = self.lab.spawn("client", f"ping-{self.phase.name}", ["ping", "-D", "-n", "-i", f"{interval:g}",
                                   "-c", str(int(900 / interval)), A4], log_name=f"{self.phase.name}/ping.log")

    def phase_end(self, wire_filter: str) -> None:
        self.lab.stop(self.ping, signal.SIGINT, 3)
        time.sleep(0.1)
        pcap = self.cap.stop()
        rows = tshark(pcap, f"bgp.type == 2 && ip.src == {NODEA.addr4} && ({wire_filter})", "frame.time_epoch")
        (self.phase / "wire.tsv").write_text("".join(r[0] + "\n" for r in rows))
        log(f"{self.phase.name}: {len(rows)} withdraw UPDATEs from nodea")

    def wait_nodea(self, timeout: float) -> None:
        if not wait_until(lambda: self.router.established(NODEA.addr4) and self.fib_via(NODEA.addr4), timeout):
            raise RuntimeError(f"nodea: no session or FIB not via nodea: {self.router.state(NODEA.addr4)}")

    def nodeb(self, med: bool = False) -> Anycastd:
        if med:
            cfg = AnycastdConfig(NODEB, prefixes=(plan.PREFIX4,), med=500)
        else:
            cfg = AnycastdConfig(NODEB, prefixes=(plan.PREFIX4,), standby="prepend", prepend=3, role="file")
        b = Anycastd(self.lab, cfg, conf_name=f"anycastd-nodeb{'-med' if med else ''}.toml")
        b.role_file.write_text("standby\n")
        b.start()
        if not wait_until(lambda: self.router.established(NODEB.addr4) and
                          self.router.peer_counts(NODEB.addr4, "ipv4") == (1, 0), 15):
            raise RuntimeError(f"nodeb: no session or no route at BIRD: {b.log()[-400:]}")
        return b

    def anycastd_phase(self, name: str = "p1-anycastd", mode: str = "withdraw", check=None,
                       env: dict[str, str] | None = None, fail=None, restore=None) -> None:
        """anycastd on nodea with `check` (default: the flag file, 100 ms, rise 1, fall 1)."""
        self.phase_start(name, "anycastd", mode, "log", restore)
        check = check or FileCheck("flag", self.flag, 100, 1, 1, timeout_ms=50)
        a = Anycastd(self.lab, AnycastdConfig(NODEA, prefixes=(plan.PREFIX4,), checks=[check], env=env or {}),
                     conf_name=f"anycastd-nodea-{name}.toml")
        rc, out = a.check_config()
        if rc != 0:
            raise RuntimeError(f"nodea config refused: {out[:500]}")
        pid = a.start().pid
        self.wait_nodea(20)
        log(f"anycastd status: {str(a.status())[:300]}")
        self.ping_start()
        self.idle_measure(pid)
        since = int(time.time() * 1e6)
        self.failovers(fail, restore)
        self.phase_end(WIRE_WITHDRAW)
        decisions = [us / 1e6 for us, _ in a.lines(rf"withdrawing {A4}/32", since)]
        (self.phase / "decisions").write_text("".join(f"{d:.6f}\n" for d in decisions))
        log(f"anycastd decisions logged: {len(decisions)}")
        a.stop()
        wait_until(lambda: self.fib_via(NODEB.addr4), 5) or log("FIB not via nodeb after stopping anycastd")

    def exabgp_phase(self, name: str, mode: str, command: str | None = None, fail=None, restore=None) -> None:
        """ExaBGP + exabgp-healthcheck on nodea, `--command` (default: `test -f FLAG`); mode
        withdraw | med (MED mode), or any other name for withdraw mode."""
        wd, wire = ("", "bgp.update.path_attribute.multi_exit_disc == 1000") if mode == "med" else \
            ("--withdraw-on-down", WIRE_WITHDRAW)
        command = command or f"test -f {self.flag}"
        self.phase_start(name, "exabgp", mode, "relay", restore)
        # The wrapper pipes the healthcheck's commands through the timestamping relay; the
        # healthcheck reads ExaBGP's acks from the wrapper's stdin (ExaBGP's pipe) directly.
        wrapper = self.lab.path(f"hc-wrapper-{name}.sh")
        wrapper.write_text("#!/bin/sh\n/usr/bin/exabgp-healthcheck --no-syslog --interval 0.1 --fast-interval 0.1 "
                           f"--rise 1 --fall 1 {wd} --timeout 1 --ip {A4}/32 --no-ip-setup --next-hop {NODEA.addr4} "
                           f"--command {shlex.quote(command)} | {PYTHON} {HERE / 'bench-failover.py'} relay "
                           f"{self.phase / 'decisions.raw'}\n")
        wrapper.chmod(0o755)
        exa = Exabgp(self.lab, ExabgpConfig(NODEA, processes=[ExaProcess("healthcheck", str(wrapper))]),
                     name=f"exabgp-{name}")
        exa.start()
        self.wait_nodea(30)
        # ExaBGP and its healthcheck (not the wrapper sh, not the relay: measuring apparatus).
        pids = [exa.proc.pid] + [p for p in descendants(exa.proc.pid)
                                 if "exabgp-healthcheck" in cmdline(p) and "hc-wrapper" not in cmdline(p)]
        log(f"ExaBGP pids: {pids}")
        self.ping_start()
        self.idle_measure(*pids)
        self.failovers(fail, restore)
        self.phase_end(wire)
        raw = (self.phase / "decisions.raw")
        lines = raw.read_text().splitlines() if raw.exists() else []
        dec = [ln.split()[0] for ln in lines if len(ln.split()) > 1 and (ln.split()[1] == "withdraw" or
               (ln.split()[1] == "announce" and " med 1000" in ln))]
        (self.phase / "decisions").write_text("".join(d + "\n" for d in dec))
        log(f"ExaBGP withdraw decisions seen: {len(dec)}")
        exa.stop()
        wait_until(lambda: self.fib_via(NODEB.addr4), 5) or log("FIB not via nodeb after stopping ExaBGP")

    def run(self) -> int:
        if run([PYTHON, "-c", "import exabgp"]).returncode != 0:
            raise RuntimeError(f"{PYTHON} cannot import exabgp: apt-get install python3-exabgp")
        self.router.start()
        kernel.RouteMonitor.start(self.lab)
        b = self.nodeb()
        self.anycastd_phase()
        self.exabgp_phase("p2-exabgp", "withdraw")
        phases = [self.lab.path("p1-anycastd"), self.lab.path("p2-exabgp")]
        if self.a.med:
            b.stop()
            b = self.nodeb(med=True)
            self.exabgp_phase("p3-exabgp-med", "med")
            phases.append(self.lab.path("p3-exabgp-med"))
        log(f"nodeb sessions established: {b.count('session established')} (1 = never flapped)")
        print(f"\nbench-failover: {self.a.runs} failovers per speaker, file check interval 100 ms, rise 1, fall 1; "
              f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}; {os.cpu_count()} cores", flush=True)
        r = run([PYTHON, str(HERE / "bench-failover.py"), "analyze", str(self.lab.dir), *map(str, phases)], timeout=120)
        print(r.stdout + r.stderr, end="")
        if os.environ.get("BENCH_RUNS_TSV"):
            shutil.copyfile(self.lab.path("runs.tsv"), os.environ["BENCH_RUNS_TSV"])
        log(f"benchmark took {time.monotonic() - self.t0:.0f} s")
        return r.returncode
