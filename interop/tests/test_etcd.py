"""The etcd role source (issue 14), short: three anycastd nodes in an etcd election
(`[role] source = "etcd"`, election /anycastd/dns, lease TTL 3 s, fence margin 500 ms), a
three-member etcd 3.4 cluster, BIRD with BFD 50 ms × 3; one lab for the module's three tests
(they run in order and take ~30 s together: CI is near its time limit). The lab and its
drawing: lab/etcdlab.py. The router's timeline is rtr's FIB (`ip -ts monitor route`, BIRD
exporting every equal path, so each announcing node is a next hop) and a `birdc show route
all` sampler, never anycastd's own account.

  1. unreachable: nodea started alone while cut from etcd (rtr's bridge drops its frames to
     and from the etcd members): nothing announced at the router for 3 s, its status not
     primary and its `etcd` object giving the reason (`etcd unreachable: …` or an error);
     the cut healed, it leads within TTL + 2 s and is the one announcer at the router
  2. partition: the leader cut from etcd only (BGP and BFD with the router go on): at the
     router the old leader's path goes before the new leader's comes (no instant with two
     announcers, in the FIB nor in BIRD's paths), the withdraw by TTL - margin + 300 ms
     after the cut (self-fencing), a new leader within 2 × TTL + 2 s; healed: the old leader
     does not announce again
  3. SIGKILL: the leader's anycastd SIGKILLed: its path gone at once (the kernel closes the
     session), a new leader at the router within TTL + 2 s (its lease must expire), never two
"""

from __future__ import annotations

import time

import pytest

from lab import deps
from lab.checks import Checks
from lab.clock import now_us, stays_false, wait_until
from lab.etcdlab import EtcdLab, EtcdLabConfig
from lab.topology import Lab, log

TTL_MS, MARGIN_MS = 3000, 500
CFG = EtcdLabConfig(lease_ttl_ms=TTL_MS, fence_margin_ms=MARGIN_MS, sample_ms=50, budget_s=120)


@pytest.fixture(scope="module")
def etcd_lab():
    deps.install({**deps.BINARIES, **deps.ETCD})
    lab = Lab()
    try:
        e = EtcdLab(lab, CFG).up()
        yield e
        e.close()
    finally:
        lab.close()


def one_other(e: EtcdLab, old: str):
    f = e.fib_nodes()
    return f if len(f) == 1 and f[0] != old else None


def fault_on_leader(e: EtcdLab, act, bound: float):
    """Every node running, one leader at the router; `act(leader)`; wait (≤ `bound` s) for
    one other node alone at the router. (old, T0, when that came, it, the FIB pieces to 300
    ms after)."""
    e.start_nodes([n for n in e.acd if not e.acd[n].alive()])
    before = e.stable(timeout=10)
    assert before, f"not one leader at the router: {e.describe()}"
    old = before[0]
    t0 = now_us()
    act(old)
    got = wait_until(lambda: one_other(e, old), bound, 0.05)
    t_new = now_us()
    time.sleep(0.3)
    return old, t0, t_new, got, e.pieces("default", t0, now_us())


def two_or_more(e: EtcdLab, t0: int, t1: int) -> tuple[float, int]:
    """(ms with ≥ 2 announcers in the FIB, most paths in BIRD's sampled RIB) over [t0, t1]."""
    overlap = sum(p.ms for p in e.pieces("default", t0, t1) if len(p.nodes) >= 2)
    bird = max((len(s.paths.get("203.0.113.124/32", ())) for s in e.sampler.between(t0, t1)), default=0)
    return overlap, bird


