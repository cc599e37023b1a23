#!/usr/bin/env bash
# interop/scenario-failover-keepalived.sh — keepalived (VRRP) decides which node is primary;
# anycastd on each node follows it through keepalived's notify hooks (`anycastd notify
# MASTER|BACKUP|FAULT|STOP`, [role] source = "keepalived", standby withdraw): exactly one
# node advertises the anycast prefix, the MASTER.
#
#   client 198.51.100.10: ping -D -i 0.01 203.0.113.124 (bounded)
#        │ client0
#      rtr: BIRD 2, AS 65000, br0 192.0.2.1      ip -ts monitor route; sampler (birdc + FIB,
#        │                                        every 50 ms)
#    nodea0 ──── br0 (switch; floods VRRP multicast 224.0.0.18) ──── nodeb0   <- tcpdump
#      │                                                                 │
#   nodea 192.0.2.11                                               nodeb 192.0.2.12
#   keepalived VRRPv3 vrid 124 prio 150                            keepalived prio 100
#   VRRP address 192.0.2.124/24 on the MASTER's eth0, advert_int 0.5 s, preempt
#   anycastd role keepalived ($LAB_DIR/<node>/role), standby withdraw
#   203.0.113.124/32 + 2001:db8:124::1/128 on lo of both nodes
#
# Checks (each PASS/FAIL):
#   1. both sessions Established, nothing advertised before keepalived reports (role unknown)
#   2. keepalived on nodea → MASTER: nodea advertises, BIRD has exactly one route (nodea);
#      keepalived on nodeb → BACKUP: nodeb's status standby, advertising nothing; VRRP
#      address on nodea
#   3. keepalived on nodea stopped (SIGTERM by PID): nodea reports STOP and withdraws, nodeb
#      MASTER advertises, BIRD's only route is nodeb's, the VRRP address moved, FIB via nodeb
#   4. anycastd on nodeb restarted while MASTER: back advertising (the role file kept MASTER)
#   5. keepalived on nodea started again: it preempts, nodea advertises, nodeb withdraws
#   6. the sampler (every 50 ms) never saw two routes in BIRD in two samples in a row; from the
#      captures on both bridge ports, the time both nodes announced at once (ms printed)
#      < 50 ms; 6 announce/withdraw UPDATEs in all; the client's outages printed
# Prints "N passed, M failed" last; exits non-zero on any failure.
# Usage: sudo ANYCASTD_BIN=target/release/anycastd interop/scenario-failover-keepalived.sh
# Checks are strings that lab_check/lab_wait_for/eval run later: their \$ expand then.
# shellcheck disable=SC2016,SC2034
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${LAB_PREFIX:=sfk}"
# shellcheck source=lib.sh
. "$HERE/lib.sh"
# shellcheck source=anycastd-lib.sh
. "$HERE/anycastd-lib.sh"

OVERLAP_MAX_MS=50
T_START=$(lab__now_ms)
lab_require_root
lab_install_deps
lab_topology
acd_require_bin

A4=$LAB_ANYCAST4
lab_bird_conf --md5 "$LAB_MD5_KEY" >"$LAB_DIR/bird.conf"
lab_bird_start rtr "$LAB_DIR/bird.conf"
for n in nodea nodeb; do
    acd_ha_conf "$n" --standby withdraw --role keepalived >"$(acd_conf_file "$n")" ||
        lab_die "acd_ha_conf $n failed"
done
acd_keepalived_conf nodea 150 >"$LAB_DIR/nodea/keepalived.conf" || lab_die "keepalived conf nodea"
acd_keepalived_conf nodeb 100 >"$LAB_DIR/nodeb/keepalived.conf" || lab_die "keepalived conf nodeb"
lab_capture_start nodea0 "$LAB_DIR/nodea.pcap" tcp port 179 || lab_die "capture nodea0 did not start"
lab_capture_start nodeb0 "$LAB_DIR/nodeb.pcap" tcp port 179 || lab_die "capture nodeb0 did not start"
acd_start nodea "$(acd_conf_file nodea)"
acd_start nodeb "$(acd_conf_file nodeb)"

