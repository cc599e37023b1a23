"""BFD authentication that does not match keeps BFD down, and with `strict` (anycastd's
default) BGP advertises nothing to the router meanwhile; the status names the reason. BIRD
only (FRR 8.4's bfdd has no BFD authentication; GoBGP no BFD).

       rtr: BIRD, AS 65000, protocol bfd: meticulous keyed sha1, password "wrong-bfd-key" id 1
         │        (then the right key with id 2, then no authentication, then the right key
         │         with id 1: each a new config + `birdc configure`, the BGP session untouched)
  nodea 192.0.2.11: anycastd, bfd = { 50 ms × 3, meticulous-keyed-sha1, key_id 1,
                    key_file (0600) "lab-bfd-secret" }, strict by default

Checks:
  1. wrong key, 4 s (polled every 100 ms): BFD never Up on either side; the router never has
     a path from nodea (RIB empty, both families); anycastd's status advertises nothing to
     it; status `bfd.problem` set, `bfd.drops` counts digest failures (a key named
     …Digest…/…Auth…), packets_in rising
  2. right key, wrong key id (2), 2 s: still never Up, nothing advertised; the drops name
     the key id (…KeyId…)
  3. the router without authentication, 2 s: never Up, nothing advertised; the drops name the
     missing authentication (…Missing…/…Auth…)
  4. the right key and id: BFD Up on both sides < 5 s, then both prefixes at the router
     < 10 s; status problem cleared
"""

from __future__ import annotations

import time

import pytest

from lab import bfd, plan
from lab.clock import stays_false, wait_until
from lab.drivers import Bfd
from lab.drivers.anycastd import Anycastd, AnycastdConfig

NODEA = plan.NODEA
AUTH = "meticulous-keyed-sha1"
KEY = "lab-bfd-secret"
RIGHT = Bfd(50, 3, auth=AUTH, key_id=1, key=KEY)


def _norm(name: str) -> str:
    """A drop reason without case and separators (bad_digest, BadDigest → baddigest)."""
    return name.lower().replace("_", "").replace("-", "")


def _nothing_advertised(router, acd) -> bool:
    n = acd.neighbor_status() or {}
    return router.rib_count("ipv4") == 0 and router.rib_count("ipv6") == 0 and not n.get("advertised")


def _phase(checks, router, acd, what: str, seconds: float, drop_words: tuple[str, ...]) -> None:
    before = dict((acd.bfd_status() or {}).get("drops") or {})
    quiet = stays_false(lambda: router.bfd_up(NODEA.addr4) or acd.bfd_state() == "Up"
                        or not _nothing_advertised(router, acd), seconds)
    st = acd.bfd_status() or {}
    checks.check(f"{what}: BFD never Up on either side and nothing advertised to {router.kind} for {seconds} s",
                 quiet, f"anycastd {st.get('state')}, {router.kind} {router.bfd_state(NODEA.addr4)!r}, "
                 f"RIB {router.rib_count('ipv4')}/{router.rib_count('ipv6')}, BGP {router.state(NODEA.addr4)}")
    drops = st.get("drops") or {}
    grew = {k: v - before.get(k, 0) for k, v in drops.items() if v > before.get(k, 0)}
    checks.check(f"{what}: status bfd.drops grew under a reason naming {' or '.join(drop_words)}",
                 any(_norm(w) in _norm(k) for k in grew for w in drop_words), f"grew {grew}; all {drops}")
    checks.check(f"{what}: status bfd.problem says why", st.get("problem"), repr(st.get("problem")))


@pytest.mark.router_config(bfd=Bfd(50, 3, auth=AUTH, key_id=1, key="wrong-bfd-key"))
@pytest.mark.only_routers("bird", reason="FRR's bfdd (8.4, 10.3) has no BFD authentication; GoBGP has no BFD")
@pytest.mark.timeout(90)
def test_bfd_wrong_key(lab, router, checks):
    ok, out = bfd.anycastd_has_bfd(lab)
    if not ok:
        pytest.fail(f"anycastd refuses a neighbor's bfd table: {out[:160]}")
    key_file = lab.path("bfd.key")
    key_file.write_text(KEY)
    key_file.chmod(0o600)
    acd = Anycastd(lab, AnycastdConfig(NODEA, bfd=RIGHT, bfd_key_file=key_file))
    acd.start()
    heard = lambda st: (st.get("packets_in") or 0) + sum((st.get("drops") or {}).values())  # noqa: E731
    checks.check("anycastd receives the router's packets (accepted + dropped > 0 within 3 s)",
                 wait_until(lambda: heard(acd.bfd_status() or {}) > 0, 3), acd.bfd_status())
    _phase(checks, router, acd, "wrong key", 4, ("Digest", "Auth"))

    router.set_bfd(NODEA.addr4, Bfd(50, 3, auth=AUTH, key_id=2, key=KEY))
    _phase(checks, router, acd, "right key, key id 2", 2, ("KeyId",))

    router.set_bfd(NODEA.addr4, Bfd(50, 3))
    _phase(checks, router, acd, "router without authentication", 2, ("Missing", "Auth"))

    router.set_bfd(NODEA.addr4, RIGHT)
    t0 = time.monotonic()
    up = wait_until(lambda: router.bfd_up(NODEA.addr4) and acd.bfd_state() == "Up", 5, 0.05)
    checks.check("right key and id: BFD Up on both sides < 5 s", up,
                 f"{(time.monotonic() - t0) * 1000:.0f} ms" if up else acd.bfd_status())
    routes = wait_until(lambda: [p.peer for p in router.paths(plan.PREFIX4) + router.paths(plan.PREFIX6)]
                        == [NODEA.addr4] * 2, 10)
    checks.check(f"then both prefixes at {router.kind} < 10 s", routes,
                 f"{(time.monotonic() - t0) * 1000:.0f} ms after the key change" if routes else router.state(NODEA.addr4))
    st = acd.bfd_status() or {}
    checks.equal("status: bfd auth / problem once Up", (st.get("auth"), st.get("problem")), (AUTH, None))
    checks.verify()
