"""interop/demo.sh — anycastd in one command: two nodes announce the same anycast address to a
real router (BIRD 2); the primary's health check fails and traffic moves to the backup within
milliseconds; then it restores and cleans up.

                   client 198.51.100.10   ping -D -i 0.01 203.0.113.124
                         │ client0
     rtr: BIRD 2, AS 65000, 192.0.2.1   ip -ts monitor route (FIB changes)
                         │ br0 (the node LAN: a switch inside rtr)
     tcpdump ─ nodea0 ───┴─── nodeb0 ─ tcpdump
                 │                │
  nodea 192.0.2.11                 nodeb 192.0.2.12
  anycastd: primary (static role)  anycastd: backup (role file "standby"),
  health check "web" = the file    standby = "prepend", prepend 3: AS path 65124 ×4
  nodea.ok (100 ms, rise 2, fall 1)

Steps: install packages if missing, build anycastd if the release binary is missing or older
than the sources (skipped when ANYCASTD_BIN is set), bring the lab up, show `anycastd status`
and BIRD's routes, fail nodea's health check while the client pings, print the failover
timeline (ms after the failure): check failed (anycastd log) → withdraw UPDATE on the wire
(tcpdump) → router FIB via nodeb (ip monitor) → first ping to nodeb (tcpdump) → the client's
longest reply gap; status again; restore; clean up. Prints "N passed, M failed" last; exits
non-zero when the failover did not happen. LAB_KEEP=1 keeps the run dir.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from . import deps, ha, kernel, plan
from .capture import Capture, first_us
from .checks import Checks
from .clock import ms, now_us, wait_until
from .drivers import make_router, router_config
from .drivers.anycastd import REPO
from .topology import Lab

A4, NODEA, NODEB = plan.ANYCAST4, plan.NODEA, plan.NODEB
TTY = sys.stdout.isatty()
B, G, R, D, N = ("\033[1m", "\033[32m", "\033[31m", "\033[2m", "\033[0m") if TTY else ("",) * 5


class Screen:
    def __init__(self, lab: Lab) -> None:
        self.lab, self.n = lab, 0

    def step(self, text: str) -> None:
        self.n += 1
        print(f"\n{B}[{self.n}/7] {text}{N}", flush=True)

    @staticmethod
    def say(text: str) -> None:
        print(f"  {text}", flush=True)

    @staticmethod
    def ok(text: str) -> None:
        print(f"  {G}✓{N} {text}", flush=True)

    @staticmethod
    def bad(text: str) -> None:
        print(f"  {R}✗ {text}{N}", flush=True)

    def indent(self, text: str) -> None:
        for line in text.replace(f"{self.lab.dir}/", "").replace("\t", "    ").splitlines():
            print(f"      {D}{line}{N}")

    def line(self, us: int, text: str) -> None:
        print(f"  {B}{us / 1000:+9.3f} ms{N}  {text}", flush=True)


def build_if_stale(screen: Screen, log_file: Path) -> bool:
    """cargo build --release --bin anycastd when the binary is missing or older than the sources
    (as the user who owns the checkout under sudo). False if the build failed."""
    binary = REPO / "target/release/anycastd"
    stale = "missing" if not binary.exists() else ""
    if not stale:
        mtime = binary.stat().st_mtime
        newer = [p for p in [REPO / "Cargo.toml", REPO / "Cargo.lock", *(REPO / "src").rglob("*")]
                 if p.is_file() and p.stat().st_mtime > mtime]
        stale = f"older than {newer[0].relative_to(REPO)}" if newer else ""
    if not stale:
        return True
    screen.say(f"building anycastd ({stale}): cargo build --release --bin anycastd (minutes on a first build)…")
    t0 = time.monotonic()
    user = os.environ.get("SUDO_USER")
    cargo = shutil.which("cargo") or str(Path.home() / ".cargo/bin/cargo")
    if user and user != "root" and shutil.which("sudo"):
        argv = ["sudo", "-u", user, "-H", "bash", "-lc", f"cd '{REPO}' && cargo build --release --bin anycastd"]
    elif os.access(cargo, os.X_OK):
        argv = [cargo, "build", "--release", "--bin", "anycastd"]
    else:
        screen.bad("cargo not found: install Rust (https://rustup.rs) or set ANYCASTD_BIN=/path/to/anycastd")
        return False
    with open(log_file, "a") as out:
        rc = subprocess.run(argv, cwd=REPO, stdout=out, stderr=subprocess.STDOUT).returncode
    if rc != 0:
        screen.bad("cargo build failed; its first error:")
        text = log_file.read_text(errors="replace").splitlines()
        first = next((i for i, line in enumerate(text) if line.startswith("error")), len(text) - 15)
        for line in text[first:first + 15]:
            print(f"      {line}")
        return False
    screen.ok(f"built {(time.monotonic() - t0) * 1000:.0f} ms")
    return True


def demo() -> int:
    print(f"{B}anycastd failover demo{N} — anycast {A4} announced by two nodes to a BIRD router", flush=True)
    if os.geteuid() != 0:
        print(f"must run as root (network namespaces); try: sudo {sys.argv[0]}", file=sys.stderr)
        return 1
    lab = Lab()
    real_stderr = sys.stderr
    sys.stderr = open(lab.path("lab.log"), "a", buffering=1)
    screen, checks = Screen(lab), Checks()
    try:
        return run(lab, screen, checks)
    except Exception as e:  # the demo's own failure report, then cleanup
        print(f"\n{R}demo failed: {e}; last lines of the lab log:{N}", file=real_stderr)
        for line in lab.path("lab.log").read_text(errors="replace").splitlines()[-12:]:
            print(f"  {line}", file=real_stderr)
        if not lab.keep:
            print(f"  (run with LAB_KEEP=1 sudo -E {sys.argv[0]} to keep {lab.dir})", file=real_stderr)
        return 1
    finally:
        lab.close()
        sys.stderr = real_stderr


def run(lab: Lab, screen: Screen, checks: Checks) -> int:
    screen.step("Preparing")
    if deps.missing(deps.BINARIES):
        screen.say("installing packages (bird2 tcpdump tshark gobgpd frr keepalived; about a minute)…")
    deps.install()
    screen.ok("packages: bird2, tcpdump, tshark, iproute2 present")
    if not os.environ.get("ANYCASTD_BIN") and not build_if_stale(screen, lab.path("lab.log")):
        return 1
    from .drivers.anycastd import binary
    binpath = Path(os.environ.get("ANYCASTD_BIN") or REPO / "target/release/anycastd").resolve()
    version = subprocess.run([str(binary(lab)), "--version"], capture_output=True, text=True).stdout.strip()
    screen.ok(f"{version} ({binpath.relative_to(REPO) if binpath.is_relative_to(REPO) else binpath})")

    screen.step("Lab: router (BIRD 2) + nodea (primary) + nodeb (backup, AS path prepended) + client")
    lab.up()
    bird = make_router("bird", lab, router_config(nodes=plan.NODES))
    bird.start()
    flag = lab.path("nodea.ok")
    a, b = ha.health_pair(lab, flag, check="web")
    bgp_cap = Capture.start(lab, NODEA.port, "nodea.pcap")
    icmp_cap = Capture.start(lab, NODEB.port, "nodeb-icmp.pcap", bpf="icmp")
    a.start()
    b.start()
    best_is = lambda node: getattr(bird.best(plan.PREFIX4), "peer", None) == node.addr4
    fib_via = lambda node: kernel.fib_nexthops(lab, A4) == [node.addr4]
    if not wait_until(lambda: all(bird.established(n.addr4) for n in plan.NODES) and best_is(NODEA)
                      and len(bird.paths(plan.PREFIX4)) == 2 and fib_via(NODEA), 10):
        screen.bad(f"the lab did not converge in 10 s: {bird.paths(plan.PREFIX4)}")
        checks.check("converged", False)
        return 1
    screen.ok(f"namespaces {lab.prefix}{{rtr,nodea,nodeb,client}}; both BGP sessions Established (TCP-MD5)")

    def show_status(lines: int) -> None:
        for acd in (a, b):
            screen.say(f"{B}$ anycastd status{N}   ({acd.node.name})")
            screen.indent("\n".join(acd.status_text().splitlines()[:lines]))

    def show_routes(note: str = "") -> None:
        screen.say(f"{B}$ birdc show route {A4}/32{N}{note}")
        screen.indent("\n".join(line for line in bird.show("show route", f"{A4}/32").splitlines()
                                if not re.match(r"^(BIRD|Table)", line)))

    screen.step("Steady state")
    show_status(4)
    show_routes("   (rtr; * = best)")
    paths = ", ".join(f"{p.peer == NODEA.addr4 and 'nodea' or 'nodeb'} [{' '.join(map(str, p.as_path))}]"
                      for p in sorted(bird.paths(plan.PREFIX4), key=lambda p: p.peer))
    screen.say(f"AS paths: {paths}  (nodeb prepends 3 times: the backup path)")

    screen.step("Failure: nodea's health check fails (rm nodea.ok) while the client pings every 10 ms")
    monitor = kernel.RouteMonitor.start(lab)
    ping = kernel.background_ping(lab, A4, 400)
    time.sleep(1)
    t0 = now_us()
    flag.unlink()
    if checks.check("failover: BIRD and the FIB moved to nodeb", wait_until(lambda: best_is(NODEB) and fib_via(NODEB), 2)):
        screen.ok(f"BIRD's best route and rtr's FIB now via nodeb ({NODEB.addr4})")
    else:
        screen.bad(f"no failover within 2 s: BIRD has {bird.paths(plan.PREFIX4)}, FIB via {kernel.fib_nexthops(lab, A4)}")
    time.sleep(0.8)
    lab.stop(ping, signal.SIGINT, 2)
    bgp_cap.stop()
    icmp_cap.stop()

    screen.step("Timeline (ms after rm nodea.ok)")
    t_log = a.first_us("withdrawing ", t0)
    t_wire = first_us(bgp_cap.pcap, f"bgp.type == 2 && ip.src == {NODEA.addr4} && bgp.withdrawn_prefix == {A4}", t0)
    t_fib = monitor.route_us(A4, via=NODEB.addr4, since_us=t0)
    t_icmp = first_us(icmp_cap.pcap, f"icmp.type == 8 && ip.dst == {A4}", t0)
    screen.line(0, "nodea.ok removed")
    if t_log:
        why = re.sub(r".*withdrawing ([0-9a-f:.]+/[0-9]+(, )?)+: ", "", a.first_line("withdrawing ", t0))
        why = re.sub(r" state=.*", "", why).replace(f"{lab.dir}/", "")
        screen.line(t_log - t0, f"nodea decides: withdraw — {why}   (anycastd log)")
    else:
        screen.bad("no 'withdrawing' in nodea's log")
    if t_wire:
        screen.line(t_wire - t0, "withdraw UPDATE from nodea on the wire   (tcpdump on rtr's port nodea0)")
    else:
        screen.bad("no withdraw UPDATE captured")
    if t_fib:
        screen.line(t_fib - t0, f"rtr's FIB: {A4} via {NODEB.addr4} (nodeb)   (ip -ts monitor route)")
    if t_icmp:
        screen.line(t_icmp - t0, "first ping reaches nodeb   (tcpdump on nodeb0)")
    text = ping.log_text()
    gap = kernel.longest_gap(kernel.reply_times(text), t0 - 300_000, t0 + 700_000)
    if gap:
        m = re.search(r"(\d+) packets transmitted, (\d+) received", text)
        sent, recv = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
        screen.say(f"client: longest gap between replies {ms(gap.gap_us)} ms (ping paces ~10–16 ms: ≈ no outage); "
                   f"{recv}/{sent} replies, {sent - recv} lost")
        if t_log and t_wire:
            screen.say(f"decision → wire: {ms(t_wire - t_log)} ms; detection (check interval 100 ms, fall 1) is the rest")
        checks.check(f"client: replies kept coming (longest gap {ms(gap.gap_us)} ms < 1000 ms)", gap.gap_us < 1_000_000)
    else:
        checks.check("client: replies around the failure", False)
        screen.bad("the client got fewer than 2 replies around the failure")

    screen.step("After the failover")
    show_status(3)
    show_routes()

    screen.step("Restore (touch nodea.ok) and clean up")
    t_r = now_us()
    flag.touch()
    if checks.check("restore: back on nodea", wait_until(lambda: best_is(NODEA) and fib_via(NODEA), 2)):
        screen.ok(f"back on nodea {ms(now_us() - t_r)} ms later (rise 2 × 100 ms)")
    else:
        screen.bad("not back on nodea within 2 s")
    keep, where = lab.keep, lab.dir
    lab.close()
    screen.ok(f"lab removed; logs, configs and captures kept in {where}" if keep
              else f"lab removed (namespaces, processes, {where})")
    print()
    failed = len(checks.failed)
    if failed == 0:
        print(f"{G}{B}failover worked:{N} traffic moved to the backup without the client noticing.")
    else:
        print(f"{R}{B}failover did NOT happen as expected{N} (see ✗ above; LAB_KEEP=1 keeps the logs)")
    passed = sum(r.status == "PASS" for r in checks.results)
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1
