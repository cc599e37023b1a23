"""The interface the three router drivers (BIRD, FRR, GoBGP) share, and the parameters they
render their configs from, so that a scenario written once runs against each.

Session states are normalised to RFC 4271 names (Idle, Connect, Active, OpenSent,
OpenConfirm, Established); capabilities to short names (mp-ipv4-unicast, mp-ipv6-unicast,
route-refresh, enhanced-route-refresh, 4-octet-as, graceful-restart, llgr, add-path, ...).
A driver answers None where its daemon cannot tell.
"""

from __future__ import annotations

import re
import signal
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
from pathlib import Path as FilePath

from .. import plan
from ..clock import wait_until
from ..proc import Proc, run
from ..roots import HOST, Root
from ..topology import Lab, log


#: BFD authentication types (RFC 5880 §4.2-4.4), as anycastd's `auth` spells them
BFD_AUTH_TYPES = ("simple", "keyed-md5", "meticulous-keyed-md5", "keyed-sha1", "meticulous-keyed-sha1")


@dataclass(frozen=True)
class Bfd:
    """BFD (RFC 5880/5881 single hop) with one neighbor: Desired Min TX = Required Min RX =
    `interval_ms`, Detect Mult `multiplier`; `auth` one of BFD_AUTH_TYPES (None: none) with
    `key_id` and `key`."""

    interval_ms: int = 50
    multiplier: int = 3
    auth: str | None = None
    key_id: int = 1
    key: str | None = None

    def __post_init__(self) -> None:
        if self.auth is not None and (self.auth not in BFD_AUTH_TYPES or not self.key):
            raise ValueError(f"BFD auth {self.auth!r}: one of {BFD_AUTH_TYPES}, with a key")
        if any(ch in (self.key or "") for ch in '"\\ '):
            raise ValueError("BFD key must not contain quotes, backslashes or spaces")

    @property
    def detection_us(self) -> int:
        """Detection Time when both ends use these timers (RFC 5880 §6.8.4)."""
        return self.interval_ms * 1000 * self.multiplier


@dataclass(frozen=True)
class BfdSession:
    """The router's view of its BFD session with a neighbor. States are RFC 5880 names
    (AdminDown, Down, Init, Up); a value the daemon does not show is None."""

    state: str
    remote_state: str | None = None
    local_discriminator: int | None = None
    remote_discriminator: int | None = None
    tx_interval_ms: float | None = None   # what it transmits at (negotiated)
    detection_ms: float | None = None     # its Detection Time for the remote
    diag: str | None = None               # its local diagnostic, as the daemon names it
    remote_multiplier: int | None = None