routes() { acd_bird_routes rtr "$A4/32" | awk '{ print $1 }' | paste -sd, -; }
only() { [ "$(routes)" = "$1" ]; }
role_adv() { acd_status_get "$1" '"\(.role) \(.advertising | length)"'; }
vip_on() { lab_ns "$1" ip -4 addr show dev eth0 | grep -q "inet $ACD_VRRP_ADDR/"; }

# ---- 1. before keepalived ---------------------------------------------------------------------
lab_check "both sessions Established" \
    lab_wait_for "lab_bird_established rtr nodea && lab_bird_established rtr nodeb" 10
sleep 0.3
lab_check "no route in BIRD before keepalived reports (got '$(routes)'); status: nodea '$(role_adv nodea)', nodeb '$(role_adv nodeb)'" \
    eval '[ -z "$(routes)" ] && [ "$(role_adv nodea)" = "unknown 0" ] && [ "$(role_adv nodeb)" = "unknown 0" ]'

# ---- 2. keepalived up: nodea MASTER, nodeb BACKUP --------------------------------------------
t0=$(acd_now_us)
acd_keepalived_start nodea "$LAB_DIR/nodea/keepalived.conf"
KA_A=$ACD_KA_PID
if lab_wait_for '[ "$(acd_vrrp_state nodea)" = MASTER ] && only nodea' 6; then
    lab_pass "nodea MASTER and the only route in BIRD $(acd_us_ms $(($(acd_now_us) - t0))) ms after keepalived started"
else
    lab_fail "nodea not MASTER/advertising within 6 s: vrrp '$(acd_vrrp_state nodea)', routes '$(routes)'; $(tail -n 3 "$LAB_DIR/nodea/keepalived.log")"
fi
acd_keepalived_start nodeb "$LAB_DIR/nodeb/keepalived.conf"
lab_check "nodeb BACKUP (notify hook)" lab_wait_for '[ "$(acd_vrrp_state nodeb)" = BACKUP ]' 6
sleep 0.3
lab_check "status: nodea 'primary 2' (both prefixes), nodeb 'standby 0' (got '$(role_adv nodea)', '$(role_adv nodeb)')" \
    eval '[ "$(role_adv nodea)" = "primary 2" ] && [ "$(role_adv nodeb)" = "standby 0" ]'
lab_check "BIRD: only nodea's route (got '$(routes)'), FIB via $LAB_NODEA4, VRRP address on nodea" \
    eval 'only nodea && [ "$(acd_fib_nexthops "$A4" | paste -sd,)" = "$LAB_NODEA4" ] && vip_on nodea && ! vip_on nodeb'

# ---- 3. keepalived on nodea stops ---------------------------------------------------------------
lab_monitor_start rtr
acd_sampler_start "$A4/32" "$LAB_DIR/samples.log" 500 0.05
lab_spawn client ping "$LAB_DIR/ping.log" ping -D -n -i 0.01 -c 1500 -W 1 "$A4"
PING_PID=$LAB_LAST_PID
sleep 1
t_stop=$(acd_now_us)
kill -TERM "$KA_A"
if lab_wait_for 'only nodeb' 3; then
    lab_pass "BIRD's only route is nodeb's $(acd_us_ms $(($(acd_now_us) - t_stop))) ms after SIGTERM to nodea's keepalived (polled)"
else
    lab_fail "BIRD's route did not move to nodeb within 3 s (routes '$(routes)', nodeb vrrp '$(acd_vrrp_state nodeb)')"
fi
lab_stop_pid "$KA_A" TERM 5   # reap it (keepalived takes ~1 s to exit)
lab_check "notify hooks: nodea STOP (got '$(acd_vrrp_state nodea)'), nodeb MASTER (got '$(acd_vrrp_state nodeb)')" \
    eval '[ "$(acd_vrrp_state nodea)" = STOP ] && [ "$(acd_vrrp_state nodeb)" = MASTER ]'
