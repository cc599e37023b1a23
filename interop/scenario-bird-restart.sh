#!/usr/bin/env bash
# interop/scenario-bird-restart.sh — the router restarts (BIRD stopped and started again, by
# SIGTERM and by SIGKILL) and nodea's link flaps: anycastd's session and routes come back
# by themselves, within the connect-retry budget.
#
#        client ── client0 ┐
#                        rtr: BIRD 2, AS 65000      <- stopped/started (same config)
#                          │ br0 192.0.2.1          kernel FIB followed with ip -ts monitor
#          nodea0 ─────────┴──── nodeb0
#            │
#          eth0 192.0.2.11                          <- ip link set down/up (in nodea)
#   nodea: anycastd AS 65124, MD5, hold 9, connect retry 2
#
# Checks (each PASS/FAIL):
#   1. Established, both prefixes in BIRD
#   2. BIRD stopped with SIGTERM (it sends Cease): anycastd logs the NOTIFICATION it
#      received; BIRD started again: Established and both routes back in BIRD and in rtr's
#      FIB < 10 s after the new BIRD answers (time printed); exactly one new Established;
#      BIRD's connection attempts are taken at once, not closed during anycastd's IdleHold
#   3. the same after SIGKILL (no NOTIFICATION, the kernel closes the connection)
#   4. link flap 1 s (< hold time 9 s) in nodea: the session survives (no new Established in
#      anycastd, BIRD's "Since" unchanged), the routes never leave rtr's FIB
#   5. link down 11 s (> hold time): BIRD's hold timer expires and the routes leave the FIB;
#      after the link comes back the session and routes return < 15 s (time printed)
#   6. anycastd still running, no ERROR in its log
# Prints "N passed, M failed" last; exits non-zero on any failure.
# Usage: sudo ANYCASTD_BIN=target/release/anycastd interop/scenario-bird-restart.sh
# Checks are strings that lab_check/lab_wait_for/eval/bash -c run later: their \$ expand then.
# shellcheck disable=SC2016,SC2034,SC2001
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${LAB_PREFIX:=sbc}"
# shellcheck source=lib.sh
. "$HERE/lib.sh"
# shellcheck source=anycastd-lib.sh
. "$HERE/anycastd-lib.sh"

RECOVERY_MAX_S=10
T_START=$(lab__now_ms)
lab_require_root
lab_install_deps
lab_topology
acd_require_bin

lab_bird_conf --md5 "$LAB_MD5_KEY" --neighbors nodea >"$LAB_DIR/bird.conf"
lab_bird_start rtr "$LAB_DIR/bird.conf"
acd_conf nodea >"$LAB_DIR/anycastd-nodea.toml"

# Session up and both routes imported by BIRD and installed in rtr's FIB.
routes_up() {
    lab_bird_established rtr nodea &&
        [ "$(acd_bird_channel_routes rtr nodea ipv4)" = "1 0" ] &&
        [ "$(acd_bird_channel_routes rtr nodea ipv6)" = "1 0" ] &&
        lab_ns rtr ip -4 route show "$LAB_ANYCAST4" proto bird | grep -q "via $LAB_NODEA4 dev br0" &&
        lab_ns rtr ip -6 route show "$LAB_ANYCAST6" proto bird | grep -q "via $LAB_NODEA6 dev br0"
}
established_count() { acd_log_count nodea 'session established'; }
bird_pid() { lab_pids_of bird:rtr | tail -n 1; }

# ---- 1. up -------------------------------------------------------------------------------
acd_start nodea "$LAB_DIR/anycastd-nodea.toml"
lab_check "initial: Established, both routes in BIRD and rtr's FIB within 10 s" lab_wait_for routes_up 10
lab_monitor_start rtr

# restart_bird SIGNAL: stop BIRD with SIGNAL, start it again with the same config, and
# check that the session and routes come back within RECOVERY_MAX_S.
restart_bird() {
    local sig=$1 pid e0 t_stop t_start ms
    pid=$(bird_pid)
    e0=$(established_count)
    t_stop=$(lab__now_ms)
    lab_stop_pid "$pid" "$sig" 3
    lab_log "BIRD (pid $pid) stopped with SIG$sig in $(lab_elapsed_ms "$t_stop") ms"
    if [ "$sig" = TERM ]; then
        # BIRD shuts its sessions down with Cease before it exits.
        lab_check "SIG$sig: anycastd received BIRD's Cease NOTIFICATION" \
            lab_wait_for "acd_log_has nodea 'received NOTIFICATION notification=Cease \\(6\\)'" 2
    fi
    lab_check "SIG$sig: anycastd left Established (BIRD gone)" \
        lab_wait_for "acd_log_has nodea 'from=Established to=Idle'" 2
    mark=$(wc -l <"$LAB_DIR/bird-rtr.out")
    lab_bird_start rtr "$LAB_DIR/bird.conf"
    t_start=$(lab__now_ms)
    if lab_wait_for routes_up "$RECOVERY_MAX_S"; then
        ms=$(lab_elapsed_ms "$t_start")
        lab_pass "SIG$sig restart: Established + both routes in BIRD and rtr's FIB ${ms} ms after the new BIRD answered ($(lab_elapsed_ms "$t_stop") ms after the stop)"
        RECOVERY+=("SIG$sig=${ms}ms")
    else
        lab_fail "SIG$sig restart: not recovered within ${RECOVERY_MAX_S} s (BIRD $(lab_bird_bgp_state rtr nodea)); anycastd: $(acd_log nodea | tail -n 3 | paste -sd'|')"
    fi
    sleep 0.5 # a collision or a second connection would show up here
    # anycastd waits out an IdleHold after the lost session; a connection from the returning
    # router must be taken at once, not closed (BIRD would log "Connection closed").
    closed=$(tail -n +$((mark + 1)) "$LAB_DIR/bird-rtr.out" | grep -c 'nodea: Connection closed' || true)
    lab_check "SIG$sig restart: BIRD's connections were not refused by anycastd ($closed 'Connection closed' in BIRD's log)" \
        [ "$closed" -eq 0 ]
    lab_check "SIG$sig restart: exactly one new 'session established' in anycastd's log ($e0 -> $(established_count))" \
        [ "$(established_count)" -eq $((e0 + 1)) ]
}

