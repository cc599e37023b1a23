"""One driver class per daemon: BIRD, FRR, GoBGP (the three routers share `Router`),
keepalived, ExaBGP and anycastd. Each renders its config from one dataclass of parameters,
starts, stops (cleanly), kills (SIGKILL), restarts, and reads what the daemon can tell.
"""

from .router import Bfd, BfdSession, ExportRoute, Neighbor, Path, Router, RouterConfig, router_config

__all__ = ["Bfd", "BfdSession", "ExportRoute", "Neighbor", "Path", "Router", "RouterConfig", "router_config",
           "make_router", "ROUTER_KINDS"]

ROUTER_KINDS = ("bird", "frr", "gobgp")


def make_router(kind: str, lab, config: RouterConfig, **kwargs) -> Router:
    """The router driver for `kind` (bird, frr, gobgp), not started."""
    from .bird import Bird
    from .frr import Frr
    from .gobgp import GoBgp
    cls = {"bird": Bird, "frr": Frr, "gobgp": GoBgp}[kind]
    return cls(lab, config, **kwargs)
