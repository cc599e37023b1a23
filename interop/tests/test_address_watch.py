"""Address watch (review M8, src/ha/addrwatch.rs): with `manage_loopback = true` anycastd keeps
its anycast addresses on their interface. An address deleted behind its back is re-added at
once, without a withdraw; when it cannot be re-added (the interface is gone) only the missing
prefixes are withdrawn, with the session kept up, until the interface is back. Runs against
every router.

       client ── client0 ┐
                       rtr: ROUTER, AS 65000        ip -ts monitor route (FIB changes)
                         │ br0 192.0.2.1
         nodea0 ─────────┴──── nodeb0 (no speaker)
  tcpdump │
  nodea 192.0.2.11: anycastd, manage_loopback = true, interface = "anyc0"
          anyc0: an empty bridge made by the test (the kernel here refuses dummy links);
          the topology's copies of 203.0.113.124 / 2001:db8:124::1 on nodea's lo are removed,
          so anyc0 holds the only ones

Checks:
  a. Established; the router has both prefixes from nodea; anycastd added both to anyc0;
     rtr's FIB via nodea and the client's pings answered by nodea through them (N/A without
     a FIB)
  b. `ip addr del 203.0.113.124/32 dev anyc0`: back on anyc0 < 1 s (polled, ms printed);
     anycastd logs "… disappeared from anyc0; re-added"; no withdraw of 203.0.113.124 from
     nodea on the wire, rtr's FIB never deleted it (N/A without a FIB), the path still there
  c. `ip link del anyc0`: the router loses both prefixes from nodea < 1 s; withdraw UPDATEs
     for both on the wire (ms from the delete printed); status --json `reason` names the
     missing addresses; the session stays Established (the same one)
  d. `ip link add anyc0 type bridge; ip link set anyc0 up`: anycastd re-adds both, the router
     has both prefixes from nodea again < 1 s (ms printed), announced on the wire; the same
     session; pings answered by nodea again (N/A without a FIB); 2001:db8:124::1/128 deleted
     from the new anyc0 (another ifindex) is re-added < 1 s too, with no withdraw
  e. anycastd alive, one 'session established', no ERROR, no WARN but the address watch's own
"""

from __future__ import annotations

import re
import time

import pytest

from lab import capture, kernel, plan, steps
from lab.clock import ms, now_us, wait_until
from lab.drivers.anycastd import Anycastd, AnycastdConfig

NODEA = plan.NODEA
IFACE = "anyc0"
MAX_S = 1
EXPECTED_WARN = (rf"anycast address \S+ disappeared from {IFACE}; re-added|"
                 rf"anycast address \S+ is not on {IFACE} and cannot be re-added")


def on_iface(lab) -> set[str]:
    """The anycast addresses on nodea's anyc0 (empty when it is gone)."""
    out = lab.out(NODEA.name, "ip", "-o", "addr", "show", "dev", IFACE)
    return {a for a in (plan.PREFIX4, plan.PREFIX6) if f" {a} " in out}


