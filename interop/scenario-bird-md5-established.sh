#!/usr/bin/env bash
# interop/scenario-bird-md5-established.sh — anycastd peers with BIRD 2 over TCP-MD5 and
# its two anycast prefixes (IPv4, and IPv6 over the same IPv4 session) reach the router's
# FIB; the client's pings are answered by nodea.
#
#        client 198.51.100.10, 2001:db8:100::10 ── client0 ┐
#                                        rtr: BIRD 2, AS 65000, id 192.0.2.1
#                                        kernel FIB <- BGP routes only
#                                         │ br0 192.0.2.1, 2001:db8:2::1
#                         nodea0 ─────────┴───────── nodeb0
#                (tcpdump here) │                          │
#   nodea 192.0.2.11: anycastd AS 65124         nodeb 192.0.2.12 (no speaker)
#     MD5 "anycast-lab-key", hold 9, retry 2     lo: same anycast addresses
#     lo 203.0.113.124/32, 2001:db8:124::1/128
#
# Checks (each PASS/FAIL):
#   1. session Established (BIRD and anycastd's log agree) within 10 s
#   2. our OPEN as sent (capture, `anycastd decode`): AS 65124, id 192.0.2.11, hold 9,
#      capabilities exactly MP ipv4+ipv6 unicast, route refresh, enhanced route refresh,
#      4-octet AS 65124; no graceful restart (64) nor long-lived GR (71)
#   3. the same as BIRD saw it (`show protocols all`: Neighbor capabilities, AS4 session)
#   4. BIRD imported exactly 1 route per channel and exported 0 (export none)
#   5. `birdc show route`: exactly 203.0.113.124/32 via 192.0.2.11 and 2001:db8:124::1/128
#      via 2001:db8:2::11, AS path 65124, origin IGP
#   6. rtr's kernel FIB: exactly those two BGP routes, via nodea
#   7. client pings both anycast addresses: 5/5 replies, only nodea's ICMP counters move
#   8. anycastd received nothing from BIRD: every UPDATE BIRD sent is an End-of-RIB
#   9. anycastd alive, its log free of WARN/ERROR, session never left Established
# Prints "N passed, M failed" last; exits non-zero on any failure.
# Usage: sudo ANYCASTD_BIN=target/release/anycastd interop/scenario-bird-md5-established.sh
# Checks are strings that lab_check/lab_wait_for/eval/bash -c run later: their \$ expand then.
# shellcheck disable=SC2016,SC2034,SC2001
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${LAB_PREFIX:=sba}"
# shellcheck source=lib.sh
. "$HERE/lib.sh"
# shellcheck source=anycastd-lib.sh
. "$HERE/anycastd-lib.sh"

T_START=$(lab__now_ms)
lab_require_root
lab_install_deps
lab_topology
acd_require_bin

PCAP=$LAB_DIR/session.pcap
lab_capture_start nodea0 "$PCAP" tcp port 179 || lab_die "capture did not start"
lab_bird_conf --md5 "$LAB_MD5_KEY" --neighbors nodea >"$LAB_DIR/bird.conf"
lab_bird_start rtr "$LAB_DIR/bird.conf"
acd_conf nodea >"$LAB_DIR/anycastd-nodea.toml"

# ---- 1. session --------------------------------------------------------------------------
t0=$(lab__now_ms)
acd_start nodea "$LAB_DIR/anycastd-nodea.toml"
if lab_wait_for "lab_bird_established rtr nodea" 10; then
    lab_pass "BIRD: session with nodea Established with MD5, $(lab_elapsed_ms "$t0") ms after anycastd start"
else
    lab_fail "BIRD: session not Established within 10 s (state $(lab_bird_bgp_state rtr nodea)); anycastd log: $(acd_log nodea | tail -n 3)"
fi
lab_check "anycastd log: 'session established' with peer_as=65000 peer_id=192.0.2.1" \
    lab_wait_for "acd_log_has nodea 'session established peer_as=65000 peer_id=192\.0\.2\.1 four_octet_as=true'" 2
# Both sides send their routes and End-of-RIB right after Established.
lab_wait_for "[ \"\$(acd_bird_channel_routes rtr nodea ipv6)\" = '1 0' ]" 5 || true
proto=$(lab_birdc rtr show protocols all nodea)
printf '%s\n' "$proto" | sed 's/^/    /' >&2

