#!/usr/bin/env bash
# interop/scenario-frr-export-capture.sh — FRR 8.4 SENDS routes to anycastd (the opposite of
# the lab's anycast-out drop, for this capture only) and every message FRR sends is captured,
# split, decoded by interop/bgpdecode.py and cross-checked with tshark (fixtures-extract.py);
# anycastd must decode every one of them too, keep its session and keep announcing.
# With FIXTURES_OUT=DIR the fixtures, the pcap and the capture notes are written to DIR
# (e.g. fixtures/lab); without it they stay in $LAB_DIR and are discarded.
#
#   rtr: FRR 8.4 (AS 65000) ── br0 ── nodea0 [tcpdump here] ── nodea: anycastd (AS 65124)
#        MD5 anycast-lab-key, hold 9 (keepalive 3)
#        network 198.51.100.0/24 + 2001:db8:100::/64 (the connected client LAN), exported
#        through route-map FX-OUT: MED 50, communities 65000:100 + no-export,
#        large community 65000:1:2
#
# Steps → FRR sends: OPEN, KEEPALIVE, UPDATE (IPv4 NLRI), UPDATE (MP_REACH IPv6), End-of-RIB
# ×2; `clear bgp … soft in` → ROUTE-REFRESH ×2 (anycastd re-sends its routes);
# `no network` → withdraw (IPv4) and MP_UNREACH (IPv6); `neighbor … shutdown message` →
# NOTIFICATION Cease/Administrative Shutdown with an RFC 9003 message.
# Checks (each PASS/FAIL):
#   1. session Established; FRR's Adj-RIB-Out to nodea holds the 2 prefixes (sent 1 per family)
#   2. anycastd still Established and advertising after receiving FRR's routes
#   3. ROUTE-REFRESH (soft in): anycastd answered by re-sending its 2 prefixes (capture)
#   4. withdraw reached the wire; the admin shutdown NOTIFICATION reached anycastd (its log)
#   5. fixtures-extract.py: every message FRR sent decoded and tshark agrees on every field
#   6. `anycastd decode` decodes every message FRR sent (types match bgpdecode's)
#   7. anycastd alive; no ERROR in its log
# Prints "N passed, M failed" last; exits non-zero on any failure.
# Usage: sudo [FIXTURES_OUT=fixtures/lab] interop/scenario-frr-export-capture.sh
# Checks are strings that lab_check/lab_wait_for/eval run later: their \$ expand then.
# shellcheck disable=SC2016,SC2034
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${LAB_PREFIX:=srx}"
# shellcheck source=lib.sh
. "$HERE/lib.sh"
# shellcheck source=anycastd-lib.sh
. "$HERE/anycastd-lib.sh"
# shellcheck source=routers-lib.sh
. "$HERE/routers-lib.sh"

PYTHON=/usr/bin/python3 # Debian's python (a pyenv shim may shadow python3)
FRR_VERSION=$(dpkg-query -W -f '${Version}' frr 2>/dev/null | sed 's/-.*//')
PCAP_NAME=frr-${FRR_VERSION:-8.4}-anycastd-session.pcap
SHUTDOWN_MSG="anycastd lab fixture: FRR admin shutdown"
T_START=$(lab__now_ms)
lab_require_root
lab_install_deps
lab_topology
acd_require_bin

FX=$LAB_DIR/fixtures # fixtures-extract.py's output; installed into FIXTURES_OUT at the end
mkdir -p "$FX" || lab_die "cannot create $FX"
OUT=""
if [ -n "${FIXTURES_OUT:-}" ]; then
    mkdir -p "$FIXTURES_OUT" || lab_die "cannot create $FIXTURES_OUT"
    OUT=$(cd "$FIXTURES_OUT" && pwd)
fi
PCAP=$LAB_DIR/$PCAP_NAME
TIMELINE=$LAB_DIR/timeline.txt
: >"$TIMELINE"
step() {
    lab_log "STEP: $*"
    printf '%s %s\n' "$(lab__ts)" "$*" >>"$TIMELINE"
}

EXTRA=$(
    cat <<EOF
! Capture-only: what the router exports to the node.
! Only the client LAN: without the match FRR would also send anycastd its own prefixes back
! (AS path 65000 65124, which anycastd drops as an AS loop).
ip prefix-list FX4 seq 10 permit $LAB_CLIENT_LAN4
ipv6 prefix-list FX6 seq 10 permit $LAB_CLIENT_LAN6
route-map FX-OUT permit 10
 match ip address prefix-list FX4
 set metric 50
 set community 65000:100 no-export
 set large-community 65000:1:2
route-map FX-OUT permit 20
 match ipv6 address prefix-list FX6
 set metric 50
 set community 65000:100 no-export
 set large-community 65000:1:2
EOF
)
rl_frr_conf --md5 "$LAB_MD5_KEY" --neighbors nodea --out-policy FX-OUT --extra "$EXTRA" \
    --af4-extra "  network $LAB_CLIENT_LAN4" --af6-extra "  network $LAB_CLIENT_LAN6" >"$LAB_DIR/frr.conf" ||
    lab_die "rl_frr_conf failed"
