"""A wrong TCP-MD5 key keeps the session down (the kernels count the bad signatures on both
ends); with the right key the same lab comes up. Runs against every router.

       client ── client0 ┐
                       rtr: ROUTER, AS 65000, password "anycast-lab-key"
                         │ br0 192.0.2.1        (TcpExtTCPMD5Failure counted here for
         nodea0 ─────────┴──── nodeb0            anycastd's SYNs signed with the wrong key)
           │
  nodea 192.0.2.11: anycastd AS 65124, md5 "wrong-key-0000" (then "anycast-lab-key")
    (TcpExtTCPMD5Failure counted here for the router's SYNs to anycastd's listener)

Checks:
  1. wrong key: no Established for 10 s at the router (polled every 100 ms) nor in
     anycastd's log (no session established, no OpenSent/OpenConfirm)
  2. no route from nodea in the router's RIB, none in rtr's FIB (N/A without a FIB)
  3. TcpExtTCPMD5Failure rises in rtr (our SYNs) and in nodea (the router's SYNs: the
     listener has a key for 192.0.2.1, only the wrong one); no TcpExtTCPMD5Unexpected in nodea
  4. anycastd's log says why: "connect to 192.0.2.1:179 timed out after 2 s"; it keeps
     running and retries (>= 1 automatic restart after a failure in 10 s); `status` names the
     cause from the kernel's counters: "segments from 192.0.2.1 fail MD5 verification: the
     keys differ", and counts them (tcp_md5.failure > 0; status text, /metrics-free)
  5. right key (anycastd restarted): Established within 10 s, both prefixes in the RIB
"""

from __future__ import annotations

import time

import pytest

from lab import kernel, plan, steps
from lab.clock import stays_false, wait_until
from lab.drivers.anycastd import Anycastd, AnycastdConfig

NODEA = plan.NODEA
WAIT_S = 10


@pytest.mark.timeout(90)
def test_wrong_key(lab, router, checks):
    r0, n0 = (kernel.counter(lab, ns, "TcpExtTCPMD5Failure") for ns in ("rtr", "nodea"))
    acd = Anycastd(lab, AnycastdConfig(NODEA, md5=plan.WRONG_KEY))
    t0 = time.monotonic()
    acd.start()
    quiet = stays_false(lambda: router.established(NODEA.addr4), WAIT_S)
    checks.check(f"wrong key: {router.kind} never Established in {WAIT_S} s", quiet,
                 f"state now {router.state(NODEA.addr4)!r}" if quiet
                 else f"Established after {(time.monotonic() - t0) * 1000:.0f} ms — MD5 not enforced?")
    checks.check("wrong key: anycastd never logged 'session established' nor an OPEN state",
                 not acd.has("session established|to=OpenSent|to=OpenConfirm"))

    checks.equal(f"wrong key: {router.kind} RIB prefixes (ipv4, ipv6)",
                 (router.rib_count("ipv4"), router.rib_count("ipv6")), (0, 0))
    if router.fib_proto:
        checks.check("wrong key: no BGP route in rtr's FIB", steps.fib_empty(lab, router), steps.fib_lines(lab, router))
    else:
        checks.not_applicable("wrong key: no BGP route in rtr's FIB", steps.no_fib(router))

    r1, n1 = (kernel.counter(lab, ns, "TcpExtTCPMD5Failure") for ns in ("rtr", "nodea"))
    checks.check("wrong key: TcpExtTCPMD5Failure in rtr rose (anycastd's SYNs refused)", r1 > r0, f"{r0} -> {r1}")
    checks.check(f"wrong key: TcpExtTCPMD5Failure in nodea rose ({router.kind}'s SYNs refused by our listener)",
                 n1 > n0, f"{n0} -> {n1}")
    checks.equal("wrong key: TcpExtTCPMD5Unexpected in nodea (the listener has a key for 192.0.2.1)",
                 kernel.counter(lab, "nodea", "TcpExtTCPMD5Unexpected"), 0)

    checks.check("wrong key: anycastd log: 'connect to 192.0.2.1:179 timed out after 2 s'",
                 acd.has(r"neighbor error error=connect to 192\.0\.2\.1:179 timed out after 2 s"),
                 acd.bad_lines()[:2])
    checks.check(f"wrong key: anycastd (pid {acd.proc.pid}) still running", acd.alive())
    # Attempts are spaced by the connect timeout (2 s, restarted once by ConnectRetry) and
    # the IdleHold backoff (1 s, 2 s … with jitter): one or two automatic restarts fit in 10 s.
    retries = acd.count("to=Connect reason=AutomaticStart")
    checks.check(f"wrong key: anycastd retried (>= 1 Idle -> Connect after a failure in {WAIT_S} s)",
                 retries >= 1, f"{retries} automatic starts")

    n = acd.neighbor_status() or {}
    diag = n.get("md5_diagnosis") or ""
    checks.check("wrong key: status diagnosis 'segments from 192.0.2.1 fail MD5 verification: the keys differ'",
                 diag.startswith("segments from 192.0.2.1 fail MD5 verification: the keys differ"), repr(diag))
    counted = ((acd.status() or {}).get("tcp_md5") or {}).get("failure", 0)
    checks.check("wrong key: status counts the bad digests since start (tcp_md5.failure > 0)", counted > 0, counted)
    text = acd.status_text()
    checks.check("wrong key: `anycastd status` shows the diagnosis", "diagnosis: segments from 192.0.2.1 fail MD5" in text,
                 text[-600:])

    acd.stop()
    acd.config.md5 = plan.MD5_KEY
    t0 = time.monotonic()
    acd.start()
    up = wait_until(lambda: router.established(NODEA.addr4), 10)
    checks.check("right key: Established within 10 s", up,
                 f"{(time.monotonic() - t0) * 1000:.0f} ms after the restart" if up else router.state(NODEA.addr4))
    checks.check(f"right key: {router.kind} has both prefixes from nodea",
                 wait_until(lambda: [p.peer for p in router.paths(plan.PREFIX4) + router.paths(plan.PREFIX6)]
                            == [NODEA.addr4] * 2, 5),
                 [router.paths(plan.PREFIX4), router.paths(plan.PREFIX6)])
    checks.verify()
