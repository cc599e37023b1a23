#!/usr/bin/env bash
# interop/scenario-gobgp-export-capture.sh — GoBGP 3.10 (gobgpd as the router) SENDS routes to
# anycastd (the opposite of the lab's anycast-out drop, for this capture only); every message
# GoBGP sends is captured, split, decoded by interop/bgpdecode.py and cross-checked with tshark
# (fixtures-extract.py); anycastd must decode every one of them too, keep its session and keep
# announcing. With FIXTURES_OUT=DIR the fixtures, the pcap and the capture notes are written
# to DIR (e.g. fixtures/lab); without it they stay in $LAB_DIR and are discarded.
#
#   rtr: gobgpd (AS 65000, default export) ── br0 ── nodea0 [tcpdump here] ── nodea: anycastd
#        MD5 anycast-lab-key, hold 9 (keepalive 3)                              (AS 65124)
#        `gobgp global rib add` 198.51.100.0/24 and 2001:db8:100::/64 with MED 50,
#        communities 65000:100 + no-export, large community 65000:1:2
#
# Steps → GoBGP sends: OPEN, KEEPALIVE (no End-of-RIB: GoBGP sends it only with graceful
# restart), UPDATE (IPv4 NLRI), UPDATE (MP_REACH IPv6 with next hop ::ffff:192.0.2.1, an
# IPv4-mapped address: GoBGP's choice for IPv6 NLRI over an IPv4 session);
# `global rib del` → withdraw (IPv4) and
# MP_UNREACH (IPv6); `neighbor … shutdown --reason` → NOTIFICATION Cease/Administrative
# Shutdown with an RFC 9003 message.
# Checks (each PASS/FAIL):
#   1. session ESTABLISHED; GoBGP's Adj-RIB-Out to nodea holds 1 prefix per family
#   2. anycastd still Established and advertising after receiving GoBGP's routes
#   3. (logged, not checked) `softresetin` sends no ROUTE-REFRESH: GoBGP keeps its Adj-RIB-In
#   4. withdraw: Adj-RIB-Out empty; the shutdown NOTIFICATION reached anycastd (its log)
#   5. fixtures-extract.py: every message GoBGP sent decoded and tshark agrees on every field
#   6. `anycastd decode` decodes every message GoBGP sent
#   7. anycastd alive; no ERROR in its log
# Prints "N passed, M failed" last; exits non-zero on any failure.
# Usage: sudo [FIXTURES_OUT=fixtures/lab] interop/scenario-gobgp-export-capture.sh
# Checks are strings that lab_check/lab_wait_for/eval run later: their \$ expand then.
# shellcheck disable=SC2016,SC2034
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${LAB_PREFIX:=sgx}"
# shellcheck source=lib.sh
. "$HERE/lib.sh"
# shellcheck source=anycastd-lib.sh
. "$HERE/anycastd-lib.sh"
# shellcheck source=routers-lib.sh
. "$HERE/routers-lib.sh"

PYTHON=/usr/bin/python3 # Debian's python (a pyenv shim may shadow python3)
GOBGP_VERSION=$(gobgpd --version 2>/dev/null | awk '{ print $NF }')
PCAP_NAME=gobgp-${GOBGP_VERSION:-3.10.0}-anycastd-session.pcap
SHUTDOWN_MSG="anycastd lab fixture: GoBGP admin shutdown"
ATTRS=(med 50 community "65000:100,no-export" large-community 65000:1:2)
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
adv() { rl_gobgp_adj_count "$LAB_NODEA4" out "$1"; }

rl_gobgp_rtr_conf --md5 "$LAB_MD5_KEY" --neighbors nodea --export-all >"$LAB_DIR/gobgp-rtr.toml" ||
    lab_die "rl_gobgp_rtr_conf failed"
acd_ha_conf nodea >"$(acd_conf_file nodea)" || lab_die "acd_ha_conf failed"

lab_capture_start nodea0 "$PCAP" tcp port 179 || lab_die "capture did not start"
step "start gobgpd (rtr) and anycastd (nodea)"
lab_gobgpd_start rtr "$LAB_DIR/gobgp-rtr.toml"
acd_start nodea "$(acd_conf_file nodea)"

# ---- 1. session, GoBGP's exports ---------------------------------------------------------
lab_check "GoBGP: session with nodea ESTABLISHED" \
    lab_wait_for "[ \"\$(lab_gobgp_state rtr $LAB_NODEA4)\" = ESTABLISHED ]" 10
