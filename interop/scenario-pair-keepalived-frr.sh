#!/usr/bin/env bash
# interop/scenario-pair-keepalived-frr.sh — a two-node pair run by keepalived (VRRP over the
# node LAN) with FRR 8.4 as the upstream router: only the MASTER's anycastd advertises; when
# keepalived on nodea stops, nodeb becomes MASTER and FRR's best path and zebra's FIB move to
# 192.0.2.12; both nodes are never advertising for more than a few hundred ms.
#
#   client 198.51.100.10: ping -D -i 0.01 203.0.113.124 (bounded by -c)
#        │ client0
#      rtr: FRR 8.4 zebra + bgpd, AS 65000      ip -ts monitor route; sampler (vtysh JSON +
#        │  MD5 "anycast-lab-key", hold 9        FIB, every 50-120 ms)
#    nodea0 ──── br0 (switch; floods VRRP multicast 224.0.0.18) ──── nodeb0   <- tcpdump
#      │                                                                 │   on both ports
#   nodea 192.0.2.11                                               nodeb 192.0.2.12
#   keepalived VRRPv3 vrid 124 prio 150                            keepalived prio 100
#   VRRP address 192.0.2.124/24 on the MASTER's eth0, advert_int 0.5 s, preempt
#   notify hooks → `anycastd notify MASTER|BACKUP|FAULT|STOP --config <node conf>`
#   anycastd [role] source keepalived, standby withdraw, per-node control socket/state dir
#   203.0.113.124/32 + 2001:db8:124::1/128 on lo of both nodes
#
# Checks (each PASS/FAIL):
#   1. both sessions Established in FRR; nothing in FRR's RIB before keepalived reports
#   2. keepalived nodea MASTER / nodeb BACKUP: FRR has exactly one path per family, from nodea
#      (192.0.2.11 / 2001:db8:2::11); `anycastd status`: nodea 'primary 2', nodeb 'standby 0';
#      FIB via nodea (v4 and v6)
#   3. keepalived on nodea stopped (SIGTERM by PID): notify STOP on nodea, MASTER on nodeb;
#      FRR's best path moves to 192.0.2.12 (v4) and 2001:db8:2::12 (v6), nodea's path gone;
#      FIB via nodeb; the VRRP address moved
#   4. keepalived on nodea started again: it preempts, FRR and the FIB back on nodea
#   5. the sampler (every 50 ms, in practice ~120 ms: a vtysh call each) never saw two paths in FRR in three samples in a row, nor
#      two FIB next hops; from the captures on both bridge ports, both nodes announcing at
#      once < 300 ms (longest, ms printed); 4 announce/withdraw UPDATEs for 203.0.113.124 in all
#   6. the client got replies before and after each move (longest gaps printed); no ERROR in
#      either anycastd log; no NOTIFICATION in FRR's log
# Prints "N passed, M failed" last; exits non-zero on any failure.
# Usage: sudo ANYCASTD_BIN=target/release/anycastd interop/scenario-pair-keepalived-frr.sh
# Checks are strings that lab_check/lab_wait_for/eval run later: their \$ expand then.
# shellcheck disable=SC2016,SC2034
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${LAB_PREFIX:=spf}"
# shellcheck source=lib.sh
. "$HERE/lib.sh"
# shellcheck source=anycastd-lib.sh
. "$HERE/anycastd-lib.sh"
# shellcheck source=routers-lib.sh
. "$HERE/routers-lib.sh"

OVERLAP_MAX_MS=300
T_START=$(lab__now_ms)
lab_require_root
lab_install_deps
lab_topology
acd_require_bin

A4=$LAB_ANYCAST4/32
A6=$LAB_ANYCAST6/128
rl_frr_conf --md5 "$LAB_MD5_KEY" --neighbors "nodea nodeb" >"$LAB_DIR/frr.conf" || lab_die "rl_frr_conf failed"
for n in nodea nodeb; do
    acd_ha_conf "$n" --standby withdraw --role keepalived >"$(acd_conf_file "$n")" ||
        lab_die "acd_ha_conf $n failed"