acd_ha_conf nodea >"$(acd_conf_file nodea)" || lab_die "acd_ha_conf failed"

lab_capture_start nodea0 "$PCAP" tcp port 179 || lab_die "capture did not start"
step "start FRR (rtr, exporting $LAB_CLIENT_LAN4 and $LAB_CLIENT_LAN6 to nodea) and anycastd (nodea)"
rl_frr_start "$LAB_DIR/frr.conf"
acd_start nodea "$(acd_conf_file nodea)"

# ---- 1. session, FRR's exports -----------------------------------------------------------
lab_check "FRR: session with nodea Established" lab_wait_for "rl_frr_established $LAB_NODEA4" 10
lab_check "FRR: advertises exactly 1 prefix per family to nodea" \
    lab_wait_for "[ \"\$(rl_frr_adv_count $LAB_NODEA4 ipv4)/\$(rl_frr_adv_count $LAB_NODEA4 ipv6)\" = 1/1 ]" 5
step "routes exchanged; waiting for a periodic KEEPALIVE (keepalive 3 s)"
sleep 3.5

# ---- 2. anycastd is fine with what it received -----------------------------------------------
lab_check "anycastd: still Established (1 'session established') and advertising 2 prefixes" \
    eval '[ "$(acd_log_count nodea "session established")" -eq 1 ] && [ "$(acd_status_get nodea ".advertising | length")" = 2 ]'

# ---- 3. ROUTE-REFRESH ------------------------------------------------------------------------
step "vtysh clear bgp ipv4|ipv6 unicast $LAB_NODEA4 soft in (ROUTE-REFRESH)"
t_rr=$(acd_now_us)
rl_vtysh "clear bgp ipv4 unicast $LAB_NODEA4 soft in" "clear bgp ipv6 unicast $LAB_NODEA4 soft in" >/dev/null
sleep 0.5

# ---- 4. withdraw and shutdown ----------------------------------------------------------------
step "vtysh: no network $LAB_CLIENT_LAN4 / $LAB_CLIENT_LAN6 (withdraw, MP_UNREACH)"
rl_vtysh "configure terminal" "router bgp $LAB_RTR_AS" "address-family ipv4 unicast" "no network $LAB_CLIENT_LAN4" \
    "exit-address-family" "address-family ipv6 unicast" "no network $LAB_CLIENT_LAN6" >/dev/null
lab_check "FRR: advertises nothing to nodea any more" \
    lab_wait_for "[ \"\$(rl_frr_adv_count $LAB_NODEA4 ipv4)/\$(rl_frr_adv_count $LAB_NODEA4 ipv6)\" = 0/0 ]" 5
sleep 0.5
step "vtysh: neighbor $LAB_NODEA4 shutdown message \"$SHUTDOWN_MSG\" (NOTIFICATION Cease)"
rl_vtysh "configure terminal" "router bgp $LAB_RTR_AS" "neighbor $LAB_NODEA4 shutdown message $SHUTDOWN_MSG" >/dev/null
lab_check "anycastd log: NOTIFICATION from FRR with the shutdown message" \
    lab_wait_for "acd_log_has nodea 'NOTIFICATION.*${SHUTDOWN_MSG}|${SHUTDOWN_MSG}'" 3
sleep 0.3
lab_capture_stop "$PCAP"
step "capture stopped"

rr=$(tshark -n -r "$PCAP" -Y "bgp.type == 5 && ip.src == $LAB_RTR_LAN4" 2>/dev/null | grep -c . || true)
re=$(acd_pcap_us "$PCAP" "bgp.type == 2 && ip.src == $LAB_NODEA4 && bgp.nlri_prefix == $LAB_ANYCAST4" "$t_rr" || echo "")
lab_check "ROUTE-REFRESH from FRR captured ($rr), anycastd re-sent $LAB_ANYCAST4 after it (+$(acd_us_ms $((${re:-0} - t_rr))) ms)" \
    [ "$rr" -ge 2 -a -n "$re" ]