lab_check "status: nodea not primary, advertising nothing ('$(role_adv nodea)'); nodeb 'primary 2' ('$(role_adv nodeb)')" \
    eval '[ "$(role_adv nodea)" != "primary 2" ] && [ "$(role_adv nodea | cut -d" " -f2)" = 0 ] && [ "$(role_adv nodeb)" = "primary 2" ]'
lab_log "nodea's decision: $(acd_log_line nodea 'withdrawing ' "$t_stop" | cut -c1-140)"
lab_check "nodea's log: withdrawing because keepalived STOP" \
    eval 'acd_log_line nodea "withdrawing .*keepalived STOP" "$t_stop" >/dev/null'
lab_check "FIB via $LAB_NODEB4, VRRP address moved to nodeb" \
    lab_wait_for '[ "$(acd_fib_nexthops "$A4" | paste -sd,)" = "$LAB_NODEB4" ] && vip_on nodeb && ! vip_on nodea' 2
t_wd_a=$(acd_log_us nodea 'withdrawing ' "$t_stop")
t_adv_b=$(acd_log_us nodeb 'advertising ' "$t_stop")
t_ka_b=$(awk '$2 == "MASTER" { print $1 }' "$LAB_DIR/nodeb/notify.log" | tail -n 1)
sleep 0.5

# ---- 4. anycastd on nodeb restarted while MASTER --------------------------------------------
t_rs=$(acd_now_us)
acd_stop nodeb
lab_check "nodeb's role file still says MASTER after anycastd stopped ('$(cat "$LAB_DIR/nodeb/role" 2>&1)')" \
    eval 'grep -qx MASTER "$LAB_DIR/nodeb/role"'
acd_start nodeb "$(acd_conf_file nodeb)"
if lab_wait_for 'only nodeb && [ "$(role_adv nodeb)" = "primary 2" ]' 8; then
    lab_pass "restarted anycastd on nodeb advertises again ($(acd_us_ms $(($(acd_now_us) - t_rs))) ms after the stop; role from the persisted state)"
else
    lab_fail "restarted nodeb not advertising within 8 s: '$(role_adv nodeb)', routes '$(routes)'"
fi
lab_log "nodeb after restart: $(acd_log_line nodeb 'role: ' "$t_rs" | cut -c1-120)"
t_rs_end=$(acd_now_us)
sleep 0.5

# ---- 5. keepalived on nodea again: preempts ----------------------------------------------------
t_back=$(acd_now_us)
acd_keepalived_start nodea "$LAB_DIR/nodea/keepalived.conf"
if lab_wait_for 'only nodea && [ "$(acd_vrrp_state nodeb)" = BACKUP ]' 6; then
    lab_pass "nodea MASTER again (preempt), nodeb BACKUP, BIRD's only route nodea's $(acd_us_ms $(($(acd_now_us) - t_back))) ms after keepalived started"
else
    lab_fail "nodea did not take over within 6 s: routes '$(routes)', vrrp a '$(acd_vrrp_state nodea)' b '$(acd_vrrp_state nodeb)'"
fi
lab_check "status: nodea 'primary 2', nodeb 'standby 0' ('$(role_adv nodea)', '$(role_adv nodeb)')" \
    lab_wait_for '[ "$(role_adv nodea)" = "primary 2" ] && [ "$(role_adv nodeb)" = "standby 0" ]' 2
sleep 0.5

