"""One driver class per daemon: BIRD, FRR, GoBGP (the three routers share `Router`),
keepalived, ExaBGP and anycastd. Each renders its config from one dataclass of parameters,
starts, stops (cleanly), kills (SIGKILL), restarts, and reads what the daemon can tell.

A router driver runs one of several versions of its daemon (`ROUTERS`): Debian 12's, from the
host (BIRD 2.0, FRR 8.4, GoBGP 3.10), or Debian 13's, from a root of lab.roots (BIRD 2.17 and
3.1, FRR 10, GoBGP 3.36). Every scenario that takes a router runs against each of them.
"""

from dataclasses import dataclass

from .router import Bfd, BfdSession, ExportRoute, Neighbor, Path, Router, RouterConfig, router_config

__all__ = ["Bfd", "BfdSession", "ExportRoute", "Neighbor", "Path", "Router", "RouterConfig", "router_config",
           "make_router", "kind_of", "root_of", "ROUTER_KINDS", "ROUTERS", "ROUTER_NAMES", "RouterVersion"]

#: the router daemons (one driver each)
ROUTER_KINDS = ("bird", "frr", "gobgp")


@dataclass(frozen=True)
class RouterVersion:
    """One router daemon at one version: `name` is the pytest parameter and the --router
    value (the bare kind names the host's Debian 12 package), `column` its matrix heading,
    `root` the lab.roots root it comes from (None: the host)."""

    name: str
    kind: str
    column: str
    root: str | None = None


ROUTERS = (RouterVersion("bird", "bird", "BIRD 2.0"), RouterVersion("bird2.17", "bird", "BIRD 2.17", "trixie"),
           RouterVersion("bird3.1", "bird", "BIRD 3.1", "trixie-bird3"),
           RouterVersion("frr", "frr", "FRR 8.4"), RouterVersion("frr10", "frr", "FRR 10", "trixie"),
           RouterVersion("gobgp", "gobgp", "GoBGP 3.10"), RouterVersion("gobgp3.36", "gobgp", "GoBGP 3.36", "trixie"))
ROUTER_NAMES = tuple(r.name for r in ROUTERS)
_BY_NAME = {r.name: r for r in ROUTERS}


def version_of(name: str) -> RouterVersion:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ValueError(f"router {name!r}: one of {', '.join(ROUTER_NAMES)}") from None


def kind_of(name: str) -> str:
    """The daemon (bird, frr, gobgp) of a router name (bird3.1 → bird)."""
    return version_of(name).kind


def root_of(name: str):
    """The lab.roots Root the router `name` runs from; a Debian 13 version's root is built
    first if this machine has none yet (minutes, once)."""
    from .. import roots
    v = version_of(name)
    return roots.ensure(v.root) if v.root else roots.HOST


def make_router(name: str, lab, config: RouterConfig, **kwargs) -> Router:
    """The router driver for `name` (one of ROUTER_NAMES: bird, bird2.17, …), not started."""
    from .bird import Bird
    from .frr import Frr
    from .gobgp import GoBgp
    cls = {"bird": Bird, "frr": Frr, "gobgp": GoBgp}[kind_of(name)]
    return cls(lab, config, root=root_of(name), **kwargs)
