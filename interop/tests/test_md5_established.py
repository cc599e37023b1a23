"""anycastd peers with the router over TCP-MD5 on one IPv4 session (the IPv6 prefix rides it
as MP-BGP with next_hop_ipv6); both anycast prefixes reach the router's RIB and FIB and the
client's pings are answered by nodea. Runs against every router.

       client 198.51.100.10, 2001:db8:100::10 ── client0 ┐
                              rtr: ROUTER, AS 65000, id 192.0.2.1, export nothing
                                        │ br0 192.0.2.1, 2001:db8:2::1
                        nodea0 ─────────┴───────── nodeb0
               (tcpdump here) │                          │
  nodea 192.0.2.11: anycastd AS 65124         nodeb 192.0.2.12 (no speaker)
    MD5 "anycast-lab-key", hold 9, retry 2     lo: same anycast addresses
    lo 203.0.113.124/32, 2001:db8:124::1/128

Checks:
  1. session Established at the router (≤ 10 s) and in anycastd's log (peer AS, id, 4-octet)
  2. our OPEN as sent (capture, `anycastd decode`): AS 65124, id 192.0.2.11, hold 9,
     capabilities exactly MP ipv4+ipv6, route refresh, enhanced route refresh, 4-octet AS;
     no graceful restart (64) nor LLGR (71)
  3. the same as the router saw it: capabilities received, peer AS, identifier, hold 9
  4. per family: 1 prefix accepted from nodea, 0 sent to it (export nothing)
  5. RIB: exactly one prefix per family, one path each via 192.0.2.11 / 2001:db8:2::11, AS path
     65124, best
  6. rtr's kernel FIB: exactly those two routes, via nodea (N/A without a FIB: GoBGP)
  7. client pings both anycast addresses: 5/5 replies, only nodea's ICMP counters move (N/A
     without a FIB)
  8. the router sent no prefix to the node (only End-of-RIBs, from a router that sends them
     without graceful restart); we announced exactly the two prefixes
  9. every captured segment MD5-valid (tcpdump -M)
 10. anycastd alive, log free of WARN/ERROR, one 'session established'; the router still
     Established and its log free of NOTIFICATIONs
"""

from __future__ import annotations

import time

import pytest

from lab import capture, plan, steps
from lab.clock import wait_until
from lab.drivers.anycastd import Anycastd, AnycastdConfig

NODEA = plan.NODEA


@pytest.mark.timeout(90)
def test_md5_established(lab, router, checks):
    cap = capture.Capture.start(lab, NODEA.port, "session.pcap")
    acd = Anycastd(lab, AnycastdConfig(NODEA))
    t0 = time.monotonic()
    acd.start()
    steps.wait_established(checks, router, [NODEA.addr4], t0)
    checks.check("anycastd log: 'session established' with peer_as=65000 peer_id=192.0.2.1",
                 wait_until(lambda: acd.has(steps.ESTABLISHED_LOG), 2))
    wait_until(lambda: router.peer_counts(NODEA.addr4, "ipv6") == (1, 0), 5)
    time.sleep(0.3)  # the End-of-RIBs of both sides reach the capture
    pcap = cap.stop()

    steps.our_open(checks, acd, pcap, f"ip.src == {NODEA.addr4}")
    steps.router_view(checks, router, NODEA.addr4, NODEA)
    for fam in ("ipv4", "ipv6"):
        checks.equal(f"{router.kind} {fam}: (accepted, sent) for nodea", router.peer_counts(NODEA.addr4, fam), (1, 0))

    checks.equal(f"{router.kind} RIB: prefixes (ipv4, ipv6)", (router.rib_count("ipv4"), router.rib_count("ipv6")), (1, 1))
    for prefix, hop in ((plan.PREFIX4, NODEA.addr4), (plan.PREFIX6, NODEA.addr6)):
        paths = router.paths(prefix)
        checks.equal(f"{router.kind} RIB {prefix}: one best path via {hop}, AS path 65124, origin IGP, from nodea",
                     [(p.next_hop, p.as_path, p.origin, p.best, p.peer) for p in paths],
                     [(hop, (65124,), "IGP", True, NODEA.addr4)])
    steps.fib_exact(checks, lab, router, NODEA)
    steps.pings_answered_by(checks, lab, router, NODEA, (plan.NODEB,))

    rx = [m for m in acd.decode(capture.bgp_payload(pcap, f"bgp.type == 2 && ip.src == {plan.RTR_LAN4}"))
          if m.get("type") == "UPDATE"]
    checks.equal("router → node: prefixes announced + withdrawn",
                 sum(len(m.get("announced", [])) + len(m.get("withdrawn", [])) for m in rx), 0)
    eor = sorted(f"{m['end_of_rib_family']['afi']}/{m['end_of_rib_family']['safi']}" for m in rx if m.get("end_of_rib"))
    checks.equal("router → node: End-of-RIB families (UPDATEs are only End-of-RIBs)",
                 (eor, len(rx)), (["1/1", "2/1"], 2) if router.end_of_rib_without_gr else ([], 0))
    tx = acd.decode(capture.bgp_payload(pcap, f"bgp.type == 2 && ip.src == {NODEA.addr4}"))
    checks.equal("node → router: announced exactly",
                 sorted(p for m in tx for p in m.get("announced", [])), [plan.PREFIX6, plan.PREFIX4])
    steps.md5_valid(checks, pcap)

    steps.anycastd_healthy(checks, acd, established=1)
    checks.check(f"{router.kind}: still Established at the end", router.established(NODEA.addr4))
    steps.router_quiet(checks, router)
    checks.verify()
