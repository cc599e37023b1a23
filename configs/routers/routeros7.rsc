# MikroTik RouterOS 7 as the upstream router for an anycastd HA pair: IPv4 and IPv6 sessions,
# MD5, 3/9 s timers, BFD 50 ms x 3, only the anycast host routes (/32, /128) accepted, nothing
# sent back. ether2 is the node LAN (192.0.2.1/24, 2001:db8:2::1/64): put your interface there.
#
# Drain: the anycast-in rules give routes marked GRACEFUL_SHUTDOWN (65535:0, RFC 8326)
# LOCAL_PREF 0, so `anycastd drain` moves traffic to the other node before the withdraw (with
# standby = "withdraw" the other node announces nothing: drain is for "prepend" or
# active/active pairs).
#
# Checked: not on a router (no RouterOS image here). The property names (no template: every
# connection carries its own as, router-id, hold-time, keepalive-time, tcp-md5-key, use-bfd,
# local.role, remote.address, remote.as, address-families, input.filter, output.filter-chain;
# /routing bfd configuration: interfaces, min-rx, min-tx, multiplier) are those of the
# terraform-routeros provider's schemas for /routing/bgp/connection and
# /routing/bfd/configuration; the filter rule syntax (`dst in …`, `dst-len`,
# `bgp-communities includes`, `set bgp-local-pref`) is MikroTik's v7 routing filter syntax as
# published in MikroTik's docs and configs, found with the search tool. Not checked: the
# commands on a device; RouterOS 7.20 and later (they add /routing/bgp/instance for as and
# router-id); BFD authentication (RouterOS has none: leave anycastd's `auth` unset). A
# third-party guide says that with use-bfd=yes the session stays down while BFD is not up.
/routing bfd configuration
add interfaces=ether2 min-rx=50ms min-tx=50ms multiplier=3

/routing filter rule
add chain=anycast-in rule="if (dst in 203.0.113.0/24 && dst-len == 32 && bgp-communities includes 65535:0) { set bgp-local-pref 0; accept }"
add chain=anycast-in rule="if (dst in 203.0.113.0/24 && dst-len == 32) { accept }"
add chain=anycast-in rule="if (dst in 2001:db8:124::/48 && dst-len == 128 && bgp-communities includes 65535:0) { set bgp-local-pref 0; accept }"
add chain=anycast-in rule="if (dst in 2001:db8:124::/48 && dst-len == 128) { accept }"
add chain=anycast-in rule="reject"
add chain=anycast-out rule="reject"

/routing bgp connection
add name=nodea as=65000 router-id=192.0.2.1 local.role=ebgp remote.address=192.0.2.11 remote.as=65124 \
    address-families=ip tcp-md5-key=anycast-lab-key hold-time=9s keepalive-time=3s use-bfd=yes \
    input.filter=anycast-in output.filter-chain=anycast-out
add name=nodeb as=65000 router-id=192.0.2.1 local.role=ebgp remote.address=192.0.2.12 remote.as=65124 \
    address-families=ip tcp-md5-key=anycast-lab-key hold-time=9s keepalive-time=3s use-bfd=yes \
    input.filter=anycast-in output.filter-chain=anycast-out
# The IPv6 sessions (anycastd: a [[bgp.neighbor]] with remote_ip = "2001:db8:2::1").
add name=nodea-v6 as=65000 router-id=192.0.2.1 local.role=ebgp remote.address=2001:db8:2::11 remote.as=65124 \
    address-families=ipv6 tcp-md5-key=anycast-lab-key hold-time=9s keepalive-time=3s use-bfd=yes \
    input.filter=anycast-in output.filter-chain=anycast-out
add name=nodeb-v6 as=65000 router-id=192.0.2.1 local.role=ebgp remote.address=2001:db8:2::12 remote.as=65124 \
    address-families=ipv6 tcp-md5-key=anycast-lab-key hold-time=9s keepalive-time=3s use-bfd=yes \
    input.filter=anycast-in output.filter-chain=anycast-out