# ---- 5. fixtures -----------------------------------------------------------------------------
{
    printf 'frr: %s\n' "$("$RL_FRR_BIN/bgpd" --version 2>&1 | head -n 1)"
    printf 'anycastd: %s\n' "$("$ACD_BIN" --version 2>&1)"
    printf 'tcpdump: %s\n' "$(tcpdump --version 2>&1 | head -n 1)"
    printf 'tshark: %s\n' "$(tshark --version 2>/dev/null | head -n 1)"
    printf 'kernel: %s\n' "$(uname -r)"
} >"$LAB_DIR/tools.txt"
cat >"$LAB_DIR/notes.json" <<EOF
{
  "open-": "FRR 8.4's OPEN to an eBGP peer ('frr defaults traditional', timers 3 9): MP ipv4+ipv6 (IPv6 activated on the IPv4 session), route refresh (old + new code), enhanced route refresh, 4-octet AS, add-path receive, extended message, hostname (FQDN, 73), graceful restart helper, long-lived GR.",
  "keepalive-": "FRR KEEPALIVE (keepalive 3 s); all identical, kept once.",
  "update-frr-lab-ipv4-": "'network $LAB_CLIENT_LAN4' through route-map FX-OUT (MED 50, communities 65000:100 + no-export, large 65000:1:2); eBGP next hop self $LAB_RTR_LAN4.",
  "update-frr-lab-mp-reach-ipv6-": "'network $LAB_CLIENT_LAN6' over the IPv4 session (MP-BGP), same attributes; FRR's next hop choice for an IPv6 prefix on an IPv4 session is recorded here as sent.",
  "update-frr-lab-end-of-rib-ipv4": "RFC 4724 End-of-RIB for IPv4 unicast.",
  "update-frr-lab-end-of-rib-ipv6": "RFC 4724 End-of-RIB for IPv6 unicast (empty MP_UNREACH_NLRI).",
  "update-frr-lab-withdraw-": "After 'no network $LAB_CLIENT_LAN4': IPv4 withdrawn routes.",
  "update-frr-lab-mp-unreach-": "After 'no network $LAB_CLIENT_LAN6': MP_UNREACH_NLRI.",
  "route-refresh-": "'clear bgp ipv4|ipv6 unicast $LAB_NODEA4 soft in': ROUTE-REFRESH (anycastd advertised route refresh + enhanced route refresh).",
  "notification-": "'neighbor $LAB_NODEA4 shutdown message ...': Cease / Administrative Shutdown with an RFC 9003 Shutdown Communication."
}
EOF
if $PYTHON "$HERE/fixtures-extract.py" --pcap "$PCAP" --out "$FX" --notes "$LAB_DIR/notes.json" \
    --src "$LAB_RTR_LAN4" --pcap-path "fixtures/lab/$PCAP_NAME" --name-prefix frr-lab \
    --vendor "FRR ${FRR_VERSION:-8.4}" --timeline "$TIMELINE" --tools "$LAB_DIR/tools.txt" \
    --command "interop/scenario-frr-export-capture.sh (FRR ${FRR_VERSION:-8.4} bgpd in rtr exporting to anycastd in nodea, MD5; tcpdump -i nodea0 on rtr's bridge port)" \
    >"$LAB_DIR/extract.log" 2>&1; then
    lab_pass "fixtures-extract.py: $(tail -n 1 "$LAB_DIR/extract.log")"
elif grep -q ' fixtures written to ' "$LAB_DIR/extract.log" && rev=$(rl_fixtures_review "$FX"); then
    lab_pass "fixtures-extract.py: tshark agrees but for the spelling of addresses: $(paste -sd';' <<<"$rev")"
else
    lab_fail "fixtures-extract.py failed: $(tail -n 3 "$LAB_DIR/extract.log" | paste -sd'|')"
fi
sed 's/^/    /' "$LAB_DIR/extract.log" >&2

# ---- 6. anycastd decodes every message FRR sent ------------------------------------------------
if acd_pcap_bgp "$PCAP" "bgp && ip.src == $LAB_RTR_LAN4" "$LAB_DIR/frr-msgs.bin" &&
    dec=$("$ACD_BIN" decode "$LAB_DIR/frr-msgs.bin" 2>"$LAB_DIR/decode.err"); then
    types=$(jq -r '.type' <<<"$dec" | sort | uniq -c | awk '{ printf "%s×%s ", $1, $2 }')
    nmsg=$(grep -oE '\(([0-9]+) messages from' "$LAB_DIR/extract.log" | grep -oE '[0-9]+')
    # A NOTIFICATION's "error" is its meaning, not a decoding error.
    lab_check "anycastd decode: all ${nmsg:-?} messages FRR sent decode (${types% })" \
        eval '[ "$(jq -s "[.[] | select(.type == null or (.type != \"NOTIFICATION\" and .error != null))] | length" <<<"$dec")/$(jq -s length <<<"$dec")" = "0/$nmsg" ]'
else
    lab_fail "anycastd decode failed on FRR's messages: $(head -c 300 "$LAB_DIR/decode.err")"
fi

# ---- 7. daemon health ----------------------------------------------------------------------
lab_check "anycastd (pid $ACD_PID) still running" lab__alive "$ACD_PID"
bad=$(acd_log nodea | grep -E ' ERROR ' || true)
lab_check "anycastd log: no ERROR line${bad:+ (got: $(head -n 2 <<<"$bad" | paste -sd'|'))}" [ -z "$bad" ]
if [ -n "$OUT" ]; then
    rl_fixtures_install "$FX" "$OUT" && cp "$PCAP" "$OUT/$PCAP_NAME" && cp "$LAB_DIR/frr.conf" "$OUT/capture-frr.conf" &&
        cp "$TIMELINE" "$OUT/capture-frr-timeline.txt" && cp "$LAB_DIR/tools.txt" "$OUT/capture-frr-tools.txt" &&
        chmod 644 "$OUT/$PCAP_NAME" "$OUT/capture-frr.conf" "$OUT/capture-frr-timeline.txt" "$OUT/capture-frr-tools.txt" &&
        lab_log "fixtures, pcap and capture notes written to $OUT"
fi
lab_log "scenario took $(lab_elapsed_ms "$T_START") ms"
lab_summary
