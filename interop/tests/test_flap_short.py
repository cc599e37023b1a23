"""CI form of bench-flap-soak: session resets of anycastd in nodea against the router (MD5,
hold 3 s, connect retry 1 s; anycastd connect_retry 1 s), in a rotation of 20 that starts
with one of each kind: 7 router restarts (SIGTERM by PID + start), 6 admin shutdown/enable
(NOTIFICATION Cease), 6 TCP RSTs (`ss -K` on anycastd's socket) and 1 link outage (nodea's
eth0 down until the router's hold timer drops the session, then up; ~4 s, hence only one in
20).

  rtr: ROUTER ── br0 192.0.2.1 ── nodea0 ──── eth0 192.0.2.11  nodea: anycastd

Checks (8): anycastd alive with the same PID; all flaps performed within the router's
budget; every flap survived (anycastd's flaps counter rose, Established again and
203.0.113.124/32 from nodea back at the router within the bound); Established with the
route at the end; anycastd's flaps >= resets; open fds and RSS back near the start; no
panic/ERROR. anycastd's bound is the same against every router: back < 5 s after the router
takes the session again (its IdleHold backoff is reset for sessions the peer ended, so each
recovery is its 1 s IdleHold ±25 % plus the reconnect, ~1 s).

Each router's own numbers (measured with `bench-flap-soak.sh --router`):
  bird   40 flaps in 45 s (~1.0 s a reset: connect delay 1 s, error wait 1-2 s).
  frr    20 flaps (one rotation) in 30 s: ~1.1 s a reset (bgpd restarts slower), 40 would
         not fit the suite's time.
  bird3.1 36 flaps in 50 s (~1.2 s a reset).
  gobgp  8 flaps (every kind, notify and rst twice) in 40 s, bound + 5 s for all but
         restart: gobgpd stays Idle for 5 s after every session it had ends (holdtimeIdle,
         a constant in its fsm.go that idle-hold-time-after-reset does not change),
         closing each connection anycastd opens meanwhile; anycastd gets in at its next
         connect retry, ~5.0-5.9 s after the reset (restart: ~1.3 s, a new gobgpd starts
         without it). The bound comes from the driver (`GoBgp.idle_hold_s`).
"""

from __future__ import annotations

import pytest

from lab.bench import flap_soak
from lab.drivers import kind_of

ROTATION = ("restart notify rst link " + "restart notify rst " * 5 + "restart").split()
# router: (flaps, budget s) — what fits each router's share of the suite's time, and the
# time those flaps take there (measured, plus ~10 %)
PLAN = {"bird": (40, 45), "frr": (20, 30), "gobgp": (8, 40),
        # BIRD 3.1 takes ~1.2 s a reset (37 of 40 flaps in 45 s, LAB_MATRIX=full, 2 labs at a time)
        "bird3.1": (36, 50)}


@pytest.mark.timeout(120)
def test_flap_short(router_kind, lab, checks):
    flaps, budget = PLAN.get(router_kind) or PLAN[kind_of(router_kind)]
    flap_soak.bench(lab, flap_soak.Options(flaps=flaps, kinds=ROTATION, max_recovery=5, budget_s=budget,
                                           router=router_kind), checks)
    checks.verify()
