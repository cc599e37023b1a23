#!/usr/bin/env bash
# interop/capture-bird-fixtures.sh — capture a real BIRD 2 session and turn
# BIRD's messages into fixtures (fixtures/lab/*.json + the .pcap).
#
#   rtr: BIRD 2 (AS 65000) ── br0 ── nodea0 [tcpdump here] ── nodea: gobgpd (AS 65124)
#
# For the capture only, the router EXPORTS to nodea (the lab default is
# `export none`): two static IPv4 and two static IPv6 routes, with MED,
# communities (incl. NO_EXPORT), a large community and an extended community,
# so BIRD sends: OPEN, KEEPALIVE, UPDATE (IPv4 NLRI), UPDATE (MP_REACH IPv6),
# End-of-RIB (IPv4 and IPv6). Then: withdraw (disable the static protocols:
# IPv4 withdrawn routes, IPv6 MP_UNREACH), ROUTE-REFRESH (`birdc reload in`),
# NOTIFICATION Cease/Administrative Shutdown with a message (`birdc disable`).
# The timeline (what was done when) goes to OUT/capture-timeline.txt; then
# fixtures-extract.py splits the TCP stream into messages, decodes them and
# cross-checks each against tshark.
#
# Usage: sudo interop/capture-bird-fixtures.sh [OUT_DIR]   (default ../fixtures/lab)
# Checks: each expected step happened (PASS/FAIL); exit non-zero on failure.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

OUT=${1:-$HERE/../fixtures/lab}
PCAP_NAME=bird-2.0.12-gobgp-session.pcap
SHUTDOWN_MSG="anycastd lab fixture: admin shutdown"
PYTHON=/usr/bin/python3 # Debian's python (a pyenv shim may shadow python3)

lab_require_root
lab_install_deps
mkdir -p "$OUT" || lab_die "cannot create $OUT"
OUT=$(cd "$OUT" && pwd)
PCAP="$OUT/$PCAP_NAME"
TIMELINE="$OUT/capture-timeline.txt"
: >"$TIMELINE"
step() {
    lab_log "STEP: $*"
    printf '%s %s\n' "$(lab__ts)" "$*" >>"$TIMELINE"
}

lab_topology

FILTER='filter fixture_out'
EXTRA=$(
    cat <<'EOF'
# Capture-only: routes the router exports to nodea so BIRD sends UPDATEs.
protocol static fx4 {
    ipv4;
    route 198.51.100.128/25 blackhole;
    route 203.0.113.0/25 blackhole;
}
protocol static fx6 {
    ipv6;
    route 2001:db8:fe::/48 blackhole;
    route 2001:db8:ff:1::/64 blackhole;
}
filter fixture_out {
    if proto != "fx4" && proto != "fx6" then reject;
    bgp_med = 50;
    bgp_community.add((65000, 100));
    bgp_community.add((65535, 65281));   # NO_EXPORT
    bgp_large_community.add((65000, 1, 2));
    bgp_ext_community.add((rt, 65000, 42));
    accept;
}
EOF
)
lab_bird_conf --neighbors nodea --export "$FILTER" --extra "$EXTRA" >"$LAB_DIR/bird.conf"
cp "$LAB_DIR/bird.conf" "$OUT/capture-bird.conf"
lab_gobgp_node_conf nodea >"$LAB_DIR/gobgp.toml"
cp "$LAB_DIR/gobgp.toml" "$OUT/capture-gobgp.toml"

lab_capture_start nodea0 "$PCAP" tcp port 179 || lab_die "capture did not start"
step "start BIRD (rtr) and gobgpd (nodea); BIRD connects after 'connect delay time 1'"
lab_bird_start rtr "$LAB_DIR/bird.conf"
lab_gobgpd_start nodea "$LAB_DIR/gobgp.toml"

if lab_wait_for "lab_bird_established rtr nodea" 15; then
    lab_pass "session Established"
else
    lab_die "session not Established within 15 s"
fi
if lab_wait_for "[ \$(lab_gobgp nodea neighbor $LAB_RTR_LAN4 adj-in -a ipv4 | grep -c /) -eq 2 ] && [ \$(lab_gobgp nodea neighbor $LAB_RTR_LAN4 adj-in -a ipv6 | grep -c /) -eq 2 ]" 10; then
    lab_pass "nodea received 2 IPv4 + 2 IPv6 routes from BIRD"
else
    lab_fail "nodea did not receive BIRD's routes"
fi
step "routes received by nodea; waiting for a periodic KEEPALIVE (keepalive 3 s)"
sleep 3.5

step "birdc disable fx4 (IPv4 withdraw)"
lab_birdc rtr disable fx4 >/dev/null
lab_check "IPv4 withdraw reached nodea" lab_wait_for \
    "[ \$(lab_gobgp nodea neighbor $LAB_RTR_LAN4 adj-in -a ipv4 | grep -c /) -eq 0 ]" 5
