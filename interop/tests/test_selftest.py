"""Proves the lab library itself with real daemons and no anycastd: GoBGP in nodea stands in
for the anycast speaker, BIRD is the router. Not parametrized over routers: what it proves is
the topology, the process handling and the cleanup (the router drivers are proved by every
other scenario).

       client 198.51.100.10 ── client0 ┐
                                      rtr: BIRD 2, AS 65000, router id 192.0.2.1
                                       │ br0 192.0.2.1 (node LAN switch)
                       nodea0 ─────────┴───────── nodeb0
                         │                          │
  nodea 192.0.2.11: gobgpd AS 65124        nodeb 192.0.2.12 (idle, no speaker)
  lo 203.0.113.124/32, 2001:db8:124::1/128 lo: same anycast addresses

Checks:
  1. topology: four namespaces with the run's prefix, anycast addresses on the nodes' lo, lo up
  2. BIRD <-> GoBGP Established with TCP-MD5 key anycast-lab-key, every captured BGP segment
     MD5-valid
  3. both anycast prefixes in BIRD's RIB and in rtr's kernel FIB via nodea
  4. the router sends nothing to the node (export none = anycast-out drop)
  5. the client pings 203.0.113.124 and 2001:db8:124::1; nodea answers, nodeb does not
  6. withdraw -> the route leaves rtr's FIB (time from ip -ts monitor); the ping now fails
  7. wrong MD5 key -> no session, TcpExtTCPMD5Failure in rtr rising
  8. a crashed lab (SIGKILLed child process) leaves namespaces and BIRD behind, and the next
     run with the same prefix removes them; a lab sent SIGTERM cleans up after itself; cleanup
     leaves no namespace and no tracked process
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import pytest

from lab import capture, kernel, plan, steps
from lab.clock import ms, now_us, stays_false, wait_until
from lab.drivers import Neighbor, RouterConfig, make_router, router_config
from lab.drivers.gobgp import GoBgp
from lab.proc import alive
from lab.topology import Lab, namespaces, next_prefix

NODEA = plan.NODEA
CHILD = """
import sys, time
sys.path.insert(0, {lib!r})
from lab.topology import Lab, install_exit_cleanup
from lab.drivers import make_router, router_config
install_exit_cleanup()
lab = Lab({prefix!r}).up()
make_router("bird", lab, router_config(md5=None)).start()
print("READY", flush=True)
time.sleep(30)
"""


def node_speaker(lab: Lab, md5: str) -> GoBgp:
    """gobgpd in nodea peering with the router, announcing what `rib add` gives it."""
    cfg = RouterConfig([Neighbor("rtr", plan.RTR_LAN4, NODEA.addr4, plan.RTR_AS, md5)],
                       asn=plan.NODE_AS, router_id=NODEA.addr4)
    return GoBgp(lab, cfg, role="nodea", local_addresses=[NODEA.addr4], export_all=True)


def child_lab(lab: Lab, prefix: str):
    code = CHILD.format(lib=str(Path(__file__).resolve().parents[1]), prefix=prefix)
    proc = lab.spawn(None, f"child-lab-{prefix}", [sys.executable, "-c", code])
    return proc, wait_until(lambda: "READY" in proc.log_text() or not proc.alive(), 15) and proc.alive()


@pytest.mark.timeout(120)
def test_selftest(lab, checks):
    own = lab.own_namespaces()
    checks.equal(f"topology: namespaces with prefix {lab.prefix}", sorted(own), sorted(lab.ns(r) for r in plan.ROLES))
    for n in plan.NODES:
        lo = lab.out(n.name, "ip", "-br", "addr", "show", "lo")
        checks.check(f"topology: {n.name} lo up with {plan.PREFIX4} and {plan.PREFIX6}",
                     "UNKNOWN" in lo and plan.PREFIX4 in lo and plan.PREFIX6 in lo, lo.strip())

    cap = capture.Capture.start(lab, NODEA.port, "md5.pcap")
    bird = make_router("bird", lab, router_config())
    bird.start()
    speaker = node_speaker(lab, plan.MD5_KEY)
    t0 = time.monotonic()
    speaker.start()
    up = wait_until(lambda: bird.established(NODEA.addr4), 15)
    checks.check("BGP rtr<->nodea Established with MD5", up,
                 f"after {(time.monotonic() - t0) * 1000:.0f} ms" if up else bird.state(NODEA.addr4))

    t0 = time.monotonic()
    speaker.cli("global", "rib", "add", "-a", "ipv4", plan.PREFIX4)
    speaker.cli("global", "rib", "add", "-a", "ipv6", plan.PREFIX6, "nexthop", NODEA.addr6)
    for addr, hop in ((plan.ANYCAST4, NODEA.addr4), (plan.ANYCAST6, NODEA.addr6)):
        ok = wait_until(lambda: kernel.fib_nexthops(lab, addr) == [hop], 5)
        checks.check(f"rtr FIB: {addr} via {hop}", ok, f"{(time.monotonic() - t0) * 1000:.0f} ms after the announce"
                     if ok else lab.out("rtr", "ip", "route"))
    for prefix in (plan.PREFIX4, plan.PREFIX6):
        checks.equal(f"BIRD RIB: {prefix} from nodea", [p.peer for p in bird.paths(prefix)], [NODEA.addr4])
    checks.equal("router exports nothing to the node (gobgp adj-in per family)",
                 [speaker.adj_count(plan.RTR_LAN4, "in", f) for f in ("ipv4", "ipv6")], [0, 0])
    steps.pings_answered_by(checks, lab, bird, NODEA, (plan.NODEB,))

    monitor = kernel.RouteMonitor.start(lab)
    t0 = now_us()
    speaker.cli("global", "rib", "del", "-a", "ipv4", plan.PREFIX4)
    gone = wait_until(lambda: not kernel.fib_nexthops(lab, plan.ANYCAST4), 5)
    t1 = monitor.route_us(plan.ANYCAST4, deleted=True, since_us=t0)
    checks.check(f"withdraw: {plan.PREFIX4} left rtr's FIB", gone, f"{ms(t1 - t0)} ms after 'gobgp rib del' (ip -ts monitor)"
                 if t1 else "monitor line not found")
    checks.equal("withdraw: the client's ping now fails (replies)", kernel.ping(lab, plan.ANYCAST4, count=1).received, 0)
    steps.md5_valid(checks, cap.stop())

    speaker.stop()
    f0 = kernel.counter(lab, "rtr", "TcpExtTCPMD5Failure")
    node_speaker(lab, plan.WRONG_KEY).start()
    t0 = time.monotonic()
    # GoBGP's first connect comes 5-9 s after its start; BIRD's own SYNs are dropped (and
    # counted) by nodea's kernel, not rtr's.
    rose = wait_until(lambda: kernel.counter(lab, "rtr", "TcpExtTCPMD5Failure") > f0, 20)
    checks.check("wrong key: TcpExtTCPMD5Failure in rtr rose", rose,
                 f"{f0} -> {kernel.counter(lab, 'rtr', 'TcpExtTCPMD5Failure')} after {(time.monotonic() - t0) * 1000:.0f} ms")
    checks.check("wrong key: no session for 5 s", stays_false(lambda: bird.established(NODEA.addr4), 5), bird.state(NODEA.addr4))

    crash_prefix = next_prefix()
    proc, ready = child_lab(lab, crash_prefix)
    if checks.check("crash: the child lab started", ready, proc.log_text()[-300:]):
        lab.stop(proc, signal.SIGKILL)
        stale = [ns for ns in namespaces() if ns.startswith(crash_prefix)]
        inside = lab.out(None, "ip", "netns", "pids", crash_prefix + "rtr").split()
        checks.check("crash: the SIGKILLed lab left its namespaces and BIRD", len(stale) == 4 and inside,
                     f"{len(stale)} namespaces, {len(inside)} processes in its rtr")
        with Lab(crash_prefix) as next_run:
            next_run.init()
        left = [ns for ns in namespaces() if ns.startswith(crash_prefix)]
        checks.check("crash: the next run with that prefix removed them and their processes",
                     not left and not any(alive(int(p)) for p in inside), left)
    term_prefix = next_prefix()
    proc, ready = child_lab(lab, term_prefix)
    if checks.check("SIGTERM: the child lab started", ready, proc.log_text()[-300:]):
        proc.signal(signal.SIGTERM)
        rc = proc.wait(15)
        left = [ns for ns in namespaces() if ns.startswith(term_prefix)]
        checks.check("SIGTERM: the lab cleaned up after itself and exited", rc is not None and not left,
                     f"exit {rc}, {len(left)} namespaces left")

    tracked = [p.pid for p in lab.procs.procs]
    lab.close()
    alive_left = [p for p in tracked if alive(p)]
    checks.check("cleanup: no namespace and no tracked process left", not lab.own_namespaces() and not alive_left,
                 f"{len(lab.own_namespaces())} namespaces, {len(alive_left)} processes")
    checks.verify()
