"""anycastd with two neighbors on the same router: one over IPv4 transport, one over IPv6
transport, both with TCP-MD5, both up at once, each carrying both anycast prefixes (IPv4
prefixes ride the IPv6 session with next_hop_ipv4). A failed health check withdraws
everything from both with the sessions up; the sessions live and die independently. Runs
against every router.

       client ── client0 ┐
                       rtr: ROUTER, AS 65000
                         │ br0 192.0.2.1      session nodea  (neighbor 192.0.2.11)
                         │     2001:db8:2::1  session nodea6 (neighbor 2001:db8:2::11)
         nodea0 ─────────┴──── nodeb0
  tcpdump │
  nodea: anycastd AS 65124, neighbors 192.0.2.1 and 2001:db8:2::1 (local 2001:db8:2::11),
         md5 "anycast-lab-key" on both; next hops 192.0.2.11 / 2001:db8:2::11
         health check "flag": file nodea/ok, 100 ms, rise 1, fall 1

Checks:
  1. both sessions Established; anycastd logs one 'session established' per peer; the
     router's view of each: our capabilities exactly, AS 65124, id 192.0.2.11, hold 9
  2. each of the 4 channels (2 sessions × ipv4/ipv6): 1 accepted, 0 sent
  3. RIB: each prefix twice (one path per session), next hops 192.0.2.11 / 2001:db8:2::11 on
     both, AS path 65124, one best; rtr's FIB: exactly one route per prefix, via nodea
  4. the IPv6 session's OPEN (capture, `anycastd decode`): AS 65124, id 192.0.2.11, hold 9,
     the same capabilities as over IPv4
  5. every segment of both sessions MD5-valid, IPv6 flows included (`anycastd md5 verify`
     and tcpdump -M agree on the count)
  6. health file removed: both prefixes gone from the RIB (both families, both sessions,
     < 2 s, ms printed) and the FIB; decision→FIB timeline printed; the sessions stay up;
     restored: back with 2 paths each and in the FIB
  7. no WARN/ERROR in anycastd's log but the flag check's, 2 'session established', no
     NOTIFICATION in the router's log
  8. the router shuts the IPv6 session down: anycastd's IPv6 neighbor receives the Cease;
     the IPv4 session, the FIB and its channels are untouched, no new IPv4 'session
     established'; enabled again: back within 10 s with its routes
  9. SIGTERM: both sessions receive Cease / Administrative Shutdown; the FIB (RIB) empties
"""

from __future__ import annotations

import json
import time

import pytest

from lab import capture, kernel, plan, steps
from lab.clock import ms, now_us, wait_until
from lab.drivers.anycastd import Anycastd, AnycastdConfig, FileCheck

NODEA = plan.NODEA
PEERS = [NODEA.addr4, NODEA.addr6]


def established_log(peer: str) -> str:
    return rf"neighbor\{{neighbor={peer}\}}.*session established"


