"""The etcd lab (issue 14): anycastd nodes whose role comes from an etcd v3 election, a
three-member etcd cluster, BIRD with BFD towards the nodes, and the router's own timeline of
who announces each anycast prefix. The benchmark (bench/etcd.py) and the CI test
(tests/test_etcd.py) build on it.

                          anycast 203.0.113.124/32 on lo of every node
    nodea 192.0.2.11      nodeb 192.0.2.12      nodec 192.0.2.13   (fleet: + noded .14, nodee .15)
    anycastd              anycastd              anycastd           [role] source = "etcd",
      |                     |                     |                election /anycastd/dns
 +----|---------------------|---------------------|----------------------------- rtr (AS 65000)
 |  nodea0               nodeb0                nodec0   <- nft bridge table `labetcd`: cuts a
 |    +---------------------+---- br0 ------------+--+     node's port from the etcd ports only
 |    192.0.2.1/24 (BIRD: BGP + BFD 50 ms × 3 with every node; kernel protocol with
 |    `merge paths`: every announcing node is a next hop in rtr's FIB, `ip -ts monitor route`)
 |  etcd10    etcd20    etcd30     client0 198.51.100.1/24
 +----|---------|---------|-----------|------------------------------------------------
    etcd1     etcd2     etcd3       client 198.51.100.10
    .101      .102      .103        (etcd 3.4, heartbeat 100 ms, election timeout 1000 ms)

The cut between a node and etcd (partition) is an nftables *bridge* table in rtr that drops
IPv4 frames between the node's bridge port and the etcd members' ports, in both directions:
silent (no RST, no ICMP, no EPERM in the node, as a broken path behaves), while BGP and BFD
with the router go on. Cutting a node from everything takes its bridge port down in rtr (BFD
at the router notices in 150 ms). The router's timeline per prefix is rtr's FIB from
`ip -ts monitor route` (exact times; with `merge paths` the number of next hops is the
number of nodes announcing), cross-checked by a bounded `birdc show route all` sampler (every
path BIRD holds, best or not).
"""

from __future__ import annotations

import json
import re
import signal
import time
from dataclasses import dataclass, field

from . import kernel, plan
from .chaos.observe import Fib
from .clock import now_us, wait_until
from .drivers.anycastd import Anycastd, AnycastdConfig, EtcdRole, service_block
from .drivers.bird import Bird
from .drivers.etcd import EtcdCluster
from .drivers.router import Bfd, router_config
from .proc import run
from .sampler import RouteSampler
from .topology import Lab, log

BFD = Bfd(50, 3)
CUT_TABLE = "labetcd"
ELECTION = "/anycastd/dns"
#: BIRD's kernel protocols with `merge paths`: equal BGP paths of several nodes become one
#: multipath route, so rtr's FIB lists every node that announces
ECMP_KERNEL = ("# Only BGP routes go to the kernel, all equal paths merged: the FIB lists every announcer.\n"
               "protocol kernel kernel4 { merge paths on; ipv4 { export where source = RTS_BGP; import none; }; }\n"
               "protocol kernel kernel6 { merge paths on; ipv6 { export where source = RTS_BGP; import none; }; }")


@dataclass
class EtcdLabConfig:
    nodes: tuple[plan.Node, ...] = (plan.NODEA, plan.NODEB, plan.NODEC)
    #: service name → prefix, each `[[service]]` with its own election /anycastd/NAME; empty:
    #: the one implicit service (`[anycast]` 203.0.113.124/32, `[role]` election ELECTION)
    services: dict[str, str] = field(default_factory=dict)
    role: str = "etcd"          # "static": every node primary (the lab's own test without the feature)
    lease_ttl_ms: int = 3000
    fence_margin_ms: int = 500
    bfd: Bfd | None = BFD
    sample_ms: int = 50         # the birdc sampler's period
    budget_s: float = 3600      # bounds the sampler (count = budget / period)


@dataclass(frozen=True)
class BirdSample:
    t_us: int                                # the query began
    t_end_us: int                            # it answered
    paths: dict[str, tuple[str, ...]]        # prefix → peers with a path (best first)


def parse_show_route_all(text: str, names: dict[str, str]) -> dict[str, tuple[str, ...]]:
    """`birdc show route all` → prefix → the nodes (by `names`: BIRD protocol → node name)
    with a path for it, best first."""
    out: dict[str, list[str]] = {}
    prefix = None
    for line in text.splitlines():
        m = re.match(r"^(\S+/\d+)\s+unicast \[(\S+) .*?\](?: (\*))?", line)
        m2 = None if m else re.match(r"^\s+unicast \[(\S+) .*?\](?: (\*))?", line)
        if m:
            prefix = m.group(1)
            proto, best = m.group(2), m.group(3)
        elif m2 and prefix:
            proto, best = m2.group(1), m2.group(2)
        else:
            continue
        peers = out.setdefault(prefix, [])
        name = names.get(proto, proto)
        peers.insert(0, name) if best else peers.append(name)
    return {p: tuple(v) for p, v in out.items()}


