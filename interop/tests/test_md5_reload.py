"""MD5 key changes on `anycastd reload` (issue 16 item 2): adding, changing and removing the key
of one neighbor resets that session alone, once, with Cease / Other Configuration Change
(RFC 4486 subcode 6), and the session comes back signed with the new key (or unsigned once
the key is removed, accepted by a router that has none); the second neighbor keeps its
session throughout. Against each router, reconfigured to the same key without a restart
(`Router.reconfigure`): BIRD `birdc configure`, FRR `[no] neighbor X password` through vtysh,
GoBGP its TOML rewritten and SIGHUP (gobgpd deletes and adds the changed neighbor).

       rtr: BIRD/FRR/GoBGP, AS 65000, nodea (192.0.2.1, password per phase), nodea6 (2001:db8:2::1, none)
              │ br0
  tcpdump ── nodea0
              │
  nodea: anycastd AS 65124, neighbors 192.0.2.1 (md5 per phase) and 2001:db8:2::1 (no md5)

Phases (each: capture, reload anycastd, then reconfigure the router to the same key):
  a. key added (none → KEY), b. key changed (KEY → KEY2), c. key removed (KEY2 → none)
Checks per phase:
  1. `anycastd reload` exit 0; its log names the change ("MD5 key added|changed|removed",
     "Cease / Other Configuration Change") and never the key
  2. the capture: exactly one NOTIFICATION from anycastd, Cease 6/6; the router's log says it
     received Cease / Other Configuration Change (each says it its own way: RECEIVED_CEASE_6)
  3. Established again (≤ 30 s): a new Established period at the router, established_count 1 at
     anycastd (the restarted neighbor counts anew)
  4. the new connection's segments (its TCP stream, SYN on): a, b all MD5-valid with the new
     key (tcpdump -M) and the old key invalid; c none carries the TCP-MD5 option (tshark
     tcp.option_kind == 19), tcpdump -M finds no signed one
  5. the IPv6 session: the same Established period at the router, established_count 1 at anycastd,
     no NOTIFICATION received
"""

from __future__ import annotations

import re
import time

import pytest

from lab import capture, plan
from lab.clock import wait_until
from lab.drivers.anycastd import Anycastd, AnycastdConfig

NODEA = plan.NODEA
KEY, KEY2 = plan.MD5_KEY, plan.MD5_KEY + "-2"
PHASES = (("added", None, KEY), ("changed", KEY, KEY2), ("removed", KEY2, None))
#: how each router's log says it received Cease / Other Configuration Change (6/6)
RECEIVED_CEASE_6 = {"bird": r"Received: Other configuration change",
                    "frr": rf"received from neighbor {re.escape(NODEA.addr4)} 6/6",
                    "gobgp": r"notification-received code 6\(cease\) subcode 6\(other configuration change\)"}


def count(acd: Anycastd, ip: str) -> int:
    return int((acd.neighbor_status(ip) or {}).get("established_count") or 0)


def new_stream(pcap) -> tuple[str, str] | None:
    """(tcp.stream, the node's port) of the last connection that carried an OPEN from nodea."""
    rows = capture.tshark(pcap, f"bgp.type == 1 && ip.src == {NODEA.addr4}", "tcp.stream", "tcp.srcport",
                          "tcp.dstport")
    if not rows:
        return None
    stream, sport, dport = (rows[-1] + ["", "", ""])[:3]
    return stream, (dport if sport == "179" else sport)