@pytest.mark.timeout(25)
def test_etcd_unreachable_at_start(etcd_lab: EtcdLab):
    e, checks = etcd_lab, Checks()
    for acd in e.acd.values():  # alone (under pytest-xdist another test may have run in this lab first)
        acd.stop()
    e.cut_etcd("nodea")
    e.start_nodes(["nodea"])
    checks.check("cut from etcd: nothing announced at the router for 3 s",
                 stays_false(lambda: e.fib_nodes(), 3, 0.1), e.describe())
    st = e.service_status(e.status("nodea"), "default") or {}
    etcd = st.get("etcd") or {}
    reason = str(etcd.get("candidacy") or "") + " " + str(etcd.get("error") or "")
    checks.check("status: not primary, nothing advertised", st.get("role") != "primary" and not st.get("advertising"),
                 f"role {st.get('role')}, advertising {st.get('advertising')}")
    checks.check("status: the etcd object says etcd is unreachable",
                 "unreachable" in reason or etcd.get("error"), f"etcd {etcd}")
    t_heal = now_us()
    e.heal_etcd()
    led = wait_until(lambda: e.fib_nodes() == ("nodea",), TTL_MS / 1000 + 2, 0.05)
    checks.check(f"healed: nodea leads at the router within TTL + 2 s", led,
                 f"{(now_us() - t_heal) / 1000:.0f} ms; {e.describe()}")
    checks.verify()


@pytest.mark.timeout(30)
def test_etcd_partition(etcd_lab: EtcdLab):
    e, checks = etcd_lab, Checks()
    bound = 2 * TTL_MS / 1000 + 2
    old, t0, _, got, pieces = fault_on_leader(e, e.cut_etcd, bound)
    t1 = pieces[-1].t1_us
    timeline = " → ".join(f"+{(p.t0_us - t0) / 1000:.0f} ms {','.join(p.nodes) or 'none'}" for p in pieces)
    log(f"partition of {old}: router timeline {timeline}")
    checks.check(f"a new leader at the router within {bound:.0f} s", got, e.describe())
    new = got[0] if got else ""
    t_wd = next((p.t0_us for p in pieces if old not in p.nodes), None)
    t_an = next((p.t0_us for p in pieces if new and new in p.nodes), None)
    fence_ms = TTL_MS - MARGIN_MS + 300
    checks.check(f"the old leader {old} withdrew by TTL - margin + 300 = {fence_ms} ms after the cut",
                 t_wd is not None and (t_wd - t0) / 1000 <= fence_ms,
                 f"withdrawn at {None if t_wd is None else f'{(t_wd - t0) / 1000:.0f} ms'}")
    checks.check("the old leader's withdraw before the new leader's announce",
                 t_wd is not None and t_an is not None and t_wd <= t_an,
                 f"withdraw {None if t_wd is None else (t_wd - t0) / 1000} ms, "
                 f"announce {None if t_an is None else (t_an - t0) / 1000} ms")
    overlap, bird = two_or_more(e, t0, t1)
    checks.check("never two announcers (FIB, BIRD's paths)", overlap == 0 and bird <= 1,
                 f"{overlap:.1f} ms with ≥ 2 next hops, BIRD at most {bird} paths")
    t_heal = now_us()
    e.heal_etcd(old)
    after = e.stable(timeout=10)
    overlap, bird = two_or_more(e, t_heal, now_us())
    checks.check(f"healed: still one leader ({new}), the old one does not announce again",
                 after == (new,) and overlap == 0 and bird <= 1, f"{after}; overlap {overlap:.1f} ms, BIRD {bird}")
    checks.verify()


@pytest.mark.timeout(25)
def test_etcd_sigkill(etcd_lab: EtcdLab):
    e, checks = etcd_lab, Checks()
    bound = TTL_MS / 1000 + 2
    old, t0, t_new, got, pieces = fault_on_leader(e, e.kill, bound)
    t_wd = next((p.t0_us for p in pieces if old not in p.nodes), None)
    checks.check("the killed leader's path gone at the router < 500 ms",
                 t_wd is not None and t_wd - t0 < 500_000, f"{None if t_wd is None else (t_wd - t0) / 1000} ms")
    checks.check(f"a new leader at the router within TTL + 2 s", got,
                 f"{(t_new - t0) / 1000:.0f} ms; {e.describe()}")
    overlap, bird = two_or_more(e, t0, now_us())
    checks.check("never two announcers", overlap == 0 and bird <= 1, f"{overlap:.1f} ms, BIRD {bird}")
    checks.verify()
