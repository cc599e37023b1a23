#!/usr/bin/env bash
# interop/scenario-bird-md5-capture.sh — every segment of anycastd's BGP session with BIRD
# carries a valid TCP-MD5 signature, and two independent checkers (tcpdump -M and
# `anycastd md5 verify`) agree on it, segment for segment; then a capture of a wrong-key
# attempt is diagnosed correctly by both.
#
#        client ── client0 ┐
#                        rtr: BIRD 2, AS 65000, password "anycast-lab-key"
#                          │ br0 192.0.2.1
#          nodea0 ─────────┴──── nodeb0
#   tcpdump -s 0 │  (tcp port 179)
#   nodea 192.0.2.11: anycastd AS 65124, md5 "anycast-lab-key" (phase 2: "wrong-key-0000")
#
# Checks (each PASS/FAIL):
#   1. phase 1: Established; capture of the whole session (SYN .. OPEN .. KEEPALIVEs ..
#      NOTIFICATION .. FIN) after a clean stop (SIGTERM)
#   2. tcpdump -M anycast-lab-key: every port-179 segment signed, all "md5 valid", none invalid
#   3. anycastd md5 verify --key anycast-lab-key: exit 0, "verdict: OK", its signed/valid
#      count equals tcpdump's; --json totals: unsigned 0, invalid 0; both directions signed
#   4. --key wrong: exit 1, "verdict: FAIL", every signed segment invalid (tcpdump -M wrong
#      agrees); --key-file with the right key (trailing newline): exit 0
#   5. phase 2 (anycastd with the wrong key): with the router's key, anycastd's SYNs are
#      invalid and BIRD's valid; with anycastd's key the reverse; exit 1 both times
# Prints "N passed, M failed" last; exits non-zero on any failure.
# Usage: sudo ANYCASTD_BIN=target/release/anycastd interop/scenario-bird-md5-capture.sh
# Checks are strings that lab_check/lab_wait_for/eval/bash -c run later: their \$ expand then.
# shellcheck disable=SC2016,SC2034,SC2001
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${LAB_PREFIX:=sbe}"
# shellcheck source=lib.sh
. "$HERE/lib.sh"
# shellcheck source=anycastd-lib.sh
. "$HERE/anycastd-lib.sh"

KEY=$LAB_MD5_KEY
WRONG=wrong-key-0000
T_START=$(lab__now_ms)
lab_require_root
lab_install_deps
lab_topology
acd_require_bin

lab_bird_conf --md5 "$KEY" --neighbors nodea >"$LAB_DIR/bird.conf"
lab_bird_start rtr "$LAB_DIR/bird.conf"
acd_conf nodea >"$LAB_DIR/anycastd-right.toml"
acd_conf nodea --md5 "$WRONG" >"$LAB_DIR/anycastd-wrong.toml"

# tcpdump's view: "TOTAL VALID INVALID" port-179 TCP segments of PCAP for KEY.
tcpdump_md5() {
    local out
    out=$(tcpdump -n -r "$1" -M "$2" -v 'tcp port 179' 2>/dev/null | grep -E '^ *[0-9a-f.:]+\.[0-9]+ > ')
    printf '%s %s %s\n' "$(grep -c . <<<"$out")" "$(grep -c 'md5 valid' <<<"$out")" \
        "$(grep -cE 'md5 +\(invalid\)' <<<"$out")"
}
# anycastd's view: runs md5 verify, sets V_RC, V_OUT (text) and V_JSON.
verify() {
    V_OUT=$("$ACD_BIN" md5 verify --pcap "$@" 2>&1)
    V_RC=$?
    V_JSON=$("$ACD_BIN" md5 verify --json --pcap "$@" 2>/dev/null)
    printf '%s\n' "$V_OUT" | sed 's/^/    /' >&2
}
totals() { jq -r '.totals | "\(.segments) \(.signed) \(.valid) \(.invalid) \(.unsigned)"' <<<"$V_JSON"; }
# Per sender: "SRC_IP VALID INVALID" of the flows that sender originated, summed.
by_sender() {
    jq -r '[.flows[] | {ip: (.src | sub(":[0-9]+$"; "")), valid, invalid}] | group_by(.ip)[] |
        "\(.[0].ip) \(map(.valid) | add) \(map(.invalid) | add)"' <<<"$V_JSON"
}

# ---- 1. phase 1: a whole good session ----------------------------------------------------
PCAP=$LAB_DIR/good.pcap
lab_capture_start nodea0 "$PCAP" tcp port 179 || lab_die "capture did not start"
acd_start nodea "$LAB_DIR/anycastd-right.toml"
lab_check "phase 1: Established" lab_wait_for "lab_bird_established rtr nodea" 10
sleep 3.5 # at least one KEEPALIVE each way (3 s interval)
acd_stop nodea
sleep 0.3
lab_capture_stop "$PCAP"
msgs=$(tshark -n -r "$PCAP" -T fields -e bgp.type 2>/dev/null | tr ',' '\n' | grep . | sort | uniq -c | awk '{printf "%s×%s ", $1, $2}')
lab_log "phase 1 capture: BGP message types (count×type): $msgs"
lab_check "phase 1: capture holds OPEN (1), UPDATE (2), NOTIFICATION (3) and KEEPALIVE (4)" \
    eval 'for t in 1 2 3 4; do tshark -n -r "$PCAP" -Y "bgp.type == $t" 2>/dev/null | grep -q . || exit 1; done'