done
acd_keepalived_conf nodea 150 >"$LAB_DIR/nodea/keepalived.conf" || lab_die "keepalived conf nodea"
acd_keepalived_conf nodeb 100 >"$LAB_DIR/nodeb/keepalived.conf" || lab_die "keepalived conf nodeb"
lab_capture_start nodea0 "$LAB_DIR/nodea.pcap" tcp port 179 || lab_die "capture nodea0 did not start"
lab_capture_start nodeb0 "$LAB_DIR/nodeb.pcap" tcp port 179 || lab_die "capture nodeb0 did not start"
lab_monitor_start rtr
rl_frr_start "$LAB_DIR/frr.conf"
acd_start nodea "$(acd_conf_file nodea)"
acd_start nodeb "$(acd_conf_file nodeb)"

# "NEXTHOP,NEXTHOP" of FRR's paths (sorted) and the best one.
paths() { rl_frr_paths "$1" "$2" | awk '{ print $1 }' | sort | paste -sd, -; }
best() { rl_frr_best "$1" "$2"; }
only() { [ "$(paths ipv4 "$A4")" = "$1" ] && [ "$(paths ipv6 "$A6")" = "$2" ]; }
fib() { acd_fib_nexthops "$1" | paste -sd, -; }
role_adv() { acd_status_get "$1" '"\(.role) \(.advertising | length)"'; }
vip_on() { lab_ns "$1" ip -4 addr show dev eth0 | grep -q "inet $ACD_VRRP_ADDR/"; }

# ---- 1. before keepalived ---------------------------------------------------------------------
lab_check "FRR: both sessions Established" \
    lab_wait_for "rl_frr_established $LAB_NODEA4 && rl_frr_established $LAB_NODEB4" 10
sleep 0.3
lab_check "FRR: no path before keepalived reports (got '$(paths ipv4 "$A4")' / '$(paths ipv6 "$A6")'); status: nodea '$(role_adv nodea)', nodeb '$(role_adv nodeb)'" \
    eval '[ "$(rl_frr_count ipv4)/$(rl_frr_count ipv6)" = 0/0 ] && [ "$(role_adv nodea)" = "unknown 0" ] && [ "$(role_adv nodeb)" = "unknown 0" ]'

# ---- 2. keepalived up: nodea MASTER, nodeb BACKUP --------------------------------------------
t0=$(acd_now_us)
acd_keepalived_start nodea "$LAB_DIR/nodea/keepalived.conf"
KA_A=$ACD_KA_PID
if lab_wait_for "[ \"\$(acd_vrrp_state nodea)\" = MASTER ] && only $LAB_NODEA4 $LAB_NODEA6" 6; then
    lab_pass "nodea MASTER and FRR's only paths from nodea $(acd_us_ms $(($(acd_now_us) - t0))) ms after keepalived started"
else
    lab_fail "nodea not MASTER/advertising within 6 s: vrrp '$(acd_vrrp_state nodea)', paths '$(paths ipv4 "$A4")' / '$(paths ipv6 "$A6")'"
fi
acd_keepalived_start nodeb "$LAB_DIR/nodeb/keepalived.conf"
lab_check "nodeb BACKUP (notify hook)" lab_wait_for '[ "$(acd_vrrp_state nodeb)" = BACKUP ]' 6
sleep 0.3
lab_check "status: nodea 'primary 2', nodeb 'standby 0' (got '$(role_adv nodea)', '$(role_adv nodeb)')" \
    eval '[ "$(role_adv nodea)" = "primary 2" ] && [ "$(role_adv nodeb)" = "standby 0" ]'
lab_check "FRR: one path per family, best $LAB_NODEA4 / $LAB_NODEA6 (got '$(paths ipv4 "$A4")' best '$(best ipv4 "$A4")', '$(paths ipv6 "$A6")' best '$(best ipv6 "$A6")')" \
    eval 'only $LAB_NODEA4 $LAB_NODEA6 && [ "$(best ipv4 "$A4")/$(best ipv6 "$A6")" = "$LAB_NODEA4/$LAB_NODEA6" ]'
lab_check "FIB via nodea (got '$(fib "$LAB_ANYCAST4")' / '$(fib "$LAB_ANYCAST6")'), VRRP address on nodea" \
    lab_wait_for '[ "$(fib $LAB_ANYCAST4)/$(fib $LAB_ANYCAST6)" = "$LAB_NODEA4/$LAB_NODEA6" ] && vip_on nodea && ! vip_on nodeb' 1

