"""Scenario steps that more than one scenario takes, each recording its checks: sessions up,
our OPEN as sent, the router's view of our capabilities, MD5 on every segment, the FIB, the
client's pings and anycastd's health. Router differences are asked of the driver (FIB or not,
End-of-RIB or not), never of the router's name.
"""

from __future__ import annotations

import re
import time

from . import capture, kernel, plan
from .checks import Checks
from .clock import wait_until
from .drivers.anycastd import Anycastd
from .drivers.router import Router
from .topology import Lab

#: what our OPEN carries, as `anycastd decode` names it (sorted)
OUR_OPEN_CAPS = ("enhanced-route-refresh four-octet-as/65124 multiprotocol/1/1 "
                 "multiprotocol/2/1 route-refresh")
#: the same as a router normalises what it received
OUR_CAPS = {"mp-ipv4-unicast", "mp-ipv6-unicast", "route-refresh", "enhanced-route-refresh",
            "4-octet-as"}
ESTABLISHED_LOG = r"session established peer_as=65000 peer_id=192\.0\.2\.1 four_octet_as=true"


def wait_established(checks: Checks, router: Router, peers: list[str], t0: float,
                     timeout: float = 10) -> bool:
    """Every peer Established at the router within `timeout` s (ms since t0 printed)."""
    ok = True
    for peer in peers:
        up = wait_until(lambda: router.established(peer), timeout)
        ok &= checks.check(f"{router.kind}: session with {peer} Established",
                           up, f"{(time.monotonic() - t0) * 1000:.0f} ms after anycastd start"
                           if up else f"state {router.state(peer)!r} after {timeout} s")
    return ok


def open_caps(open_msg: dict) -> str:
    names = []
    for c in open_msg.get("capabilities", []):
        extra = f"/{c['afi']}/{c['safi']}" if "afi" in c else f"/{c['asn']}" if "asn" in c else ""
        names.append(c["name"] + extra)
    return " ".join(sorted(names))


def our_open(checks: Checks, acd: Anycastd, pcap, src_filter: str, what: str = "our OPEN") -> None:
    """The OPEN anycastd sent, decoded from the capture by `anycastd decode`."""
    msgs = [m for m in acd.decode(capture.bgp_payload(pcap, f"bgp.type == 1 && {src_filter}"))
            if m.get("type") == "OPEN"]
    if not checks.check(f"{what}: in the capture and decodable", len(msgs) == 1, f"{len(msgs)} OPEN(s)"):
        return
    o = msgs[0]
    checks.equal(f"{what}: version, my_as, bgp_id, hold", (o.get("version"), o.get("my_as"),
                 o.get("bgp_id"), o.get("hold_time")), (4, plan.NODE_AS, acd.node.addr4, 9))
    checks.equal(f"{what}: capabilities exactly", open_caps(o), OUR_OPEN_CAPS)
    checks.check(f"{what}: no graceful restart (64) nor LLGR (71) capability",
                 not any(c.get("code") in (64, 71) for c in o.get("capabilities", [])))


def router_view(checks: Checks, router: Router, peer: str, node: plan.Node) -> None:
    """The router's view of our OPEN: capabilities exactly ours, AS, identifier, hold."""
    caps = router.capabilities(peer)
    checks.equal(f"{router.kind} ({peer}): capabilities received exactly", caps, OUR_CAPS)
    checks.check(f"{router.kind} ({peer}): no graceful restart / LLGR / add-path received",
                 caps is not None and not caps & {"graceful-restart", "llgr", "add-path"}, sorted(caps or ()))
    checks.equal(f"{router.kind} ({peer}): peer AS, identifier, hold time",
                 router.session_facts(peer), (plan.NODE_AS, node.addr4, 9))


def md5_valid(checks: Checks, pcap, key: str = plan.MD5_KEY, min_segments: int = 6,
              min_ipv6: int = 0) -> capture.Md5Verdicts:
    v = capture.md5_verdicts(pcap, key)
    checks.check("tcpdump -M: every BGP segment md5 valid",
                 v.all_valid and v.segments >= min_segments and v.ipv6 >= min_ipv6,
                 f"{v.segments} segments ({v.ipv6} IPv6): {v.valid} valid, {v.invalid} invalid")
    return v


def fib_lines(lab: Lab, router: Router) -> dict[str, list[str]]:
    return {fam: kernel.fib_routes(lab, router.fib_proto, fam) for fam in ("ipv4", "ipv6")} \
        if router.fib_proto else {}