sleep 0.5
step "gobgp global rib add $LAB_CLIENT_LAN4 / $LAB_CLIENT_LAN6 ${ATTRS[*]}"
lab_gobgp rtr global rib add -a ipv4 "$LAB_CLIENT_LAN4" "${ATTRS[@]}" >/dev/null
lab_gobgp rtr global rib add -a ipv6 "$LAB_CLIENT_LAN6" "${ATTRS[@]}" >/dev/null
lab_check "GoBGP: advertises its route per family to nodea (Adj-RIB-Out v4 $(adv ipv4), v6 $(adv ipv6))" \
    lab_wait_for "[ \$(adv ipv4) -ge 1 ] && [ \$(adv ipv6) -ge 1 ]" 5
lab_gobgp rtr neighbor "$LAB_NODEA4" adj-out -a ipv4 | sed 's/^/    /' >&2
lab_gobgp rtr neighbor "$LAB_NODEA4" adj-out -a ipv6 | sed 's/^/    /' >&2
step "routes exchanged; waiting for a periodic KEEPALIVE (keepalive 3 s)"
sleep 3.5

# ---- 2. anycastd is fine with what it received -----------------------------------------------
lab_check "anycastd: still Established (1 'session established') and advertising 2 prefixes" \
    eval '[ "$(acd_log_count nodea "session established")" -eq 1 ] && [ "$(acd_status_get nodea ".advertising | length")" = 2 ]'

# ---- 3. ROUTE-REFRESH ------------------------------------------------------------------------
step "gobgp neighbor $LAB_NODEA4 softresetin -a ipv4|ipv6 (GoBGP: local, no ROUTE-REFRESH expected)"
t_rr=$(acd_now_us)
lab_gobgp rtr neighbor "$LAB_NODEA4" softresetin -a ipv4 >/dev/null
lab_gobgp rtr neighbor "$LAB_NODEA4" softresetin -a ipv6 >/dev/null
sleep 0.5

# ---- 4. withdraw and shutdown ----------------------------------------------------------------
step "gobgp global rib del $LAB_CLIENT_LAN4 / $LAB_CLIENT_LAN6 (withdraw, MP_UNREACH)"
n4=$(adv ipv4)
n6=$(adv ipv6)
lab_gobgp rtr global rib del -a ipv4 "$LAB_CLIENT_LAN4" >/dev/null
lab_gobgp rtr global rib del -a ipv6 "$LAB_CLIENT_LAN6" >/dev/null
lab_check "GoBGP: its own routes no longer advertised to nodea (Adj-RIB-Out $n4/$n6 → one less each)" \
    lab_wait_for "[ \$(adv ipv4) -eq $((n4 - 1)) ] && [ \$(adv ipv6) -eq $((n6 - 1)) ]" 5
sleep 0.5
step "gobgp neighbor $LAB_NODEA4 shutdown --reason \"$SHUTDOWN_MSG\" (NOTIFICATION Cease)"
lab_gobgp rtr neighbor "$LAB_NODEA4" shutdown --reason "$SHUTDOWN_MSG" >/dev/null
lab_check "anycastd log: NOTIFICATION from GoBGP with the shutdown message" \
    lab_wait_for "acd_log_has nodea '${SHUTDOWN_MSG}'" 3
sleep 0.3
lab_capture_stop "$PCAP"
step "capture stopped"

rr=$(tshark -n -r "$PCAP" -Y "bgp.type == 5 && ip.src == $LAB_RTR_LAN4" 2>/dev/null | grep -c . || true)
# GoBGP keeps its Adj-RIB-In: softresetin re-runs its import policy locally and sends nothing.
lab_log "ROUTE-REFRESH messages from GoBGP after softresetin: $rr (GoBGP keeps its Adj-RIB-In)"

