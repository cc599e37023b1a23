"""Event-driven failover benchmark (interop/bench-events.sh, issue 13): anycastd's event-driven
checks vs ExaBGP 4 + exabgp-healthcheck polling the same input, side by side in one run, in
bench-failover's topology (failover.py: BIRD router, nodea primary, nodeb standby with 3
prepends, the client pinging 203.0.113.124 — here every 2 ms, --ping-interval —, tcpdump on
nodea's router port).

One kind of failure per pair of phases (anycastd, then ExaBGP), each check at interval 100 ms,
rise 1, fall 1; only that kind's input changes, everything else stays steady:

  file     the flag file is unlinked        anycastd `file` (inotify)   ExaBGP `test -f FLAG`
  process  the service (`sleep 3600.PID`,   anycastd `process` with     ExaBGP `pgrep -f
           started per failover, pidfile)   `pidfile` (pidfd)           '^sleep 3600[.]PID'`
           is SIGKILLed (and reaped)
  systemd  the unit goes inactive/dead      anycastd `systemd` (D-Bus   ExaBGP `busctl --address=BUS
           in interop/tools/systemd_double  PropertiesChanged; the bus  get-property ... ActiveState
           on its own dbus-daemon           in DBUS_SYSTEM_BUS_ADDRESS) | grep -qx 's "active"'`
  address  203.0.113.124/32 is deleted      anycastd `address`          ExaBGP `ip -o addr show
           from nodea's lo                  (netlink)                   dev lo | grep`

For file/process/systemd the address stays on nodea's lo: the client's traffic moves only because the
router moves the route. The event time is taken right before the action: the unlink, the
kill(2), the write of `addr del` to a long-running `ip -batch` in nodea (no process start
inside the timed window), or the write of `set UNIT inactive dead` to the double's stdin (its
own handling until it answers "ok", signal sent, is inside the window: double.tsv has it). bench-failover.py's `events` analysis gives event → withdraw on the
wire, decision → wire, client outage and the router's switch per kind, and the issue's goals.
"""

from __future__ import annotations

import argparse
import os
import select
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .. import kernel, plan
from ..drivers.anycastd import AddressCheck, FileCheck, ProcessCheck, SystemdCheck
from ..fixtures import HERE, PYTHON
from ..proc import Proc, run
from ..topology import Lab, log
from . import failover

A4 = plan.ANYCAST4
KINDS = ("file", "process", "systemd", "address")
UNIT = "bench-svc.service"
DOUBLE = HERE / "tools" / "systemd_double.py"
BUDGET_S = 9 * 60  # the whole benchmark stays < 10 min


def parse(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="bench-events.sh", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="5 failovers per kind and speaker (< 3 min)")
    ap.add_argument("--runs", type=int, default=20, help="failovers per kind and speaker (1..50)")
    ap.add_argument("--ping-interval", type=float, default=0.002,
                    help="the client's ping -i (s, 0.001..0.01; -i 0.01 replies every ~20 ms here, too "
                    "coarse for a 20 ms outage goal)")
    ap.add_argument("--kinds", default=",".join(KINDS), help=f"comma-separated subset of {','.join(KINDS)}")
    ap.add_argument("--speakers", default="anycastd,exabgp", help="comma-separated subset of anycastd,exabgp")
    a = ap.parse_args(argv)
    a.speakers = [k.strip() for k in a.speakers.split(",") if k.strip()]
    if not a.speakers or any(k not in ("anycastd", "exabgp") for k in a.speakers):
        ap.error("--speakers takes a comma-separated subset of anycastd,exabgp")
    a.kinds = [k.strip() for k in a.kinds.split(",") if k.strip()]
    if not a.kinds or any(k not in KINDS for k in a.kinds):
        ap.error(f"--kinds takes a comma-separated subset of {','.join(KINDS)}")
    if not 0.001 <= a.ping_interval <= 0.01:
        ap.error("--ping-interval needs 0.001..0.01 s")
    if not 1 <= a.runs <= 50:
        ap.error("--runs needs a number 1..50")
    if a.quick:
        a.runs = 5
    a.idle_s = 0  # idle cost is bench-failover's; here every second goes to failovers
    return a


@dataclass
class Kind:
    """One kind of failure: the anycastd check watching it, the healthcheck command polling
    it, `fail()` -> (t, t_event) and an idempotent `restore()`."""

    name: str
    check: FileCheck
    command: str
    fail: Callable[[], tuple[float, float]]
    restore: Callable[[], None]
    env: dict[str, str] = field(default_factory=dict)  # anycastd's


