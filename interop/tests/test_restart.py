"""The router restarts (stopped and started again, by SIGTERM and by SIGKILL) and nodea's
link flaps and fails: anycastd's session and routes come back by themselves, within the
connect-retry budget, and a short flap (< hold time) goes unnoticed. Runs against every
router.

       client ── client0 ┐
                       rtr: ROUTER, AS 65000      <- stopped/started (same config)
                         │ br0 192.0.2.1          kernel FIB followed with ip -ts monitor
         nodea0 ─────────┴──── nodeb0
           │
         eth0 192.0.2.11                          <- ip link set down/up (in nodea)
  nodea: anycastd AS 65124, MD5, hold 9, connect retry 2

Checks:
  1. Established, both prefixes in the RIB and rtr's FIB (RIB only without a FIB)
  2. router stopped with SIGTERM: anycastd logs the Cease it received (a router that sends
     one) and leaves Established; started again: Established and both routes back < 10 s
     after the new router answers (ms printed); exactly one new 'session established'; the
     router's connection attempts were not refused by anycastd (where its log tells)
  3. the same after SIGKILL (no NOTIFICATION, the kernel closes the connection)
  4. link flap 1 s (< hold time 9 s) in nodea: the session survives (no new Established in
     anycastd, the router's established-since unchanged), no route left the FIB (ip monitor)
  5. link down 25 s (> hold time, then ~15 s of anycastd's connection attempts failing with
     "network unreachable"): the router's hold timer expires and the routes leave the FIB
     (RIB); after the link comes back the session and routes return < 5 s (ms printed) —
     failed attempts are retried at the connect-retry pace and the router's own connection is
     taken, however long the outage (a growing IdleHold that refused the router after the
     4th failed attempt once made this 8-16 s)
  6. anycastd still running, no ERROR in its log
"""

from __future__ import annotations

import signal
import time

import pytest

from lab import kernel, plan, steps
from lab.clock import now_us, wait_until
from lab.drivers.anycastd import Anycastd, AnycastdConfig

NODEA = plan.NODEA
RECOVERY_MAX_S = 10
OUTAGE_S = 25
# After a long outage: anycastd's next attempt (connect retry 2 s + 25 % jitter) or the
# router's own connection, plus the handshake and the routes reaching the RIB/FIB.
OUTAGE_RECOVERY_MAX_S = 5


