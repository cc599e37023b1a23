"""The router SENDS routes to anycastd (the opposite of the lab's anycast-out drop, for this
capture only) and a ROUTE-REFRESH; every message it sends is captured, split, decoded by
interop/bgpdecode.py and cross-checked with tshark (fixtures-extract.py); anycastd must
decode every one of them too, keep its session and keep announcing. With FIXTURES_OUT=DIR
the fixtures, the pcap and the capture notes are written to DIR (e.g. fixtures/lab);
without it they stay in the run dir and are discarded. Runs against every router.

  rtr: ROUTER (AS 65000) ── br0 ── nodea0 [tcpdump here] ── nodea: anycastd (AS 65124)
       MD5 anycast-lab-key, hold 9 (keepalive 3)
       originates 198.51.100.0/24 + 2001:db8:100::/64 (the client LAN) with MED 50,
       communities 65000:100 + no-export, large community 65000:1:2, and exports only those

Steps → the router sends: OPEN, KEEPALIVE, UPDATE (IPv4 NLRI), UPDATE (MP_REACH IPv6),
End-of-RIB (BIRD only: the others send it only with graceful restart); soft reset in →
ROUTE-REFRESH ×2 (BIRD, FRR; GoBGP keeps its Adj-RIB-In and sends none); withdraw (IPv4)
and MP_UNREACH (IPv6); admin shutdown → NOTIFICATION Cease/Administrative Shutdown with an
RFC 9003 message.
Checks:
  1. session Established; the router sends nodea exactly 1 prefix per family
  2. anycastd still Established (one 'session established') and advertising its 2 prefixes
     after receiving the router's routes and a periodic KEEPALIVE
  3. ROUTE-REFRESH from the router captured (>= 2) and anycastd re-sent 203.0.113.124 after
     it (ms printed; N/A for a router that sends none)
  4. withdraw: the router sends nodea nothing any more; the shutdown NOTIFICATION with its
     message reached anycastd (its log)
  5. fixtures-extract.py: every message the router sent decoded and tshark agrees on every
     field (or differs only in the spelling of an address)
  6. `anycastd decode` decodes every message the router sent (same count; types printed)
  7. anycastd alive; no ERROR in its log
"""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from pathlib import Path

import pytest

from lab import capture, fixtures, plan
from lab.clock import ms, now_us, wait_until
from lab.drivers import ExportRoute, make_router, router_config
from lab.drivers.anycastd import Anycastd, AnycastdConfig

NODEA = plan.NODEA
ATTRS = "MED 50, communities 65000:100 + no-export, large community 65000:1:2"
# bird-lab is capture-bird-fixtures' BIRD→GoBGP set; this one is BIRD→anycastd
NAME_PREFIX = {"bird": "bird-acd-lab", "frr": "frr-lab", "gobgp": "gobgp-lab"}
DISPLAY_NAME = {"bird": "BIRD", "frr": "FRR", "gobgp": "GoBGP"}
CONFIG_NAME = {"bird": "capture-bird-acd.conf", "frr": "capture-frr.conf", "gobgp": "capture-gobgp-rtr.toml"}
NOTES = {
    "bird": {"open-": "BIRD 2's OPEN to an eBGP peer (hold 9): MP ipv4+ipv6, route refresh, enhanced route refresh, "
                      "graceful restart helper, 4-octet AS.",
             "update-bird-acd-lab-end-of-rib-ipv4": "RFC 4724 End-of-RIB for IPv4 unicast (BIRD sends it without GR).",
             "update-bird-acd-lab-end-of-rib-ipv6": "RFC 4724 End-of-RIB for IPv6 unicast (empty MP_UNREACH_NLRI)."},
    "frr": {"open-": "FRR 8.4's OPEN to an eBGP peer ('frr defaults traditional', timers 3 9): MP ipv4+ipv6, route "
                     "refresh (old + new code), enhanced route refresh, 4-octet AS, add-path receive, extended message, "
                     "hostname (FQDN, 73), graceful restart helper, long-lived GR."},
    "gobgp": {"open-": "GoBGP 3.10's OPEN to an eBGP peer (hold 9): MP ipv4+ipv6, route refresh, extended next hop "
                       "(RFC 8950), 4-octet AS, FQDN (73, the host name).",
              "update-gobgp-lab-mp-reach-ipv6-": "Over the IPv4 session GoBGP puts the IPv4-mapped IPv6 address "
              "::ffff:192.0.2.1 as next hop; bgpdecode.py writes ::ffff:c000:201, tshark ::ffff:192.0.2.1."},
}
COMMON_NOTES = {
    "keepalive-": "KEEPALIVE (keepalive 3 s); all identical, kept once.",
    "update-{p}-ipv4-": f"{plan.CLIENT_LAN4} originated by the router with {ATTRS}; eBGP next hop self {plan.RTR_LAN4}.",
    "update-{p}-mp-reach-ipv6-": f"{plan.CLIENT_LAN6} over the IPv4 session (MP-BGP), same attributes.",
    "update-{p}-withdraw-": f"After the router stopped originating {plan.CLIENT_LAN4}: IPv4 withdrawn routes.",
    "update-{p}-mp-unreach-": f"After the router stopped originating {plan.CLIENT_LAN6}: MP_UNREACH_NLRI.",
    "route-refresh-": "Soft reset in: ROUTE-REFRESH (anycastd advertised route refresh + enhanced route refresh).",
    "notification-": "Admin shutdown of the session with a message: Cease / Administrative Shutdown with an RFC 9003 "
                     "Shutdown Communication.",
}


