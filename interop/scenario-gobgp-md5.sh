#!/usr/bin/env bash
# interop/scenario-gobgp-md5.sh — anycastd peers with GoBGP 3.10 (gobgpd as the router) over
# TCP-MD5 (GoBGP's auth-password), on two sessions: IPv4 transport (IPv6 prefixes ride it as
# MP-BGP with anycastd's next_hop_ipv6) and IPv6 transport (IPv4 prefixes with next_hop_ipv4).
# Both families reach GoBGP's global RIB; a failed health check withdraws them; a wrong key
# gets no session. gobgpd does not program the kernel (no zebra): only its RIB is checked.
#
#                             rtr: gobgpd 3.10, AS 65000, id 192.0.2.1 (gRPC API bound
#                                  inside rtr: the gobgp CLI runs via ip netns exec)
#                                  global export policy reject-all (anycast-out drop)
#                                         │ br0 192.0.2.1, 2001:db8:2::1
#                         nodea0 ─────────┴───────── nodeb0
#                (tcpdump here) │                          │
#   nodea 192.0.2.11, 2001:db8:2::11: anycastd AS 65124    nodeb (no speaker)
#     neighbor 192.0.2.1 + neighbor 2001:db8:2::1, MD5 "anycast-lab-key", hold 9
#     health check: file $LAB_DIR/nodea/ok (100 ms, rise 1, fall 1)
#     lo 203.0.113.124/32, 2001:db8:124::1/128
#
# Checks (each PASS/FAIL):
#   1. both sessions ESTABLISHED in GoBGP (≤ 10 s), anycastd logs 2 × 'session established'
#   2. GoBGP's view of our capabilities: MP ipv4+ipv6, route refresh, 4-octet AS "advertised
#      and received", enhanced route refresh received; no graceful restart
#   3. per session and family: Adj-RIB-In 1 prefix, Adj-RIB-Out 0 (reject-all export)
#   4. GoBGP's global RIB (`gobgp global rib -a ipv4|ipv6`): one prefix per family, 2 paths
#      each (one per session), next hop 192.0.2.11 / 2001:db8:2::11, AS path 65124, one best
#   5. rtr's kernel FIB has no anycast route (gobgpd without zebra does not install routes)
#   6. every captured BGP segment carries a valid MD5 signature (`tcpdump -M`)
#   7. health file removed → both prefixes gone from GoBGP's RIB (< 2 s; time printed), the
#      sessions stay up; restored → back
#   8. no WARN/ERROR in anycastd's log, gobgpd's log free of warnings and notifications
#   9. wrong key (anycastd restarted with another key): no ESTABLISHED for 6 s, nothing in
#      GoBGP's RIB, TcpExtTCPMD5Failure rising in rtr; the right key again → ESTABLISHED
# Prints "N passed, M failed" last; exits non-zero on any failure.
# Usage: sudo ANYCASTD_BIN=target/release/anycastd interop/scenario-gobgp-md5.sh
# Checks are strings that lab_check/lab_wait_for/eval/bash -c run later: their \$ expand then.
# shellcheck disable=SC2016,SC2034
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${LAB_PREFIX:=srg}"
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
up() { [ "$(lab_gobgp_state rtr "$1")" = ESTABLISHED ]; }
both_up() { up "$LAB_NODEA4" && up "$LAB_NODEA6"; }

rl_gobgp_rtr_conf --md5 "$LAB_MD5_KEY" --neighbors nodea --v6-neighbors nodea >"$LAB_DIR/gobgp-rtr.toml" ||
    lab_die "rl_gobgp_rtr_conf failed"
acd_ha_conf nodea --interval 100 --rise 1 --fall 1 --file-check flag "$FLAG" \
    -- --v6-session "$LAB_MD5_KEY" >"$CONF" || lab_die "acd_ha_conf failed"
touch "$FLAG"

PCAP=$LAB_DIR/session.pcap
lab_capture_start nodea0 "$PCAP" tcp port 179 || lab_die "capture did not start"
lab_gobgpd_start rtr "$LAB_DIR/gobgp-rtr.toml"

# ---- 1. sessions -------------------------------------------------------------------------
t0=$(lab__now_ms)
acd_start nodea "$CONF"
for peer in "$LAB_NODEA4" "$LAB_NODEA6"; do
    if lab_wait_for "up $peer" 10; then
        lab_pass "GoBGP: session with $peer ESTABLISHED with MD5, $(lab_elapsed_ms "$t0") ms after anycastd start"
    else
        lab_fail "GoBGP: session with $peer not ESTABLISHED within 10 s (state '$(lab_gobgp_state rtr "$peer")'); anycastd: $(acd_log nodea | tail -n 2)"
    fi
