#!/usr/bin/env bash
# interop/scenario-bird-ipv6-session.sh — anycastd with two neighbors on the same router:
# one over IPv4 transport, one over IPv6 transport, both with TCP-MD5, both up at once,
# each carrying both anycast prefixes; they live and die independently.
#
#        client ── client0 ┐
#                        rtr: BIRD 2, AS 65000
#                          │ br0 192.0.2.1      protocol nodea  (neighbor 192.0.2.11)
#                          │     2001:db8:2::1  protocol nodea6 (neighbor 2001:db8:2::11)
#          nodea0 ─────────┴──── nodeb0
#   tcpdump │
#   nodea: anycastd AS 65124, neighbors 192.0.2.1 and 2001:db8:2::1 (local 2001:db8:2::11),
#          md5 "anycast-lab-key" on both; next hops 192.0.2.11 / 2001:db8:2::11
#
# Checks (each PASS/FAIL):
#   1. both sessions Established (BIRD; anycastd logs one 'session established' per peer),
#      nodea6 over 2001:db8:2::1 <-> 2001:db8:2::11
#   2. each of the 4 channels (2 sessions x ipv4/ipv6) imported 1 route, exported 0
#   3. BIRD holds each prefix twice (from nodea and nodea6), next hops 192.0.2.11 and
#      2001:db8:2::11 on both; rtr's FIB has exactly one route per prefix, via nodea
#   4. the IPv6 session's OPEN (capture, `anycastd decode`): AS 65124, id 192.0.2.11, same
#      capabilities as over IPv4
#   5. capture: every segment of both sessions MD5-valid, IPv6 flows included
#      (`anycastd md5 verify` and tcpdump -M agree on the count)
#   6. `birdc disable nodea6`: the IPv4 session and the FIB are untouched; `enable` brings
#      nodea6 back within 10 s
#   7. SIGTERM: both sessions receive Cease / Administrative Shutdown, the FIB empties
# Prints "N passed, M failed" last; exits non-zero on any failure.
# Usage: sudo ANYCASTD_BIN=target/release/anycastd interop/scenario-bird-ipv6-session.sh
# Checks are strings that lab_check/lab_wait_for/eval/bash -c run later: their \$ expand then.
# shellcheck disable=SC2016,SC2034
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${LAB_PREFIX:=sbf}"
# shellcheck source=lib.sh
. "$HERE/lib.sh"
# shellcheck source=anycastd-lib.sh
. "$HERE/anycastd-lib.sh"

KEY=$LAB_MD5_KEY
T_START=$(lab__now_ms)
lab_require_root
lab_install_deps
lab_topology
acd_require_bin

lab_bird_conf --md5 "$KEY" --neighbors nodea >"$LAB_DIR/bird.conf"
# The second session: same template (password, timers, export none), IPv6 transport.
cat >>"$LAB_DIR/bird.conf" <<EOF

protocol bgp nodea6 from anycast_node {
    local $LAB_RTR_LAN6 as $LAB_RTR_AS;
    neighbor $LAB_NODEA6 as $LAB_NODE_AS;
}
EOF
lab_bird_start rtr "$LAB_DIR/bird.conf"
acd_conf nodea --v6-session "$KEY" >"$LAB_DIR/anycastd-nodea.toml"
PCAP=$LAB_DIR/sessions.pcap
lab_capture_start nodea0 "$PCAP" tcp port 179 || lab_die "capture did not start"

both_up() { lab_bird_established rtr nodea && lab_bird_established rtr nodea6; }
all_channels() {
    local p ch
    for p in nodea nodea6; do
        for ch in ipv4 ipv6; do
            [ "$(acd_bird_channel_routes rtr $p $ch)" = "1 0" ] || return 1
        done
    done
}
fib_exact() {
    [ "$(lab_ns rtr ip -4 route show proto bird | sed 's/ *$//')" = "$LAB_ANYCAST4 via $LAB_NODEA4 dev br0 metric 32" ] &&
        [ "$(lab_ns rtr ip -6 route show proto bird | sed 's/ *$//')" = "$LAB_ANYCAST6 via $LAB_NODEA6 dev br0 metric 32 pref medium" ]
}

