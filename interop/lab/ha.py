"""Two-node HA setups the failover scenarios, the demo and the benchmark share: the health
pair (nodea primary with a file health check, nodeb standby by role file with its AS path
prepended) and the keepalived pair (VRRP decides; anycastd follows through notify hooks),
plus who answers the client's pings.
"""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass
from pathlib import Path

from . import kernel, plan
from .drivers.anycastd import Anycastd, AnycastdConfig, FileCheck
from .drivers.keepalived import Keepalived, KeepalivedConfig
from .drivers.router import Bfd, Router
from .proc import Proc
from .sampler import RouteSampler
from .topology import Lab


def health_pair(lab: Lab, flag: Path, check: str = "flag") -> tuple[Anycastd, Anycastd]:
    """nodea: role static, standby withdraw, file check `check` on `flag` (100 ms, rise 2,
    fall 1); nodeb: role file "standby", standby prepend 3 (AS path 65124 ×4). Not started."""
    flag.touch()
    a = Anycastd(lab, AnycastdConfig(plan.NODEA, role="static", standby="withdraw",
                                     checks=[FileCheck(check, flag, interval_ms=100, rise=2, fall=1)]))
    b = Anycastd(lab, AnycastdConfig(plan.NODEB, role="file", standby="prepend", prepend=3))
    b.role_file.write_text("standby\n")
    return a, b


def keepalived_pair(lab: Lab) -> tuple[Anycastd, Anycastd, Keepalived, Keepalived]:
    """Both nodes: [role] source keepalived, standby withdraw; keepalived priority 150 on
    nodea, 100 on nodeb. Nothing started."""
    acds = [Anycastd(lab, AnycastdConfig(n, role="keepalived", standby="withdraw")) for n in plan.NODES]
    kas = [Keepalived(lab, acd, KeepalivedConfig(prio)) for acd, prio in zip(acds, (150, 100))]
    return acds[0], acds[1], kas[0], kas[1]


#: the guarded pair's node preference ([anycast] preference: MED 255 - p) and VRRP priority:
#: nodea is preferred by both, so that a split brain's router choice and VRRP's agree
PREFERENCE = {"nodea": 200, "nodeb": 100}
PRIORITY = {"nodea": 150, "nodeb": 100}


def guarded_pair(lab: Lab, flags: dict[str, Path], advert_int: float = 0.1, bfd: Bfd | None = None,
                 features: dict[str, bool] | None = None, legacy: bool = False,
                 grace_ms: int | None = None, connect_retry: int = 2,
                 ) -> tuple[dict[str, Anycastd], dict[str, Keepalived]]:
    """The issue-12 keepalived pair: on each node anycastd (role keepalived, standby withdraw,
    file check on `flags[node]` 100 ms / rise 2 / fall 1, preference, vrid, its own boot id
    file, track file and keepalived pid file in the node dir) and keepalived (nopreempt,
    advert_int, track_file on anycastd's track file; the `check --quiet` vrrp_script and the
    notify FIFO as `features` says, by default as this anycastd has them (`client_features`);
    with `check --quiet` the track file starts at -254, fail closed). `legacy`: none of the issue-12 keys (a build from before
    them, which refuses them). The flag files are created; nothing is started."""
    acds, kas = {}, {}
    for n in plan.NODES:
        flags[n.name].touch()
        cfg = AnycastdConfig(n, role="keepalived", standby="withdraw", bfd=bfd, boot_id=True,
                             connect_retry=connect_retry, grace_ms=grace_ms,
                             checks=[FileCheck("flag", flags[n.name], interval_ms=100, rise=2, fall=1)],
                             preference=None if legacy else PREFERENCE[n.name],
                             vrid=None if legacy else plan.VRRP_VRID, issue12_keys=not legacy)
        acds[n.name] = Anycastd(lab, cfg)
        f = features if features is not None else client_features(acds[n.name])
        kas[n.name] = Keepalived(lab, acds[n.name], KeepalivedConfig(
            PRIORITY[n.name], advert_int=advert_int, preempt=False, track_file=True,
            track_init=-254 if f["check_quiet"] else 0, check_script=f["check_quiet"],
            notify_fifo=f["notify_fifo"]))
    return acds, kas


def client_features(acd: Anycastd) -> dict[str, bool]:
    """Which issue-12 client commands this anycastd has (from its --help): `check --quiet`
    (keepalived's vrrp_script) and `notify-fifo`."""
    return {"check_quiet": "--quiet" in acd.cli("check", "--help").stdout,
            "notify_fifo": acd.cli("notify-fifo", "--help").returncode == 0}


@dataclass
class Watch:
    """What a failover scenario records while it moves the traffic: FIB changes, the router's
    paths every 50 ms and the client's pings."""

    monitor: kernel.RouteMonitor
    sampler: RouteSampler
    ping: Proc

    def stop(self, lab: Lab) -> list:
        lab.stop(self.ping, signal.SIGINT, 2)
        return self.sampler.stop()


def watch(lab: Lab, router: Router, samples: int, pings: int) -> Watch:
    """Start the watch and give it a second of the steady state before the event."""
    w = Watch(kernel.RouteMonitor.start(lab), RouteSampler(lab, router, plan.PREFIX4, samples, 0.05).start(),
              kernel.background_ping(lab, plan.ANYCAST4, pings))
    time.sleep(1)
    return w


def echo_requests(lab: Lab, window: float, counter: str = "IcmpInEchos") -> dict[str, int]:
    """How many echo requests each node received during `window` s."""
    before = {n.name: kernel.counter(lab, n.name, counter) for n in plan.NODES}
    time.sleep(window)
    return {n: kernel.counter(lab, n, counter) - v for n, v in before.items()}