@dataclass
class BirdSampler(RouteSampler):
    """BIRD's paths for every prefix (`show route all`, one birdc call) every `interval` s,
    at most `count` times (`prefix` unused); `names`: BIRD protocol → node name."""

    names: dict[str, str] = field(default_factory=dict)

    def _sample(self) -> None:
        t = now_us()
        paths = parse_show_route_all(self.router.show("show route all"), self.names)
        self.samples.append(BirdSample(t, now_us(), paths))

    def between(self, t0: int, t1: int) -> list[BirdSample]:
        return [s for s in self.samples[:] if t0 <= s.t_us <= t1]


@dataclass(frozen=True)
class Piece:
    """rtr's FIB for one prefix from `t0_us` to `t1_us`: the nodes it points at."""

    t0_us: int
    t1_us: int
    nodes: tuple[str, ...]

    @property
    def ms(self) -> float:
        return (self.t1_us - self.t0_us) / 1000


class EtcdLab:
    """The lab above on an unbuilt `Lab`; `up()` builds and starts everything."""

    def __init__(self, lab: Lab, cfg: EtcdLabConfig) -> None:
        self.lab, self.cfg = lab, cfg
        self.nodes = {n.name: n for n in cfg.nodes}
        self.by_addr = {n.addr4: n.name for n in cfg.nodes}
        self.prefixes = dict(cfg.services) or {"default": plan.PREFIX4}
        self.acd: dict[str, Anycastd] = {}
        self.cut: set[str] = set()      # nodes cut from etcd
        self.down: set[str] = set()     # nodes cut from everything (port down)

    # ---- building ----------------------------------------------------------------------
    def up(self) -> "EtcdLab":
        lab, cfg = self.lab, self.cfg
        lab.up(nodes=cfg.nodes, hosts=plan.ETCD_MEMBERS)
        for name, prefix in self.prefixes.items():  # the fleet's service addresses on lo too
            if prefix != plan.PREFIX4:
                for n in cfg.nodes:
                    lab.ip(n.name, f"addr add {prefix} dev lo")
        self.etcd = EtcdCluster(lab)
        self.etcd.start()
        self.router = Bird(lab, router_config(nodes=cfg.nodes, md5=None, bfd=cfg.bfd), kernel=False,
                           extra=ECMP_KERNEL)
        self.router.start()
        for n in cfg.nodes:
            self.acd[n.name] = Anycastd(lab, self.node_config(n))
        self.versions = {"anycastd": self.acd[cfg.nodes[0].name].version(), "bird": self.router.version(),
                         "etcd": (self.lab.sh(None, "etcd", "--version").stdout.splitlines() or ["?"])[0]}
        self.monitor = kernel.RouteMonitor.start(lab)
        time.sleep(0.2)  # listening before the FIB's first state is read
        self.fib = {svc: Fib(lab, prefix.split("/")[0], self.monitor) for svc, prefix in self.prefixes.items()}
        count = int(cfg.budget_s * 1000 / cfg.sample_ms)
        self.sampler = BirdSampler(lab, self.router, "", count, cfg.sample_ms / 1000,
                                   names={n.name: n.name for n in cfg.nodes}).start()
        return self

    def role_for(self, node: plan.Node, election: str) -> EtcdRole:
        return EtcdRole(tuple(self.etcd.endpoints), election=election, candidate=node.name,
                        lease_ttl_ms=self.cfg.lease_ttl_ms, fence_margin_ms=self.cfg.fence_margin_ms)

    def node_config(self, node: plan.Node) -> AnycastdConfig:
        cfg = self.cfg
        etcd = cfg.role == "etcd"
        if not cfg.services:
            return AnycastdConfig(node, md5=None, prefixes=(plan.PREFIX4,), standby="withdraw", bfd=cfg.bfd,
                                  role=None if etcd else cfg.role,
                                  etcd=self.role_for(node, ELECTION) if etcd else None)
        blocks = [service_block(name, (prefix,), self.role_for(node, f"/anycastd/{name}") if etcd else None)
                  for name, prefix in cfg.services.items()]
        return AnycastdConfig(node, md5=None, prefixes=(), bfd=cfg.bfd, role=None if etcd else cfg.role,
                              extra="\n".join(blocks))

    def start_nodes(self, names: list[str] | None = None) -> None:
        for name in list(self.acd) if names is None else names:
            self.acd[name].start()

    def close(self) -> None:
        self.sampler.stop()
        for fib in self.fib.values():
            fib.poll()

    # ---- faults ------------------------------------------------------------------------
    def cut_etcd(self, name: str) -> None:
        """Drop IPv4 between `name`'s bridge port and every etcd member's, both ways (rtr's
        bridge; one table holds every cut node's rules)."""
        port = self.nodes[name].port
        self.cut.add(name)
        etcd = "{ " + ", ".join(m.addr4 for m in plan.ETCD_MEMBERS) + " }"
        rules = [f"add table bridge {CUT_TABLE}",
                 f"add chain bridge {CUT_TABLE} cut {{ type filter hook forward priority 0; }}",
                 f'add rule bridge {CUT_TABLE} cut iifname "{port}" ip daddr {etcd} counter drop',
                 f'add rule bridge {CUT_TABLE} cut oifname "{port}" ip saddr {etcd} counter drop']
        r = run(["nft", "-f", "-"], self.lab.ns("rtr"), input="\n".join(rules) + "\n")
        if r.returncode != 0:
            raise RuntimeError(f"nft in rtr: {r.stderr.strip()}")

    def heal_etcd(self, name: str | None = None) -> None:
        """Remove the cut of `name` (None: of every node)."""
        keep = set() if name is None else self.cut - {name}
        self.cut = set()
        self.lab.sh("rtr", "nft", "delete", "table", "bridge", CUT_TABLE)
        for other in sorted(keep):
            self.cut_etcd(other)

    def link_down(self, name: str) -> None:
        self.down.add(name)
        self.lab.ip("rtr", f"link set {self.nodes[name].port} down")

    def link_up(self, name: str) -> None:
        self.down.discard(name)
        self.lab.ip("rtr", f"link set {self.nodes[name].port} up")

    def kill(self, name: str) -> None:
        """SIGKILL the node's anycastd (by PID)."""
        self.acd[name].stop(signal.SIGKILL)

    # ---- reading -----------------------------------------------------------------------
    def status(self, name: str) -> dict | None:
        acd = self.acd[name]
        if not acd.alive():
            return None
        r = acd.socket_cli("status", "--json", timeout=2)
        try:
            return json.loads(r.stdout)
        except ValueError:
            return None

    def service_status(self, st: dict | None, svc: str) -> dict | None:
        """The HA part of `status --json` for `svc` (`default`: the top level when the node
        has no `[[service]]`)."""
        if st is None:
            return None
        for s in st.get("services") or []:
            if s.get("name") == svc:
                return s
        return st if svc == "default" else None

    def primaries(self, svc: str = "default") -> list[str]:
        """The nodes whose status says primary and advertising for `svc`."""
        out = []
        for name in self.acd:
            s = self.service_status(self.status(name), svc) or {}
            if s.get("role") == "primary" and s.get("advertising"):
                out.append(name)
        return out

    def etcd_leader(self, svc: str = "default") -> str | None:
        """`etcd.leader` as the first answering node reports it."""
        for name in self.acd:
            s = self.service_status(self.status(name), svc) or {}
            leader = (s.get("etcd") or {}).get("leader")
            if leader:
                return leader
        return None

    def fib_nodes(self, svc: str = "default") -> tuple[str, ...]:
        """The nodes rtr's FIB points `svc`'s prefix at, now."""
        prefix = self.prefixes[svc].split("/")[0]
        return tuple(sorted(self.by_addr.get(h, h) for h in kernel.fib_nexthops(self.lab, prefix)))

    def pieces(self, svc: str, t0: int, t1: int) -> list[Piece]:
        """rtr's FIB for `svc` over [t0, t1] (node names)."""
        fib = self.fib[svc]
        fib.poll()
        return [Piece(a, b, tuple(sorted(self.by_addr.get(h, h) for h in hops))) for a, b, hops in fib.window(t0, t1)]

    def expected_announcers(self, alive: int) -> int:
        """How many nodes should announce once stable: one with an election, every live one
        with `static`."""
        return 1 if self.cfg.role == "etcd" else alive

    def stable(self, svc: str = "default", hold_s: float = 1.0, timeout: float = 30) -> tuple[str, ...] | None:
        """Wait until rtr's FIB for `svc` points at what the nodes' status says (the expected
        number of announcers) and stays so for `hold_s`; those nodes, or None."""
        live = [n for n in self.acd if self.acd[n].alive() and n not in self.down]

        def once() -> tuple[str, ...] | None:
            fib = self.fib_nodes(svc)
            prim = tuple(sorted(p for p in self.primaries(svc) if p in live))
            return fib if fib == prim and len(fib) == self.expected_announcers(len(live)) else None

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = wait_until(once, max(0.1, deadline - time.monotonic()), 0.1)
            if not got:
                return None
            if wait_until(lambda: self.fib_nodes(svc) != got, hold_s, 0.1) is None:
                return got
        return None

    def describe(self, svc: str = "default") -> str:
        rows = []
        for name in self.acd:
            s = self.service_status(self.status(name), svc)
            if s is None:
                rows.append(f"{name}: no status (alive={self.acd[name].alive()})")
            else:
                rows.append(f"{name}: {s.get('role')} adv={len(s.get('advertising') or [])} etcd={s.get('etcd')}")
        return f"fib={self.fib_nodes(svc)}; " + "; ".join(rows)


def log_lines(acd: Anycastd, t0: int, t1: int, regex: str = r"(?i)etcd|role|withdr|announc|advert|fenc|lead") -> list[tuple[int, str]]:
    """The node's anycastd log lines in [t0, t1] matching `regex` (its own account, shown
    beside the router's timeline, never measured from)."""
    return [(us, text) for us, text in acd.lines(regex, t0) if us <= t1]
