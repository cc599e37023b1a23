"""A key on one side only: the session stays down, and `anycastd status` says which side lacks
the key, from the kernel's TCP-MD5 counters, within 10 s. Runs against every router (each
connects to anycastd's listener as well, which is where the counters see its segments).

       rtr: ROUTER, AS 65000 ── br0 192.0.2.1
                                   │
  nodea 192.0.2.11: anycastd AS 65124 (TcpExt counters of this namespace)

Cases:
  router_unsigned  the router has no password, anycastd has md5 "anycast-lab-key": the
                   router's SYNs reach our listener without an MD5 option (TcpExtTCPMD5NotFound)
                   → "the router sends no MD5 option: no key configured on the router"
  node_unsigned    the router has password "anycast-lab-key", anycastd none: its signed SYNs
                   reach a listener with no key for it (TcpExtTCPMD5Unexpected)
                   → "the router signs its segments with TCP-MD5 but no key is configured here"
Checks, per case: never Established in the router nor in anycastd; the diagnosis in
`status --json` (neighbor md5_diagnosis) and in `status` text within 10 s; the counter in
`status --json` (tcp_md5) rose and agrees with the namespace's own (nstat); /metrics-free.
"""

from __future__ import annotations

import pytest

from lab import kernel, plan
from lab.clock import wait_until
from lab.drivers.anycastd import Anycastd, AnycastdConfig

NODEA = plan.NODEA
WAIT_S = 10


def stuck_with(lab, router, checks, acd: Anycastd, case: str, counter: str, field: str, words: str) -> None:
    before = kernel.counter(lab, "nodea", counter)
    acd.start()
    diag = wait_until(lambda: (acd.neighbor_status() or {}).get("md5_diagnosis"), WAIT_S, 0.25) or ""
    checks.check(f"{case}: status diagnosis within {WAIT_S} s: {words!r}", diag.startswith(words), repr(diag))
    checks.check(f"{case}: {router.kind} never Established", not router.established(NODEA.addr4),
                 router.state(NODEA.addr4))
    checks.check(f"{case}: anycastd never logged 'session established'", not acd.has("session established"))
    after = kernel.counter(lab, "nodea", counter)
    ours = ((acd.status() or {}).get("tcp_md5") or {}).get(field, 0)
    checks.check(f"{case}: {counter} rose in nodea and status counts it (tcp_md5.{field})",
                 after > before and 0 < ours <= after - before + 1, f"nstat {before} -> {after}, status {ours}")
    text = acd.status_text()
    checks.check(f"{case}: `anycastd status` prints the diagnosis", f"diagnosis: {words}" in text, text[-600:])
    checks.check(f"{case}: anycastd (pid {acd.proc.pid}) still running", acd.alive())


@pytest.mark.timeout(60)
@pytest.mark.router_config(md5=None)
def test_router_without_key(lab, router, checks):
    acd = Anycastd(lab, AnycastdConfig(NODEA, md5=plan.MD5_KEY))
    stuck_with(lab, router, checks, acd, "router_unsigned", "TcpExtTCPMD5NotFound", "not_found",
               "the router sends no MD5 option: no key configured on the router")
    checks.verify()


@pytest.mark.timeout(60)
def test_node_without_key(lab, router, checks):
    acd = Anycastd(lab, AnycastdConfig(NODEA, md5=None))
    stuck_with(lab, router, checks, acd, "node_unsigned", "TcpExtTCPMD5Unexpected", "unexpected",
               "the router signs its segments with TCP-MD5 but no key is configured here")
    checks.verify()
