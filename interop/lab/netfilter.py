"""Cuts made with nftables inside a lab namespace: one table per purpose (BFD's `labbfd`,
VRRP's `labvrrp`), an input chain with one counting drop rule. Owns only the tables it is
asked to make; nftables is installed on first use (`deps`), like the daemons.
"""

from __future__ import annotations

from . import deps
from .topology import Lab


def drop_input(lab: Lab, role: str, table: str, *match: str) -> None:
    """Drop every packet matching `match` (nft words, e.g. `udp dport 3784`) that arrives in
    `role`'s namespace, in table `table`; raises when nft refuses."""
    deps.install({"nft": "nftables"})
    for cmd in (["add", "table", "inet", table],
                ["add", "chain", "inet", table, "in", "{ type filter hook input priority 0; }"],
                ["add", "rule", "inet", table, "in", *match, "counter", "drop"]):
        r = lab.sh(role, "nft", *cmd)
        if r.returncode != 0:
            raise RuntimeError(f"nft {' '.join(cmd)} in {role}: {r.stderr.strip()}")


def dropped(lab: Lab, role: str, table: str) -> int:
    """Packets the table's drop rule dropped so far."""
    out = lab.out(role, "nft", "list", "table", "inet", table)
    for line in out.splitlines():
        if "counter packets" in line:
            return int(line.split("counter packets", 1)[1].split()[0])
    return 0


def remove(lab: Lab, role: str, table: str) -> None:
    lab.sh(role, "nft", "delete", "table", "inet", table)