# ---- 3. keepalived on nodea stops ---------------------------------------------------------------
rl_frr_sampler_start "$A4" "$LAB_DIR/samples.log" 200 0.05
lab_spawn client ping "$LAB_DIR/ping.log" ping -D -n -i 0.01 -c 700 -W 1 "$LAB_ANYCAST4"
PING_PID=$LAB_LAST_PID
sleep 1
t_stop=$(acd_now_us)
kill -TERM "$KA_A"
if lab_wait_for "only $LAB_NODEB4 $LAB_NODEB6" 3; then
    lab_pass "FRR's only paths are nodeb's $(acd_us_ms $(($(acd_now_us) - t_stop))) ms after SIGTERM to nodea's keepalived (polled)"
else
    lab_fail "FRR's paths did not move to nodeb within 3 s ('$(paths ipv4 "$A4")' / '$(paths ipv6 "$A6")', nodeb vrrp '$(acd_vrrp_state nodeb)')"
fi
lab_stop_pid "$KA_A" TERM 5 # reap it (keepalived takes ~1 s to exit)
lab_check "notify hooks: nodea STOP (got '$(acd_vrrp_state nodea)'), nodeb MASTER (got '$(acd_vrrp_state nodeb)')" \
    eval '[ "$(acd_vrrp_state nodea)" = STOP ] && [ "$(acd_vrrp_state nodeb)" = MASTER ]'
lab_check "FRR best $LAB_NODEB4 / $LAB_NODEB6 (got '$(best ipv4 "$A4")' / '$(best ipv6 "$A6")')" \
    eval '[ "$(best ipv4 "$A4")/$(best ipv6 "$A6")" = "$LAB_NODEB4/$LAB_NODEB6" ]'
lab_check "FIB via nodeb, VRRP address moved to nodeb" \
    lab_wait_for '[ "$(fib $LAB_ANYCAST4)/$(fib $LAB_ANYCAST6)" = "$LAB_NODEB4/$LAB_NODEB6" ] && vip_on nodeb && ! vip_on nodea' 2
t_wd_a=$(acd_log_us nodea 'withdrawing ' "$t_stop")
t_adv_b=$(acd_log_us nodeb 'advertising ' "$t_stop")
t_fib=$(acd_monitor_us "^${LAB_ANYCAST4//./\\.} .*via ${LAB_NODEB4//./\\.} " "$t_stop")
sleep 0.5

# ---- 4. keepalived on nodea again: preempts ----------------------------------------------------
t_back=$(acd_now_us)
acd_keepalived_start nodea "$LAB_DIR/nodea/keepalived.conf"
if lab_wait_for "only $LAB_NODEA4 $LAB_NODEA6 && [ \"\$(acd_vrrp_state nodeb)\" = BACKUP ]" 6; then
    lab_pass "nodea MASTER again (preempt), nodeb BACKUP, FRR's only paths nodea's $(acd_us_ms $(($(acd_now_us) - t_back))) ms after keepalived started"
else
    lab_fail "nodea did not take over within 6 s: '$(paths ipv4 "$A4")' / '$(paths ipv6 "$A6")', vrrp a '$(acd_vrrp_state nodea)' b '$(acd_vrrp_state nodeb)'"
fi
lab_check "FIB back via nodea" \
    lab_wait_for '[ "$(fib $LAB_ANYCAST4)/$(fib $LAB_ANYCAST6)" = "$LAB_NODEA4/$LAB_NODEA6" ]' 2
t_fib_back=$(acd_monitor_us "^${LAB_ANYCAST4//./\\.} .*via ${LAB_NODEA4//./\\.} " "$t_back")
sleep 0.5

