#!/usr/bin/env bash
# interop/scenario-frr-md5.sh — anycastd peers with FRR 8.4 (bgpd + zebra) over TCP-MD5, on
# two sessions: one over IPv4 transport (IPv6 prefixes ride it as MP-BGP with anycastd's
# next_hop_ipv6) and one over IPv6 transport (IPv4 prefixes ride it with next_hop_ipv4). Both
# families reach FRR's RIB and zebra's FIB; a failed health check withdraws them; a wrong key
# gets no session.
#
#        client 198.51.100.10, 2001:db8:100::10 ── client0 ┐
#                             rtr: FRR 8.4 zebra + bgpd, AS 65000, id 192.0.2.1
#                                  (per-lab pid/zserv/vty paths in $LAB_DIR/frr)
#                                  inbound prefix-lists 203.0.113.0/24 ge 32,
#                                  2001:db8:124::/48 ge 128; outbound route-map deny-all
#                                         │ br0 192.0.2.1, 2001:db8:2::1
#                         nodea0 ─────────┴───────── nodeb0
#                (tcpdump here) │                          │
#   nodea 192.0.2.11, 2001:db8:2::11: anycastd AS 65124    nodeb (no speaker)
#     neighbor 192.0.2.1 + neighbor 2001:db8:2::1, MD5 "anycast-lab-key", hold 9
#     health check: file $LAB_DIR/nodea/ok (100 ms, rise 1, fall 1)
#     lo 203.0.113.124/32, 2001:db8:124::1/128
#
# Checks (each PASS/FAIL):
#   1. both sessions Established in FRR (≤ 10 s), anycastd logs 2 × 'session established'
#   2. FRR's view of our capabilities: 4-octet AS, MP ipv4+ipv6, route refresh, enhanced route
#      refresh received; graceful restart and LLGR not received
#   3. per session and family: 1 prefix accepted, 0 sent (deny-all out)
#   4. FRR's RIB (`show bgp ipv4|ipv6 unicast json`): one prefix per family, each with 2 paths
#      (one per session), next hop 192.0.2.11 / 2001:db8:2::11, AS path 65124, one best
#   5. zebra's FIB in rtr (`ip route show proto bgp`): exactly the two routes via nodea
#   6. client pings both anycast addresses: 5/5 replies, answered by nodea
#   7. every captured BGP segment carries a valid MD5 signature (`tcpdump -M`)
#   8. health file removed → both prefixes gone from FRR's RIB (both families, both sessions)
#      and from the FIB (< 2 s; time printed); restored → back
#   9. no WARN/ERROR in anycastd's log, no NOTIFICATION in FRR's log, no session flap
#  10. wrong key (anycastd restarted with another key): no Established for 6 s, no route in
#      FRR, TcpExtTCPMD5Failure rising in rtr; the right key again → Established
# Prints "N passed, M failed" last; exits non-zero on any failure.
# Usage: sudo ANYCASTD_BIN=target/release/anycastd interop/scenario-frr-md5.sh
# Checks are strings that lab_check/lab_wait_for/eval/bash -c run later: their \$ expand then.
# shellcheck disable=SC2016,SC2034
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${LAB_PREFIX:=srf}"
# shellcheck source=lib.sh
. "$HERE/lib.sh"
# shellcheck source=anycastd-lib.sh
. "$HERE/anycastd-lib.sh"
# shellcheck source=routers-lib.sh
. "$HERE/routers-lib.sh"

T_START=$(lab__now_ms)
lab_require_root
lab_install_deps
lab_topology
acd_require_bin

A4=$LAB_ANYCAST4/32
A6=$LAB_ANYCAST6/128
WRONG_KEY=not-the-lab-key
FLAG=$LAB_DIR/nodea/ok
CONF=$(acd_conf_file nodea)

rl_frr_conf --md5 "$LAB_MD5_KEY" --neighbors nodea --v6-neighbors nodea >"$LAB_DIR/frr.conf" ||
    lab_die "rl_frr_conf failed"
acd_ha_conf nodea --interval 100 --rise 1 --fall 1 --file-check flag "$FLAG" \
    -- --v6-session "$LAB_MD5_KEY" >"$CONF" || lab_die "acd_ha_conf failed"
touch "$FLAG"

PCAP=$LAB_DIR/session.pcap
lab_capture_start nodea0 "$PCAP" tcp port 179 || lab_die "capture did not start"
lab_monitor_start rtr
rl_frr_start "$LAB_DIR/frr.conf"