# ---- 2./3. BIRD restarts -----------------------------------------------------------------
RECOVERY=()
restart_bird TERM
restart_bird KILL

# ---- 4. short link flap ------------------------------------------------------------------
# `ip link set down` flushes the node's routes (the addresses stay: keep_addr_on_down=1);
# the on-link routes come back with the link, the default routes are put back by hand.
link_flap() {
    lab_ns nodea ip link set eth0 down
    sleep "$1"
    lab_ns nodea ip link set eth0 up
    lab_ns nodea ip -4 route replace default via "$LAB_RTR_LAN4"
    lab_ns nodea ip -6 route replace default via "$LAB_RTR_LAN6"
}
bird_since() { lab_birdc rtr show protocols nodea | awk '$1 == "nodea" { print $5, $6 }'; }
e0=$(established_count)
since0=$(bird_since)
mon0=$(wc -l <"$LAB_DIR/monitor-rtr.log")
link_flap 1
sleep 4 # > one keepalive interval (3 s) and a few TCP retransmissions after the link is back
since1=$(bird_since)
lab_check "1 s flap: BIRD still Established, since $since0 (now: $since1)" \
    eval 'lab_bird_established rtr nodea && [ "$since0" = "$since1" ]'
lab_check "1 s flap: no new 'session established' in anycastd's log ($e0 -> $(established_count))" \
    [ "$(established_count)" -eq "$e0" ]
deleted=$(tail -n +$((mon0 + 1)) "$LAB_DIR/monitor-rtr.log" | grep -c 'Deleted .*proto bird' || true)
lab_check "1 s flap: no BGP route left rtr's FIB ($deleted deletions seen by ip monitor)" [ "$deleted" -eq 0 ]
lab_check "1 s flap: both routes still in BIRD and rtr's FIB" routes_up

# ---- 5. long link outage -----------------------------------------------------------------
e0=$(established_count)
lab_ns nodea ip link set eth0 down
t_down=$(lab__now_ms)
if lab_wait_for "! lab_bird_established rtr nodea" 12; then
    lab_pass "11 s outage: BIRD dropped the session after $(lab_elapsed_ms "$t_down") ms ($(lab_birdc rtr show protocols all nodea | sed -n 's/^ *Last error: *//p'))"
else
    lab_fail "11 s outage: BIRD still Established after 12 s of link down"
fi
lab_check "11 s outage: the routes left rtr's FIB" \
    bash -c '[ -z "$(ip -n "$1" route show proto bird; ip -n "$1" -6 route show proto bird)" ]' _ "$(lab_nsname rtr)"
remaining=$((11000 - $(lab_elapsed_ms "$t_down")))
[ "$remaining" -gt 0 ] && sleep "$((remaining / 1000)).$(printf '%03d' $((remaining % 1000)))"
lab_ns nodea ip link set eth0 up
lab_ns nodea ip -4 route replace default via "$LAB_RTR_LAN4"
lab_ns nodea ip -6 route replace default via "$LAB_RTR_LAN6"
t_up=$(lab__now_ms)
if lab_wait_for routes_up 15; then
    ms=$(lab_elapsed_ms "$t_up")
    lab_pass "11 s outage: Established + both routes back ${ms} ms after the link came up"
    RECOVERY+=("outage=${ms}ms")
else
    lab_fail "11 s outage: not recovered 15 s after link up (BIRD $(lab_bird_bgp_state rtr nodea)); anycastd: $(acd_log nodea | tail -n 4 | paste -sd'|')"
fi
acd_log nodea | tail -n +1 | grep -E 'state change|NOTIFICATION|error' | tail -n 12 | sed 's/^/    /' >&2

# ---- 6. daemon health --------------------------------------------------------------------
lab_check "anycastd (pid $ACD_PID) still running" lab__alive "$ACD_PID"
bad=$(acd_log nodea | grep -E ' ERROR ' || true)
lab_check "anycastd log: no ERROR line${bad:+ (got: $(head -n 2 <<<"$bad" | paste -sd'|'))}" [ -z "$bad" ]

lab_log "recovery times: ${RECOVERY[*]}"
lab_log "scenario took $(lab_elapsed_ms "$T_START") ms"
lab_summary
