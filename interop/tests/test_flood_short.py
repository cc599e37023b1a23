"""CI form of bench-full-table: a BIRD 2 feeder in rtr sends 100,000 IPv4 + 20,000 IPv6
prefixes (about 4 per UPDATE, one AS path per 4) to anycastd in nodea (hold 9 s, no MD5, no
max_prefixes); < 60 s.

  rtr: BIRD feeder (protocol static feed4/feed6 -> bgp nodea, no kernel protocol)
   │ br0 192.0.2.1 ── nodea0 (tcpdump: the feeder's End-of-RIBs)
   └──── eth0 192.0.2.11  nodea: anycastd (counts prefixes, discards them)

Checks: anycastd's status counts all 100,000 + 20,000 prefixes within 30 s of Established;
the session stayed up (established_count 1, flaps 0, Established; no hold timer expiry or
session close in the feeder's log); peak RSS (VmHWM, sampled every 100 ms) below 32 MiB; no
WARN/ERROR in anycastd's log during the flood.

The router here is the feeder, and the feeder is BIRD by design (the benchmark compares
receivers against one feed; BIRD's static protocol loads the 120,000 routes from its config
in under a second): the FRR and GoBGP columns are skipped.
"""

from __future__ import annotations

import pytest

from lab.bench import full_table


@pytest.mark.only_routers("bird", reason="the router is the feeder, BIRD by design (its static protocol "
                           "loads the 120,000 routes from its config); no FRR or GoBGP feeder is built")
@pytest.mark.timeout(150)
def test_flood_short(router_kind, lab, checks):
    full_table.bench(lab, full_table.Options(v4=100_000, v6=20_000, timeout=30, receivers=["anycastd"]), checks)
    checks.verify()
