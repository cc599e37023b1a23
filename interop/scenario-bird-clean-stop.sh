#!/usr/bin/env bash
# interop/scenario-bird-clean-stop.sh — SIGTERM to anycastd sends Cease / Administrative
# Shutdown (RFC 8203 message) and BIRD withdraws at once: the router's FIB loses both
# anycast routes well within a second, without waiting for the hold timer (9 s).
#
#        client ── client0 ┐
#                        rtr: BIRD 2, AS 65000        ip -ts monitor route (FIB changes)
#                          │ br0 192.0.2.1
#          nodea0 ─────────┴──── nodeb0
#   tcpdump │
#   nodea 192.0.2.11: anycastd AS 65124, MD5    <- SIGTERM
#
# Checks (each PASS/FAIL):
#   1. Established, both routes in rtr's FIB
#   2. SIGTERM: anycastd logs why, exits with status 0 within 3 s
#   3. rtr's FIB loses 203.0.113.124 and 2001:db8:124::1 < 1000 ms after the signal
#      (ip -ts monitor route; ms printed); BIRD has no route left
#   4. capture: exactly one NOTIFICATION from 192.0.2.11, decoded by `anycastd decode` as
#      Cease (6) / Administrative Shutdown (2) with message "anycastd stopping (SIGTERM)",
#      tshark agrees (6/2); the connection then closes with FIN, no RST from the node
#   5. BIRD's `show protocols all`: "Received: Administrative shutdown" and the message
#   6. the client's ping to 203.0.113.124 now fails (nodeb has no speaker)
# Prints "N passed, M failed" last; exits non-zero on any failure.
# Usage: sudo ANYCASTD_BIN=target/release/anycastd interop/scenario-bird-clean-stop.sh
# Checks are strings that lab_check/lab_wait_for/eval/bash -c run later: their \$ expand then.
# shellcheck disable=SC2016,SC2034
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${LAB_PREFIX:=sbd}"
# shellcheck source=lib.sh
. "$HERE/lib.sh"
# shellcheck source=anycastd-lib.sh
. "$HERE/anycastd-lib.sh"

FIB_MAX_MS=1000
MESSAGE="anycastd stopping (SIGTERM)"
T_START=$(lab__now_ms)
lab_require_root
lab_install_deps
lab_topology
acd_require_bin

PCAP=$LAB_DIR/stop.pcap
lab_bird_conf --md5 "$LAB_MD5_KEY" --neighbors nodea >"$LAB_DIR/bird.conf"
lab_bird_start rtr "$LAB_DIR/bird.conf"
acd_conf nodea >"$LAB_DIR/anycastd-nodea.toml"
lab_capture_start nodea0 "$PCAP" tcp port 179 || lab_die "capture did not start"

# ---- 1. up -------------------------------------------------------------------------------
acd_start nodea "$LAB_DIR/anycastd-nodea.toml"
fib_has() {
    lab_ns rtr ip -4 route show "$LAB_ANYCAST4" proto bird | grep -q "via $LAB_NODEA4 dev br0" &&
        lab_ns rtr ip -6 route show "$LAB_ANYCAST6" proto bird | grep -q "via $LAB_NODEA6 dev br0"
}
fib_empty() { [ -z "$(lab_ns rtr ip -4 route show proto bird; lab_ns rtr ip -6 route show proto bird)" ]; }
lab_check "Established, both routes in rtr's FIB via nodea" \
    lab_wait_for "lab_bird_established rtr nodea && fib_has" 10
lab_monitor_start rtr
sleep 0.2

# ---- 2. SIGTERM --------------------------------------------------------------------------
t_sig=$(lab__now_ms)
kill -TERM "$ACD_PID"
if lab_wait_for "! lab__alive $ACD_PID" 3; then
    wait "$ACD_PID"
    rc=$?
    lab_check "anycastd exited $(lab_elapsed_ms "$t_sig") ms after SIGTERM with status 0 (got $rc)" [ "$rc" -eq 0 ]
else
    lab_fail "anycastd still running 3 s after SIGTERM"
fi
lab_check "anycastd log: 'stopping on SIGTERM' and the Cease it sent" \
    eval "acd_log_has nodea 'stopping on SIGTERM' && acd_log_has nodea 'sent NOTIFICATION notification=Cease \\(6\\) / Administrative Shutdown \\(2\\): \"anycastd stopping \\(SIGTERM\\)\"'"