# ---- 2. our OPEN, as sent ----------------------------------------------------------------
sleep 0.3 # let the End-of-RIBs of both sides reach the capture
lab_capture_stop "$PCAP" # everything needed (OPENs, UPDATEs, End-of-RIBs) has been sent
if acd_pcap_bgp "$PCAP" "bgp.type == 1 && ip.src == $LAB_NODEA4" "$LAB_DIR/open.bin" &&
    open=$("$ACD_BIN" decode "$LAB_DIR/open.bin"); then
    lab_log "our OPEN: $open"
    caps=$(jq -r '[.capabilities[] | (.name + (if .afi then "/\(.afi)/\(.safi)" elif .asn then "/\(.asn)" else "" end))] | sort | join(" ")' <<<"$open")
    want="enhanced-route-refresh four-octet-as/65124 multiprotocol/1/1 multiprotocol/2/1 route-refresh"
    lab_check "our OPEN: version 4, my_as 65124, bgp_id 192.0.2.11, hold 9 (one OPEN)" \
        [ "$(jq -r '[.version, .my_as, .bgp_id, .hold_time] | join(" ")' <<<"$open")" = "4 65124 192.0.2.11 9" ]
    lab_check "our OPEN: capabilities exactly '$want' (got '$caps')" [ "$caps" = "$want" ]
    lab_check "our OPEN: no graceful restart (64) nor LLGR (71) capability" \
        [ "$(jq '[.capabilities[] | select(.code == 64 or .code == 71)] | length' <<<"$open")" = 0 ]
else
    lab_fail "our OPEN: not found in the capture or not decodable"
fi

# ---- 3. our OPEN, as BIRD saw it ---------------------------------------------------------
ncaps=$(awk '/^    Neighbor capabilities/ { on = 1; next } on && /^    [^ ]/ { on = 0 } on { sub(/^ +/, ""); print }' <<<"$proto" | paste -sd '|')
lab_log "BIRD: neighbor capabilities: $ncaps"
lab_check "BIRD: neighbor capabilities exactly MP (ipv4 ipv6), route refresh, 4-octet AS, enhanced refresh" \
    [ "$ncaps" = "Multiprotocol|AF announced: ipv4 ipv6|Route refresh|4-octet AS numbers|Enhanced refresh" ]
lab_check "BIRD: no graceful restart in the neighbor's capabilities" \
    bash -c '! grep -qi "graceful" <<<"$1"' _ "$ncaps"
lab_check "BIRD: Neighbor AS 65124, Neighbor ID 192.0.2.11, external AS4 session, hold 9" \
    bash -c 'grep -q "Neighbor AS: *65124$" <<<"$1" && grep -q "Neighbor ID: *192.0.2.11$" <<<"$1" &&
        grep -q "Session: *external AS4$" <<<"$1" && grep -q "Hold timer: *[0-9.]*/9$" <<<"$1"' _ "$proto"

# ---- 4. route counts per channel ---------------------------------------------------------
for ch in ipv4 ipv6; do
    got=$(acd_bird_channel_routes rtr nodea "$ch" || echo "channel down")
    lab_check "BIRD channel $ch: 1 imported, 0 exported (got '$got')" [ "$got" = "1 0" ]
done

# ---- 5. the routes in BIRD ---------------------------------------------------------------
routes=$(acd_bird_route_lines rtr)
printf '%s\n' "$routes" | sed 's/^/    /' >&2
lab_check "BIRD: exactly 2 routes in all tables (got $(grep -c . <<<"$routes"))" [ "$(grep -c . <<<"$routes")" -eq 2 ]
r4=$(lab_birdc rtr show route "$LAB_ANYCAST4/32" all)
r6=$(lab_birdc rtr show route "$LAB_ANYCAST6/128" all)
lab_check "BIRD: $LAB_ANYCAST4/32 from nodea via $LAB_NODEA4 on br0, AS path 65124, IGP" \
    bash -c 'grep -q "^'"$LAB_ANYCAST4"'/32 *unicast \[nodea .*\[AS65124i\]" <<<"$1" &&
        grep -q "via '"$LAB_NODEA4"' on br0" <<<"$1" && grep -q "BGP.next_hop: '"$LAB_NODEA4"'$" <<<"$1" &&
        grep -q "BGP.as_path: 65124$" <<<"$1" && grep -q "BGP.origin: IGP" <<<"$1"' _ "$r4"
lab_check "BIRD: $LAB_ANYCAST6/128 from nodea via $LAB_NODEA6 on br0, AS path 65124, IGP" \
    bash -c 'grep -q "^'"$LAB_ANYCAST6"'/128 *unicast \[nodea .*\[AS65124i\]" <<<"$1" &&
        grep -q "via '"$LAB_NODEA6"' on br0" <<<"$1" && grep -q "BGP.next_hop: '"$LAB_NODEA6"'$" <<<"$1" &&
        grep -q "BGP.as_path: 65124$" <<<"$1" && grep -q "BGP.origin: IGP" <<<"$1"' _ "$r6"