# ---- 1. sessions -------------------------------------------------------------------------
t0=$(lab__now_ms)
acd_start nodea "$CONF"
for peer in "$LAB_NODEA4" "$LAB_NODEA6"; do
    if lab_wait_for "rl_frr_established $peer" 10; then
        lab_pass "FRR: session with $peer Established with MD5, $(lab_elapsed_ms "$t0") ms after anycastd start"
    else
        lab_fail "FRR: session with $peer not Established within 10 s (state '$(rl_frr_state "$peer")'); anycastd: $(acd_log nodea | tail -n 2)"
    fi
done
lab_check "anycastd log: 2 × 'session established peer_as=65000 peer_id=192.0.2.1'" \
    lab_wait_for "[ \$(acd_log_count nodea 'session established peer_as=65000 peer_id=192\.0\.2\.1 four_octet_as=true') -eq 2 ]" 2
lab_wait_for "[ \"\$(rl_frr_count ipv4)\" = 1 ] && [ \"\$(rl_frr_count ipv6)\" = 1 ] && [ \$(rl_frr_paths ipv6 $A6 | wc -l) -eq 2 ] && [ \$(rl_frr_paths ipv4 $A4 | wc -l) -eq 2 ]" 5 || true
lab_wait_for "[ -n \"\$(lab_ns rtr ip -6 route show proto bgp)\" ] && [ -n \"\$(lab_ns rtr ip -4 route show proto bgp)\" ]" 2 || true

# ---- 2. capabilities as FRR saw them ------------------------------------------------------
caps=$(rl_frr_caps "$LAB_NODEA4")
lab_log "FRR: capabilities of $LAB_NODEA4: $caps"
for want in 4byteAs=advertisedAndReceived mp:ipv4Unicast=advertisedAndReceived \
    mp:ipv6Unicast=advertisedAndReceived enhancedRouteRefresh=advertisedAndReceived; do
    lab_check "FRR: neighbor capability $want" bash -c 'grep -qw -- "$1" <<<"$2"' _ "$want" "$caps"
done
lab_check "FRR: route refresh advertised and received" bash -c 'grep -qE "(^| )routeRefresh=advertisedAndReceived" <<<"$1"' _ "$caps"
lab_check "FRR: graceful restart / LLGR / add-path not received from anycastd" \
    bash -c '! grep -qE "(gracefulRestart|longLivedGracefulRestart)[A-Za-z]*=[a-zA-Z]*Received|rxReceived|txReceived" <<<"$1"' _ "$caps"

# ---- 3. per-session counts ---------------------------------------------------------------
counts=""
for peer in "$LAB_NODEA4" "$LAB_NODEA6"; do
    for fam in ipv4 ipv6; do
        counts+="$peer/$fam=$(rl_frr_peer_counts "$peer" "$fam" | tr ' ' /) "
    done
done
lab_check "FRR: each session × family accepted 1, sent 0 (got ${counts% })" \
    [ "$counts" = "$LAB_NODEA4/ipv4=1/0 $LAB_NODEA4/ipv6=1/0 $LAB_NODEA6/ipv4=1/0 $LAB_NODEA6/ipv6=1/0 " ]

# ---- 4. FRR's RIB ------------------------------------------------------------------------
rl_vtysh "show bgp ipv4 unicast" "show bgp ipv6 unicast" | sed 's/^/    /' >&2
p4=$(rl_frr_paths ipv4 "$A4" | sort)
p6=$(rl_frr_paths ipv6 "$A6" | sort)
lab_log "FRR paths $A4: $(paste -sd';' <<<"$p4")"
lab_log "FRR paths $A6: $(paste -sd';' <<<"$p6")"
lab_check "FRR RIB: exactly 1 IPv4 and 1 IPv6 prefix (got $(rl_frr_count ipv4)/$(rl_frr_count ipv6))" \
    [ "$(rl_frr_count ipv4)/$(rl_frr_count ipv6)" = 1/1 ]
lab_check "FRR RIB: $A4 has 2 paths, both next hop $LAB_NODEA4, AS path 65124, one best" \
    [ "$(awk '{ print $1, $3, $4 }' <<<"$p4" | paste -sd';')/$(grep -c ' \* ' <<<"$p4")" = "$LAB_NODEA4 $LAB_NODEA4 65124;$LAB_NODEA4 $LAB_NODEA6 65124/1" ]