@dataclass(frozen=True)
class Neighbor:
    """One BGP session of the router with a node."""

    name: str                   # label (BIRD protocol name): nodea, nodeb, nodea6 ...
    address: str                # the node's address (its family = the transport's)
    local: str = plan.RTR_LAN4  # the router's address on the session
    asn: int = plan.NODE_AS
    md5: str | None = None
    hold: int = 9
    shutdown: bool = False      # administratively down from the start (admin_up enables it)
    bfd: Bfd | None = None      # BFD with the node (the BGP session follows it); None: off

    @property
    def keepalive(self) -> int:
        """hold / 3, at least 1 (every driver uses this one rule)."""
        return max(1, self.hold // 3)


@dataclass(frozen=True)
class ExportRoute:
    """A route the router itself originates and sends to its neighbors (export captures)."""

    prefix: str
    med: int = 50
    communities: tuple[str, ...] = ("65000:100", "no-export")
    large_communities: tuple[str, ...] = ("65000:1:2",)
    ext_communities: tuple[str, ...] = ()  # "rt:65000:42"; rendered by the BIRD driver only


@dataclass
class RouterConfig:
    """What every router driver renders its config from."""

    neighbors: list[Neighbor]
    asn: int = plan.RTR_AS
    router_id: str = plan.RTR_ID
    exports: list[ExportRoute] = field(default_factory=list)  # empty: anycast-out drop
    connect_retry: int = 2

    def neighbor(self, address: str) -> Neighbor:
        return next(n for n in self.neighbors if n.address == address)


def router_config(nodes: tuple[plan.Node, ...] = (plan.NODEA,), md5: str | None = plan.MD5_KEY,
                  hold: int = 9, v6_nodes: tuple[plan.Node, ...] = (),
                  exports: list[ExportRoute] | None = None, connect_retry: int = 2,
                  bfd: Bfd | None = None) -> RouterConfig:
    """The lab router's config: a session over IPv4 with each of `nodes`, one over IPv6
    transport with each of `v6_nodes` (named NODE6); both carry IPv4 and IPv6 unicast.
    `bfd`: BFD on each IPv4 session."""
    neighbors = [Neighbor(n.name, n.addr4, plan.RTR_LAN4, md5=md5, hold=hold, bfd=bfd) for n in nodes]
    neighbors += [Neighbor(n.name + "6", n.addr6, plan.RTR_LAN6, md5=md5, hold=hold) for n in v6_nodes]
    return RouterConfig(neighbors, exports=list(exports or []), connect_retry=connect_retry)


@dataclass(frozen=True)
class Path:
    """One path of a prefix in the router's RIB."""

    prefix: str
    next_hop: str
    as_path: tuple[int, ...]
    best: bool
    peer: str  # the neighbor address it came from
    origin: str = ""  # IGP, EGP, incomplete
    med: int | None = None  # MULTI_EXIT_DISC, None when the path has none


class Router(ABC):
    """A BGP router daemon in a lab namespace (rtr unless told otherwise)."""

    kind: str = ""
    #: kernel `proto` of the routes it installs in the FIB; None: it has no FIB here
    fib_proto: str | None = None
    #: whether a soft reset inbound sends ROUTE-REFRESH to the peer
    sends_route_refresh: bool = True
    #: whether stopping it with SIGTERM sends a Cease NOTIFICATION to its peers
    ceases_on_stop: bool = True
    #: whether it sends End-of-RIB to a peer that offered no graceful restart
    end_of_rib_without_gr: bool = False
    #: how long its RIB may still show a path after the withdraw reached it (ms): BIRD
    #: applies an UPDATE at once; bgpd and gobgpd process it a little later
    withdraw_lag_ms: int = 150
    #: after a session it had ends (a Cease either way, a TCP reset, its hold timer; not its
    #: own restart) how long it stays Idle, refusing the peer's connections and opening none
    #: (s): gobgpd 5 (see GoBgp); BIRD and bgpd take the peer back at once
    idle_hold_s: float = 0
    #: after a session ends, how long until it has connected again by itself (s), for waits
    #: that must cover it: gobgpd 10 (its idle hold, then its first connect 5-9 s later, so
    #: 10-14 s; the peer's own connect usually wins); BIRD and bgpd take the peer back at once
    reconnect_delay_s: float = 0
    #: whether it runs BFD (RFC 5880) with its neighbors here (GoBGP: none)
    has_bfd: bool = False
    #: the BFD authentication types it can use (FRR 8.4's bfdd: none)
    bfd_auth_types: tuple[str, ...] = ()

    @property
    def closes_bgp_before_bfd_up(self) -> bool:
        """Whether it closes the peer's BGP connections while their BFD session has not been
        Up yet (FRR 10's bgpd, seen at every start: "connection closed by peer" at anycastd)."""
        return False

    def __init__(self, lab: Lab, config: RouterConfig, role: str = "rtr", root: Root = HOST) -> None:
        self.lab = lab
        self.config = config
        self.role = role
        self.root = root  # where its binaries come from (lab.roots): the host or a Debian 13 root
        self.procs: list[Proc] = []
        self.log_paths: list[FilePath] = []  # appended to across restarts

    # ---- life cycle ------------------------------------------------------------------
    @abstractmethod
    def start(self) -> None:
        """Render the config, start the daemon(s), return once it answers (bounded)."""

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop its processes (newest first) with `sig`; bounded, then SIGKILL."""
        for p in reversed(self.procs):
            self.lab.stop(p, sig, 5)
        self.procs = []

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def main_proc(self) -> Proc:
        return self.procs[-1]

    def running(self) -> bool:
        return bool(self.procs) and all(p.alive() for p in self.procs)

    def _wait_ready(self, ready, what: str, timeout: float = 10) -> None:
        t0 = time.monotonic()
        if not wait_until(lambda: ready() or not self.running(), timeout) or not self.running():
            tail = "".join(p.log_text()[-400:] for p in self.procs)
            raise RuntimeError(f"{self.kind} {what} did not come up in {timeout} s: {tail}")
        log(f"{self.kind} up in {self.role} (pids {[p.pid for p in self.procs]}) in "
            f"{(time.monotonic() - t0) * 1000:.0f} ms")

    # ---- what it knows ---------------------------------------------------------------
    @abstractmethod
    def state(self, peer: str) -> str:
        """The session's state (RFC 4271 name), '' if unknown."""

    def established(self, peer: str) -> bool:
        return self.state(peer) == "Established"

    @abstractmethod
    def paths(self, prefix: str) -> list[Path]:
        """The RIB's paths for `prefix` (exact match)."""

    def best(self, prefix: str) -> Path | None:
        return next((p for p in self.paths(prefix) if p.best), None)

    @abstractmethod
    def rib_count(self, family: str) -> int:
        """Prefixes in the RIB for 'ipv4' / 'ipv6'."""

    @abstractmethod
    def peer_counts(self, peer: str, family: str) -> tuple[int, int] | None:
        """(accepted from, sent to) `peer` for the family; None when the channel is down."""

    @abstractmethod
    def capabilities(self, peer: str) -> set[str] | None:
        """Capabilities the peer sent in its OPEN, normalised (see module doc)."""

    @abstractmethod
    def session_facts(self, peer: str) -> tuple[int, str, int] | None:
        """(the peer's AS, its BGP identifier, the negotiated hold time) of the session."""

    @abstractmethod
    def established_since(self, peer: str) -> str:
        """A value that changes whenever the session is established anew."""

    def same_session(self, since0: str, since1: str) -> bool:
        """Whether two `established_since` values name the same Established period."""
        return since0 == since1

    @abstractmethod
    def admin_down(self, peer: str, message: str | None = None) -> None:
        """Shut the session down administratively (Cease, RFC 8203 message if given)."""

    @abstractmethod
    def admin_up(self, peer: str) -> None: ...

    @abstractmethod
    def soft_reset_in(self, peer: str) -> None:
        """Ask for the peer's routes again (ROUTE-REFRESH where the daemon sends one)."""

    @abstractmethod
    def withdraw_exports(self) -> None:
        """Stop originating `config.exports` (withdraw / MP_UNREACH to the neighbors)."""

    # ---- BFD (drivers with has_bfd) ---------------------------------------------------
    def bfd_session(self, peer: str) -> BfdSession | None:
        """Its BFD session with `peer`; None when it has none (or no BFD at all)."""
        return None

    def bfd_state(self, peer: str) -> str:
        s = self.bfd_session(peer)
        return s.state if s else ""

    def bfd_up(self, peer: str) -> bool:
        return self.bfd_state(peer) == "Up"

    def set_bfd(self, peer: str, bfd: Bfd) -> None:
        """Change the BFD parameters of `peer`'s session at runtime, without restarting the
        daemon or the session (timers: RFC 5880 §6.8.3 Poll Sequence)."""
        raise NotImplementedError(f"{self.kind}: no BFD")

    def reconfigure(self) -> None:
        """Apply `config`'s neighbors (what a scenario needs: their MD5 keys) to the running
        daemon, without restarting it; a changed neighbor's session may be reset."""
        raise NotImplementedError(f"{self.kind}: no reconfigure")

    def _replace_neighbor(self, peer: str, **changes) -> Neighbor:
        """config.neighbors with `peer`'s Neighbor replaced by a copy with `changes`."""
        old = self.config.neighbor(peer)
        new = replace(old, **changes)
        self.config.neighbors[self.config.neighbors.index(old)] = new
        return new

    def log_text(self) -> str:
        return "".join(p.read_text(errors="replace") for p in self.log_paths if p.exists())

    @abstractmethod
    def last_notification(self, peer: str) -> tuple[str, str] | None:
        """(what the last NOTIFICATION received from `peer` was, its RFC 8203 message)."""

    @abstractmethod
    def notification_lines(self) -> list[str]:
        """Log lines that say a NOTIFICATION (or an error) was sent or received."""

    def closed_by_peer_count(self) -> int | None:
        """How often its log says a connection attempt was closed by the peer; None when
        the daemon does not log it in a recognisable way."""
        return None

    def version(self) -> str:
        return ""

    @property
    def release(self) -> tuple[int, ...]:
        """The daemon's version as numbers, (2, 17, 6); () when it does not say (cached)."""
        if not hasattr(self, "_release"):
            m = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", self.version())
            self._release = tuple(int(x) for x in m.groups() if x is not None) if m else ()
        return self._release

    def run(self, *argv: str, timeout: float = 10, ns: bool = False):
        """A command from the daemon's root (its CLI: birdc, vtysh, gobgp), bounded; `ns`: in
        the router's namespace."""
        return run(self.root.wrap(list(argv)), self.lab.ns(self.role) if ns else None, timeout=timeout)

    def spawn(self, label: str, argv: list[str], log_name: str):
        """A daemon from its root, tracked by the lab, in the router's namespace."""
        return self.lab.spawn(self.role, label, self.root.wrap(argv), log_name=log_name)

    @property
    def config_path(self) -> FilePath:
        """The config file it was started with."""
        return self.conf
