"""H1 (review reliability-2026-12 §3, issue 10): a dual-homed anycastd listens on two local
addresses; an attacker on its second uplink connects *from* the keyed router's address to
the other listener, unsigned. anycastd must refuse that connection (no OPEN, nothing adopted
by the router's neighbor task), and the router's real, signed session must not be disturbed
by it. Runs against every router as R1.

       client ── client0 ┐
                       rtr: ROUTER = R1, AS 65000, 192.0.2.1, MD5 "anycast-lab-key"
                         │ br0 192.0.2.1             (started only in phase 2)
         nodea0 ─────────┴──── nodeb0 (unused)
  (capture A) │  LAN-A, 192.0.2.0/24
  nodea: anycastd AS 65124, two neighbors, two listeners:
    eth0 A = 192.0.2.11      neighbor R1 192.0.2.1      local_ip A, md5 (key on A:179 only)
    eth1 B = 198.51.100.130  neighbor R2 198.51.100.129 local_ip B, AS 65001, no key, passive
    ip rule from B lookup 100; table 100: 198.51.100.128/25 dev eth1, default via R2
    rp_filter 2 (loose) on all/eth1
  (capture B) │  LAN-B, 198.51.100.128/25 (a veth; the upper half of the doc range, so no
              │  address is also one of the client LAN's, where rtr is 198.51.100.1)
  atk: eth0 198.51.100.129 (R2: the rogue device on the second router's LAN)
       lo 192.0.2.1/32 (R1's address), tools/h1attacker.py: a plain TCP client bound to
       192.0.2.1 (no TCP_MD5SIG) connecting to B:179; on an OPEN it answers OPEN (AS 65000,
       id 192.0.2.1) + KEEPALIVE, reads UPDATEs, ends with a Cease

Why the routing: replies from B must leave through LAN-B (ordinary source routing on a host
with two uplinks), so B's SYN-ACK to "192.0.2.1" reaches atk, not the real router on LAN-A.
rp_filter: the attacker's SYN from 192.0.2.1 arrives on eth1 while the main table routes
192.0.2.1 out of eth0; loose mode (2, what systemd ships for hosts) accepts a source that is
reachable at all. It is set explicitly so that the scenario does not depend on the value the
namespace inherits from the host (strict mode happens to pass too here: its reverse lookup
carries the source B, so `from B` selects table 100, whose default is on eth1).

Checks:
  0. the path is real before anycastd runs: the attacker's SYN to B:179 from 192.0.2.1 is
     answered by a RST (the reply left through LAN-B)
  phase 1 (anycastd running, R1's router not started: R1's session is not Established, so a
  collision cannot be what closes the attacker; 3 attempts):
  1. every attempt completed the TCP handshake (else the path is broken: FAIL), or the kernel
     dropped the unsigned SYN for lack of a signature (TcpExtTCPMD5NotFound rose in nodea: a
     listener that holds R1's key, also a fix)
  2. no attempt received a BGP OPEN from anycastd   (today's main: every one does: H1)
  3. no attempt got further (no KEEPALIVE, no UPDATE: the anycast prefixes never reach it)
  4. every attempt was closed by anycastd (FIN or RST) within the read timeout
  5. anycastd logged no 'session established' and R1's neighbor is not Established
  phase 2 (the router started):
  6. R1's session Established ≤ 10 s, both prefixes at the router via 192.0.2.11
  7. the attacker keeps trying for 4 s (≤ 10 attempts): no OPEN, each closed
  8. R1 undisturbed: the router still Established in the same session, anycastd's
     'session established' count, R1's established_count and flaps unchanged, both prefixes
     still there, no NOTIFICATION in the router's log
  9. every segment on LAN-A MD5-valid (tcpdump -M, capture A, phase 2)
 10. no BGP message from B on LAN-B at all (capture B, both phases)
 11. anycastd's log has a line with 'refused' naming 192.0.2.1 (the refusal is visible)
 12. the status hook: if `status --json` has a numeric field whose name contains 'refused',
     it grew; else N/A with that reason
 13. anycastd alive
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from lab import capture, kernel, plan, steps
from lab.clock import wait_until
from lab.drivers import make_router, router_config
from lab.drivers.anycastd import Anycastd, AnycastdConfig, ExtraNeighbor
from lab.topology import Lab, log

NODEA = plan.NODEA
ATK = "atk"
B = plan.LANB_NODEA4
R1 = plan.RTR_LAN4
R2 = plan.LANB_PEER4
ATTACKER = Path(__file__).resolve().parents[1] / "tools" / "h1attacker.py"
PYTHON = "/usr/bin/python3"  # Debian's: a pyenv shim may shadow python3
PHASE1_ATTEMPTS = 3
PHASE2_SECONDS = 4
PHASE2_ATTEMPTS = 10
CONNECT_TIMEOUT = 2.0
READ_TIMEOUT = 1.5


def build_lan_b(lab: Lab) -> None:
    """LAN-B: nodea eth1 (B) — atk eth0 (R2), atk holding R1's address on lo, nodea's
    source routing for B; IPv4 only (IPv6 off on both ends of the veth)."""
    lab.add_netns(ATK)
    lab.ip("nodea", f"link add eth1 address 02:00:00:00:00:21 type veth peer name eth0"
                    f" address 02:00:00:00:02:21 netns {lab.ns(ATK)}")
    lab.sh("nodea", "sysctl", "-q", "-w", "net.ipv6.conf.eth1.disable_ipv6=1",
           "net.ipv4.conf.all.rp_filter=2", "net.ipv4.conf.eth1.rp_filter=2", check=True)
    lab.sh(ATK, "sysctl", "-q", "-w", "net.ipv6.conf.eth0.disable_ipv6=1", check=True)
    lab.ip("nodea", f"addr add {B}/25 dev eth1", "link set eth1 up",
           f"route add {plan.LANB_NET4} dev eth1 src {B} table {plan.LANB_TABLE}",
           f"route add default via {R2} dev eth1 table {plan.LANB_TABLE}",
           f"rule add from {B} lookup {plan.LANB_TABLE} pref 100")
    lab.ip(ATK, f"addr add {R2}/25 dev eth0", "link set eth0 up", f"addr add {R1}/32 dev lo")
    if not wait_until(lambda: lab.sh(ATK, "ping", "-c1", "-W1", "-q", B).returncode == 0, 5):
        raise RuntimeError(f"LAN-B: {ATK} cannot ping {B}")


def attack(lab: Lab, attempts: int, duration: float, interval: float) -> list[dict]:
    """Runs the attacker in atk (bounded) and returns one dict per attempt."""
    argv = [PYTHON, str(ATTACKER), "--src", R1, "--dst", B, "--attempts", str(attempts),
            "--duration", str(duration), "--interval", str(interval), "--asn", str(plan.RTR_AS),
            "--bgp-id", plan.RTR_ID, "--connect-timeout", str(CONNECT_TIMEOUT),
            "--read-timeout", str(READ_TIMEOUT)]
    bound = duration + CONNECT_TIMEOUT + READ_TIMEOUT + 10
    r = lab.sh(ATK, *argv, timeout=bound)
    out = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    if r.returncode != 0 or not out:
        raise RuntimeError(f"h1attacker exit {r.returncode}: {r.stderr[-600:]}")
    with open(lab.path("h1attacker.jsonl"), "a") as f:
        f.write(r.stdout)
    return out


def describe(a: dict) -> str:
    if not a["handshake"]:
        return f"#{a['n']}: no handshake ({a['connect_error']})"
    got = (f"OPEN AS {a['open']['my_as']} id {a['open']['bgp_id']} after {a['first_byte_ms']} ms"
           if a["open"] else f"{a['bytes']} bytes")
    more = f", {a['keepalives']} KEEPALIVE" if a["keepalives"] else ""
    more += f", announced {sorted(a['announced'])}" if a["announced"] else ""
    more += f", NOTIFICATION {a['notification']}" if a["notification"] else ""
    return f"#{a['n']} from {a.get('local', '?')}: {got}{more}; {a['end']} at {a['end_ms']} ms"


def outcome(a: dict) -> tuple:
    return (a["handshake"], a["connect_error"], bool(a["open"]), a["keepalives"] > 0,
            sorted(a["announced"]), a["notification"], a["end"])


def summarize(tries: list[dict]) -> str:
    """The first attempt in full, and how many more ended the same way (else each of them)."""
    if not tries:
        return "none"
    first, rest = tries[0], tries[1:]
    if all(outcome(a) == outcome(first) for a in rest):
        return describe(first) + (f" (and {len(rest)} more alike)" if rest else "")
    return "; ".join(describe(a) for a in tries)


def attempt_checks(checks, phase: str, tries: list[dict], md5_notfound: tuple[int, int]) -> None:
    """Checks 1-4 (phase 1) or 7 (phase 2) over the attacker's attempts."""
    checks.note(f"{phase}: {len(tries)} attempt(s): " + "; ".join(describe(a) for a in tries))
    shook = [a for a in tries if a["handshake"]]
    if len(shook) == len(tries):
        checks.check(f"{phase}: every attempt completed the TCP handshake to {B}:179 (the path is real)", True,
                     f"{len(shook)}/{len(tries)}")
    else:
        n0, n1 = md5_notfound
        checks.check(f"{phase}: the attempts without a handshake were dropped by nodea's kernel for "
                     "lack of an MD5 signature (TcpExtTCPMD5NotFound rose); else the path is broken",
                     n1 > n0, f"{len(shook)}/{len(tries)} handshakes; TcpExtTCPMD5NotFound {n0} -> {n1}; "
                     + summarize([a for a in tries if not a["handshake"]]))
    opens = [a for a in shook if a["open"]]
    checks.check(f"{phase}: no attempt from {R1} (unsigned) to {B}:179 received a BGP OPEN",
                 not opens, f"{len(opens)}/{len(shook)} got one: {summarize(opens)}" if opens
                 else f"0/{len(shook)}")
    further = [a for a in shook if a["keepalives"] or a["announced"]]
    checks.check(f"{phase}: no attempt got a KEEPALIVE or an UPDATE (no hijacked session, no route to the attacker)",
                 not further, f"{len(further)}/{len(shook)}: {summarize(further)}" if further else "none")
    closed = [a for a in shook if a["end"] in ("closed by the speaker (FIN)", "reset by the speaker") and not a["bytes"]]
    checks.check(f"{phase}: anycastd closed every connection without a word (FIN/RST, 0 bytes) within "
                 f"{CONNECT_TIMEOUT + READ_TIMEOUT:.1f} s", len(closed) == len(shook),
                 f"{len(closed)}/{len(shook)}" + ("" if len(closed) == len(shook)
                                                  else f"; the others: {summarize([a for a in shook if a not in closed])}"))