def fib_exact(checks: Checks, lab: Lab, router: Router, node: plan.Node, what: str = "rtr FIB") -> None:
    """The FIB holds exactly one route per anycast prefix, via `node` on br0."""
    if not router.fib_proto:
        checks.not_applicable(f"{what}: the anycast routes via {node.name}", no_fib(router))
        left = kernel.fib_nexthops(lab, plan.ANYCAST4) + kernel.fib_nexthops(lab, plan.ANYCAST6)
        checks.check(f"{what}: no anycast route at all ({router.kind} does not program the kernel)", not left, left)
        return
    want = {"ipv4": (plan.ANYCAST4, node.addr4), "ipv6": (plan.ANYCAST6, node.addr6)}

    def exact(fam: str, lines: list[str]) -> bool:
        addr, hop = want[fam]
        return len(lines) == 1 and bool(re.match(rf"^{re.escape(addr)} via {re.escape(hop)} dev br0 .*metric \d+", lines[0]))
    # bounded wait: BIRD 3 writes the kernel table a little after its RIB has the route
    wait_until(lambda: all(exact(f, lines) for f, lines in fib_lines(lab, router).items()), 3)
    got = fib_lines(lab, router)
    for fam, (addr, hop) in want.items():
        checks.check(f"{what} {fam}: exactly '{addr} via {hop} dev br0'", exact(fam, got[fam]), got[fam])


def fib_empty(lab: Lab, router: Router) -> bool:
    return not any(fib_lines(lab, router).values())


def no_fib(router: Router) -> str:
    return (f"{router.kind} installs no routes in the kernel here (the lab runs gobgpd without zebra: its zebra "
            "client does not work with FRR 8.4's zebra), so there is no FIB and nothing to ping through")


def pings_answered_by(checks: Checks, lab: Lab, router: Router, node: plan.Node,
                      others: tuple[plan.Node, ...] = ()) -> None:
    """The client's 5 pings to each anycast address are answered, by `node` only."""
    for dst, ctr in ((plan.ANYCAST4, "IcmpInEchos"), (plan.ANYCAST6, "Icmp6InEchos")):
        if not router.fib_proto:
            checks.not_applicable(f"client ping {dst} answered by {node.name}", no_fib(router))
            continue
        before = {n.name: kernel.counter(lab, n.name, ctr) for n in (node, *others)}
        p = kernel.ping(lab, dst)
        moved = {n: kernel.counter(lab, n, ctr) - v for n, v in before.items()}
        checks.check(f"client ping {dst}: 5/5 replies", p.received == 5 and p.replies_from == 5,
                     f"{p.sent} sent, {p.received} received")
        checks.check(f"ping {dst} answered by {node.name} ({ctr})",
                     moved[node.name] == 5 and all(v == 0 for n, v in moved.items() if n != node.name), moved)


def anycastd_healthy(checks: Checks, acd: Anycastd, established: int, allow: str | None = None,
                     levels: str = "WARN|ERROR") -> None:
    checks.check(f"anycastd (pid {acd.proc.pid if acd.proc else '?'}) still running", acd.alive())
    bad = acd.bad_lines(levels, allow)
    checks.check(f"anycastd log: no {levels.replace('|', '/')} line" + (" but the expected ones" if allow else ""),
                 not bad, bad[:2])
    n = acd.count("session established")
    checks.equal("anycastd log: 'session established' count (no flap)", n, established)


def router_quiet(checks: Checks, router: Router) -> None:
    lines = router.notification_lines()
    checks.check(f"{router.kind} log: no NOTIFICATION / error", not lines, lines[:2])


def status_counters(doc: object, word: str, path: str = "") -> dict[str, int]:
    """Every numeric field of a `status --json` document whose name contains `word`
    (case-insensitive), by its path (`neighbors[0].refused_connections`, …)."""
    out: dict[str, int] = {}
    if isinstance(doc, dict):
        for k, v in doc.items():
            p = f"{path}.{k}" if path else str(k)
            if word.lower() in str(k).lower() and isinstance(v, (int, float)) and not isinstance(v, bool):
                out[p] = int(v)
            else:
                out.update(status_counters(v, word, p))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out.update(status_counters(v, word, f"{path}[{i}]"))
    return out


def status_counter_grew(checks: Checks, acd: Anycastd, before: dict[str, int], word: str,
                        what: str) -> None:
    """The hook for a status counter a fix adds later: if `status --json` has numeric fields
    whose name contains `word`, their sum must have grown since `before` (the same function's
    `status_counters` taken earlier); if it has none, N/A with that reason (never PASS)."""
    now = status_counters(acd.status() or {}, word)
    name = f"anycastd status --json: the '*{word}*' counter(s) grew ({what})"
    if not now:
        checks.not_applicable(name, f"this binary's status --json has no numeric field whose name "
                                    f"contains '{word}' ({acd.version() or 'version unknown'})")
        return
    checks.check(name, sum(now.values()) > sum(before.values()), f"{before} -> {now}")