# ---- 1. both sessions --------------------------------------------------------------------
t0=$(lab__now_ms)
acd_start nodea "$LAB_DIR/anycastd-nodea.toml"
if lab_wait_for both_up 10; then
    lab_pass "both sessions Established $(lab_elapsed_ms "$t0") ms after anycastd start"
else
    lab_fail "sessions: nodea $(lab_bird_bgp_state rtr nodea), nodea6 $(lab_bird_bgp_state rtr nodea6) after 10 s"
fi
for peer in "$LAB_RTR_LAN4" "$LAB_RTR_LAN6"; do
    lab_check "anycastd log: exactly 1 'session established' for peer $peer" \
        eval '[ "$(acd_log_count nodea "neighbor\\{peer=$peer\\}.*session established")" -eq 1 ]'
done
p6=$(lab_birdc rtr show protocols all nodea6)
lab_check "BIRD nodea6: neighbor $LAB_NODEA6, source $LAB_RTR_LAN6, AS 65124, ID 192.0.2.11, AS4" \
    eval 'grep -q "Neighbor address: *$LAB_NODEA6\$" <<<"$p6" && grep -q "Source address: *$LAB_RTR_LAN6\$" <<<"$p6" &&
        grep -q "Neighbor AS: *65124\$" <<<"$p6" && grep -q "Neighbor ID: *192.0.2.11\$" <<<"$p6" &&
        grep -q "Session: *external AS4\$" <<<"$p6"'

# ---- 2./3. routes ------------------------------------------------------------------------
lab_wait_for all_channels 5 || true
for p in nodea nodea6; do
    for ch in ipv4 ipv6; do
        got=$(acd_bird_channel_routes rtr $p $ch || echo "channel down")
        lab_check "BIRD $p/$ch: 1 imported, 0 exported (got '$got')" [ "$got" = "1 0" ]
    done
done
r4=$(lab_birdc rtr show route "$LAB_ANYCAST4/32" all)
r6=$(lab_birdc rtr show route "$LAB_ANYCAST6/128" all)
printf '%s\n%s\n' "$r4" "$r6" | grep -E 'unicast|via' | sed 's/^/    /' >&2
lab_check "BIRD: $LAB_ANYCAST4/32 from nodea and nodea6, both via $LAB_NODEA4 (2 routes)" \
    eval '[ "$(grep -c "unicast \[nodea6\? " <<<"$r4")" -eq 2 ] && grep -q "unicast \[nodea6 " <<<"$r4" &&
        [ "$(grep -c "via $LAB_NODEA4 on br0" <<<"$r4")" -eq 2 ] && [ "$(grep -c "BGP.next_hop: $LAB_NODEA4\$" <<<"$r4")" -eq 2 ]'
lab_check "BIRD: $LAB_ANYCAST6/128 from nodea and nodea6, both via $LAB_NODEA6 (2 routes)" \
    eval '[ "$(grep -c "unicast \[nodea6\? " <<<"$r6")" -eq 2 ] && grep -q "unicast \[nodea6 " <<<"$r6" &&
        [ "$(grep -c "via $LAB_NODEA6 on br0" <<<"$r6")" -eq 2 ] && [ "$(grep -c "BGP.next_hop: $LAB_NODEA6\$" <<<"$r6")" -eq 2 ]'
lab_check "BIRD: exactly 4 route entries in all tables" \
    eval '[ "$(lab_birdc rtr show route count | grep -oE "^[0-9]+ of [0-9]+ routes" | awk "{s += \$3} END {print s}")" -eq 4 ]'
lab_check "rtr FIB: exactly one route per prefix, via nodea" fib_exact

# ---- 4. the OPEN over IPv6 ---------------------------------------------------------------
sleep 0.3
lab_capture_stop "$PCAP"
if acd_pcap_bgp "$PCAP" "bgp.type == 1 && ipv6.src == $LAB_NODEA6" "$LAB_DIR/open6.bin" &&
    open=$("$ACD_BIN" decode "$LAB_DIR/open6.bin"); then
    caps=$(jq -r '[.capabilities[] | (.name + (if .afi then "/\(.afi)/\(.safi)" elif .asn then "/\(.asn)" else "" end))] | sort | join(" ")' <<<"$open")
    lab_check "IPv6 session OPEN: AS 65124, id 192.0.2.11, hold 9, caps '$caps'" \
        [ "$(jq -r '[.my_as, .bgp_id, .hold_time] | join(" ")' <<<"$open") $caps" = \
            "65124 192.0.2.11 9 enhanced-route-refresh four-octet-as/65124 multiprotocol/1/1 multiprotocol/2/1 route-refresh" ]