@pytest.mark.router_config(v6_nodes=(NODEA,))
@pytest.mark.timeout(120)
def test_ipv6_session(lab, router, checks):
    flag = lab.path("nodea-ok")
    flag.touch()
    acd = Anycastd(lab, AnycastdConfig(NODEA, v6_session=True, role="static", standby="withdraw",
                                       checks=[FileCheck("flag", flag, rise=1, fall=1)]))
    cap = capture.Capture.start(lab, NODEA.port, "sessions.pcap")
    monitor = kernel.RouteMonitor.start(lab)
    t0 = time.monotonic()
    acd.start()
    steps.wait_established(checks, router, PEERS, t0)
    for peer in (plan.RTR_LAN4, plan.RTR_LAN6):
        checks.check(f"anycastd log: exactly 1 'session established' for peer {peer}",
                     wait_until(lambda: acd.count(established_log(peer)) == 1, 2), acd.count(established_log(peer)))
    for peer in PEERS:
        steps.router_view(checks, router, peer, NODEA)

    def channels() -> dict:
        return {(p, f): router.peer_counts(p, f) for p in PEERS for f in ("ipv4", "ipv6")}
    def two_paths() -> bool:
        return len(router.paths(plan.PREFIX4)) == 2 and len(router.paths(plan.PREFIX6)) == 2
    wait_until(lambda: set(channels().values()) == {(1, 0)} and two_paths(), 5)
    for key, got in channels().items():
        checks.equal(f"{router.kind} {key[0]}/{key[1]}: (accepted, sent)", got, (1, 0))
    for prefix, hop in ((plan.PREFIX4, NODEA.addr4), (plan.PREFIX6, NODEA.addr6)):
        paths = router.paths(prefix)
        checks.equal(f"{router.kind} RIB {prefix}: one path per session, both via {hop}, AS 65124; best count",
                     (sorted((p.peer, p.next_hop, p.as_path) for p in paths), sum(p.best for p in paths)),
                     (sorted((peer, hop, (65124,)) for peer in PEERS), 1))
    steps.fib_exact(checks, lab, router, NODEA)

    time.sleep(0.3)
    pcap = cap.stop()
    steps.our_open(checks, acd, pcap, f"ipv6.src == {NODEA.addr6}", "IPv6 session OPEN")
    rc, out = acd.md5_verify(pcap, "--key", plan.MD5_KEY, json_out=True)
    j = json.loads(out or "{}")
    t = j.get("totals", {})
    v6_flows = [f for f in j.get("flows", []) if f["src"].startswith("[")]
    td = capture.md5_verdicts(pcap, plan.MD5_KEY)
    td6 = capture.md5_verdicts(pcap, plan.MD5_KEY, "ip6 and tcp port 179")
    checks.check("md5 verify: exit 0, all signed valid, none unsigned, tcpdump agrees (> 10)",
                 rc == 0 and (t.get("signed"), t.get("valid"), t.get("invalid"), t.get("unsigned")) == (td.valid, td.valid, 0, 0)
                 and td.valid > 10, f"md5 verify {t}; tcpdump {td.valid} valid")
    v6 = sum(f["valid"] for f in v6_flows)
    checks.check("md5 verify: IPv6 flows signed and valid, tcpdump agrees",
                 v6 > 4 and sum(f["invalid"] + f["unsigned"] for f in v6_flows) == 0 and v6 == td6.valid,
                 f"{v6} valid over IPv6; tcpdump {td6.valid}")

    t_rm = now_us()
    flag.unlink()
    empty = wait_until(lambda: router.rib_count("ipv4") == 0 and router.rib_count("ipv6") == 0, 2, 0.02)
    checks.check(f"flag removed: {router.kind}'s RIB empty in both families (< 2 s, polled)", empty,
                 f"{ms(now_us() - t_rm)} ms" if empty else [router.paths(plan.PREFIX4), router.paths(plan.PREFIX6)])
    t_dec = acd.first_us("withdrawing", t_rm)
    if router.fib_proto:
        checks.check("flag removed: rtr's FIB has no BGP route left", wait_until(lambda: steps.fib_empty(lab, router), 1))
        t4 = monitor.route_us(plan.ANYCAST4, deleted=True, since_us=t_rm)
        t6 = monitor.route_us(plan.ANYCAST6, deleted=True, since_us=t_rm)
        checks.check("withdraw timeline: decision, FIB v4, FIB v6", t_dec and t4 and t6,
                     f"decision +{ms(t_dec - t_rm)} ms after rm, FIB v4 +{ms(t4 - t_dec)} ms / v6 +{ms(t6 - t_dec)} ms "
                     "after the decision" if t_dec and t4 and t6 else (t_dec, t4, t6))
    else:
        checks.not_applicable("flag removed: rtr's FIB has no BGP route left", steps.no_fib(router))
        checks.note(f"decision +{ms((t_dec or t_rm) - t_rm)} ms after the rm")
    checks.check("sessions stay up while withdrawn", all(router.established(p) for p in PEERS))
    flag.touch()
    back = wait_until(lambda: two_paths() and (not router.fib_proto or len(kernel.fib_routes(lab, router.fib_proto, "ipv4"))
                                               + len(kernel.fib_routes(lab, router.fib_proto, "ipv6")) == 2), 3)
    checks.check("flag restored: both prefixes back (2 paths each" + (", and in the FIB)" if router.fib_proto else ")"), back)

    steps.anycastd_healthy(checks, acd, established=2, allow=r"check `flag` unhealthy \(1/1\): .* is missing")
    steps.router_quiet(checks, router)

    e4 = acd.count(established_log(plan.RTR_LAN4))
    fib0 = steps.fib_lines(lab, router)
    router.admin_down(NODEA.addr6)
    checks.check(f"{router.kind} shuts the IPv6 session down: anycastd's IPv6 neighbor received the Cease",
                 wait_until(lambda: acd.has(rf"neighbor\{{neighbor={plan.RTR_LAN6}\}}.*received NOTIFICATION notification=Cease"), 3))
    time.sleep(0.5)
    checks.check("IPv6 session down: IPv4 session Established, FIB unchanged, its channels 1/0",
                 router.established(NODEA.addr4) and steps.fib_lines(lab, router) == fib0
                 and [router.peer_counts(NODEA.addr4, f) for f in ("ipv4", "ipv6")] == [(1, 0)] * 2)
    checks.equal("IPv6 session down: IPv4 'session established' count", acd.count(established_log(plan.RTR_LAN4)), e4)
    t0 = time.monotonic()
    router.admin_up(NODEA.addr6)
    up = wait_until(lambda: router.established(NODEA.addr6) and set(channels().values()) == {(1, 0)},
                    10 + router.reconnect_delay_s)
    checks.check(f"IPv6 session enabled again: Established with both routes (< {10 + router.reconnect_delay_s:.0f} s)", up,
                 f"{(time.monotonic() - t0) * 1000:.0f} ms" if up else router.state(NODEA.addr6))

    t_sig = now_us()
    acd.stop()
    for peer in PEERS:
        last = wait_until(lambda: router.last_notification(peer), 2)
        checks.check(f"SIGTERM: {router.kind} session {peer} received Administrative Shutdown",
                     last and "administrative shutdown" in last[0].lower(), last)
    gone = wait_until(lambda: steps.fib_empty(lab, router) if router.fib_proto else
                      router.rib_count("ipv4") + router.rib_count("ipv6") == 0, 2, 0.02)
    checks.check("SIGTERM: " + ("rtr's FIB" if router.fib_proto else f"{router.kind}'s RIB") + " empty", gone,
                 f"{ms(now_us() - t_sig)} ms after the signal (polled)")
    checks.verify()
