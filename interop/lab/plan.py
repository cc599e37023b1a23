"""The lab's addressing plan: every name, address, AS number and MAC the topology uses.

Owns the constants only (documentation ranges: RFC 5737, RFC 3849); nothing here touches the
system. The topology module builds what this describes; drivers and scenarios read it.
"""

from __future__ import annotations

from dataclasses import dataclass

RTR_AS = 65000
NODE_AS = 65124
RTR_ID = "192.0.2.1"
RTR_LAN4 = "192.0.2.1"
RTR_LAN6 = "2001:db8:2::1"
RTR_CLIENT4 = "198.51.100.1"
RTR_CLIENT6 = "2001:db8:100::1"
CLIENT4 = "198.51.100.10"
CLIENT6 = "2001:db8:100::10"
CLIENT_LAN4 = "198.51.100.0/24"
CLIENT_LAN6 = "2001:db8:100::/64"
ANYCAST4 = "203.0.113.124"
ANYCAST6 = "2001:db8:124::1"
PREFIX4 = f"{ANYCAST4}/32"
PREFIX6 = f"{ANYCAST6}/128"
VRRP_ADDR = "192.0.2.124"
VRRP_VRID = 124
MD5_KEY = "anycast-lab-key"
WRONG_KEY = "wrong-key-0000"


@dataclass(frozen=True)
class Node:
    """One anycast node: its role name (= namespace suffix), LAN addresses and bridge port."""

    name: str
    addr4: str
    addr6: str
    mac_id: int  # last MAC octet: node side 02:00:00:00:00:ID, rtr side 02:00:00:00:01:ID

    @property
    def port(self) -> str:
        """The node's port on rtr's bridge (where captures are taken)."""
        return f"{self.name}0"


NODEA = Node("nodea", "192.0.2.11", "2001:db8:2::11", 0x11)
NODEB = Node("nodeb", "192.0.2.12", "2001:db8:2::12", 0x12)
NODES = (NODEA, NODEB)
ROLES = ("rtr", "nodea", "nodeb", "client")

# The etcd lab (issue 14): up to five anycastd nodes and three etcd members, every one a
# namespace on the node LAN (rtr's br0); etcd members carry no anycast address.
NODEC = Node("nodec", "192.0.2.13", "2001:db8:2::13", 0x13)
NODED = Node("noded", "192.0.2.14", "2001:db8:2::14", 0x14)
NODEE = Node("nodee", "192.0.2.15", "2001:db8:2::15", 0x15)
FLEET = (NODEA, NODEB, NODEC, NODED, NODEE)
ETCD_MEMBERS = tuple(Node(f"etcd{i}", f"192.0.2.10{i}", f"2001:db8:2::10{i}", 0x20 + i) for i in (1, 2, 3))
ETCD_CLIENT_PORT = 2379
ETCD_PEER_PORT = 2380
#: the fleet's services: name → its anycast prefix (one each, its own election /anycastd/NAME)
FLEET_SERVICES = {f"svc{i}": f"203.0.113.{50 + i}/32" for i in (1, 2, 3, 4)}

# listener-bypass (H1): nodea's second uplink, LAN-B (nodea eth1 <-> the attacker namespace),
# built by that scenario on top of the topology. The upper half of 198.51.100.0/24, so that no
# address of it is also one of the client LAN's (rtr's client0 is 198.51.100.1).
LANB_NET4 = "198.51.100.128/25"
LANB_NODEA4 = "198.51.100.130"   # anycastd's address B (the local_ip of its second neighbor)
LANB_PEER4 = "198.51.100.129"    # that neighbor, R2: the rogue device on LAN-B
LANB_PEER_AS = 65001
LANB_TABLE = 100                 # nodea's source-routing table for B


def family_of(prefix_or_addr: str) -> str:
    """'ipv6' for anything with a colon, else 'ipv4'."""
    return "ipv6" if ":" in prefix_or_addr else "ipv4"