else
    lab_fail "IPv6 session OPEN: not in the capture or not decodable"
fi

# ---- 5. MD5 on both transports -----------------------------------------------------------
vj=$("$ACD_BIN" md5 verify --json --pcap "$PCAP" --key "$KEY")
vrc=$?
t=$(jq -r '.totals | "\(.signed) \(.valid) \(.invalid) \(.unsigned)"' <<<"$vj")
v6=$(jq -r '[.flows[] | select(.src | startswith("[")) | .valid] | add // 0' <<<"$vj")
v6bad=$(jq -r '[.flows[] | select(.src | startswith("[")) | .invalid + .unsigned] | add // 0' <<<"$vj")
td=$(tcpdump -n -r "$PCAP" -M "$KEY" -v 'tcp port 179' 2>/dev/null | grep -c 'md5 valid' || true)
td6=$(tcpdump -n -r "$PCAP" -M "$KEY" -v 'ip6 and tcp port 179' 2>/dev/null | grep -c 'md5 valid' || true)
lab_log "md5 verify totals (signed valid invalid unsigned): $t; IPv6 flows $v6 valid; tcpdump: $td valid ($td6 over IPv6)"
lab_check "md5 verify: exit 0, all signed valid, none unsigned, tcpdump agrees ($t vs tcpdump $td)" \
    eval '[ "$vrc" -eq 0 ] && [ "$t" = "$td $td 0 0" ] && [ "$td" -gt 10 ]'
lab_check "md5 verify: IPv6 flows signed and valid ($v6 valid, $v6bad invalid/unsigned; tcpdump $td6)" \
    eval '[ "$v6" -gt 4 ] && [ "$v6bad" -eq 0 ] && [ "$v6" -eq "$td6" ]'

# ---- 6. the sessions are independent -----------------------------------------------------
e4=$(acd_log_count nodea "neighbor\\{peer=$LAB_RTR_LAN4\\}.*session established")
lab_birdc rtr disable nodea6 >/dev/null
lab_check "disable nodea6: anycastd's IPv6 neighbor received the Cease, went Idle" \
    lab_wait_for "acd_log_has nodea 'neighbor\\{peer=$LAB_RTR_LAN6\\}.*received NOTIFICATION notification=Cease'" 3
sleep 0.5
lab_check "disable nodea6: IPv4 session still Established, FIB unchanged, nodea's channels 1/1" \
    eval 'lab_bird_established rtr nodea && fib_exact && [ "$(acd_bird_channel_routes rtr nodea ipv4) $(acd_bird_channel_routes rtr nodea ipv6)" = "1 0 1 0" ]'
lab_check "disable nodea6: no new IPv4 'session established' in anycastd's log" \
    eval '[ "$(acd_log_count nodea "neighbor\\{peer=$LAB_RTR_LAN4\\}.*session established")" -eq "$e4" ]'
t0=$(lab__now_ms)
lab_birdc rtr enable nodea6 >/dev/null
if lab_wait_for "both_up && all_channels" 10; then
    lab_pass "enable nodea6: back Established with both routes $(lab_elapsed_ms "$t0") ms later"
else
    lab_fail "enable nodea6: not back in 10 s (state $(lab_bird_bgp_state rtr nodea6))"
fi

# ---- 7. clean stop -----------------------------------------------------------------------
lab_monitor_start rtr
t_sig=$(lab__now_ms)
acd_stop nodea
for p in nodea nodea6; do
    lab_check "SIGTERM: BIRD $p 'Received: Administrative shutdown'" \
        lab_wait_for "lab_birdc rtr show protocols $p | grep -q 'Received: Administrative shutdown'" 2
done
if lab_wait_for '[ -z "$(lab_ns rtr ip -4 route show proto bird; lab_ns rtr ip -6 route show proto bird)" ]' 2; then
    lab_pass "SIGTERM: rtr's FIB empty $(lab_elapsed_ms "$t_sig") ms after the signal (100 ms polling)"
else
    lab_fail "SIGTERM: BGP routes still in rtr's FIB after 2 s"
fi

lab_log "scenario took $(lab_elapsed_ms "$T_START") ms"
lab_summary
