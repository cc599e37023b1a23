"""The chaos suite's timers and the per-fault bounds derived from them (BOUNDS_DOC says how).
Pure: it builds no lab and starts no process."""

from __future__ import annotations

from dataclasses import dataclass

from .. import ha
from ..drivers.router import Bfd

FAULT_KINDS = ("check", "kill", "stop", "kakill", "vrrp-sym", "vrrp-asym", "link", "router", "reload",
               "drain", "poweroff")
PRIORITY = ha.PRIORITY
#: the router's UPDATE / BFD Down → FIB latency beyond BIRD's, added to every bound: FRR's
#: bgpd → zebra → kernel (results/silent-death.md: link cut p99 220 ms against BIRD's 154 ms
#: with the same 150 ms detection)
ROUTER_LAG_MS = {"bird": 0, "frr": 80}


@dataclass(frozen=True)
class Timers:
    advert_int_ms: int = 100      # keepalived advert_int
    script_interval_ms: int = 1000  # vrrp_script interval (keepalived: whole seconds)
    script_timeout_ms: int = 1000
    check_interval_ms: int = 100  # anycastd's file check
    check_fall: int = 1
    bfd: Bfd = Bfd(50, 3)
    connect_retry_ms: int = 2000  # anycastd's connect_retry
    slack_ms: int = 120           # processing (notify fork/exec, CLI, UPDATE, FIB) 100 + ping 2 × 10
    router_lag_ms: int = 0        # the router's own UPDATE/BFD → FIB latency beyond BIRD's (FRR: 80)

    @property
    def skew_ms(self) -> float:
        """RFC 5798 §6.1 Skew_Time of the BACKUP with the lowest priority (100)."""
        return (256 - min(PRIORITY.values())) * self.advert_int_ms / 256

    @property
    def master_down_ms(self) -> float:
        """RFC 5798 §6.1 Master_Down_Interval: 3 × advert + skew."""
        return 3 * self.advert_int_ms + self.skew_ms

    def bounds(self, kind: str, target: str, check_ms: int | None = None) -> tuple[float | None, float]:
        """(the failing node's path gone after the fault, ms or None; the outage, ms);
        `check_ms`: the node's check interval now (the reload fault changes it)."""
        check = (check_ms or self.check_interval_ms) * self.check_fall
        s, md, lag = self.slack_ms + self.router_lag_ms, self.master_down_ms, self.router_lag_ms
        bfd = self.bfd.detection_us / 1000
        if target == "backup" or kind in ("vrrp-sym", "vrrp-asym", "reload"):
            return None, s  # nothing has to move: the client must not notice
        gone, outage = {
            "check": (check + 10, check + md),
            "kill": (50, self.script_interval_ms + md),
            "stop": (bfd + 50, self.script_interval_ms + self.script_timeout_ms + md),
            "kakill": (self.advert_int_ms + 10, md),
            "link": (bfd + 50, max(bfd, md)),
            "drain": (50, md),
            "poweroff": (bfd + 50, max(bfd, md)),
            "router": (None, self.connect_retry_ms + 2000 + 250 + md),
        }[kind]
        return (None if gone is None else gone + lag), outage + s


BOUNDS_DOC = """\
Bounds, from the configured timers (advert_int A = 100 ms, the lowest BACKUP priority 100 →
Skew_Time (256 − 100) × A / 256 = 61 ms, Master_Down_Interval MD = 3 A + skew = 361 ms (RFC 5798
§6.1); vrrp_script interval 1 s (keepalived takes whole seconds), timeout 1 s, fall 1; anycastd
file check 100 ms × fall 1; BFD 50 ms × 3 = 150 ms detection; connect_retry 2 s; slack S = 120 ms
= 100 ms processing (notify fork/exec, CLI, UPDATE, FIB) + 2 ping intervals):
| fault (on the MASTER) | path gone ≤ | outage ≤ | why |
|---|---|---|---|
| check | C + 10 = 110 ms | C + MD + S = 581 ms | the check (interval C: 100 ms, 150 after an odd number of reloads) sees it; track file → FAULT; the peer after at most MD |
| kill | 50 ms (TCP reset) | 1000 + MD + S = 1481 ms | vrrp_script `check --quiet` fails at its next run; the peer after MD |
| stop | 150 + 50 = 200 ms (BFD) | 1000 + 1000 + MD + S = 2481 ms | the script's next run times out (1 s) |
| kakill | A + 10 = 110 ms | MD + S = 481 ms | liveness watch; the peer's Master_Down timer |
| link | 200 ms (BFD) | max(BFD, MD) + S = 481 ms | the peer stops hearing adverts at the same moment |
| drain | 50 ms | MD + S = 481 ms | drain 0 withdraws at once; track file → FAULT |
| poweroff | 200 ms (BFD) | max(BFD, MD) + S = 481 ms | as link |
| router | — | 2000 + 2000 + 250 + MD + S = 4731 ms | reconnect (connect_retry), BFD Up (slow start 1 s packets), BGP 250 ms after BFD Up, track → FAULT → MD |
| any fault on the BACKUP, vrrp-sym, vrrp-asym, reload | — | S = 120 ms | nothing has to move |
A reload (either node) and every fault on the BACKUP but vrrp-asym leave the MASTER healthy
throughout: the route must not leave rtr's FIB at all (0 ms, exact from the monitor) and the
MASTER must not change.
With FRR as the router every bound above gets + 80 ms (bgpd → zebra → kernel after the same
detection: results/silent-death.md, link cut p99 220 ms against BIRD's 154 ms); S then is 200 ms.
Overlap (two preferred paths: equal AS path length and MED, or two FIB next hops): 0 ms for every
fault; the router's best path not the most preferred one for longer than its own RIB lag (BIRD
0 ms, FRR 150 ms; at least two samples) is a violation too. A path from a node whose keepalived had not been MASTER at any time in the last S ms is a
violation ("announcer not MASTER"). Convergence (exactly one MASTER and one BACKUP, both sessions
Established and the router's BFD Up with both, only the MASTER advertising, best path and FIB via
it, pings answered) within 15 s
(router, poweroff: 25 s) after the recovery, else a violation."""