# ---- 5. overlap --------------------------------------------------------------------------------
lab_stop_pid "$PING_PID" INT 2
rl_frr_sampler_stop
lab_capture_stop
read -r nsamp run run_us two_fib < <(rl_sampler_overlap "$LAB_DIR/samples.log")
lab_log "sampler: $nsamp samples; paths/best by sample: $(awk '{ print $2 "/" $3 }' "$LAB_DIR/samples.log" | uniq -c | awk '{ printf "%s×%s ", $2, $1 }')"
step_ms=$(awk 'NR == 1 { f = $1 } { l = $1 } END { if (NR > 1) printf "%.0f", (l - f) / (NR - 1) / 1000; else print 0 }' "$LAB_DIR/samples.log")
# FRR itself keeps a withdrawn path until bgpd has processed the withdraw, so two paths can
# show in two samples in a row (~100 ms) after a wire overlap of a few ms (measured from the
# captures below, the authoritative check). Three or more in a row (≥ ~250 ms) would be real.
lab_check "sampler: $nsamp samples (>= 40, one every $step_ms ms: vtysh+jq per sample), two paths in FRR in at most two samples in a row (longest run $run), one FIB next hop at most ($two_fib samples with two)" \
    [ $((nsamp >= 40 && run <= 2 && two_fib == 0)) -eq 1 ]
{
    acd_pcap_adv_events "$LAB_DIR/nodea.pcap" nodea "$LAB_ANYCAST4"
    acd_pcap_adv_events "$LAB_DIR/nodeb.pcap" nodeb "$LAB_ANYCAST4"
} >"$LAB_DIR/events.log"
sort -n "$LAB_DIR/events.log" | awk -v t0="$t_stop" '{ printf "    wire: %+10.3f ms %s %s\n", ($1 - t0) / 1000, $2, ($3 == "A" ? "announce" : "withdraw") }' >&2
read -r ov_tot ov_max ov_n < <(acd_overlap "$LAB_DIR/events.log")
lab_check "captures: both nodes announcing at once $ov_n time(s), longest $(acd_us_ms "$ov_max") ms (< $OVERLAP_MAX_MS ms)" \
    [ "$ov_max" -lt $((OVERLAP_MAX_MS * 1000)) ]
n_ev=$(grep -c . "$LAB_DIR/events.log")
# a A (start), a W + b A (VRRP move), b W + a A (preempt) -> 5; plus nothing else.
lab_check "captures: 5 announce/withdraw UPDATEs for $LAB_ANYCAST4 (a A; a W, b A; b W, a A) (got $n_ev)" [ "$n_ev" -eq 5 ]

# ---- 6. client, logs ----------------------------------------------------------------------------
read -r gap1 _ _ < <(acd_ping_gap "$LAB_DIR/ping.log" $((t_stop - 500000)) "$t_back") || gap1=""
read -r gap2 _ _ < <(acd_ping_gap "$LAB_DIR/ping.log" "$((t_back - 200000))" 0) || gap2=""
lost=$(grep -oE '[0-9]+ packets transmitted, [0-9]+ received' "$LAB_DIR/ping.log" || true)
lab_check "client: replies before and after each move (gaps measured)" eval '[ -n "$gap1" ] && [ -n "$gap2" ]'
lab_log "----- timings -----"
[ -n "$t_wd_a" ] && lab_log "  keepalived a stopped → nodea 'withdrawing'   $(acd_us_ms $((t_wd_a - t_stop))) ms"
[ -n "$t_adv_b" ] && lab_log "  keepalived a stopped → nodeb 'advertising'   $(acd_us_ms $((t_adv_b - t_stop))) ms"
[ -n "$t_fib" ] && lab_log "  keepalived a stopped → rtr FIB via nodeb      $(acd_us_ms $((t_fib - t_stop))) ms (zebra)"
[ -n "$t_fib_back" ] && lab_log "  keepalived a started → rtr FIB via nodea      $(acd_us_ms $((t_fib_back - t_back))) ms"
[ -n "$gap1" ] && lab_log "  client outage, nodea → nodeb (VRRP)         $(acd_us_ms "$gap1") ms (longest reply gap)"
[ -n "$gap2" ] && lab_log "  client outage, nodeb → nodea (preempt)      $(acd_us_ms "$gap2") ms"
lab_log "  both announcing at once: total $(acd_us_ms "$ov_tot") ms in $ov_n episode(s); ping: ${lost:-?}"
lab_check "no ERROR in either anycastd log" \
    eval '! acd_log nodea | grep -q " ERROR " && ! acd_log nodeb | grep -q " ERROR "'
notif=$(grep -i 'notification' "$RL_FRR_DIR/bgpd.log" || true)
lab_check "FRR log: no NOTIFICATION${notif:+ (got: $(head -n 2 <<<"$notif" | paste -sd'|'))}" [ -z "$notif" ]
lab_check "FRR: both sessions still Established" eval "rl_frr_established $LAB_NODEA4 && rl_frr_established $LAB_NODEB4"
lab_log "scenario took $(lab_elapsed_ms "$T_START") ms"
lab_summary