done
lab_check "anycastd log: 2 × 'session established peer_as=65000 peer_id=192.0.2.1'" \
    lab_wait_for "[ \$(acd_log_count nodea 'session established peer_as=65000 peer_id=192\.0\.2\.1 four_octet_as=true') -eq 2 ]" 2
lab_wait_for "[ \$(rl_gobgp_paths ipv4 $A4 | wc -l) -eq 2 ] && [ \$(rl_gobgp_paths ipv6 $A6 | wc -l) -eq 2 ]" 5 || true

# ---- 2. capabilities as GoBGP saw them -------------------------------------------------------
for peer in "$LAB_NODEA4" "$LAB_NODEA6"; do
    caps=$(rl_gobgp_caps "$peer")
    lab_log "GoBGP: capabilities of $peer: $caps"
    lab_check "GoBGP ($peer): MP ipv4+ipv6, route refresh, 4-octet AS advertised and received; enhanced route refresh received" \
        bash -c 'for w in "multiprotocol/ipv4-unicast=advertised and received" "multiprotocol/ipv6-unicast=advertised and received" \
            "route-refresh=advertised and received" "4-octet-as=advertised and received" "enhanced-route-refresh=received"; do
            grep -qF -- "$w" <<<"|$1|" || { echo "missing: $w" >&2; exit 1; }; done' _ "$caps"
    lab_check "GoBGP ($peer): no graceful restart / long-lived GR / add-path from anycastd" \
        bash -c '! grep -qiE "(graceful-restart|long-lived|add-path)[^|]*received" <<<"$1"' _ "$caps"
done

# ---- 3. per-session Adj-RIBs ---------------------------------------------------------------
counts=""
for peer in "$LAB_NODEA4" "$LAB_NODEA6"; do
    for fam in ipv4 ipv6; do
        counts+="$peer/$fam=$(rl_gobgp_adj_count "$peer" in "$fam")/$(rl_gobgp_adj_count "$peer" out "$fam") "
    done
done
lab_check "GoBGP: each session × family Adj-RIB-In 1, Adj-RIB-Out 0 (got ${counts% })" \
    [ "$counts" = "$LAB_NODEA4/ipv4=1/0 $LAB_NODEA4/ipv6=1/0 $LAB_NODEA6/ipv4=1/0 $LAB_NODEA6/ipv6=1/0 " ]

# ---- 4. GoBGP's global RIB ---------------------------------------------------------------
lab_gobgp rtr global rib -a ipv4 | sed 's/^/    /' >&2
lab_gobgp rtr global rib -a ipv6 | sed 's/^/    /' >&2
p4=$(rl_gobgp_paths ipv4 "$A4" | sort -k3)
p6=$(rl_gobgp_paths ipv6 "$A6" | sort -k3)
lab_log "GoBGP paths $A4: $(paste -sd';' <<<"$p4")"
lab_log "GoBGP paths $A6: $(paste -sd';' <<<"$p6")"
lab_check "GoBGP RIB: exactly 1 IPv4 and 1 IPv6 destination (got $(rl_gobgp_count ipv4)/$(rl_gobgp_count ipv6))" \
    [ "$(rl_gobgp_count ipv4)/$(rl_gobgp_count ipv6)" = 1/1 ]
lab_check "GoBGP RIB: $A4 has 2 paths, both next hop $LAB_NODEA4, AS path 65124, one best" \
    [ "$(awk '{ print $1, $3, $4 }' <<<"$p4" | paste -sd';')/$(grep -c ' \* ' <<<"$p4")" = "$LAB_NODEA4 $LAB_NODEA4 65124;$LAB_NODEA4 $LAB_NODEA6 65124/1" ]
lab_check "GoBGP RIB: $A6 has 2 paths, both next hop $LAB_NODEA6, AS path 65124, one best" \
    [ "$(awk '{ print $1, $3, $4 }' <<<"$p6" | paste -sd';')/$(grep -c ' \* ' <<<"$p6")" = "$LAB_NODEA6 $LAB_NODEA4 65124;$LAB_NODEA6 $LAB_NODEA6 65124/1" ]

