"""BFD in the lab: whether this anycastd has it, cutting BFD (and only BFD) between a node and
the router with an nftables table in the node's namespace, and the checks the BFD scenarios
share on anycastd's `status --json` `bfd` object.

Owns the `labbfd` nftables table (made by `netfilter`) of the namespaces it is asked to block.
"""

from __future__ import annotations

from . import netfilter, plan
from .checks import Checks
from .drivers.anycastd import Anycastd, AnycastdConfig
from .drivers.router import Bfd
from .topology import Lab

#: RFC 5881 single-hop control packets' destination port
PORT = 3784
TABLE = "labbfd"


def anycastd_has_bfd(lab: Lab) -> tuple[bool, str]:
    """(whether `anycastd check-config` accepts a neighbor's `bfd`, its output)."""
    probe = Anycastd(lab, AnycastdConfig(plan.NODEA, bfd=Bfd()), conf_name="anycastd-bfd-probe.toml")
    rc, out = probe.check_config()
    return rc == 0, out.strip()


def block(lab: Lab, role: str, port: int = PORT) -> None:
    """Drop every UDP datagram to `port` arriving in `role`'s namespace (BFD control packets
    from its peers; BGP and everything else pass)."""
    netfilter.drop_input(lab, role, TABLE, "udp", "dport", str(port))


def dropped(lab: Lab, role: str) -> int:
    """Packets the `block` rule dropped so far."""
    return netfilter.dropped(lab, role, TABLE)


def unblock(lab: Lab, role: str) -> None:
    netfilter.remove(lab, role, TABLE)


def status_up(checks: Checks, acd: Anycastd, bfd: Bfd, auth: str | None, what: str = "status") -> dict:
    """The status checks of an Up session with a router that runs `bfd`'s timers: state and
    remote state Up, both discriminators nonzero, the configured and negotiated intervals,
    the Detection Time, the remote's timers, auth, no problem. Returns the bfd object."""
    st = acd.bfd_status() or {}
    us = bfd.interval_ms * 1000
    checks.equal(f"{what}: bfd state / remote_state", (st.get("state"), st.get("remote_state")), ("Up", "Up"))
    checks.check(f"{what}: bfd my_discriminator and remote_discriminator nonzero",
                 st.get("my_discriminator") and st.get("remote_discriminator"),
                 f"my {st.get('my_discriminator')}, remote {st.get('remote_discriminator')}")
    checks.equal(f"{what}: bfd interval_ms / multiplier (configured)", (st.get("interval_ms"), st.get("multiplier")),
                 (bfd.interval_ms, bfd.multiplier))
    checks.equal(f"{what}: bfd remote_min_rx_us / remote_min_tx_us / remote_multiplier",
                 (st.get("remote_min_rx_us"), st.get("remote_min_tx_us"), st.get("remote_multiplier")),
                 (us, us, bfd.multiplier))
    # RFC 5880 §6.8.7 / §6.8.4: TX = max(our Desired Min TX, its Required Min RX); Detection
    # Time = its Detect Mult × max(our Required Min RX, its Desired Min TX)
    checks.equal(f"{what}: bfd tx_interval_us / detection_time_us (negotiated)",
                 (st.get("tx_interval_us"), st.get("detection_time_us")), (us, bfd.multiplier * us))
    checks.equal(f"{what}: bfd auth / multihop / problem", (st.get("auth"), st.get("multihop"), st.get("problem")),
                 (auth, False, None))
    checks.check(f"{what}: bfd packets_in and packets_out > 0, up_count >= 1",
                 (st.get("packets_in") or 0) > 0 and (st.get("packets_out") or 0) > 0 and (st.get("up_count") or 0) >= 1,
                 {k: st.get(k) for k in ("packets_in", "packets_out", "up_count", "down_count", "drops")})
    return st