step "birdc disable fx6 (IPv6 withdraw, MP_UNREACH)"
lab_birdc rtr disable fx6 >/dev/null
lab_check "IPv6 withdraw reached nodea" lab_wait_for \
    "[ \$(lab_gobgp nodea neighbor $LAB_RTR_LAN4 adj-in -a ipv6 | grep -c /) -eq 0 ]" 5

step "birdc reload in nodea (ROUTE-REFRESH)"
lab_check "birdc reload in nodea" bash -c "timeout 5 birdc -s '$(lab_bird_sock rtr)' reload in nodea | grep -qi reload"
sleep 0.5

step "birdc disable nodea \"$SHUTDOWN_MSG\" (NOTIFICATION Cease)"
lab_birdc rtr disable nodea "\"$SHUTDOWN_MSG\"" >/dev/null
lab_check "BIRD protocol nodea down after disable" \
    lab_wait_for "lab_birdc rtr show protocols nodea | grep -q ' down '" 5
sleep 0.5
lab_capture_stop "$PCAP"
chown --reference="$OUT" "$PCAP" # tcpdump drops to user tcpdump
step "capture stopped"

{
    printf 'bird: %s\n' "$(bird --version 2>&1)"
    printf 'gobgpd: %s\n' "$(gobgpd --version 2>&1)"
    printf 'tcpdump: %s\n' "$(tcpdump --version 2>&1 | head -n 1)"
    printf 'tshark: %s\n' "$(tshark --version 2>/dev/null | head -n 1)"
    printf 'kernel: %s\n' "$(uname -r)"
} >"$OUT/capture-tools.txt"

lab_check "pcap has BGP segments" bash -c "[ \$(tcpdump -n -r '$PCAP' 'tcp port 179 and tcp[13] & 8 != 0' 2>/dev/null | wc -l) -gt 5 ]"
cat >"$LAB_DIR/notes.json" <<EOF
{
  "open-": "BIRD's OPEN to an eBGP peer (hold time 9 from 'hold time 9'; BIRD offers GR helper, 4-octet AS, enhanced route refresh).",
  "keepalive-": "BIRD KEEPALIVE (every 'keepalive time 3' s); all of BIRD's KEEPALIVEs in the capture are identical, kept once.",
  "update-bird-lab-ipv4-": "Export filter fixture_out on static routes: MED 50, communities (65000,100) + NO_EXPORT, large (65000,1,2), ext (rt,65000,42); eBGP next hop self 192.0.2.1; AS_PATH 65000 prepended. Both prefixes share attributes and are packed in one UPDATE.",
  "update-bird-lab-mp-reach-ipv6-": "Same attributes over the IPv4 session (MP-BGP): MP_REACH_NLRI first, next hop length 32 = 'next hop address $LAB_RTR_LAN6' + br0 link-local (fixed MAC 02:00:00:00:01:01). No NEXT_HOP attribute.",
  "update-bird-lab-end-of-rib-ipv4": "RFC 4724 End-of-RIB for IPv4 unicast: empty UPDATE (length 23), sent right after the initial IPv4 routes.",
  "update-bird-lab-end-of-rib-ipv6": "RFC 4724 End-of-RIB for IPv6 unicast: UPDATE with only an empty MP_UNREACH_NLRI.",
  "update-bird-lab-withdraw-": "After 'birdc disable fx4': both IPv4 prefixes in Withdrawn Routes, no attributes.",
  "update-bird-lab-mp-unreach-": "After 'birdc disable fx6': both IPv6 prefixes in MP_UNREACH_NLRI (flags O+E: BIRD sets Extended Length).",
  "route-refresh-": "'birdc reload in nodea': one ROUTE-REFRESH per negotiated family (normal, subtype 0; GoBGP did not offer enhanced route refresh).",
  "notification-": "'birdc disable nodea \"$SHUTDOWN_MSG\"': Cease / Administrative Shutdown with an RFC 9003 Shutdown Communication."
}
EOF
if $PYTHON "$HERE/fixtures-extract.py" --pcap "$PCAP" --out "$OUT" --notes "$LAB_DIR/notes.json" \
    --src "$LAB_RTR_LAN4" --pcap-path "fixtures/lab/$PCAP_NAME" \
    --timeline "$TIMELINE" --tools "$OUT/capture-tools.txt" \
    --command "interop/capture-bird-fixtures.sh (BIRD 2.0.12 in rtr exporting to gobgpd in nodea; tcpdump -i nodea0 on rtr's bridge port)"; then
    lab_pass "fixtures extracted and cross-checked with tshark"
else
    lab_fail "fixtures-extract.py failed"
fi
lab_summary