# ---- 3. the FIB follows at once ----------------------------------------------------------
lab_wait_for fib_empty 2 || true
for a in "$LAB_ANYCAST4" "$LAB_ANYCAST6"; do
    if t_del=$(lab_monitor_ms "^Deleted ${a//./\\.} via "); then
        ms=$((t_del - t_sig))
        FIB_MS+=("$a=${ms}ms")
        lab_check "rtr FIB: $a deleted ${ms} ms after SIGTERM (< ${FIB_MAX_MS} ms)" [ "$ms" -lt "$FIB_MAX_MS" ]
    else
        lab_fail "rtr FIB: no 'Deleted $a' in ip monitor within 2 s: $(paste -sd';' "$LAB_DIR/monitor-rtr.log")"
    fi
done
lab_check "BIRD: no route left (got '$(acd_bird_route_lines rtr | paste -sd';')')" \
    eval '[ -z "$(acd_bird_route_lines rtr)" ]'

# ---- 4. the NOTIFICATION on the wire -----------------------------------------------------
sleep 0.2
lab_capture_stop "$PCAP"
n_notif=$(tshark -n -r "$PCAP" -Y "bgp.type == 3 && ip.src == $LAB_NODEA4" 2>/dev/null | grep -c . || true)
lab_check "capture: exactly 1 NOTIFICATION from $LAB_NODEA4 (got $n_notif)" [ "$n_notif" -eq 1 ]
if acd_pcap_bgp "$PCAP" "bgp.type == 3 && ip.src == $LAB_NODEA4" "$LAB_DIR/notification.bin" &&
    dec=$("$ACD_BIN" decode "$LAB_DIR/notification.bin"); then
    lab_log "decoded: $dec"
    got=$(jq -r 'select(.type == "NOTIFICATION") | "\(.code)/\(.subcode) \(.shutdown_communication)"' <<<"$dec")
    lab_check "anycastd decode: Cease/Administrative Shutdown 6/2 '$MESSAGE' (got '$got')" \
        [ "$got" = "6/2 $MESSAGE" ]
else
    lab_fail "capture: NOTIFICATION not extractable or not decodable"
fi
ts=$(tshark -n -r "$PCAP" -Y "bgp.type == 3 && ip.src == $LAB_NODEA4" -T fields \
    -e bgp.notify.major_error -e bgp.notify.minor_error_cease -e frame.time_epoch 2>/dev/null | head -n 1)
read -r major minor t_frame <<<"$ts"
lab_check "tshark: NOTIFICATION major 6 minor 2 (got ${major:-none}/${minor:-none})" \
    [ "${major:-}/${minor:-}" = "6/2" ]
if [ -n "${t_frame:-}" ]; then
    lab_log "NOTIFICATION on the wire $(( ${t_frame%.*} * 1000 + 10#$(printf '%.3s' "${t_frame#*.}") - t_sig )) ms after SIGTERM"
fi
fin=$(tshark -n -r "$PCAP" -Y "ip.src == $LAB_NODEA4 && tcp.flags.fin == 1" 2>/dev/null | grep -c . || true)
rst=$(tshark -n -r "$PCAP" -Y "ip.src == $LAB_NODEA4 && tcp.flags.reset == 1" 2>/dev/null | grep -c . || true)
lab_check "capture: the node closes with FIN ($fin), no RST ($rst)" [ $((fin >= 1 && rst == 0)) -eq 1 ]

# ---- 5. BIRD saw the message -------------------------------------------------------------
proto=$(lab_birdc rtr show protocols all nodea)
printf '%s\n' "$proto" | head -n 4 | sed 's/^/    /' >&2
lab_check "BIRD: 'Received: Administrative shutdown' and 'Message: $MESSAGE'" \
    eval 'grep -q "Received: Administrative shutdown" <<<"$proto" && grep -q "^ *Message: *$MESSAGE\$" <<<"$proto"'
lab_check "BIRD: session no longer Established" eval '! lab_bird_established rtr nodea'

# ---- 6. the client --------------------------------------------------------------------------
lab_check "client: ping $LAB_ANYCAST4 fails now (no route at the router)" \
    eval '! lab_ns client ping -c 1 -W 1 -q "$LAB_ANYCAST4" >/dev/null 2>&1'

lab_log "FIB deletion after SIGTERM: ${FIB_MS[*]:-none}"
lab_log "scenario took $(lab_elapsed_ms "$T_START") ms"
lab_summary