@pytest.mark.timeout(60)
def test_address_watch(lab, router, checks):
    fib = bool(router.fib_proto)
    lab.ip(NODEA.name, f"addr del {plan.PREFIX4} dev lo", f"addr del {plan.PREFIX6} dev lo",
           f"link add {IFACE} type bridge", f"link set {IFACE} up")
    cap = capture.Capture.start(lab, NODEA.port, "addrwatch.pcap")
    acd = Anycastd(lab, AnycastdConfig(NODEA, manage_loopback=True, interface=IFACE))
    acd.start()

    def from_nodea() -> set[str]:
        return {p for p in (plan.PREFIX4, plan.PREFIX6) if any(x.peer == NODEA.addr4 for x in router.paths(p))}

    # ---- a. up, both prefixes from nodea, both on anyc0 -------------------------------------
    checks.check("a: Established, the router has both prefixes from nodea",
                 wait_until(lambda: router.established(NODEA.addr4) and len(from_nodea()) == 2, 10),
                 f"state {router.state(NODEA.addr4)!r}, from nodea {sorted(from_nodea())}")
    checks.equal(f"a: anycastd added both to {IFACE} (ip addr show dev {IFACE})", sorted(on_iface(lab)),
                 sorted((plan.PREFIX4, plan.PREFIX6)))
    lo = lab.out(NODEA.name, "ip", "-o", "addr", "show", "dev", "lo")
    checks.check("a: nodea's lo holds no anycast address (the only copy is anyc0's)",
                 plan.ANYCAST4 not in lo and plan.ANYCAST6 not in lo)
    if fib:
        wait_until(lambda: len(steps.fib_lines(lab, router).get("ipv6", [])) == 1, 2)
    steps.fib_exact(checks, lab, router, NODEA, "a: rtr FIB")
    steps.pings_answered_by(checks, lab, router, NODEA)
    since0 = router.established_since(NODEA.addr4)
    monitor = kernel.RouteMonitor.start(lab) if fib else None
    # nodea's own kernel: when the address / the link went and came (ip -ts, µs).
    nodea_mon = kernel.RouteMonitor(lab.spawn(NODEA.name, "monitor-nodea", ["ip", "-ts", "monitor", "link", "address"]))
    time.sleep(0.2)
    a4_line = rf"^(Deleted )?\d+: {IFACE} +inet {re.escape(plan.PREFIX4)} "

    # ---- b. an address deleted: re-added, no withdraw ---------------------------------------
    t_b = now_us()
    lab.ip(NODEA.name, f"addr del {plan.PREFIX4} dev {IFACE}")
    back = wait_until(lambda: plan.PREFIX4 in on_iface(lab), MAX_S, 0.005)
    t_back = now_us()
    checks.check(f"b: {plan.PREFIX4} back on {IFACE} < {MAX_S} s after 'ip addr del' (polled every 5 ms)",
                 back, f"{ms(t_back - t_b)} ms" if back else f"on {IFACE}: {sorted(on_iface(lab))}")
    t_warn = acd.first_us(rf"anycast address {re.escape(plan.PREFIX4)} disappeared from {IFACE}; re-added", t_b)
    checks.check(f"b: anycastd log: '… {plan.PREFIX4} disappeared from {IFACE}; re-added' (WARN)", t_warn,
                 acd.lines(IFACE, t_b)[:2])
    k_del = nodea_mon.first_us(a4_line.replace("(Deleted )?", "Deleted "), t_b)
    k_add = nodea_mon.first_us(a4_line.replace("(Deleted )?", ""), k_del or t_b)
    if k_del and k_add:
        checks.note(f"b: nodea's kernel (ip -ts monitor address): deleted → re-added {ms(k_add - k_del)} ms")
    if t_warn:
        checks.note(f"b: re-add warning logged {ms(t_warn - t_b)} ms after 'ip addr del' was started")
    time.sleep(0.5)  # a withdraw, had one been sent, would be on the wire and in the FIB by now
    checks.equal("b: the router still has both prefixes from nodea", sorted(from_nodea()),
                 sorted((plan.PREFIX4, plan.PREFIX6)))
    if monitor:
        lost = monitor.route_us(plan.ANYCAST4, deleted=True, since_us=t_b)
        checks.check(f"b: rtr FIB never deleted {plan.ANYCAST4} (ip -ts monitor route)", lost is None,
                     f"deleted {ms(lost - t_b)} ms after the addr del" if lost else "")
    else:
        checks.not_applicable(f"b: rtr FIB never deleted {plan.ANYCAST4}", steps.no_fib(router))
    t_c = now_us()

    # ---- c. the interface deleted: both withdrawn, session kept -----------------------------
    lab.ip(NODEA.name, f"link del {IFACE}")
    gone = wait_until(lambda: not from_nodea(), MAX_S, 0.01)
    t_gone = now_us()
    checks.check(f"c: the router lost both prefixes from nodea < {MAX_S} s after 'ip link del {IFACE}' (polled)",
                 gone, f"{ms(t_gone - t_c)} ms" if gone else f"still {sorted(from_nodea())}")
    reason = wait_until(lambda: (acd.status() or {}).get("reason") if plan.PREFIX4 in
                        str((acd.status() or {}).get("reason")) else None, 1) or \
        str((acd.status() or {}).get("reason"))
    checks.check("c: status --json reason names both missing addresses",
                 plan.PREFIX4 in reason and plan.PREFIX6 in reason, reason)
    st = acd.status() or {}
    checks.equal("c: status --json advertising (nothing)", st.get("advertising"), [])
    time.sleep(0.3)
    checks.check("c: the session stays Established, the same one",
                 router.established(NODEA.addr4) and router.same_session(since0, router.established_since(NODEA.addr4)),
                 f"state {router.state(NODEA.addr4)!r}")
    t_wd = acd.first_us("withdrawing ", t_c)
    k_link = nodea_mon.first_us(rf"^Deleted \d+: {IFACE}: ", t_c)
    if t_wd:
        checks.note(f"c: anycastd 'withdrawing' logged {ms(t_wd - t_c)} ms after 'ip link del' was started"
                    + (f", {ms(t_wd - k_link)} ms after the kernel's link-deleted event" if k_link else ""))
    t_d = now_us()

    # ---- d. the interface back: re-added, re-advertised -------------------------------------
    lab.ip(NODEA.name, f"link add {IFACE} type bridge", f"link set {IFACE} up")
    again = wait_until(lambda: len(from_nodea()) == 2, MAX_S, 0.01)
    t_again = now_us()
    checks.check(f"d: the router has both prefixes from nodea again < {MAX_S} s after re-creating {IFACE} (polled)",
                 again, f"{ms(t_again - t_d)} ms" if again else f"from nodea {sorted(from_nodea())}")
    checks.equal(f"d: both addresses on the new {IFACE}", sorted(on_iface(lab)), sorted((plan.PREFIX4, plan.PREFIX6)))
    checks.check(f"d: anycastd log: 'every anycast address is on {IFACE} again'",
                 acd.first_us(f"every anycast address is on {IFACE} again", t_d), acd.lines(IFACE, t_d)[-2:])
    checks.check("d: the session is still the same one", router.established(NODEA.addr4) and
                 router.same_session(since0, router.established_since(NODEA.addr4)))
    if fib:
        wait_until(lambda: len(steps.fib_lines(lab, router).get("ipv6", [])) == 1, 1)
    steps.fib_exact(checks, lab, router, NODEA, "d: rtr FIB")
    steps.pings_answered_by(checks, lab, router, NODEA)
    # the watch follows the new interface (new index): a delete there is repaired too
    t_d2 = now_us()
    lab.ip(NODEA.name, f"addr del {plan.PREFIX6} dev {IFACE}")
    back = wait_until(lambda: plan.PREFIX6 in on_iface(lab), MAX_S, 0.005)
    checks.check(f"d: on the re-created {IFACE}, a deleted {plan.PREFIX6} is back < {MAX_S} s too",
                 back, f"{ms(now_us() - t_d2)} ms" if back else f"on {IFACE}: {sorted(on_iface(lab))}")
    time.sleep(0.3)
    st = acd.status() or {}
    checks.check("d: status --json reason: advertising both, nothing missing",
                 re.match(rf"advertising {re.escape(plan.PREFIX4)}, {re.escape(plan.PREFIX6)}:", str(st.get("reason")))
                 and "not on" not in str(st.get("reason")), st.get("reason"))

    # ---- the wire ---------------------------------------------------------------------------
    time.sleep(0.2)
    pcap = cap.stop()
    src = f"bgp.type == 2 && ip.src == {NODEA.addr4}"
    w4 = f"{src} && bgp.withdrawn_prefix == {plan.ANYCAST4}"
    w6 = f"{src} && bgp.mp_unreach_nlri_ipv6_prefix == {plan.ANYCAST6}"
    a4 = f"{src} && bgp.nlri_prefix == {plan.ANYCAST4}"
    a6 = f"{src} && bgp.mp_reach_nlri_ipv6_prefix == {plan.ANYCAST6}"
    in_b = [t for t in capture.frame_times_us(pcap, f"{w4} || {w6}") if t_b <= t < t_c]
    checks.equal("b: withdraw UPDATEs from nodea on the wire during the re-add", len(in_b), 0)
    in_d2 = [t for t in capture.frame_times_us(pcap, f"{w4} || {w6}") if t >= t_d2]
    checks.equal(f"d: withdraw UPDATEs from nodea on the wire during the re-add on the new {IFACE}", len(in_d2), 0)
    for what, flt in ((plan.PREFIX4, w4), (plan.PREFIX6, w6)):
        t = capture.first_us(pcap, flt, t_c)
        checks.check(f"c: withdraw of {what} from nodea on the wire after 'ip link del'", t and t < t_d,
                     (f"{ms(t - t_c)} ms after 'ip link del' was started"
                      + (f", {ms(t - k_link)} ms after the kernel's link-deleted event" if k_link else ""))
                     if t else "none")
    for what, flt in ((plan.PREFIX4, a4), (plan.PREFIX6, a6)):
        t = capture.first_us(pcap, flt, t_d)
        checks.check(f"d: announce of {what} from nodea on the wire after re-creating {IFACE}", t,
                     f"{ms(t - t_d)} ms after 'ip link add'" if t else "none")
    established_count = (lambda n: n[0].get("established_count") if n else None)((acd.status() or {}).get("neighbors"))
    checks.equal("e: status --json neighbors[0].established_count (no flap)", established_count, 1)
    steps.anycastd_healthy(checks, acd, 1, allow=EXPECTED_WARN)
    checks.check("e: no ERROR line at all in anycastd's log", not acd.bad_lines("ERROR"), acd.bad_lines("ERROR")[:2])
    checks.verify()
