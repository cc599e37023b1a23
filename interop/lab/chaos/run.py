"""The chaos suite's run: the lab (router with BFD, the guarded keepalived pair, recorders),
the seeded fault sequence, each fault's action and recovery, and the bounded wait until the
system has converged (a repair when it has not)."""

from __future__ import annotations

import argparse
import json
import random
import signal
import threading
import time
from dataclasses import dataclass, field

from .. import ha, kernel, plan
from ..bench.procstat import fd_count, rss_kb
from ..clock import now_us, wait_until
from ..drivers import ROUTER_NAMES, kind_of, make_router, router_config
from ..drivers.anycastd import Anycastd, AnycastdConfig
from ..drivers.keepalived import vrrp_block, vrrp_unblock
from ..proc import run, signal_and_wait
from ..topology import Lab, log
from .bounds import FAULT_KINDS, ROUTER_LAG_MS, Timers
from .evaluate import Evaluation
from .observe import Fib, PathSampler, Pinger
from .report import Report

A4 = plan.ANYCAST4
NODES = plan.NODES


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
    echoes: dict[str, int] = field(default_factory=dict)  # echo requests each node received
    master_after: str = ""
    violations: list[str] = field(default_factory=list)


class Chaos(Evaluation, Report):
    def __init__(self, lab: Lab, a: argparse.Namespace) -> None:
        self.lab, self.a = lab, a
        self.t = Timers(router_lag_ms=ROUTER_LAG_MS[kind_of(a.router)])
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
        self.echo_log: list[tuple[int, dict[str, int]]] = []  # IcmpInEchos per node: who answered
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
        """Both nodes' `status --json` and echo request counters every 250 ms (bounded by the
        budget)."""
        deadline = time.monotonic() + self.a.budget + 120
        while not self._status_stop.is_set() and time.monotonic() < deadline:
            self.echo_log.append((now_us(), {n: kernel.counter(self.lab, n, "IcmpInEchos") for n in self.acd}))
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
        self.stopped_by = ""
        try:
            self.loop()
        except BaseException as e:  # SIGTERM/SIGHUP (SystemExit), Ctrl-C: the results still say so
            self.stopped_by = f"{type(e).__name__}({e})"
            raise
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


def parse(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="bench-chaos.sh", description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=None, help="the fault sequence's seed (default: random, printed)")
    ap.add_argument("--faults", type=int, default=30, help="number of faults (1..5000)")
    ap.add_argument("--router", choices=[n for n in ROUTER_NAMES if kind_of(n) != "gobgp"], default="bird")
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