# ---- 5. no FIB ---------------------------------------------------------------------------
lab_check "rtr FIB: no route for the anycast prefixes (gobgpd does not program the kernel)" \
    [ -z "$(lab_ns rtr ip -4 route show "$A4")$(lab_ns rtr ip -6 route show "$A6")" ]

# ---- 6. MD5 on the wire ------------------------------------------------------------------
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

# ---- 7. withdraw on health-check failure -------------------------------------------------
t_rm=$(acd_now_us)
rm -f "$FLAG"
if lab_wait_for "[ \"\$(rl_gobgp_count ipv4)\" = 0 ] && [ \"\$(rl_gobgp_count ipv6)\" = 0 ]" 2; then
    lab_pass "flag removed: GoBGP's RIB empty in both families ($(acd_us_ms $(($(acd_now_us) - t_rm))) ms, polled)"
else
    lab_fail "flag removed: GoBGP still has routes after 2 s: $(rl_gobgp_paths ipv4 "$A4" | paste -sd';') / $(rl_gobgp_paths ipv6 "$A6" | paste -sd';')"
fi
t_dec=$(acd_log_us nodea 'withdrawing' "$t_rm")
lab_log "  decision +$(acd_us_ms $((${t_dec:-0} - t_rm))) ms after the rm"
lab_check "sessions stay up while withdrawn" both_up
touch "$FLAG"
lab_check "flag restored: both prefixes back in GoBGP (2 paths each)" \
    lab_wait_for "[ \$(rl_gobgp_paths ipv4 $A4 | wc -l) -eq 2 ] && [ \$(rl_gobgp_paths ipv6 $A6 | wc -l) -eq 2 ]" 3

# ---- 8. health of both sides -------------------------------------------------------------
bad=$(acd_log nodea | grep -E ' (WARN|ERROR) ' | grep -vE 'check `flag` unhealthy \(1/1\): .* is missing' || true)
lab_check "anycastd log: no WARN/ERROR line but the flag check's${bad:+ (got: $(head -n 2 <<<"$bad" | paste -sd'|'))}" [ -z "$bad" ]
lab_check "anycastd log: exactly 2 'session established' (no flap)" [ "$(acd_log_count nodea 'session established')" -eq 2 ]
gbad=$(grep -iE 'level=(warning|error|fatal)|notification' "$LAB_DIR/gobgpd-rtr.log" || true)
lab_check "gobgpd log: no warning/error/notification${gbad:+ (got: $(head -n 2 <<<"$gbad" | paste -sd'|'))}" [ -z "$gbad" ]

# ---- 9. wrong key ------------------------------------------------------------------------
acd_stop nodea
lab_wait_for "! up $LAB_NODEA4 && ! up $LAB_NODEA6" 3 || true
acd_ha_conf nodea --interval 100 --rise 1 --fall 1 --file-check flag "$FLAG" \
    -- --md5 "$WRONG_KEY" --v6-session "$WRONG_KEY" >"$LAB_DIR/anycastd-nodea-wrong.toml" || lab_die "acd_ha_conf (wrong key) failed"
f0=$(lab_counter rtr TcpExtTCPMD5Failure)
acd_start nodea "$LAB_DIR/anycastd-nodea-wrong.toml"
t_w=$(lab__now_ms)
if lab_wait_for "up $LAB_NODEA4 || up $LAB_NODEA6" 6; then
    lab_fail "wrong key: GoBGP reached ESTABLISHED after $(lab_elapsed_ms "$t_w") ms"
else
    lab_pass "wrong key: no session for 6 s (GoBGP states $(lab_gobgp_state rtr "$LAB_NODEA4") / $(lab_gobgp_state rtr "$LAB_NODEA6"))"
fi
f1=$(lab_counter rtr TcpExtTCPMD5Failure)
lab_check "wrong key: TcpExtTCPMD5Failure in rtr rising ($f0 → $f1)" [ "$f1" -gt "$f0" ]
lab_check "wrong key: GoBGP's RIB empty (got $(rl_gobgp_count ipv4)/$(rl_gobgp_count ipv6))" \
    [ "$(rl_gobgp_count ipv4)/$(rl_gobgp_count ipv6)" = 0/0 ]
acd_stop nodea
t_r=$(lab__now_ms)
acd_start nodea "$CONF"
lab_check "right key again: both sessions ESTABLISHED within 10 s" lab_wait_for both_up 10
lab_log "  re-established after $(lab_elapsed_ms "$t_r") ms"

lab_log "scenario took $(lab_elapsed_ms "$T_START") ms"
lab_summary
