#!/usr/bin/env bash
# interop/scenario-failover-health.sh — health-check failover between two anycastd nodes:
# nodea (primary) withdraws when its health check fails, BIRD's best route moves to nodeb's
# prepended backup path within a second, the client's pings keep being answered (by nodeb),
# and everything moves back when the check recovers.
#
#   client 198.51.100.10: ping -D -i 0.01 203.0.113.124 (bounded count)
#        │ client0
#      rtr: BIRD 2, AS 65000, br0 192.0.2.1     ip -ts monitor route; sampler (birdc + FIB
#        │ br0 (the node LAN, a switch)          every 50 ms)
#    nodea0 ─────┴───── nodeb0     <- tcpdump on both bridge ports (tcp port 179)
#      │                  │
#   nodea 192.0.2.11                 nodeb 192.0.2.12
#   anycastd, role static            anycastd, role file ($LAB_DIR/nodeb/role = "standby")
#   standby withdraw                 standby prepend, prepend 3 (AS path 65124 ×4)
#   check "flag": file $LAB_DIR/nodea.ok, interval 100 ms, rise 2, fall 1
#   203.0.113.124/32 + 2001:db8:124::1/128 on lo of both nodes
#
# Checks (each PASS/FAIL):
#   1. both sessions Established; BIRD's best route via nodea (192.0.2.11), nodeb's path
#      present with 3 extra AS prepends; rtr's FIB via nodea; `anycastd status` of both:
#      nodea primary+advertising, nodeb standby+advertising (prepend), exit 0
#   2. remove nodea.ok: the log says "withdrawing …: check `flag` failed 1/1"; BIRD's best
#      route is nodeb's < 1 s later; the FIB goes via 192.0.2.12; only nodeb answers pings;
#      nodea's status: advertising false; a withdraw UPDATE from nodea on the wire
#   3. restore nodea.ok: BIRD's best route is nodea's again < 1 s later; nodea answers
#   4. the sampler (every 50 ms through both moves): never more than one best route in BIRD
#      and never other than exactly one next hop in the FIB; the client's longest reply gap
#      < 1000 ms (printed: outage, decision→wire, decision→FIB)
# Prints "N passed, M failed" last; exits non-zero on any failure.
# Usage: sudo ANYCASTD_BIN=target/release/anycastd interop/scenario-failover-health.sh
# Checks are strings that lab_check/lab_wait_for/eval run later: their \$ expand then.
# shellcheck disable=SC2016,SC2034
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${LAB_PREFIX:=sfh}"
# shellcheck source=lib.sh
. "$HERE/lib.sh"
# shellcheck source=anycastd-lib.sh
. "$HERE/anycastd-lib.sh"

MOVE_MAX_S=1          # BIRD's best route must move within this
GAP_MAX_MS=1000       # longest gap between the client's replies
T_START=$(lab__now_ms)
lab_require_root
lab_install_deps
lab_topology
acd_require_bin

A4=$LAB_ANYCAST4
FLAG=$LAB_DIR/nodea.ok
lab_bird_conf --md5 "$LAB_MD5_KEY" >"$LAB_DIR/bird.conf"
lab_bird_start rtr "$LAB_DIR/bird.conf"
touch "$FLAG"
acd_ha_conf nodea --standby withdraw --interval 100 --rise 2 --fall 1 --file-check flag "$FLAG" \
    >"$(acd_conf_file nodea)" || lab_die "acd_ha_conf nodea failed"
acd_ha_conf nodeb --standby prepend --prepend 3 --role file >"$(acd_conf_file nodeb)" ||
    lab_die "acd_ha_conf nodeb failed"
echo standby >"$LAB_DIR/nodeb/role"
lab_capture_start nodea0 "$LAB_DIR/nodea.pcap" tcp port 179 || lab_die "capture nodea0 did not start"
lab_capture_start nodeb0 "$LAB_DIR/nodeb.pcap" tcp port 179 || lab_die "capture nodeb0 did not start"
acd_start nodea "$(acd_conf_file nodea)"
acd_start nodeb "$(acd_conf_file nodeb)"

# ---- 1. steady state ------------------------------------------------------------------------
best_is() { [ "$(acd_bird_best rtr "$A4/32")" = "$1" ]; }
fib_via() { [ "$(acd_fib_nexthops "$A4" | paste -sd,)" = "$1" ]; }
lab_check "both sessions Established, BIRD's best route for $A4 via nodea, nodeb's path present" \
    lab_wait_for "lab_bird_established rtr nodea && lab_bird_established rtr nodeb && best_is nodea && [ \$(acd_bird_routes rtr $A4/32 | grep -c .) -eq 2 ]" 10