# ---- 2. tcpdump's verdict ----------------------------------------------------------------
read -r td_total td_valid td_invalid <<<"$(tcpdump_md5 "$PCAP" "$KEY")"
lab_log "tcpdump -M $KEY: $td_total segments, $td_valid md5 valid, $td_invalid invalid"
lab_check "tcpdump: all $td_total segments signed and valid ($td_valid valid, $td_invalid invalid; > 10 segments)" \
    [ $((td_total > 10 && td_valid == td_total && td_invalid == 0)) -eq 1 ]

# ---- 3. anycastd md5 verify, right key ---------------------------------------------------
verify "$PCAP" --key "$KEY"
lab_check "md5 verify --key $KEY: exit 0 (got $V_RC)" [ "$V_RC" -eq 0 ]
lab_check "md5 verify: verdict 'OK: all $td_valid signed segments valid'" \
    grep -qx "verdict: OK: all $td_valid signed segments valid" <<<"$V_OUT"
t=$(totals)
lab_check "md5 verify --json: segments signed valid invalid unsigned = '$td_total $td_total $td_total 0 0' (got '$t')" \
    [ "$t" = "$td_total $td_total $td_total 0 0" ]
senders=$(by_sender | paste -sd';')
lab_check "md5 verify: both directions signed and valid, none invalid (per sender: $senders)" \
    eval '[ "$(by_sender | awk '\''$2 > 0 && $3 == 0'\'' | wc -l)" -eq 2 ]'

# ---- 4. wrong key, key file --------------------------------------------------------------
verify "$PCAP" --key wrong
lab_check "md5 verify --key wrong: exit 1 (got $V_RC)" [ "$V_RC" -eq 1 ]
lab_check "md5 verify --key wrong: verdict FAIL" grep -q '^verdict: FAIL' <<<"$V_OUT"
t=$(totals)
read -r tw_total tw_valid tw_invalid <<<"$(tcpdump_md5 "$PCAP" wrong)"
lab_check "--key wrong: both tools find all $td_total invalid (anycastd '$t', tcpdump $tw_invalid invalid/$tw_valid valid)" \
    [ $((tw_invalid == td_total && tw_valid == 0)) -eq 1 ] && [ "$t" = "$td_total $td_total 0 $td_total 0" ]
printf '%s\n' "$KEY" >"$LAB_DIR/key"
chmod 600 "$LAB_DIR/key"
verify "$PCAP" --key-file "$LAB_DIR/key"
lab_check "md5 verify --key-file (key + newline): exit 0 (got $V_RC)" [ "$V_RC" -eq 0 ]

# ---- 5. phase 2: a wrong-key attempt, diagnosed -------------------------------------------
PCAP2=$LAB_DIR/wrong.pcap
lab_capture_start nodea0 "$PCAP2" tcp port 179 || lab_die "capture did not start"
acd_start nodea "$LAB_DIR/anycastd-wrong.toml"
# Our first SYN (+ retransmissions) and BIRD's connect attempts (every ~1-2 s).
lab_wait_for "[ \$(tcpdump -n -r '$PCAP2' 'tcp[tcpflags] & tcp-syn != 0 and src host $LAB_RTR_LAN4' 2>/dev/null | wc -l) -ge 1 ] &&
    [ \$(tcpdump -n -r '$PCAP2' 'tcp[tcpflags] & tcp-syn != 0 and src host $LAB_NODEA4' 2>/dev/null | wc -l) -ge 2 ]" 6 || true
acd_stop nodea
lab_capture_stop "$PCAP2"
lab_check "phase 2: no session with the wrong key" eval '! lab_bird_established rtr nodea'
verify "$PCAP2" --key "$KEY"
s1=$(by_sender | paste -sd';')
verify "$PCAP2" --key "$WRONG"
rc2=$V_RC
s2=$(by_sender | paste -sd';')
verify "$PCAP2" --key "$KEY" # again, for V_RC of the router's key
lab_log "phase 2 per sender (ip valid invalid): router's key: $s1 | anycastd's key: $s2"
lab_check "phase 2, router's key: exit 1, $LAB_NODEA4's segments all invalid, $LAB_RTR_LAN4's all valid ($s1)" \
    eval '[ "$V_RC" -eq 1 ] && [[ "$s1" =~ ^$LAB_RTR_LAN4\ [1-9][0-9]*\ 0\;$LAB_NODEA4\ 0\ [1-9][0-9]*$ ]]'
lab_check "phase 2, anycastd's key: exit 1, $LAB_NODEA4's segments all valid, $LAB_RTR_LAN4's all invalid ($s2)" \
    eval '[ "$rc2" -eq 1 ] && [[ "$s2" =~ ^$LAB_RTR_LAN4\ 0\ [1-9][0-9]*\;$LAB_NODEA4\ [1-9][0-9]*\ 0$ ]]'
read -r p_total p_valid p_invalid <<<"$(tcpdump_md5 "$PCAP2" "$KEY")"
lab_check "phase 2: tcpdump agrees with the router's key ($p_valid valid + $p_invalid invalid of $p_total)" \
    eval '[ "$(totals)" = "$p_total $p_total $p_valid $p_invalid 0" ]'

lab_log "signed segments: phase 1 $td_total (tcpdump $td_valid valid; anycastd md5 verify $(jq .totals.valid <<<"$(
    "$ACD_BIN" md5 verify --json --pcap "$PCAP" --key "$KEY" 2>/dev/null)") valid); phase 2 $p_total"
lab_log "scenario took $(lab_elapsed_ms "$T_START") ms"
lab_summary