def r1_status(acd: Anycastd) -> dict:
    for n in (acd.status() or {}).get("neighbors", []):
        if n.get("remote_ip") == R1:
            return n
    return {}


@pytest.mark.timeout(90)
def test_listener_bypass(lab, router_kind, checks):
    t_start = time.monotonic()
    build_lan_b(lab)
    cap_b = capture.Capture.start(lab, "eth1", "lan-b.pcap", role="nodea")

    # 0. The path before anycastd runs: nothing listens on B:179, so the SYN gets a RST.
    pre = attack(lab, 1, 1, 0)[0]
    checks.check(f"path: {ATK} → {B}:179 from {R1} answered by a RST before anycastd runs "
                 "(the reply left through LAN-B)", pre["connect_error"] and "Refused" in pre["connect_error"],
                 describe(pre))

    acd = Anycastd(lab, AnycastdConfig(NODEA, extra_neighbors=(
        ExtraNeighbor(R2, plan.LANB_PEER_AS, B, passive=True),)))
    acd.start()
    listening = wait_until(lambda: all(acd.has(rf"listening for BGP.*{re.escape(a)}:179") for a in (NODEA.addr4, B)), 5)
    checks.check(f"anycastd listens on {NODEA.addr4}:179 and {B}:179", listening,
                 [line for _, line in acd.lines("listening for BGP")])
    refused0 = steps.status_counters(acd.status() or {}, "refused")

    # Phase 1: R1's router not started; the attacker tries PHASE1_ATTEMPTS times.
    t1 = time.monotonic()
    nf0 = kernel.counter(lab, "nodea", "TcpExtTCPMD5NotFound")
    tries = attack(lab, PHASE1_ATTEMPTS, 10, 0.3)
    nf1 = kernel.counter(lab, "nodea", "TcpExtTCPMD5NotFound")
    attempt_checks(checks, "phase 1", tries, (nf0, nf1))
    est1 = acd.count("session established")
    checks.equal("phase 1: anycastd log: 'session established' while the router is down", est1, 0)
    st = r1_status(acd)
    checks.check(f"phase 1: anycastd's neighbor {R1} was never Established (status: established_count 0)",
                 st.get("state") != "Established" and st.get("established_count") == 0,
                 f"state {st.get('state')!r}, established_count {st.get('established_count')}")
    checks.note(f"phase 1 took {time.monotonic() - t1:.1f} s")

    # Phase 2: the router comes up; its signed session must stay undisturbed by the attacker.
    t2 = time.monotonic()
    cap_a = capture.Capture.start(lab, NODEA.port, "lan-a.pcap")
    router = make_router(router_kind, lab, router_config())
    router.start()
    up = wait_until(lambda: router.established(NODEA.addr4), 10)
    checks.check(f"phase 2: {router.kind}: session with {NODEA.addr4} Established", up,
                 f"{(time.monotonic() - t2) * 1000:.0f} ms after the router's start" if up
                 else f"state {router.state(NODEA.addr4)!r} after 10 s")
    both = wait_until(lambda: [p.peer for p in router.paths(plan.PREFIX4) + router.paths(plan.PREFIX6)]
                      == [NODEA.addr4] * 2, 5)
    checks.check(f"phase 2: {router.kind} has both prefixes from nodea", both,
                 [router.paths(plan.PREFIX4), router.paths(plan.PREFIX6)])
    since0 = router.established_since(NODEA.addr4)
    wait_until(lambda: r1_status(acd).get("state") == "Established", 3)
    n_est0, st0 = acd.count("session established"), r1_status(acd)

    nf0 = kernel.counter(lab, "nodea", "TcpExtTCPMD5NotFound")
    tries2 = attack(lab, PHASE2_ATTEMPTS, PHASE2_SECONDS, 0.4)
    nf1 = kernel.counter(lab, "nodea", "TcpExtTCPMD5NotFound")
    attempt_checks(checks, "phase 2", tries2, (nf0, nf1))

    since1 = router.established_since(NODEA.addr4)
    checks.check(f"phase 2: {router.kind} still Established with nodea, the same session",
                 router.established(NODEA.addr4) and router.same_session(since0, since1),
                 f"state {router.state(NODEA.addr4)!r}, since {since0!r} -> {since1!r}")
    st1 = r1_status(acd)
    checks.equal("phase 2: anycastd: 'session established' count, R1 (established_count, flaps) unchanged",
                 (acd.count("session established"), st1.get("established_count"), st1.get("flaps")),
                 (n_est0, st0.get("established_count"), st0.get("flaps")))
    checks.check(f"phase 2: {router.kind} still has both prefixes from nodea",
                 [p.peer for p in router.paths(plan.PREFIX4) + router.paths(plan.PREFIX6)] == [NODEA.addr4] * 2,
                 [router.paths(plan.PREFIX4), router.paths(plan.PREFIX6)])
    steps.router_quiet(checks, router)
    checks.note(f"phase 2 took {time.monotonic() - t2:.1f} s")

    pcap_a = cap_a.stop()
    steps.md5_valid(checks, pcap_a)
    pcap_b = cap_b.stop()
    rows = capture.tshark(pcap_b, f"ip.src == {B} && tcp.srcport == 179", "bgp.type", "tcp.flags.syn",
                          "tcp.flags.ack", "tcp.option_kind")
    rows = [r + [""] * (4 - len(r)) for r in rows]
    bgp = [r for r in rows if r[0]]
    opens = sum(r[0].split(",").count("1") for r in bgp)
    unsigned = sum(1 for r in bgp if "19" not in r[3].split(","))
    synack = sum(1 for r in rows if r[1] in ("1", "True") and r[2] in ("1", "True"))
    checks.check(f"LAN-B (capture on nodea eth1): no BGP message from {B} (both phases)", not bgp,
                 f"{len(bgp)} frame(s) with BGP from {B} ({unsigned} without an MD5 option), {opens} OPEN(s); "
                 f"{synack} SYN-ACKs from {B}:179")

    refusals = [line for _, line in acd.lines(r"(?i)refused")
                if re.search(rf"{re.escape(R1)}\b", line) and not re.search(r"os error 111", line)]  # not an ECONNREFUSED
    checks.check(f"anycastd log: a 'refused' line naming {R1} (the refusal is visible)", refusals,
                 refusals[:2] if refusals else "none")
    steps.status_counter_grew(checks, acd, refused0, "refused", f"{len(tries) + len(tries2)} attempts refused")
    checks.check(f"anycastd (pid {acd.proc.pid}) still running", acd.alive())
    log(f"listener-bypass × {router_kind}: {time.monotonic() - t_start:.1f} s (without the topology)")
    checks.verify()