routes=$(acd_bird_routes rtr "$A4/32")
printf '%s\n' "$routes" | sed 's/^/    BIRD: /' >&2
lab_check "BIRD: nodea's AS path is 65124, nodeb's is prepended 3 times (65124 x4)" \
    eval 'grep -qx "nodea \* 65124" <<<"$routes" && grep -qx "nodeb - 65124 65124 65124 65124" <<<"$routes"'
lab_check "rtr's FIB: $A4 via $LAB_NODEA4 only" lab_wait_for "fib_via $LAB_NODEA4" 2
sa=$(acd_status_get nodea '"\(.role) \(.healthy) \(.advertising | length > 0)"')
sb=$(acd_status_get nodeb '"\(.role) \(.healthy) \(.advertising | length > 0)"')
acd_status nodeb 2>&1 | head -n 3 | sed 's/^/    nodeb status: /' >&2
lab_log "status nodea: $sa; nodeb: $sb"
lab_check "status: nodea primary/healthy/advertising, nodeb standby/healthy/advertising (prepend)" \
    eval '[[ "$sa" =~ ^[Pp]rimary\ true\ true$ && "$sb" =~ ^[Ss]tandby\ true\ true$ ]]'
lab_check "status exit 0 on both (healthy, neighbor Established)" \
    eval 'acd_status nodea >/dev/null 2>&1 && acd_status nodeb >/dev/null 2>&1'

# ---- 2. fail nodea's health check -----------------------------------------------------------
lab_monitor_start rtr
acd_sampler_start "$A4/32" "$LAB_DIR/samples.log" 200 0.05
lab_spawn client ping "$LAB_DIR/ping.log" ping -D -n -i 0.01 -c 800 -W 1 "$A4"
PING_PID=$LAB_LAST_PID
sleep 1
ia0=$(lab_counter nodea IcmpInEchos)
ib0=$(lab_counter nodeb IcmpInEchos)
t_fail=$(acd_now_us)
rm -f "$FLAG"
if lab_wait_for "best_is nodeb" "$MOVE_MAX_S"; then
    t_moved=$(acd_now_us)
    lab_pass "BIRD's best route moved to nodeb $(acd_us_ms $((t_moved - t_fail))) ms after nodea.ok was removed (polled, < ${MOVE_MAX_S} s)"
else
    lab_fail "BIRD's best route did not move to nodeb within ${MOVE_MAX_S} s: $(acd_bird_routes rtr "$A4/32" | paste -sd';')"
fi
lab_check "rtr's FIB: $A4 via $LAB_NODEB4 only" lab_wait_for "fib_via $LAB_NODEB4" 1
t_log=$(acd_log_us nodea 'withdrawing .*check `flag` failed 1/1' "$t_fail")
lab_check "nodea's log: $(acd_log_line nodea 'withdrawing ' "$t_fail" | cut -c1-160)" [ -n "$t_log" ]
health_adv() { acd_status_get "$1" '"\(.healthy) \(.advertising | length > 0)"'; }
lab_wait_for '[ "$(health_adv nodea)" = "false false" ]' 1
sa=$(health_adv nodea)
lab_check "nodea's status: healthy false, advertising nothing (got '$sa')" [ "$sa" = "false false" ]
acd_status nodea --json 2>&1 | jq -c '{role, healthy, advertising, reason}' | sed 's/^/    nodea status: /' >&2
lab_check "nodea's status exits 1 (unhealthy)" eval 'acd_status nodea >/dev/null 2>&1; [ $? -eq 1 ]'
sleep 0.5
ia1=$(lab_counter nodea IcmpInEchos)
ib1=$(lab_counter nodeb IcmpInEchos)
sleep 0.5
ia2=$(lab_counter nodea IcmpInEchos)
ib2=$(lab_counter nodeb IcmpInEchos)
lab_log "echo requests: nodea $ia0 -> $ia1 -> $ia2, nodeb $ib0 -> $ib1 -> $ib2"
lab_check "pings now answered by nodeb only (nodea +$((ia2 - ia1)), nodeb +$((ib2 - ib1)) in 0.5 s)" \
    [ $((ia2 == ia1 && ib2 - ib1 >= 10)) -eq 1 ]

# ---- 3. restore -----------------------------------------------------------------------------
t_back=$(acd_now_us)
touch "$FLAG"
if lab_wait_for "best_is nodea" "$MOVE_MAX_S"; then
    lab_pass "BIRD's best route back on nodea $(acd_us_ms $(($(acd_now_us) - t_back))) ms after nodea.ok came back (rise 2 × 100 ms)"
else
    lab_fail "BIRD's best route not back on nodea within ${MOVE_MAX_S} s"