@pytest.mark.timeout(120)
def test_export_capture(lab, router_kind, checks):
    router = make_router(router_kind, lab, router_config(exports=[ExportRoute(plan.CLIENT_LAN4),
                                                                  ExportRoute(plan.CLIENT_LAN6)]))
    version = re.search(r"\d+\.\d+(?:\.\d+)?", router.version()).group(0)  # FRR 10.3: two numbers
    prefix = NAME_PREFIX[router.kind]
    pcap_name = f"{router.kind}-{version}-anycastd-session.pcap"
    message = f"anycastd lab fixture: {DISPLAY_NAME[router.kind]} admin shutdown"  # as in the committed fixtures
    timeline = fixtures.Timeline(lab.path("timeline.txt"))
    cap = capture.Capture.start(lab, NODEA.port, pcap_name)
    acd = Anycastd(lab, AnycastdConfig(NODEA, role="static"))
    timeline.step(f"start {router.kind} (rtr, originating {plan.CLIENT_LAN4} and {plan.CLIENT_LAN6}) and anycastd (nodea)")
    router.start()
    acd.start()

    checks.check(f"{router.kind}: session with nodea Established", wait_until(lambda: router.established(NODEA.addr4), 10))
    sent = lambda: tuple((router.peer_counts(NODEA.addr4, f) or (0, -1))[1] for f in ("ipv4", "ipv6"))
    checks.check(f"{router.kind}: sends nodea exactly 1 prefix per family", wait_until(lambda: sent() == (1, 1), 5), sent())
    timeline.step("routes exchanged; waiting for a periodic KEEPALIVE (keepalive 3 s)")
    time.sleep(3.5)
    checks.check("anycastd: still Established (1 'session established') and advertising 2 prefixes",
                 acd.count("session established") == 1 and len((acd.status() or {}).get("advertising", [])) == 2)

    timeline.step(f"{router.kind}: soft reset in towards {NODEA.addr4} (ROUTE-REFRESH where it sends one)")
    t_rr = now_us()
    router.soft_reset_in(NODEA.addr4)
    time.sleep(0.5)
    timeline.step(f"{router.kind}: stop originating {plan.CLIENT_LAN4} / {plan.CLIENT_LAN6} (withdraw, MP_UNREACH)")
    router.withdraw_exports()
    checks.check(f"{router.kind}: sends nodea nothing any more", wait_until(lambda: sent() == (0, 0), 5), sent())
    time.sleep(0.5)
    timeline.step(f"{router.kind}: admin shutdown of {NODEA.addr4} with message \"{message}\" (NOTIFICATION Cease)")
    router.admin_down(NODEA.addr4, message)
    checks.check("anycastd log: the NOTIFICATION with the shutdown message",
                 wait_until(lambda: acd.has(re.escape(message)), 3))
    time.sleep(0.3)
    pcap = cap.stop()
    timeline.step("capture stopped")

    rr = capture.messages(pcap, f"bgp.type == 5 && ip.src == {plan.RTR_LAN4}", 5)
    if router.sends_route_refresh:
        re_sent = capture.first_us(pcap, f"bgp.type == 2 && ip.src == {NODEA.addr4} && bgp.nlri_prefix == {plan.ANYCAST4}", t_rr)
        checks.check(f"ROUTE-REFRESH from {router.kind} captured, anycastd re-sent {plan.ANYCAST4} after it",
                     rr >= 2 and re_sent, f"{rr} ROUTE-REFRESH, re-sent +{ms((re_sent or t_rr) - t_rr)} ms")
    else:
        checks.not_applicable("ROUTE-REFRESH answered", f"{router.kind}'s soft reset in keeps its Adj-RIB-In and "
                              f"sends no ROUTE-REFRESH ({rr} captured)")

    fx = lab.path("fixtures")
    tools = fixtures.tools_file(lab.path("tools.txt"), {router.kind: router.version(), "anycastd": acd.version()})
    notes = {k.format(p=prefix): v for k, v in COMMON_NOTES.items()} | NOTES[router.kind]
    ex = fixtures.extract(pcap, fx, notes, plan.RTR_LAN4, f"fixtures/lab/{pcap_name}", prefix,
                          f"{router.kind} {version}", timeline.path, tools,
                          f"interop/tests/test_export_capture.py ({router.kind} {version} in rtr exporting to anycastd "
                          "in nodea, MD5; tcpdump -i nodea0 on rtr's bridge port)")
    print("\n".join("    " + line for line in ex.log.splitlines()))
    if ex.ok:
        checks.check("fixtures-extract.py: every message decoded, tshark agrees", True, ex.log.strip().splitlines()[-1])
    else:
        same, lines = fixtures.review(fx)
        checks.check("fixtures-extract.py: tshark agrees but for the spelling of addresses",
                     " fixtures written to " in ex.log and same, lines or ex.log[-300:])

    dec = acd.decode(capture.bgp_payload(pcap, f"bgp && ip.src == {plan.RTR_LAN4}"))
    bad = [m for m in dec if m.get("type") is None or (m.get("type") != "NOTIFICATION" and m.get("error"))]
    types = Counter(m.get("type") for m in dec)
    checks.check(f"anycastd decode: all {ex.messages} messages {router.kind} sent decode",
                 not bad and len(dec) == ex.messages > 0, f"{dict(types)}; undecoded {bad[:1]}")
    checks.check(f"anycastd (pid {acd.proc.pid}) still running", acd.alive())
    errors = acd.bad_lines("ERROR")
    checks.check("anycastd log: no ERROR line", not errors, errors[:2])
    if os.environ.get("FIXTURES_OUT"):
        stem = f"capture-{prefix.removesuffix('-lab')}"
        fixtures.install(fx, Path(os.environ["FIXTURES_OUT"]).resolve(), {
            pcap_name: pcap, CONFIG_NAME[router.kind]: router.config_path,
            f"{stem}-timeline.txt": timeline.path, f"{stem}-tools.txt": tools})
    checks.verify()