# ---- 5. fixtures -----------------------------------------------------------------------------
{
    printf 'gobgpd: %s\n' "$(gobgpd --version 2>&1 | head -n 1)"
    printf 'anycastd: %s\n' "$("$ACD_BIN" --version 2>&1)"
    printf 'tcpdump: %s\n' "$(tcpdump --version 2>&1 | head -n 1)"
    printf 'tshark: %s\n' "$(tshark --version 2>/dev/null | head -n 1)"
    printf 'kernel: %s\n' "$(uname -r)"
} >"$LAB_DIR/tools.txt"
cat >"$LAB_DIR/notes.json" <<EOF
{
  "open-": "GoBGP 3.10's OPEN to an eBGP peer (hold 9): MP ipv4+ipv6, route refresh, extended next hop (RFC 8950, ipv4-unicast over ipv6 next hop), 4-octet AS, FQDN (73, the host name).",
  "keepalive-": "GoBGP KEEPALIVE (keepalive-interval 3); all identical, kept once.",
  "update-gobgp-lab-ipv4-": "'gobgp global rib add $LAB_CLIENT_LAN4' with MED 50, communities 65000:100 + no-export, large 65000:1:2; origin incomplete (GoBGP's default for rib add); eBGP next hop self $LAB_RTR_LAN4.",
  "update-gobgp-lab-mp-reach-ipv6-": "'gobgp global rib add -a ipv6 $LAB_CLIENT_LAN6' over the IPv4 session (MP-BGP), same attributes: GoBGP puts the IPv4-mapped IPv6 address ::ffff:$LAB_RTR_LAN4 (16 bytes) as next hop. bgpdecode.py writes it ::ffff:c000:201, tshark ::ffff:192.0.2.1: the same address, which fixtures-extract.py's string comparison reports as a disagreement.",
  "update-gobgp-lab-withdraw-": "After 'gobgp global rib del $LAB_CLIENT_LAN4': IPv4 withdrawn routes.",
  "update-gobgp-lab-mp-unreach-": "After 'gobgp global rib del $LAB_CLIENT_LAN6': MP_UNREACH_NLRI.",
  "notification-": "'gobgp neighbor $LAB_NODEA4 shutdown --reason ...': Cease / Administrative Shutdown with an RFC 9003 Shutdown Communication."
}
EOF
if $PYTHON "$HERE/fixtures-extract.py" --pcap "$PCAP" --out "$FX" --notes "$LAB_DIR/notes.json" \
    --src "$LAB_RTR_LAN4" --pcap-path "fixtures/lab/$PCAP_NAME" --name-prefix gobgp-lab \
    --vendor "GoBGP ${GOBGP_VERSION:-3.10.0}" --timeline "$TIMELINE" --tools "$LAB_DIR/tools.txt" \
    --command "interop/scenario-gobgp-export-capture.sh (gobgpd ${GOBGP_VERSION:-3.10.0} in rtr exporting to anycastd in nodea, MD5; tcpdump -i nodea0 on rtr's bridge port)" \
    >"$LAB_DIR/extract.log" 2>&1; then
    lab_pass "fixtures-extract.py: $(tail -n 1 "$LAB_DIR/extract.log")"
elif grep -q ' fixtures written to ' "$LAB_DIR/extract.log" && rev=$(rl_fixtures_review "$FX"); then
    lab_pass "fixtures-extract.py: tshark agrees but for the spelling of addresses: $(paste -sd';' <<<"$rev")"
else
    lab_fail "fixtures-extract.py failed: $(tail -n 3 "$LAB_DIR/extract.log" | paste -sd'|')"
fi
sed 's/^/    /' "$LAB_DIR/extract.log" >&2

# ---- 6. anycastd decodes every message GoBGP sent ----------------------------------------------
if acd_pcap_bgp "$PCAP" "bgp && ip.src == $LAB_RTR_LAN4" "$LAB_DIR/gobgp-msgs.bin" &&
    dec=$("$ACD_BIN" decode "$LAB_DIR/gobgp-msgs.bin" 2>"$LAB_DIR/decode.err"); then
    types=$(jq -r '.type' <<<"$dec" | sort | uniq -c | awk '{ printf "%s×%s ", $1, $2 }')
    nmsg=$(grep -oE '\(([0-9]+) messages from' "$LAB_DIR/extract.log" | grep -oE '[0-9]+')
    # A NOTIFICATION's "error" is its meaning, not a decoding error.
    lab_check "anycastd decode: all ${nmsg:-?} messages GoBGP sent decode (${types% })" \
        eval '[ "$(jq -s "[.[] | select(.type == null or (.type != \"NOTIFICATION\" and .error != null))] | length" <<<"$dec")/$(jq -s length <<<"$dec")" = "0/$nmsg" ]'
else
    lab_fail "anycastd decode failed on GoBGP's messages: $(head -c 300 "$LAB_DIR/decode.err")"
fi

# ---- 7. daemon health ----------------------------------------------------------------------
lab_check "anycastd (pid $ACD_PID) still running" lab__alive "$ACD_PID"
bad=$(acd_log nodea | grep -E ' ERROR ' || true)
lab_check "anycastd log: no ERROR line${bad:+ (got: $(head -n 2 <<<"$bad" | paste -sd'|'))}" [ -z "$bad" ]
if [ -n "$OUT" ]; then
    rl_fixtures_install "$FX" "$OUT" && cp "$PCAP" "$OUT/$PCAP_NAME" && cp "$LAB_DIR/gobgp-rtr.toml" "$OUT/capture-gobgp-rtr.toml" &&
        cp "$TIMELINE" "$OUT/capture-gobgp-timeline.txt" && cp "$LAB_DIR/tools.txt" "$OUT/capture-gobgp-tools.txt" &&
        chmod 644 "$OUT/$PCAP_NAME" "$OUT/capture-gobgp-rtr.toml" "$OUT/capture-gobgp-timeline.txt" "$OUT/capture-gobgp-tools.txt" &&
        lab_log "fixtures, pcap and capture notes written to $OUT"
fi
lab_log "scenario took $(lab_elapsed_ms "$T_START") ms"
lab_summary
