#!/usr/bin/env bash
# interop/scenario-bird-wrong-key.sh — a wrong TCP-MD5 key keeps the session down (and the
# kernel counts the bad signatures on both ends); with the right key the same lab comes up.
#
#        client ── client0 ┐
#                        rtr: BIRD 2, AS 65000, password "anycast-lab-key"
#                          │ br0 192.0.2.1        (TcpExtTCPMD5Failure counted here for
#          nodea0 ─────────┴──── nodeb0            anycastd's SYNs signed with the wrong key)
#            │
#   nodea 192.0.2.11: anycastd AS 65124, md5 "wrong-key-0000" (then "anycast-lab-key")
#     (TcpExtTCPMD5Failure counted here for BIRD's SYNs to anycastd's listener)
#
# Checks (each PASS/FAIL):
#   1. wrong key: no Established for 10 s, in BIRD (polled every 100 ms) nor in anycastd's log
#   2. no route from nodea in BIRD, none in rtr's FIB
#   3. TcpExtTCPMD5Failure rises in rtr (our SYNs) and in nodea (BIRD's SYNs: the listener
#      has a key for 192.0.2.1, only the wrong one)
#   4. anycastd's log says why: "connect to 192.0.2.1:179 timed out after 2 s"; still running
#   5. right key (anycastd restarted): Established within 10 s, both prefixes in BIRD
# Prints "N passed, M failed" last; exits non-zero on any failure.
# Usage: sudo ANYCASTD_BIN=target/release/anycastd interop/scenario-bird-wrong-key.sh
# Checks are strings that lab_check/lab_wait_for/eval/bash -c run later: their \$ expand then.
# shellcheck disable=SC2016,SC2034,SC2001
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${LAB_PREFIX:=sbb}"
# shellcheck source=lib.sh
. "$HERE/lib.sh"
# shellcheck source=anycastd-lib.sh
. "$HERE/anycastd-lib.sh"

WRONG=wrong-key-0000
WAIT_S=10
T_START=$(lab__now_ms)
lab_require_root
lab_install_deps
lab_topology
acd_require_bin

lab_bird_conf --md5 "$LAB_MD5_KEY" --neighbors nodea >"$LAB_DIR/bird.conf"
lab_bird_start rtr "$LAB_DIR/bird.conf"
acd_conf nodea --md5 "$WRONG" >"$LAB_DIR/anycastd-wrong.toml"
acd_conf nodea >"$LAB_DIR/anycastd-right.toml"

# ---- 1. wrong key: no session ------------------------------------------------------------
r0=$(lab_counter rtr TcpExtTCPMD5Failure)
n0=$(lab_counter nodea TcpExtTCPMD5Failure)
t0=$(lab__now_ms)
acd_start nodea "$LAB_DIR/anycastd-wrong.toml"
wrong_pid=$ACD_PID
if lab_wait_for "lab_bird_established rtr nodea" "$WAIT_S"; then
    lab_fail "wrong key: BIRD Established after $(lab_elapsed_ms "$t0") ms — MD5 not enforced?"
else
    lab_pass "wrong key: BIRD never Established in ${WAIT_S} s (state now $(lab_bird_bgp_state rtr nodea))"
fi
lab_check "wrong key: anycastd never logged 'session established' nor an OPEN state" \
    bash -c '! grep -qE "session established|to=OpenSent|to=OpenConfirm" <<<"$1"' _ "$(acd_log nodea)"

# ---- 2. no routes ------------------------------------------------------------------------
lab_check "wrong key: no route in BIRD (got '$(acd_bird_route_lines rtr | paste -sd';')')" \
    bash -c '[ -z "$1" ]' _ "$(acd_bird_route_lines rtr)"
lab_check "wrong key: no BGP route in rtr's FIB" \
    bash -c '[ -z "$1" ]' _ "$(lab_ns rtr ip route show proto bird; lab_ns rtr ip -6 route show proto bird)"

# ---- 3. kernel counters ------------------------------------------------------------------
r1=$(lab_counter rtr TcpExtTCPMD5Failure)
n1=$(lab_counter nodea TcpExtTCPMD5Failure)
lab_check "wrong key: TcpExtTCPMD5Failure in rtr rose $r0 -> $r1 (anycastd's SYNs refused)" [ "$r1" -gt "$r0" ]
lab_check "wrong key: TcpExtTCPMD5Failure in nodea rose $n0 -> $n1 (BIRD's SYNs refused by our listener)" \
    [ "$n1" -gt "$n0" ]
lab_check "wrong key: no TcpExtTCPMD5Unexpected in nodea (the listener does have a key for 192.0.2.1)" \
    [ "$(lab_counter nodea TcpExtTCPMD5Unexpected)" -eq 0 ]

# ---- 4. the log says why -----------------------------------------------------------------
acd_log nodea | grep -E ' (WARN|ERROR) ' | sed 's/^/    /' >&2
lab_check "wrong key: anycastd log: 'connect to $LAB_RTR_LAN4:179 timed out after 2 s'" \
    acd_log_has nodea "neighbor error error=connect to $LAB_RTR_LAN4:179 timed out after 2 s"
lab_check "wrong key: anycastd (pid $wrong_pid) still running, retrying" lab__alive "$wrong_pid"
# Attempts are spaced by the connect timeout (2 s, restarted once by ConnectRetry) and the
# IdleHold backoff (1 s, 2 s, 4 s ... with jitter): one or two automatic restarts fit in 10 s,
# depending on jitter; at least one proves it keeps retrying after a failure.
lab_check "wrong key: anycastd retried (>= 1 Idle -> Connect after a failure in ${WAIT_S} s, got $(acd_log_count nodea 'to=Connect reason=AutomaticStart'))" \
    [ "$(acd_log_count nodea 'to=Connect reason=AutomaticStart')" -ge 1 ]

# ---- 5. right key: the same lab comes up --------------------------------------------------
acd_stop nodea
t0=$(lab__now_ms)
acd_start nodea "$LAB_DIR/anycastd-right.toml"
if lab_wait_for "lab_bird_established rtr nodea" 10; then
    lab_pass "right key: Established $(lab_elapsed_ms "$t0") ms after anycastd restart"
else
    lab_fail "right key: not Established within 10 s (BIRD state $(lab_bird_bgp_state rtr nodea))"
fi
if lab_wait_for "[ \"\$(acd_bird_route_lines rtr | awk '{print \$1}' | sort | paste -sd' ')\" = '$LAB_ANYCAST6/128 $LAB_ANYCAST4/32' ]" 5; then
    lab_pass "right key: BIRD has exactly $LAB_ANYCAST4/32 and $LAB_ANYCAST6/128"
else
    lab_fail "right key: BIRD routes: $(acd_bird_route_lines rtr | paste -sd';')"
fi

lab_log "scenario took $(lab_elapsed_ms "$T_START") ms"
lab_summary