@pytest.mark.router_config(md5=None, v6_nodes=(NODEA,))
@pytest.mark.timeout(150)
def test_md5_reload(lab, router, checks):
    acd = Anycastd(lab, AnycastdConfig(NODEA, md5=None, v6_session=True, v6_md5=None))
    acd.start()
    up = lambda: router.established(NODEA.addr4) and router.established(NODEA.addr6)  # noqa: E731
    checks.check("both sessions Established (≤ 15 s)", wait_until(up, 15))
    since6 = router.established_since(NODEA.addr6)
    for what, old, new in PHASES:
        since4 = router.established_since(NODEA.addr4)
        notes0 = len(router.notification_lines())
        cap = capture.Capture.start(lab, NODEA.port, f"{what}.pcap")
        t0 = time.monotonic()
        acd.config.md5 = new
        acd.write_config()
        r = acd.socket_cli("reload")
        checks.check(f"{what}: anycastd reload exit status 0", r.returncode == 0, (r.stdout + r.stderr).strip()[:300])
        checks.check(f"{what}: the session with 192.0.2.1 goes down (≤ 5 s)",
                     wait_until(lambda: not router.established(NODEA.addr4), 5))
        router._replace_neighbor(NODEA.addr4, md5=new)
        router.reconfigure()
        # The restarted neighbor counts its sessions anew: 1 is the one new session.
        back = wait_until(lambda: router.established(NODEA.addr4) and count(acd, plan.RTR_LAN4) == 1, 30)
        checks.check(f"{what}: Established again, a new session (≤ 30 s)",
                     back and not router.same_session(since4, router.established_since(NODEA.addr4)),
                     f"{time.monotonic() - t0:.1f} s, anycastd established_count {count(acd, plan.RTR_LAN4)}")
        checks.note(f"{what}: back in {time.monotonic() - t0:.1f} s")
        time.sleep(0.5)  # the KEEPALIVEs that confirm the OPENs reach the capture
        pcap = cap.stop()

        line = acd.first_line(f"reload: MD5 key {what}: restarting the session")
        checks.check(f"{what}: log names the change and the Cease", "Cease / Other Configuration Change" in line, line)
        checks.check(f"{what}: the log never shows a key", KEY not in acd.log(), "key in the log")
        notes = capture.tshark(pcap, f"bgp.type == 3 && ip.src == {NODEA.addr4}", "bgp.notify.major_error",
                               "bgp.notify.minor_error_cease")
        checks.equal(f"{what}: NOTIFICATIONs from anycastd (code, subcode)", notes, [["6", "6"]])
        got = "\n".join(router.notification_lines()[notes0:])
        checks.check(f"{what}: {router.kind} logs the Cease / Other Configuration Change received",
                     re.search(RECEIVED_CEASE_6[router.kind], got) is not None, got[-600:])

        stream = new_stream(pcap)
        checks.check(f"{what}: the capture holds the new connection's OPEN", stream is not None)
        if stream:
            sid, port = stream
            syn = capture.tshark(pcap, f"tcp.stream == {sid} && tcp.flags.syn == 1 && tcp.flags.ack == 0", "ip.src")
            checks.note(f"{what}: new connection opened by {syn[0][0] if syn else '?'} (node port {port})")
            bpf = f"tcp port 179 and tcp port {port}"
            segments = capture.count(pcap, f"tcp.stream == {sid}")
            signed = capture.count(pcap, f"tcp.stream == {sid} && tcp.option_kind == 19")
            if new:
                v = capture.md5_verdicts(pcap, new, bpf)
                checks.check(f"{what}: every segment of the new connection MD5-valid with the new key",
                             v.all_valid and v.segments == segments >= 4, f"{v} of {segments}, {signed} signed")
                if old:
                    w = capture.md5_verdicts(pcap, old, bpf)
                    checks.check(f"{what}: the old key fails on every one", w.invalid == w.segments > 0, w)
            else:
                v = capture.md5_verdicts(pcap, KEY2, bpf)
                checks.check(f"{what}: no segment of the new connection carries TCP-MD5 (unsigned)",
                             signed == 0 and segments >= 4 and v.valid == 0 and v.invalid == 0,
                             f"{signed} of {segments} signed; tcpdump -M {v}")
        checks.equal(f"{what}: IPv6 session kept (anycastd established_count)", count(acd, plan.RTR_LAN6), 1)
        checks.check(f"{what}: IPv6 session kept ({router.kind}, same Established period)",
                     router.same_session(since6, router.established_since(NODEA.addr6)),
                     f"{since6} → {router.established_since(NODEA.addr6)}")
    checks.equal("IPv6 neighbor: no NOTIFICATION received",
                 (acd.neighbor_status(plan.RTR_LAN6) or {}).get("last_notification_received"), None)
    # While only one side has the new key, connection attempts time out (WARN); nothing else.
    bad = acd.bad_lines(allow=r"neighbor error.*(timed out|Connection refused|reset by peer)")
    checks.check("anycastd log: no WARN/ERROR but the key-mismatch connect timeouts", not bad, bad[:5])
    checks.verify()