@pytest.mark.timeout(150)
def test_restart(lab, router, checks):
    acd = Anycastd(lab, AnycastdConfig(NODEA))
    acd.start()

    def routes_up() -> bool:
        ok = router.established(NODEA.addr4) and all(router.peer_counts(NODEA.addr4, f) == (1, 0) for f in ("ipv4", "ipv6"))
        if ok and router.fib_proto:
            ok = kernel.fib_nexthops(lab, plan.ANYCAST4) == [NODEA.addr4] and \
                kernel.fib_nexthops(lab, plan.ANYCAST6) == [NODEA.addr6]
        return ok
    where = "the RIB and rtr's FIB" if router.fib_proto else "the RIB"
    checks.check(f"initial: Established, both routes in {where} within 10 s", wait_until(routes_up, 10))
    monitor = kernel.RouteMonitor.start(lab)
    recovery = []

    for sig in (signal.SIGTERM, signal.SIGKILL):
        name = sig.name
        e0 = acd.count("session established")
        closed0 = router.closed_by_peer_count()
        t_stop = time.monotonic()
        router.stop(sig)
        if sig == signal.SIGTERM and router.ceases_on_stop:
            checks.check(f"{name}: anycastd received {router.kind}'s Cease NOTIFICATION",
                         wait_until(lambda: acd.has(r"received NOTIFICATION notification=Cease \(6\)"), 2))
        elif sig == signal.SIGTERM:
            checks.not_applicable(f"{name}: anycastd received the router's Cease", f"{router.kind} sends none on SIGTERM")
        checks.check(f"{name}: anycastd left Established ({router.kind} gone)",
                     wait_until(lambda: acd.count("from=Established to=Idle") > len(recovery), 2))
        router.start()
        t_start = time.monotonic()
        up = wait_until(routes_up, RECOVERY_MAX_S)
        took = (time.monotonic() - t_start) * 1000
        checks.check(f"{name} restart: Established + both routes in {where} < {RECOVERY_MAX_S} s after the new "
                     f"{router.kind} answered", up, f"{took:.0f} ms ({(time.monotonic() - t_stop) * 1000:.0f} ms after the stop)"
                     if up else f"{router.kind} {router.state(NODEA.addr4)!r}; anycastd: {acd.log()[-300:]}")
        recovery.append(f"{name}={took:.0f}ms")
        time.sleep(0.5)  # a collision or a second connection would show up here
        closed = router.closed_by_peer_count()
        if closed is None:
            checks.not_applicable(f"{name} restart: the router's connections were not refused by anycastd",
                                  f"{router.kind}'s log does not say so recognisably")
        else:
            checks.equal(f"{name} restart: connections {router.kind} saw closed by anycastd", closed - closed0, 0)
        checks.equal(f"{name} restart: new 'session established' in anycastd's log", acd.count("session established") - e0, 1)

    e0 = acd.count("session established")
    since0 = router.established_since(NODEA.addr4)
    t_flap = now_us()
    lab.ip("nodea", "link set eth0 down")
    time.sleep(1)
    lab.ip("nodea", "link set eth0 up")
    lab.relink_node(NODEA)
    time.sleep(4)  # > one keepalive interval (3 s) and a few TCP retransmissions after the link is back
    since1 = router.established_since(NODEA.addr4)
    checks.check(f"1 s flap: {router.kind} still Established, established-since unchanged",
                 router.established(NODEA.addr4) and router.same_session(since0, since1), f"{since0!r} -> {since1!r}")
    checks.equal("1 s flap: new 'session established' in anycastd's log", acd.count("session established") - e0, 0)
    if router.fib_proto:
        checks.equal("1 s flap: BGP route deletions in rtr's FIB (ip monitor)",
                     monitor.count(rf"^Deleted .*proto {router.fib_proto}", t_flap), 0)
    else:
        checks.not_applicable("1 s flap: no route left rtr's FIB", steps.no_fib(router))
    checks.check(f"1 s flap: both routes still in {where}", routes_up())

    failed0 = acd.count("connection failed in Connect")
    lab.ip("nodea", "link set eth0 down")
    t_down = time.monotonic()
    dropped = wait_until(lambda: not router.established(NODEA.addr4), 12)
    checks.check(f"{OUTAGE_S} s outage: {router.kind} dropped the session (hold timer)", dropped,
                 f"after {(time.monotonic() - t_down) * 1000:.0f} ms" if dropped else "still Established after 12 s")
    gone = (lambda: steps.fib_empty(lab, router)) if router.fib_proto else \
        (lambda: router.rib_count("ipv4") + router.rib_count("ipv6") == 0)
    checks.check(f"{OUTAGE_S} s outage: the routes left {'rtr FIB' if router.fib_proto else 'the RIB'}", wait_until(gone, 1))
    time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - t_down)))
    lab.ip("nodea", "link set eth0 up")
    lab.relink_node(NODEA)
    t_up = time.monotonic()
    failed = acd.count("connection failed in Connect") - failed0
    checks.check(f"{OUTAGE_S} s outage: anycastd's attempts failed meanwhile (>= 3, went on at the connect-retry pace)",
                 failed >= 3, f"{failed} failed attempts")
    up = wait_until(routes_up, OUTAGE_RECOVERY_MAX_S)
    took = (time.monotonic() - t_up) * 1000
    checks.check(f"{OUTAGE_S} s outage: Established + both routes back < {OUTAGE_RECOVERY_MAX_S} s after the link came up", up,
                 f"{took:.0f} ms" if up else f"{router.kind} {router.state(NODEA.addr4)!r}, (accepted, sent) "
                 f"{[router.peer_counts(NODEA.addr4, f) for f in ('ipv4', 'ipv6')]}, FIB "
                 f"{kernel.fib_nexthops(lab, plan.ANYCAST4) + kernel.fib_nexthops(lab, plan.ANYCAST6)}")
    recovery.append(f"outage={took:.0f}ms")

    checks.check(f"anycastd (pid {acd.proc.pid}) still running", acd.alive())
    bad = acd.bad_lines("ERROR")
    checks.check("anycastd log: no ERROR line", not bad, bad[:2])
    checks.note(f"recovery times: {' '.join(recovery)}")
    checks.verify()