fi
lab_check "rtr's FIB: $A4 via $LAB_NODEA4 again" lab_wait_for "fib_via $LAB_NODEA4" 1
t_adv=$(acd_log_us nodea 'advertising ' "$t_back")
sleep 0.5
ia3=$(lab_counter nodea IcmpInEchos)
ib3=$(lab_counter nodeb IcmpInEchos)
sleep 0.5
ia4=$(lab_counter nodea IcmpInEchos)
ib4=$(lab_counter nodeb IcmpInEchos)
lab_check "pings answered by nodea again (nodea +$((ia4 - ia3)), nodeb +$((ib4 - ib3)) in 0.5 s)" \
    [ $((ib4 == ib3 && ia4 - ia3 >= 10)) -eq 1 ]

# ---- 4. never two best routes; what the client saw; timings -------------------------------
lab_stop_pid "$PING_PID" INT 2
acd_sampler_stop
lab_capture_stop
nsamp=$(grep -c . "$LAB_DIR/samples.log")
bad_best=$(awk '$3 > 1' "$LAB_DIR/samples.log" | grep -c . || true)
bad_fib=$(awk '$5 != 1' "$LAB_DIR/samples.log" | grep -c . || true)
lab_log "sampler: $nsamp samples; best route by sample: $(awk '{ print $4 }' "$LAB_DIR/samples.log" | uniq -c | awk '{ printf "%s×%s ", $2, $1 }')"
lab_check "sampler: $nsamp samples (>= 50), never more than one best route in BIRD ($bad_best bad)" \
    [ $((nsamp >= 50 && bad_best == 0)) -eq 1 ]
lab_check "sampler: exactly one next hop in rtr's FIB in every sample ($bad_fib bad)" [ "$bad_fib" -eq 0 ]

read -r gap gap_after nrep < <(acd_ping_gap "$LAB_DIR/ping.log" "$t_fail" "$t_back") || gap=""
if [ -n "$gap" ]; then
    lab_check "client: longest gap between replies around the failover $(acd_us_ms "$gap") ms ($nrep replies) < $GAP_MAX_MS ms" \
        [ "$gap" -lt $((GAP_MAX_MS * 1000)) ]
else
    lab_fail "client: fewer than 2 replies between failure and restore: $(tail -n 3 "$LAB_DIR/ping.log")"
fi
read -r gap2 _ nrep2 < <(acd_ping_gap "$LAB_DIR/ping.log" "$t_back" 0) || gap2=0
lost=$(grep -oE '[0-9]+% packet loss' "$LAB_DIR/ping.log" || true)

wd_filter="bgp.type == 2 && ip.src == $LAB_NODEA4 && bgp.withdrawn_prefix == $A4"
t_wire=$(acd_pcap_us "$LAB_DIR/nodea.pcap" "$wd_filter" "$t_fail") || t_wire=""
lab_check "capture nodea0: withdraw UPDATE for $A4 from nodea after the failure" [ -n "$t_wire" ]
t_fib=$(acd_monitor_us "^${A4//./\\.} via ${LAB_NODEB4//./\\.} " "$t_fail") || t_fib=""
t_adv_wire=$(acd_pcap_us "$LAB_DIR/nodea.pcap" "bgp.type == 2 && ip.src == $LAB_NODEA4 && bgp.nlri_prefix == $A4" "$t_back") || t_adv_wire=""
if [ -n "$t_log" ] && [ -n "$t_wire" ]; then
    d_wire=$((t_wire - t_log))
    lab_check "decision → withdraw on the wire $(acd_us_ms "$d_wire") ms (< 50 ms)" [ "$d_wire" -lt 50000 ]
fi
lab_log "----- timings (failure at t0 = nodea.ok removed) -----"
[ -n "$t_log" ] && lab_log "  check failed, 'withdrawing' logged  t0 + $(acd_us_ms $((t_log - t_fail))) ms"
[ -n "$t_wire" ] && lab_log "  withdraw UPDATE on nodea0           t0 + $(acd_us_ms $((t_wire - t_fail))) ms"
[ -n "$t_fib" ] && lab_log "  rtr FIB via nodeb                   t0 + $(acd_us_ms $((t_fib - t_fail))) ms"
[ -n "$gap" ] && lab_log "  client: longest reply gap           $(acd_us_ms "$gap") ms (ping paces ~10-16 ms)"
[ -n "$t_adv" ] && lab_log "  restore: 'advertising' logged       $(acd_us_ms $((t_adv - t_back))) ms after nodea.ok came back"
[ -n "$t_adv_wire" ] && [ -n "$t_adv" ] && lab_log "  restore: decision → UPDATE on wire  $(acd_us_ms $((t_adv_wire - t_adv))) ms"
lab_log "  restore: client's longest reply gap $(acd_us_ms "$gap2") ms; ping: ${lost:-?}"
lab_check "no ERROR in either anycastd log, no WARN but the check's failure" \
    eval '! acd_log nodea | grep -E " (WARN|ERROR) " | grep -vq "check \`flag\` unhealthy" && ! acd_log nodeb | grep -qE " (WARN|ERROR) "'
lab_log "scenario took $(lab_elapsed_ms "$T_START") ms"
lab_summary
