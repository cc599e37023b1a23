"""The shipped configs/routers/bird2.conf, run as it is (plus a log line) as the lab router:
`anycastd drain` on the primary moves the router's best path to the standby node *before* the
withdraw, because the file's import filter gives GRACEFUL_SHUTDOWN (65535:0, RFC 8326) routes
LOCAL_PREF 0. The control run takes the file without that one line: the best path then stays
on the draining node until its withdraw, so the check can fail.

       rtr: BIRD 2 with configs/routers/bird2.conf (AS 65000, MD5, BFD 50 ms x 3 with
         │  meticulous keyed SHA1, the anycast_in filter); br0 192.0.2.1
       nodea0 ──────────── nodeb0
         │                   │
  nodea 192.0.2.11           nodeb 192.0.2.12
  anycastd, primary          anycastd, standby = "prepend" (AS path +3)
  both: BFD as in the file's comment, 203.0.113.124/32 + 2001:db8:124::1/128

Checks (with the policy; the control run expects 3 and 4 the other way):
  1. both sessions Established, BFD Up at the router, both nodes' paths for both prefixes,
     best via nodea
  2. `drain --seconds 6` on nodea: accepted
  3. < 2 s later, both prefixes' best path via nodeb while nodea's path is still there, nodea's
     path carries (65535,0) with LOCAL_PREF 0 (control: best stays via nodea through 2 s)
  4. nodea's paths leave after the drain's 6 s (the withdraw), best still via nodeb
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from lab import plan
from lab.clock import wait_until
from lab.drivers import Bfd, router_config
from lab.drivers.anycastd import Anycastd, AnycastdConfig
from lab.drivers.bird import Bird

NODEA, NODEB = plan.NODEA, plan.NODEB
SHIPPED = Path(__file__).resolve().parents[2] / "configs" / "routers" / "bird2.conf"
GSHUT_LINE = "    if (65535, 0) ~ bgp_community then bgp_local_pref = 0;\n"
# The node side of the file's BFD comment.
BFD = Bfd(50, 3, "meticulous-keyed-sha1", 1, "anycast-bfd-key")


class ShippedBird(Bird):
    """BIRD running the shipped file (names nodea/nodeb = the lab's), with a log to stderr so
    the lab keeps it; `policy=False` drops the graceful-shutdown line (the control run)."""

    def __init__(self, lab, policy: bool) -> None:
        super().__init__(lab, router_config(nodes=(NODEA, NODEB), bfd=BFD))
        self.policy = policy

    def render(self) -> str:
        text = SHIPPED.read_text()
        assert GSHUT_LINE in text, "bird2.conf no longer has the graceful-shutdown line: update this test"
        if not self.policy:
            text = text.replace(GSHUT_LINE, "")
        return text + "log stderr all;\ntimeformat protocol iso long ms;\n"


def route_text(router: Bird, prefix: str) -> str:
    return router.show("show route", prefix, "all")


@pytest.mark.parametrize("policy", [True, False], ids=["shipped", "without-gshut-line"])
@pytest.mark.timeout(90)
def test_shipped_bird_conf_moves_traffic_before_the_withdraw(lab, checks, policy):
    router = ShippedBird(lab, policy)
    router.start()
    a = Anycastd(lab, AnycastdConfig(NODEA, role="static", bfd=BFD))
    b = Anycastd(lab, AnycastdConfig(NODEB, role="file", standby="prepend", prepend=3, bfd=BFD))
    b.role_file.write_text("standby\n")
    a.start()
    b.start()
    prefixes = (plan.PREFIX4, plan.PREFIX6)

    def best_via(prefix: str, node) -> bool:
        best = router.best(prefix)
        return bool(best) and best.peer == node.addr4

    up = wait_until(lambda: all(router.established(n.addr4) for n in plan.NODES)
                    and all(len(router.paths(p)) == 2 and best_via(p, NODEA) for p in prefixes), 20)
    checks.check("both sessions Established, both nodes' paths, best via nodea", up,
                 {p: router.paths(p) for p in prefixes})
    sessions = router.bfd_sessions()
    checks.check("BFD Up at the router with both nodes (the file's protocol bfd)",
                 all(s.state == "Up" for s in sessions.values()) and len(sessions) == 2, sessions)
    if not up:
        checks.verify()
    time.sleep(0.5)

    r = a.socket_cli("drain", "--seconds", "6")
    checks.equal("drain --seconds 6 on nodea: exit status", r.returncode, 0)
    t0 = time.monotonic()
    moved = wait_until(lambda: all(best_via(p, NODEB) and len(router.paths(p)) == 2 for p in prefixes), 2, 0.02)
    elapsed = time.monotonic() - t0
    text = route_text(router, plan.PREFIX4)
    # nodea's path: its block in `show route all` (the one from protocol nodea)
    nodea_block = next((blk for blk in re.split(r"\n(?=\S|\s+unicast \[)", text) if "[nodea " in blk), "")
    if policy:
        checks.check("best path of both prefixes via nodeb < 2 s after the drain, nodea's path still there",
                     moved, f"{elapsed:.2f} s" if moved else {p: router.paths(p) for p in prefixes})
        checks.check("nodea's path: community (65535,0), LOCAL_PREF 0",
                     "(65535,0)" in nodea_block and bool(re.search(r"BGP\.local_pref:\s*0\b", nodea_block)), nodea_block)
    else:
        stayed = not moved and all(best_via(p, NODEA) for p in prefixes)
        checks.check("control (no gshut line): best path stays via nodea through 2 s of the drain",
                     stayed, {p: router.paths(p) for p in prefixes})
        checks.check("control: nodea's path carries (65535,0) but keeps its LOCAL_PREF",
                     "(65535,0)" in nodea_block and not re.search(r"BGP\.local_pref:\s*0\b", nodea_block), nodea_block)
    gone = wait_until(lambda: all(len(router.paths(p)) == 1 and best_via(p, NODEB) for p in prefixes), 8, 0.05)
    checks.check("after the drain's 6 s: nodea's paths withdrawn, best via nodeb", gone,
                 {p: router.paths(p) for p in prefixes})
    checks.verify()