# ---- 6. the router's FIB -----------------------------------------------------------------
fib4=$(lab_ns rtr ip -4 route show proto bird)
fib6=$(lab_ns rtr ip -6 route show proto bird)
lab_check "rtr FIB v4: exactly '$LAB_ANYCAST4 via $LAB_NODEA4 dev br0' (got '$(paste -sd';' <<<"$fib4")')" \
    [ "$(sed 's/ *$//' <<<"$fib4")" = "$LAB_ANYCAST4 via $LAB_NODEA4 dev br0 metric 32" ]
lab_check "rtr FIB v6: exactly '$LAB_ANYCAST6 via $LAB_NODEA6 dev br0' (got '$(paste -sd';' <<<"$fib6")')" \
    [ "$(sed 's/ *$//' <<<"$fib6")" = "$LAB_ANYCAST6 via $LAB_NODEA6 dev br0 metric 32 pref medium" ]

# ---- 7. the client reaches nodea ---------------------------------------------------------
for fam in 4 6; do
    if [ $fam = 4 ]; then dst=$LAB_ANYCAST4 ctr=IcmpInEchos; else dst=$LAB_ANYCAST6 ctr=Icmp6InEchos; fi
    a0=$(lab_counter nodea $ctr)
    b0=$(lab_counter nodeb $ctr)
    out=$(lab_ns client ping -$fam -c 5 -i 0.05 -W 1 "$dst" 2>&1)
    a1=$(lab_counter nodea $ctr)
    b1=$(lab_counter nodeb $ctr)
    lab_check "client ping $dst: 5/5 replies from $dst" \
        bash -c 'grep -q "5 packets transmitted, 5 received" <<<"$1" && [ "$(grep -c "bytes from '"$dst"':" <<<"$1")" -eq 5 ]' _ "$out"
    lab_check "ping $dst answered by nodea ($ctr nodea +$((a1 - a0)), nodeb +$((b1 - b0)))" \
        [ $(((a1 - a0) == 5 && (b1 - b0) == 0)) -eq 1 ]
done

# ---- 8. nothing from the router to the node ----------------------------------------------
if acd_pcap_bgp "$PCAP" "bgp.type == 2 && ip.src == $LAB_RTR_LAN4" "$LAB_DIR/rtr-updates.bin" &&
    rx=$("$ACD_BIN" decode "$LAB_DIR/rtr-updates.bin"); then
    summary=$(jq -sr '[.[] | select(.type == "UPDATE")] | "\(length) \([.[] | select(.end_of_rib)] | length) \([.[] | .announced | length] | add) \([.[] | .withdrawn | length] | add)"' <<<"$rx")
    lab_check "router -> node: only End-of-RIB UPDATEs, no prefix (updates, EoR, announced, withdrawn = $summary)" \
        [ "$summary" = "2 2 0 0" ]
    fams=$(jq -sr '[.[] | select(.end_of_rib) | "\(.end_of_rib_family.afi)/\(.end_of_rib_family.safi)"] | sort | join(" ")' <<<"$rx")
    lab_check "router -> node: End-of-RIB for ipv4 and ipv6 unicast (got '$fams')" [ "$fams" = "1/1 2/1" ]
else
    lab_fail "router -> node: no UPDATE from BIRD in the capture (expected two End-of-RIB)"
fi
if acd_pcap_bgp "$PCAP" "bgp.type == 2 && ip.src == $LAB_NODEA4" "$LAB_DIR/our-updates.bin" &&
    tx=$("$ACD_BIN" decode "$LAB_DIR/our-updates.bin"); then
    ann=$(jq -sr '[.[] | select(.type == "UPDATE") | .announced[]] | sort | join(" ")' <<<"$tx")
    lab_check "node -> router: announced exactly '$LAB_ANYCAST6/128 $LAB_ANYCAST4/32' (got '$ann')" \
        [ "$ann" = "$LAB_ANYCAST6/128 $LAB_ANYCAST4/32" ]
else
    lab_fail "node -> router: no UPDATE from anycastd in the capture"
fi

# ---- 9. daemon health --------------------------------------------------------------------
lab_check "anycastd (pid $ACD_PID) still running" lab__alive "$ACD_PID"
bad=$(acd_log nodea | grep -E ' (WARN|ERROR) ' || true)
lab_check "anycastd log: no WARN/ERROR line${bad:+ (got: $(head -n 2 <<<"$bad" | paste -sd'|'))}" [ -z "$bad" ]
lab_check "anycastd log: exactly 1 'session established' (no flap)" [ "$(acd_log_count nodea 'session established')" -eq 1 ]
lab_check "BIRD: still Established at the end" lab_bird_established rtr nodea

lab_log "scenario took $(lab_elapsed_ms "$T_START") ms"
lab_summary