lab_check "FRR RIB: $A6 has 2 paths, both next hop $LAB_NODEA6, AS path 65124, one best" \
    [ "$(awk '{ print $1, $3, $4 }' <<<"$p6" | paste -sd';')/$(grep -c ' \* ' <<<"$p6")" = "$LAB_NODEA6 $LAB_NODEA4 65124;$LAB_NODEA6 $LAB_NODEA6 65124/1" ]

# ---- 5. zebra's FIB ----------------------------------------------------------------------
fib4=$(lab_ns rtr ip -4 route show proto bgp | sed 's/ nhid [0-9]*//; s/ *$//')
fib6=$(lab_ns rtr ip -6 route show proto bgp | sed 's/ nhid [0-9]*//; s/ *$//')
lab_check "rtr FIB v4 (proto bgp): exactly '$LAB_ANYCAST4 via $LAB_NODEA4 dev br0' (got '$(paste -sd';' <<<"$fib4")')" \
    [ "$fib4" = "$LAB_ANYCAST4 via $LAB_NODEA4 dev br0 metric 20" ]
lab_check "rtr FIB v6 (proto bgp): exactly '$LAB_ANYCAST6 via $LAB_NODEA6 dev br0' (got '$(paste -sd';' <<<"$fib6")')" \
    [ "$fib6" = "$LAB_ANYCAST6 via $LAB_NODEA6 dev br0 metric 20 pref medium" ]

# ---- 6. the client reaches nodea ---------------------------------------------------------
for fam in 4 6; do
    if [ $fam = 4 ]; then dst=$LAB_ANYCAST4 ctr=IcmpInEchos; else dst=$LAB_ANYCAST6 ctr=Icmp6InEchos; fi
    a0=$(lab_counter nodea $ctr)
    out=$(lab_ns client ping -$fam -c 5 -i 0.05 -W 1 "$dst" 2>&1)
    a1=$(lab_counter nodea $ctr)
    lab_check "client ping $dst: 5/5 replies, answered by nodea ($ctr +$((a1 - a0)))" \
        bash -c 'grep -q "5 packets transmitted, 5 received" <<<"$1" && [ "$2" -eq 5 ]' _ "$out" "$((a1 - a0))"
done

# ---- 7. MD5 on the wire ------------------------------------------------------------------
sleep 0.2
lab_capture_stop "$PCAP"
# -v: IPv4 segments take two lines (the second has the flags), IPv6 ones one line.
md5=$(tcpdump -n -r "$PCAP" -M "$LAB_MD5_KEY" -v 'tcp port 179' 2>/dev/null | grep -E ' > [0-9a-f.:]+: Flags \[')
nseg=$(grep -c . <<<"$md5")
nvalid=$(grep -c 'md5 valid' <<<"$md5")
ninvalid=$(grep -cE 'md5 +\(invalid\)' <<<"$md5")
n6=$(grep -c ' 2001:db8:[0-9a-f:]*\.[0-9]* > ' <<<"$md5")
lab_check "tcpdump -M: all $nseg segments md5 valid ($n6 of them IPv6; valid $nvalid, invalid $ninvalid)" \
    [ $((nseg > 10 && n6 > 4 && nvalid == nseg && ninvalid == 0)) -eq 1 ]

# ---- 8. withdraw on health-check failure -------------------------------------------------
t_rm=$(acd_now_us)
rm -f "$FLAG"
if lab_wait_for "[ \"\$(rl_frr_count ipv4)\" = 0 ] && [ \"\$(rl_frr_count ipv6)\" = 0 ]" 2; then
    lab_pass "flag removed: FRR's RIB empty in both families ($(acd_us_ms $(($(acd_now_us) - t_rm))) ms, polled)"
else
    lab_fail "flag removed: FRR still has routes after 2 s: $(rl_frr_paths ipv4 "$A4" | paste -sd';') / $(rl_frr_paths ipv6 "$A6" | paste -sd';')"
fi
lab_check "flag removed: rtr FIB has no BGP route left" \
    lab_wait_for "[ -z \"\$(lab_ns rtr ip route show proto bgp)\" ] && [ -z \"\$(lab_ns rtr ip -6 route show proto bgp)\" ]" 1
