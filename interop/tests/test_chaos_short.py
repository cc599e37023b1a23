"""The chaos suite's CI form (issue 12): a short seeded run of lab/chaos/ — every fault kind
three times (33 faults, ~50 s with BIRD) on the keepalived pair with BFD, against BIRD and FRR — that fails on any
violation of the HA invariant or of a per-fault bound (the table and the violations are in
the assertion message and in $LAB_CHAOS_OUT, default target/chaos/). GoBGP is skipped: it has
no BFD (and no FIB here). CHAOS_SEED overrides the seed (default 12).

  client (ping every 10 ms) ── rtr (BIRD | FRR, BFD 50 ms × 3) ── br0 ── nodea, nodeb
  (anycastd + keepalived VRRPv3 each; the topology and the faults: lab/chaos/)
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from lab import chaos

REPO = Path(__file__).resolve().parents[2]
FAULTS = 3 * len(chaos.FAULT_KINDS)


@pytest.mark.only_routers("bird", "frr", reason="GoBGP (3.10, 3.36) has no BFD (and no FIB here)")
@pytest.mark.timeout(200)
def test_chaos_short(lab, router_kind):
    seed = os.environ.get("CHAOS_SEED", "12")
    out = os.environ.get("LAB_CHAOS_OUT") or str(REPO / "target" / "chaos")
    a = chaos.parse(["--seed", seed, "--faults", str(FAULTS), "--router", router_kind, "--budget", "150",
                     "--out", out])
    t0 = time.monotonic()
    c = chaos.Chaos(lab, a)
    c.run()
    print(f"chaos short form: {len(c.faults)} faults in {time.monotonic() - t0:.0f} s, seed {seed}")
    assert len(c.faults) == FAULTS, f"only {len(c.faults)} of {FAULTS} faults ran (budget)"
    assert {f.kind for f in c.faults} == set(chaos.FAULT_KINDS)
    bad = [f"fault {f.n} {f.kind} {f.target} {f.node}: {'; '.join(f.violations)}" for f in c.faults if f.violations]
    assert not bad, f"seed {seed}: {len(bad)} violation(s):\n" + "\n".join(bad) + "\n" + c.table()
