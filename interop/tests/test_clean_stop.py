"""SIGTERM to anycastd sends Cease / Administrative Shutdown (RFC 8203 message) and closes
with FIN: the router withdraws at once — its FIB (or, without a FIB, its RIB) loses both
anycast routes well within a second, without waiting for the hold timer (9 s). Runs against
every router.

       client ── client0 ┐
                       rtr: ROUTER, AS 65000        ip -ts monitor route (FIB changes)
                         │ br0 192.0.2.1
         nodea0 ─────────┴──── nodeb0
  tcpdump │
  nodea 192.0.2.11: anycastd AS 65124, MD5    <- SIGTERM

Checks:
  1. Established, both routes in rtr's FIB via nodea (RIB without a FIB)
  2. SIGTERM: anycastd exits with status 0 within 3 s and logs why and the Cease it sent
  3. rtr's FIB loses 203.0.113.124 and 2001:db8:124::1 < 1000 ms after the signal (ip -ts
     monitor; ms printed) — without a FIB: the RIB is empty < 1000 ms after it (polled every
     10 ms); the router has no route left
  4. capture: exactly one NOTIFICATION from 192.0.2.11, `anycastd decode`: Cease (6) /
     Administrative Shutdown (2) "anycastd stopping (SIGTERM)"; tshark agrees (6/2); the node
     closes with FIN, no RST
  5. the router received it: Administrative Shutdown with the message; no longer Established
  6. the client's ping to 203.0.113.124 now fails (nodeb has no speaker; N/A without a FIB)
"""

from __future__ import annotations

import signal
import time

import pytest

from lab import capture, kernel, plan, steps
from lab.clock import ms, now_us, wait_until
from lab.drivers.anycastd import Anycastd, AnycastdConfig

NODEA = plan.NODEA
FIB_MAX_MS = 1000
MESSAGE = "anycastd stopping (SIGTERM)"


@pytest.mark.timeout(60)
def test_clean_stop(lab, router, checks):
    cap = capture.Capture.start(lab, NODEA.port, "stop.pcap")
    acd = Anycastd(lab, AnycastdConfig(NODEA))
    acd.start()
    def routes_in() -> bool:
        if router.fib_proto:
            return kernel.fib_nexthops(lab, plan.ANYCAST4) == [NODEA.addr4] and \
                kernel.fib_nexthops(lab, plan.ANYCAST6) == [NODEA.addr6]
        return len(router.paths(plan.PREFIX4)) == 1 and len(router.paths(plan.PREFIX6)) == 1
    checks.check("Established, both routes in rtr's " + ("FIB" if router.fib_proto else "RIB") + " via nodea",
                 wait_until(lambda: router.established(NODEA.addr4) and routes_in(), 10))
    monitor = kernel.RouteMonitor.start(lab)
    time.sleep(0.2)

    t_sig = now_us()
    acd.proc.signal(signal.SIGTERM)
    rc = acd.proc.wait(3)
    checks.check("anycastd exited with status 0 within 3 s of SIGTERM", rc == 0,
                 f"status {rc} after {ms(now_us() - t_sig)} ms")
    checks.check("anycastd log: 'stopping on SIGTERM' and the Cease it sent",
                 acd.has("stopping on SIGTERM") and acd.has(
                     r'sent NOTIFICATION notification=Cease \(6\) / Administrative Shutdown \(2\): "anycastd stopping \(SIGTERM\)"'))

    if router.fib_proto:
        wait_until(lambda: steps.fib_empty(lab, router), 2)
        for addr in (plan.ANYCAST4, plan.ANYCAST6):
            t_del = monitor.route_us(addr, deleted=True, since_us=t_sig)
            checks.check(f"rtr FIB: {addr} deleted < {FIB_MAX_MS} ms after SIGTERM",
                         t_del is not None and t_del - t_sig < FIB_MAX_MS * 1000,
                         f"{ms(t_del - t_sig)} ms" if t_del else "no 'Deleted' line in ip monitor")
    else:
        empty = wait_until(lambda: router.rib_count("ipv4") + router.rib_count("ipv6") == 0, 2, 0.01)
        took = now_us() - t_sig
        checks.check(f"{router.kind} RIB: both routes gone < {FIB_MAX_MS} ms after SIGTERM (no FIB; polled)",
                     empty and took < FIB_MAX_MS * 1000, f"{ms(took)} ms")
    checks.equal(f"{router.kind}: routes left (ipv4, ipv6)", (router.rib_count("ipv4"), router.rib_count("ipv6")), (0, 0))

    time.sleep(0.2)
    pcap = cap.stop()
    notif = f"bgp.type == 3 && ip.src == {NODEA.addr4}"
    checks.equal(f"capture: NOTIFICATIONs from {NODEA.addr4}", capture.count(pcap, notif), 1)
    dec = [m for m in acd.decode(capture.bgp_payload(pcap, notif)) if m.get("type") == "NOTIFICATION"]
    checks.equal("anycastd decode: code/subcode and shutdown communication",
                 [(m.get("code"), m.get("subcode"), m.get("shutdown_communication")) for m in dec], [(6, 2, MESSAGE)])
    rows = capture.tshark(pcap, notif, "bgp.notify.major_error", "bgp.notify.minor_error_cease", "frame.time_epoch")
    checks.equal("tshark: NOTIFICATION major/minor", [tuple(r[:2]) for r in rows], [("6", "2")])
    if rows:
        checks.note(f"NOTIFICATION on the wire {(float(rows[0][2]) * 1e6 - t_sig) / 1000:.3f} ms after SIGTERM")
    fin = capture.count(pcap, f"ip.src == {NODEA.addr4} && tcp.flags.fin == 1")
    rst = capture.count(pcap, f"ip.src == {NODEA.addr4} && tcp.flags.reset == 1")
    checks.check("capture: the node closes with FIN, no RST", fin >= 1 and rst == 0, f"FIN {fin}, RST {rst}")

    last = wait_until(lambda: router.last_notification(NODEA.addr4), 2)
    checks.check(f"{router.kind}: received Administrative Shutdown with message '{MESSAGE}'",
                 last and "administrative shutdown" in last[0].lower() and last[1] == MESSAGE, last)
    checks.check(f"{router.kind}: session no longer Established", not router.established(NODEA.addr4))
    if router.fib_proto:
        p = kernel.ping(lab, plan.ANYCAST4, count=1)
        checks.equal(f"client: ping {plan.ANYCAST4} fails now (no route at the router)", p.received, 0)
    else:
        checks.not_applicable(f"client: ping {plan.ANYCAST4} fails now", steps.no_fib(router))
    checks.verify()