t_dec=$(acd_log_us nodea 'withdrawing' "$t_rm")
t_fib4=$(acd_monitor_us rtr "^Deleted $LAB_ANYCAST4 " "$t_rm")
t_fib6=$(acd_monitor_us rtr "^Deleted $LAB_ANYCAST6 " "$t_rm")
if [ -n "$t_dec" ] && [ -n "$t_fib4" ] && [ -n "$t_fib6" ]; then
    lab_pass "withdraw timeline: decision +$(acd_us_ms $((t_dec - t_rm))) ms after rm, FIB v4 +$(acd_us_ms $((t_fib4 - t_dec))) ms / v6 +$(acd_us_ms $((t_fib6 - t_dec))) ms after the decision"
else
    lab_fail "withdraw timeline incomplete (decision '$t_dec', FIB v4 '$t_fib4', v6 '$t_fib6')"
fi
lab_check "sessions stay up while withdrawn" eval "rl_frr_established $LAB_NODEA4 && rl_frr_established $LAB_NODEA6"
touch "$FLAG"
lab_check "flag restored: both prefixes back in FRR (2 paths each) and the FIB" \
    lab_wait_for "[ \$(rl_frr_paths ipv4 $A4 | wc -l) -eq 2 ] && [ \$(rl_frr_paths ipv6 $A6 | wc -l) -eq 2 ] && [ -n \"\$(lab_ns rtr ip -6 route show proto bgp)\" ] && [ -n \"\$(lab_ns rtr ip -4 route show proto bgp)\" ]" 3

# ---- 9. health of both sides -------------------------------------------------------------
bad=$(acd_log nodea | grep -E ' (WARN|ERROR) ' | grep -vE 'check `flag` unhealthy \(1/1\): .* is missing' || true)
lab_check "anycastd log: no WARN/ERROR line but the flag check's${bad:+ (got: $(head -n 2 <<<"$bad" | paste -sd'|'))}" [ -z "$bad" ]
lab_check "anycastd log: exactly 2 'session established' (no flap)" [ "$(acd_log_count nodea 'session established')" -eq 2 ]
notif=$(grep -i 'notification' "$RL_FRR_DIR/bgpd.log" || true)
lab_check "FRR log: no NOTIFICATION sent or received${notif:+ (got: $(head -n 2 <<<"$notif" | paste -sd'|'))}" [ -z "$notif" ]

# ---- 10. wrong key -----------------------------------------------------------------------
acd_stop nodea
lab_wait_for "! rl_frr_established $LAB_NODEA4 && ! rl_frr_established $LAB_NODEA6" 3 || true
acd_ha_conf nodea --interval 100 --rise 1 --fall 1 --file-check flag "$FLAG" \
    -- --md5 "$WRONG_KEY" --v6-session "$WRONG_KEY" >"$LAB_DIR/anycastd-nodea-wrong.toml" || lab_die "acd_ha_conf (wrong key) failed"
f0=$(lab_counter rtr TcpExtTCPMD5Failure)
acd_start nodea "$LAB_DIR/anycastd-nodea-wrong.toml"
t_w=$(lab__now_ms)
if lab_wait_for "rl_frr_established $LAB_NODEA4 || rl_frr_established $LAB_NODEA6" 6; then
    lab_fail "wrong key: FRR reached Established ($(rl_frr_state "$LAB_NODEA4") / $(rl_frr_state "$LAB_NODEA6")) after $(lab_elapsed_ms "$t_w") ms"
else
    lab_pass "wrong key: no session for 6 s (FRR states $(rl_frr_state "$LAB_NODEA4") / $(rl_frr_state "$LAB_NODEA6"))"
fi
f1=$(lab_counter rtr TcpExtTCPMD5Failure)
lab_check "wrong key: TcpExtTCPMD5Failure in rtr rising ($f0 → $f1)" [ "$f1" -gt "$f0" ]
lab_check "wrong key: FRR's RIB empty (got $(rl_frr_count ipv4)/$(rl_frr_count ipv6))" \
    [ "$(rl_frr_count ipv4)/$(rl_frr_count ipv6)" = 0/0 ]
acd_stop nodea
t_r=$(lab__now_ms)
acd_start nodea "$CONF"
lab_check "right key again: both sessions Established within 10 s" \
    lab_wait_for "rl_frr_established $LAB_NODEA4 && rl_frr_established $LAB_NODEA6" 10
lab_log "  re-established after $(lab_elapsed_ms "$t_r") ms"

lab_log "scenario took $(lab_elapsed_ms "$T_START") ms"
lab_summary