class IpBatch:
    """A long-running `ip -n NS -force -batch -` fed one command per line: the timed action
    is a pipe write, not a process start."""

    def __init__(self, ns: str) -> None:
        self.popen = subprocess.Popen(["ip", "-n", ns, "-force", "-batch", "-"], stdin=subprocess.PIPE,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def do(self, command: str) -> None:
        if self.popen.poll() is not None or self.popen.stdin is None:
            raise RuntimeError(f"ip -batch exited ({self.popen.returncode})")
        self.popen.stdin.write(command.encode() + b"\n")
        self.popen.stdin.flush()

    def close(self) -> None:
        if self.popen.stdin:
            self.popen.stdin.close()
        try:
            self.popen.wait(3)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(3)


class Double:
    """interop/tools/systemd_double.py on a private dbus-daemon of its own (a unix socket: the
    same bus from every namespace), unit UNIT loaded active/running; `set()` writes one stdin
    command and waits (<= 5 s) for its "ok", which the double prints after the signal."""

    def __init__(self, lab: Lab) -> None:
        if not DOUBLE.exists():
            raise FileNotFoundError(f"{DOUBLE} missing (branch sysd)")
        self.log = lab.path("systemd-double.tsv")
        with open(lab.path("systemd-double.log"), "ab") as err:
            self.popen = subprocess.Popen([PYTHON, str(DOUBLE), "--bus", "--unit", f"{UNIT}=active/running"],
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err)
        self.address = self.line(10)
        if not self.address.startswith("unix:"):
            self.close()
            raise RuntimeError(f"systemd double did not start: {self.address!r}")
        self.state = "active"

    def line(self, timeout: float) -> str:
        out = self.popen.stdout
        if out is None or not select.select([out], [], [], timeout)[0]:
            return ""
        return out.readline().decode(errors="replace").strip()

    def set(self, active: str, sub: str) -> tuple[float, float]:
        """(before the write, at the "ok")."""
        if self.popen.stdin is None:
            raise RuntimeError("systemd double: no stdin")
        t = time.time()
        self.popen.stdin.write(f"set {UNIT} {active} {sub}\n".encode())
        self.popen.stdin.flush()
        answer = self.line(5)
        t_ok = time.time()
        if answer != "ok":
            raise RuntimeError(f"systemd double answered {answer!r} to set {active} {sub}")
        with self.log.open("a") as f:
            f.write(f"{t:.6f} {t_ok:.6f} {active}\n")
        self.state = active
        return t, t_ok

    def stop_unit(self) -> tuple[float, float]:
        t, _ = self.set("inactive", "dead")
        return t, t

    def start_unit(self) -> None:
        if self.state != "active":
            self.set("active", "running")

    def summary(self) -> str:
        """The double's own share of the systemd kind's event window: write → "ok"."""
        try:
            rows = [ln.split() for ln in self.log.read_text().splitlines()]
        except OSError:
            rows = []
        d = sorted(float(r[1]) - float(r[0]) for r in rows if len(r) == 3 and r[2] == "inactive")
        if not d:
            return "systemd double: no unit stops logged"
        return (f"systemd double, `set {UNIT} inactive dead` written → its \"ok\" (signal sent; inside the "
                f"event window): p50 {d[len(d) // 2] * 1e3:.2f} ms, max {d[-1] * 1e3:.2f} ms over {len(d)} stops "
                "(both speakers' phases)")

    def close(self) -> None:
        if self.popen.stdin:
            self.popen.stdin.close()  # EOF: the double stops, and its dbus-daemon with it
        try:
            self.popen.wait(5)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(3)


def unit_path(name: str) -> str:
    """systemd's bus_label_escape: ASCII letters and digits kept, every other byte _xx."""
    return "/org/freedesktop/systemd1/unit/" + "".join(
        chr(b) if chr(b).isascii() and chr(b).isalnum() else f"_{b:02x}" for b in name.encode())


class Service:
    """The service of kind `process`: `sleep 3600.PID` in nodea (argv unique to this run),
    its pidfile written atomically; killed with SIGKILL and reaped at once."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.pidfile = lab.path("nodea-service.pid")
        self.argv = ["sleep", f"3600.{os.getpid()}"]
        self.proc: Proc | None = None

    @property
    def pattern(self) -> str:
        return "^" + " ".join(self.argv).replace(".", "[.]")

    def start(self) -> None:
        if self.proc and self.proc.alive():
            return
        self.proc = self.lab.spawn("nodea", "service", self.argv, log_name="service.log")
        tmp = self.pidfile.with_suffix(".tmp")
        tmp.write_text(f"{self.proc.pid}\n")
        tmp.rename(self.pidfile)

    def kill(self) -> tuple[float, float]:
        proc = self.proc
        if not proc or not proc.alive():
            raise RuntimeError("the service is not running")
        t = time.time()
        os.kill(proc.pid, signal.SIGKILL)
        self.lab.stop(proc)  # reaped: no zombie left for /proc or pgrep
        return t, t

    def stop(self) -> None:
        if self.proc:
            self.lab.stop(self.proc, signal.SIGKILL)


class Bench(failover.Bench):
    def __init__(self, lab: Lab, a: argparse.Namespace) -> None:
        super().__init__(lab, a)
        self.service = Service(lab)
        self.batch: IpBatch | None = None
        self.double: Double | None = None

    def kinds(self) -> list[Kind]:
        flag, svc = self.flag, self.service

        def unlink() -> tuple[float, float]:
            t = time.time()
            flag.unlink()
            return t, t

        def addr_del() -> tuple[float, float]:
            t = time.time()
            self.batch.do(f"addr del {A4}/32 dev lo")
            return t, t

        def addr_back() -> None:
            self.batch.do(f"addr replace {A4}/32 dev lo")

        every = {"interval_ms": 100, "rise": 1, "fall": 1, "timeout_ms": 50}
        all_kinds = {}
        if self.double:
            bus = self.double.address
            all_kinds["systemd"] = Kind(
                "systemd", SystemdCheck("unit", unit=UNIT, **every),
                f"busctl --address={bus} get-property org.freedesktop.systemd1 {unit_path(UNIT)} "
                "org.freedesktop.systemd1.Unit ActiveState | grep -qx 's \"active\"'",
                self.double.stop_unit, self.double.start_unit, {"DBUS_SYSTEM_BUS_ADDRESS": bus})
        all_kinds |= {
            "file": Kind("file", FileCheck("flag", flag, **every), f"test -f {flag}", unlink, flag.touch),
            "process": Kind("process", ProcessCheck("svc", path=svc.pidfile, **every),
                            f"pgrep -f '{svc.pattern}'", svc.kill, svc.start),
            "address": Kind("address", AddressCheck("addr", address=A4, **every),
                            f"ip -o addr show dev lo | grep -qF ' {A4}/32 '", addr_del, addr_back),
        }
        return [all_kinds[k] for k in self.a.kinds]

    def steady(self) -> None:
        """Every kind's input healthy: flag present, service running, address on lo."""
        self.flag.touch()
        self.service.start()
        self.batch.do(f"addr replace {A4}/32 dev lo")
        if self.double:
            self.double.start_unit()

    def run(self) -> int:
        if run([PYTHON, "-c", "import exabgp"]).returncode != 0:
            raise RuntimeError(f"{PYTHON} cannot import exabgp: apt-get install python3-exabgp")
        self.batch = IpBatch(self.lab.ns("nodea"))
        try:
            if "systemd" in self.a.kinds:
                self.double = Double(self.lab)
            return self.measure()
        finally:
            self.service.stop()
            self.batch.close()
            if self.double:
                self.double.close()

    def measure(self) -> int:
        self.router.start()
        kernel.RouteMonitor.start(self.lab)
        b = self.nodeb()
        self.steady()
        phases = []
        for n, k in enumerate(self.kinds(), 1):
            if time.monotonic() - self.t0 > BUDGET_S:
                log(f"time budget of {BUDGET_S} s used up; kind {k.name} not measured")
                break
            for speaker in self.a.speakers:
                name = f"k{n}-{k.name}-{speaker}"
                if speaker == "anycastd":
                    self.anycastd_phase(name, k.name, k.check, k.env, fail=k.fail, restore=k.restore)
                else:
                    self.exabgp_phase(name, k.name, k.command, fail=k.fail, restore=k.restore)
                with (self.lab.path(name) / "meta").open("a") as meta:
                    meta.write(f"kind={k.name}\n")
                phases.append(self.lab.path(name))
            self.steady()
        log(f"nodeb sessions established: {b.count('session established')} (1 = never flapped)")
        print(f"\nbench-events: {self.a.runs} failovers per kind and speaker, checks every 100 ms, rise 1, "
              f"fall 1; {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}; {os.cpu_count()} cores", flush=True)
        r = run([PYTHON, str(HERE / "bench-failover.py"), "events", str(self.lab.dir), *map(str, phases)],
                timeout=120)
        print(r.stdout + r.stderr, end="")
        if self.double:
            print(self.double.summary())
        if os.environ.get("BENCH_RUNS_TSV"):
            Path(os.environ["BENCH_RUNS_TSV"]).write_text(self.lab.path("runs.tsv").read_text())
        log(f"benchmark took {time.monotonic() - self.t0:.0f} s")
        return r.returncode