# ---- 6. overlap and outages -------------------------------------------------------------------
lab_stop_pid "$PING_PID" INT 2
acd_sampler_stop
lab_capture_stop
nsamp=$(grep -c . "$LAB_DIR/samples.log")
two=$(awk '$2 > 1' "$LAB_DIR/samples.log" | grep -c . || true)
# Two routes in one sample can be a ms-long overlap caught by chance; in two samples in a row
# (>= 50 ms apart) it is a real double advertisement.
two_run=$(awk '{ r = ($2 > 1) ? r + 1 : 0; if (r > m) m = r } END { print m + 0 }' "$LAB_DIR/samples.log")
lab_log "sampler: $nsamp samples; best/routes by sample: $(awk '{ print $4 "/" $2 }' "$LAB_DIR/samples.log" | uniq -c | awk '{ printf "%s×%s ", $2, $1 }')"
lab_check "sampler: $nsamp samples (>= 50) every 50 ms, two routes for $A4 in BIRD in $two sample(s), never in two samples in a row (run $two_run)" \
    [ $((nsamp >= 50 && two_run <= 1)) -eq 1 ]
{
    acd_pcap_adv_events "$LAB_DIR/nodea.pcap" nodea "$A4"
    acd_pcap_adv_events "$LAB_DIR/nodeb.pcap" nodeb "$A4"
} >"$LAB_DIR/events.log"
sort -n "$LAB_DIR/events.log" | awk -v t0="$t_stop" '{ printf "    wire: %+10.3f ms %s %s\n", ($1 - t0) / 1000, $2, ($3 == "A" ? "announce" : "withdraw") }' >&2
read -r ov_tot ov_max ov_n < <(acd_overlap "$LAB_DIR/events.log")
lab_check "captures: both nodes announcing at once $ov_n time(s), longest $(acd_us_ms "$ov_max") ms (< $OVERLAP_MAX_MS ms)" \
    [ "$ov_max" -lt $((OVERLAP_MAX_MS * 1000)) ]
n_ev=$(grep -c . "$LAB_DIR/events.log")
# a A (start), a W + b A (VRRP move), b A (restarted daemon; its Cease withdrew implicitly),
# b W + a A (preempt)
lab_check "captures: 6 announce/withdraw UPDATEs for $A4 (got $n_ev)" [ "$n_ev" -eq 6 ]

read -r gap1 _ _ < <(acd_ping_gap "$LAB_DIR/ping.log" $((t_stop - 500000)) "$t_rs") || gap1=""
read -r gap2 _ _ < <(acd_ping_gap "$LAB_DIR/ping.log" "$((t_rs - 200000))" "$t_back") || gap2=""
read -r gap3 _ _ < <(acd_ping_gap "$LAB_DIR/ping.log" "$((t_back - 200000))" 0) || gap3=""
lost=$(grep -oE '[0-9]+ packets transmitted, [0-9]+ received' "$LAB_DIR/ping.log" || true)
lab_check "client: replies before and after every move (gaps measured)" \
    eval '[ -n "$gap1" ] && [ -n "$gap2" ] && [ -n "$gap3" ]'
lab_log "----- timings -----"
[ -n "$t_wd_a" ] && lab_log "  keepalived a stopped → nodea 'withdrawing'    $(acd_us_ms $((t_wd_a - t_stop))) ms"
[ -n "$t_ka_b" ] && lab_log "  keepalived a stopped → nodeb notify MASTER    $(acd_us_ms $(($(acd_us_of_date "$t_ka_b") - t_stop))) ms"
[ -n "$t_adv_b" ] && lab_log "  keepalived a stopped → nodeb 'advertising'    $(acd_us_ms $((t_adv_b - t_stop))) ms"
t_fib=$(acd_monitor_us "^${A4//./\\.} via ${LAB_NODEB4//./\\.} " "$t_stop") &&
    lab_log "  keepalived a stopped → rtr FIB via nodeb       $(acd_us_ms $((t_fib - t_stop))) ms"
[ -n "$gap1" ] && lab_log "  client outage, nodea → nodeb (VRRP)          $(acd_us_ms "$gap1") ms (longest reply gap)"
[ -n "$gap2" ] && lab_log "  client outage, anycastd restart on nodeb     $(acd_us_ms "$gap2") ms"
[ -n "$gap3" ] && lab_log "  client outage, nodeb → nodea (preempt)       $(acd_us_ms "$gap3") ms"
lab_log "  both announcing at once: total $(acd_us_ms "$ov_tot") ms in $ov_n episode(s); ping: ${lost:-?}"
lab_check "no ERROR in either anycastd log" \
    eval '! acd_log nodea | grep -q " ERROR " && ! acd_log nodeb | grep -q " ERROR "'
lab_log "scenario took $(lab_elapsed_ms "$T_START") ms"
lab_summary
